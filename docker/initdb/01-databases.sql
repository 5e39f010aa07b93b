-- One database per node: nodes never share tables (docker/compose.yaml names each in its
-- NODE_DATABASE_URL; tests/cli/test_docker_compose.py checks the two lists agree).
CREATE DATABASE secretariat;
CREATE DATABASE los_angeles;
CREATE DATABASE gent;
CREATE DATABASE padova;
CREATE DATABASE nairobi;
