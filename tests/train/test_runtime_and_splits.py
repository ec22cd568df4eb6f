"""Runtime planning (backend, precision, device) and walk-forward split layout; no fitting."""

from __future__ import annotations

import pandas as pd
import pytest

from mmm_meridian.config.infra import Backend, Device, Precision, RuntimeConfig
from mmm_meridian.config.modeling import RollingSplitsConfig
from mmm_meridian.errors import ConfigError, DataError
from mmm_meridian.models.base import subprocess_env
from mmm_meridian.models.meridian import runtime
from mmm_meridian.train.rolling import make_splits


def _runtime(**keys: object) -> RuntimeConfig:
    """A hand-built runtime section; its compilation cache default is an interpolation only Hydra resolves."""
    return RuntimeConfig(**{"compilation_cache_dir": None, **keys})


def test_plan_sets_backend_and_precision_env(monkeypatch):
    monkeypatch.setattr(runtime, "detect_gpus", lambda: [])
    plan = runtime.plan(_runtime(backend=Backend.jax, precision=Precision.float64, threads=2))
    assert plan.device == "cpu" and plan.env["MERIDIAN_BACKEND"] == "jax"
    assert plan.env["MERIDIAN_ENABLE_JAX_X64"] == "true" and plan.env["TF_NUM_INTRAOP_THREADS"] == "2"
    assert plan.env["JAX_PLATFORMS"] == "cpu"
    plan = runtime.plan(_runtime(backend=Backend.tensorflow, precision=Precision.float32))
    assert plan.env["MERIDIAN_BACKEND"] == "tensorflow" and plan.env["MERIDIAN_ENABLE_JAX_X64"] == "false"


def test_float64_on_tensorflow_is_refused_not_recorded(make_cfg):
    # Meridian's TensorFlow backend computes in float32 whatever runtime.precision says: refuse, never record it.
    with pytest.raises(ConfigError) as info:
        RuntimeConfig(backend=Backend.tensorflow, precision=Precision.float64)
    assert info.value.where == "config keys runtime.backend, runtime.precision"
    assert "runtime.backend=jax runtime.precision=float64" in info.value.fix
    with pytest.raises(ConfigError, match="TensorFlow backend always computes in float32"):
        make_cfg("runtime.backend=tensorflow", "runtime.precision=float64")
    assert make_cfg("runtime.backend=jax", "runtime.precision=float64").runtime.precision is Precision.float64
    assert make_cfg("runtime.backend=tensorflow").runtime.precision is Precision.float32


@pytest.mark.parametrize(("backend", "x64", "expected"), [
    ("jax", "true", "float64"),
    # TensorFlow ignores the x64 switch: float32 is recorded (TensorFlow's import alone takes 15 s: slow)
    pytest.param("tensorflow", "true", "float32", marks=pytest.mark.slow)])
def test_recorded_precision_is_what_the_loaded_backend_computes_in(backend, x64, expected):
    import subprocess
    import sys

    code = "from mmm_meridian.models.meridian import adapter as meridian_adapter, runtime; print(runtime.loaded_precision())"
    env = {**subprocess_env(runtime.plan(_runtime(device=Device.cpu))), "MERIDIAN_BACKEND": backend,
           "MERIDIAN_ENABLE_JAX_X64": x64}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == expected, out.stderr[-2000:]


def test_gpu_requested_without_gpu_fails_or_falls_back(monkeypatch):
    monkeypatch.setattr(runtime, "detect_gpus", lambda: [])
    with pytest.raises(ConfigError, match="no NVIDIA GPU"):
        runtime.plan(_runtime(device=Device.gpu))
    assert runtime.plan(_runtime(device=Device.gpu, gpu_fallback_to_cpu=True)).device == "cpu"


def test_gpu_is_used_when_present(monkeypatch):
    monkeypatch.setattr(runtime, "detect_gpus", lambda: ["GPU 0: NVIDIA H100"])
    plan = runtime.plan(_runtime(device=Device.auto, gpu_memory_fraction=0.5))
    assert plan.device == "gpu" and "JAX_PLATFORMS" not in plan.env
    assert plan.env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.500"


def test_walk_forward_splits_end_at_the_last_week():
    weeks = list(pd.date_range("2022-01-03", periods=156, freq="7D"))
    splits = make_splits(weeks, RollingSplitsConfig(window_weeks=104, step_weeks=13, horizon_weeks=13, max_splits=3))
    assert len(splits) == 3
    assert splits[-1].horizon_end == weeks[-1].strftime("%Y-%m-%d")
    assert [s.train_start for s in splits] == [weeks[i].strftime("%Y-%m-%d") for i in (13, 26, 39)]
    first = splits[0]
    assert pd.Timestamp(first.horizon_start) - pd.Timestamp(first.train_end) == pd.Timedelta(days=7)


def test_too_short_data_for_splits_is_a_data_error():
    weeks = list(pd.date_range("2022-01-03", periods=50, freq="7D"))
    with pytest.raises(DataError, match="window_weeks"):
        make_splits(weeks, RollingSplitsConfig(window_weeks=52, horizon_weeks=4))
