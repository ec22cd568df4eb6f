"""Fixtures of the deployment tests: the k8s submit script as a module, and no tracking server from the shell."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "k8s_submit.py"


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="module")
def k8s() -> ModuleType:
    """``scripts/k8s_submit.py`` loaded as a module."""
    spec = importlib.util.spec_from_file_location("k8s_submit", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["k8s_submit"] = module
    spec.loader.exec_module(module)
    return module
