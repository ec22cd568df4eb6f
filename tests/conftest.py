"""Shared fixtures: a composed config whose artifacts live in the test's tmp folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mmm_meridian.config import MMMConfig, load_config

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Tests never reach a tracking server or the network; keep MLflow local and quiet.
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


@pytest.fixture(scope="session")
def jax_cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One JAX compilation cache for the whole test session (kept in pytest's cache folder between sessions), so
    fits in different tests compile each program once, as runs sharing ``paths.cache`` do."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("jax_compilation")) if cache is not None else tmp_path_factory.mktemp("jax_compilation")


@pytest.fixture
def make_cfg(tmp_path: Path, jax_cache_dir: Path) -> Callable[..., MMMConfig]:
    """Compose the real config with overrides, artifacts under tmp_path, the session's compilation cache, tracking
    off by default."""

    def _make(*overrides: str, config_dir: str | os.PathLike[str] | None = None) -> MMMConfig:
        base = [f"paths.root={tmp_path}", "tracking.enabled=false", "training=fast",
                f"runtime.compilation_cache_dir={jax_cache_dir}"]
        return load_config([*base, *overrides], config_dir=config_dir)

    return _make


@pytest.fixture
def cfg(make_cfg: Callable[..., MMMConfig]) -> MMMConfig:
    return make_cfg()
