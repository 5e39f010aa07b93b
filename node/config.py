"""Configuration: defaults → ``DATA_DIR/node.toml`` → ``NODE_*`` environment → test overrides.

The result is validated by :class:`schemas.config.NodeConfigSchema`; an invalid configuration
stops the node with a readable message instead of failing later in a request.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from marshmallow import ValidationError

from schemas.config import NodeConfigSchema

CONFIG_FILE = "node.toml"
ENV_PREFIX = "NODE_"


class ConfigError(Exception):
    """The node cannot start with this configuration; the message says why."""


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / self.values["signing_key_file"]

    @property
    def secret_key_path(self) -> Path:
        return self.data_dir / self.values["secret_key_file"]


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'node.db').resolve()}"


def _coerce_env(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if value.isdigit():
        return int(value)
    return value


def load_config(
    data_dir: str | os.PathLike[str],
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> NodeConfig:
    """Read and validate the configuration of the node in ``data_dir``."""
    path = Path(data_dir)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise ConfigError(
            f"{path} is not an hrcnet node (no {CONFIG_FILE}); run 'hrcnet init' first."
        )
    try:
        values: dict[str, Any] = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path} is not valid TOML: {exc}") from exc
    values.setdefault("database_url", default_database_url(path))
    env = os.environ if environ is None else environ
    known = set(NodeConfigSchema().fields)
    for name, raw in env.items():
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower()
            if key in known:
                values[key] = _coerce_env(raw)
    values.update(overrides or {})
    try:
        loaded = NodeConfigSchema().load(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in exc.normalized_messages().items()
        )
        raise ConfigError(f"invalid configuration in {config_path}: {problems}") from exc
    return NodeConfig(path, loaded)


def write_config(data_dir: Path, values: dict[str, Any]) -> Path:
    """Write ``node.toml`` with a TOML library: every text (quotes, control characters,
    non-ASCII) is escaped by the library, so the file always reads back to the same values."""
    body = tomli_w.dumps({key: value for key, value in values.items() if value is not None})
    header = "# hrcnet node configuration; NODE_<KEY> environment variables override it.\n"
    target = data_dir / CONFIG_FILE
    target.write_text(header + body, encoding="utf-8")
    return target
