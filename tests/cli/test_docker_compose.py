"""``docker/compose.yaml`` without Docker (not installable here): a Compose Specification parser
checks the file, and every command a container runs is parsed by our own CLI, with the files
mounted where the file says they are.

What Docker itself would do (build, start, healthchecks) is not run on this machine; the same
commands run against real nodes on PostgreSQL in ``tests/multinode/test_demo_seed_postgres.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from compose_spec import PyCompose

from node.cli import main
from node.demo.nodes import NODES

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "compose.yaml"


def compose() -> dict[str, Any]:
    """The file as Docker Compose reads it: YAML anchors and merge keys resolved by PyYAML."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def ours(services: dict[str, Any]) -> dict[str, Any]:
    """The services running our image (all but PostgreSQL)."""
    return {name: s for name, s in services.items() if s.get("image") == "hrcnet:local"}


def test_compose_file_is_valid_for_the_compose_specification() -> None:
    # The parser refuses unknown keys, wrong types and unknown values (it raises ValueError).
    parsed = PyCompose.from_json(json.dumps(compose()))
    assert "seed" in parsed.service_names()


def test_the_parser_refuses_a_broken_compose_file() -> None:
    """The check above has teeth: the same file with a misspelt key is refused."""
    broken = compose()
    broken["services"]["gent"]["healthchek"] = broken["services"]["gent"].pop("healthcheck")
    with pytest.raises(ValueError, match="healthchek"):
        PyCompose.from_json(json.dumps(broken))


def _mounts(service: dict[str, Any]) -> dict[str, Path | None]:
    """Container path -> the host path of a bind mount (None for a named volume)."""
    mounts: dict[str, Path | None] = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        host = (DOCKER / source).resolve() if source.startswith((".", "/")) else None
        mounts[target] = host
    return mounts


def _local(argument: str, mounts: dict[str, Path | None]) -> str:
    """A bind-mounted container path as the host path it stands for (to check it exists)."""
    for target, host in mounts.items():
        if host is not None and (argument == target or argument.startswith(target + "/")):
            return str(host) + argument[len(target) :]
    return argument


def _parse(arguments: list[str]) -> click.Context:
    """Parse ``hrcnet ARGUMENTS`` with the real CLI, down to the command, without running it:
    unknown commands or options, wrong types and missing files are refused as they would be."""
    command: click.Command = main
    path = ["hrcnet"]
    rest = list(arguments)
    parent = None
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        group_context = click.Context(command, info_name=path[-1], parent=parent)
        name = rest.pop(0)
        found = command.get_command(group_context, name)
        assert found is not None, f"hrcnet has no command {' '.join([*path[1:], name])!r}"
        command, parent = found, group_context
        path.append(name)
    return command.make_context(path[-1], rest, parent=parent)


def test_every_container_runs_a_real_hrcnet_command_with_its_files_mounted() -> None:
    services = ours(compose()["services"])
    assert services, "no service runs the hrcnet image"
    for name, service in services.items():
        assert service.get("build", {}).get("dockerfile") == "docker/Dockerfile", name
        command = service["command"]
        assert isinstance(command, list) and command, f"{name}: command must be a list (no shell)"
        mounts = _mounts(service)
        context = _parse([_local(a, mounts) for a in command])
        assert context.command.callback is not None, name


def test_one_database_one_data_volume_one_server_one_scheduler_per_node() -> None:
    services = compose()["services"]
    created = set(
        re.findall(r"CREATE DATABASE (\w+);", (DOCKER / "initdb" / "01-databases.sql").read_text())
    )
    databases, volumes = {}, {}
    for spec in NODES:
        init = [s for s in services.values() if s.get("command", [])[:2] == ["demo", "init-node"]]
        [mine] = [
            s for s in init if s["command"][s["command"].index("--city-id") + 1] == spec.city_id
        ]
        served = [
            s
            for s in services.values()
            if s.get("command", [])[:2] == ["serve", f"/data/{spec.city_id}"]
        ]
        jobs = [
            s
            for s in services.values()
            if s.get("command") == ["scheduler", f"/data/{spec.city_id}"]
        ]
        assert len(served) == 1 and len(jobs) == 1, spec.city_id  # exactly one scheduler
        [server] = served
        # serve must not start a second scheduler beside the jobs service.
        assert server["environment"]["NODE_SCHEDULER"] == "false"
        assert "NODE_SCHEDULER" not in jobs[0].get("environment", {})
        urls = {s["environment"]["NODE_DATABASE_URL"] for s in (mine, server, jobs[0])}
        assert len(urls) == 1, (spec.city_id, urls)  # init, server and jobs: one database
        databases[spec.city_id] = urls.pop().rsplit("/", 1)[1]
        data = {
            v.split(":")[0]
            for s in (mine, server, jobs[0])
            for v in s["volumes"]
            if v.endswith(":/data")
        }
        assert len(data) == 1, (spec.city_id, data)
        volumes[spec.city_id] = data.pop()
        assert "/healthz" in " ".join(server["healthcheck"]["test"])
    assert len(set(databases.values())) == len(NODES), databases  # never shared
    assert set(databases.values()) == created  # and each created by the init script
    assert len(set(volumes.values())) == len(NODES), volumes


def test_no_secret_in_the_compose_file_or_the_image() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    services = compose()["services"]
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    # From the operator's environment (docker/.env), required: never a default in the file.
    assert password.startswith("${POSTGRES_PASSWORD:?"), password
    for url in re.findall(r"postgresql\+psycopg://[^\"']+", text):
        assert url.startswith("postgresql+psycopg://hrcnet:${POSTGRES_PASSWORD}@"), url
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert not re.search(
        r"(?i)^(ENV|ARG)\b.*(PASSWORD|TOKEN|SECRET|DATABASE_URL)", dockerfile, re.M
    )
    assert re.search(r"^USER hrcnet$", dockerfile, re.M)  # never root at run time
    # The seed reads the logins the network service generated; nothing else writes them.
    assert "network:/network:ro" in services["seed"]["volumes"]
    assert services["network"]["volumes"] == ["network:/network"]
