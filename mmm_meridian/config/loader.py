"""Compose, validate and convert the configuration.

The ``mmm`` CLI and notebook users go through :func:`load_config`, which composes ``conf/config.yaml`` with Hydra's
compose API (so bad overrides become clear :class:`ConfigError` messages and exit status 2) and converts the result
to the typed :class:`MMMConfig` dataclass, which runs every range check.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mmm_meridian.config.root import MMMConfig, register_configs
from mmm_meridian.errors import ConfigError, UserError

CONFIG_NAME = "config"


def conf_dir() -> Path:
    """The folder holding ``config.yaml`` (installed as package data ``mmm_meridian/conf``)."""
    return Path(str(resources.files("mmm_meridian") / "conf"))


def _explain(exc: BaseException) -> str:
    """One readable sentence from Hydra's / OmegaConf's error chain (innermost cause first, then the hint)."""
    lines: list[str] = []
    hint = ""
    while exc is not None:
        text = str(exc).strip()
        if text:
            head = " ".join(line.strip() for line in text.splitlines()
                            if line.strip() and not line.strip().startswith(("full_key", "object_type", "reference_type",
                                                                             "provider=", "Config search path")))
            if head.startswith("Could not override") and "To append" in head:
                hint = head[head.index("To append"):]
                head = head[: head.index("To append")].strip()
            lines.append(head)
        exc = exc.__cause__ or (exc.__context__ if not exc.__suppress_context__ else None)
    # The innermost message is the most specific ("Key 'foo' not in 'MMMConfig'"); keep the outer one for context.
    message = lines[-1] if lines else "unknown configuration problem"
    if len(lines) > 1 and lines[0] not in message:
        message = f"{lines[0]}: {message}"
    if hint:
        message += f" ({hint}, when the key is a new entry of a mapping such as model.priors.roi_bounds)"
    return message


def compose_config(overrides: Sequence[str] = (), config_dir: str | os.PathLike[str] | None = None) -> DictConfig:
    """Compose the raw DictConfig with Hydra (no validation beyond types)."""
    register_configs()
    overrides = list(overrides)
    if config_dir is not None:
        user_dir = Path(config_dir).expanduser().resolve()
        if not user_dir.is_dir():
            raise ConfigError(f"--config-dir {str(config_dir)!r} is not a folder", where="command line",
                              fix="point --config-dir at a folder holding e.g. data/<name>.yaml")
        overrides.append(f"hydra.searchpath=[file://{user_dir}]")
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3", job_name="mmm"):
            return compose(config_name=CONFIG_NAME, overrides=overrides)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {_explain(exc)}", where="overrides " + " ".join(overrides[:8]),
                          fix="check the key names and values against `mmm <stage> --help` and conf/") from exc


def to_typed(cfg: DictConfig) -> MMMConfig:
    """Resolve interpolations and run every dataclass check; returns the typed config."""
    try:
        typed = OmegaConf.to_object(cfg)
    except UserError:
        raise
    except (OmegaConfBaseException, ValueError, TypeError) as exc:
        raise ConfigError(f"invalid configuration: {_explain(exc)}", where="config",
                          fix="check the value against the allowed values in conf/") from exc
    if not isinstance(typed, MMMConfig):  # a user config that replaced the root schema
        raise ConfigError("the root config is not the mmm_meridian schema", where="config.yaml",
                          fix="keep `base_config` first in config.yaml's defaults list")
    return typed


def load_config(overrides: Sequence[str] = (), config_dir: str | os.PathLike[str] | None = None) -> MMMConfig:
    """Compose ``conf/config.yaml`` with ``overrides`` and return the validated, typed config.

    Args:
        overrides: Hydra overrides, e.g. ``["data=robyn", "training=fast"]``.
        config_dir: an extra folder searched for config groups (a user's ``data/<name>.yaml``).

    Raises:
        ConfigError: a key is unknown, a value has the wrong type or is out of range.
    """
    return to_typed(compose_config(overrides, config_dir))


def config_from_dict(values: dict[str, Any]) -> MMMConfig:
    """Build a typed config from a plain mapping (e.g. a manifest's resolved config), validated like load_config."""
    register_configs()
    schema = OmegaConf.structured(MMMConfig)
    try:
        merged = OmegaConf.merge(schema, values)
    except (OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {_explain(exc)}", where="config mapping",
                          fix="check the keys and values against conf/") from exc
    return to_typed(merged)  # type: ignore[arg-type]


def to_yaml(cfg: MMMConfig | DictConfig) -> str:
    """The resolved config as YAML (enums as their values)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg) if isinstance(cfg, MMMConfig) else cfg, resolve=True)


def to_plain(cfg: MMMConfig) -> dict[str, Any]:
    """The resolved config as plain, JSON-able Python values."""
    container = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True, enum_to_str=True)
    assert isinstance(container, dict)
    return container  # type: ignore[return-value]
