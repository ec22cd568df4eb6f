"""Model engines: one sub-package per engine, the only importer of its libraries.

- :mod:`mmm_meridian.models.meridian`: Google Meridian (``meridian``, ``tensorflow``, ``jax``);
- :mod:`mmm_meridian.models.pymc`: PyMC-Marketing (``pymc``, ``pymc_marketing``, ``pytensor``).

Stages ask :func:`engine` for the configured one (``model.backend``) and talk to it through
:class:`mmm_meridian.models.base.Engine`; an engine's package is imported only when it is asked for, so a run on one
engine never loads the other's libraries.
"""

from __future__ import annotations

import importlib
from typing import Any

from mmm_meridian.models.base import Engine

ENGINES = {"meridian": "mmm_meridian.models.meridian", "pymc": "mmm_meridian.models.pymc"}


def engine(name: str | Any) -> Engine:
    """The engine called ``name`` (``model.backend``: a string or the config's enum)."""
    key = getattr(name, "value", name)
    if key not in ENGINES:
        raise ValueError(f"unknown model engine {key!r}; known: {sorted(ENGINES)}")
    return importlib.import_module(ENGINES[key]).ENGINE


def for_config(cfg: Any) -> Engine:
    """The engine the run's config chooses (``model.backend``)."""
    return engine(cfg.model.backend)
