-- One database per node: nodes never share tables.
CREATE DATABASE gent;
CREATE DATABASE padova;
CREATE DATABASE graz;
CREATE DATABASE secretariat;
