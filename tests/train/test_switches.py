"""GPU runtime switches set by their dotted config names change the device and the environment the fit runs in.

No GPU is needed: the machine's GPUs are faked at :func:`mmm_meridian.models.meridian.runtime.detect_gpus`, and what is checked
is the plan the train stage applies before Meridian (JAX / TensorFlow) starts.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from mmm_meridian.config.infra import RuntimeConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.models import base
from mmm_meridian.models.meridian import runtime


@pytest.fixture
def with_gpu(monkeypatch):
    monkeypatch.setattr(runtime, "detect_gpus", lambda: ["GPU 0: NVIDIA H200"])


@pytest.fixture
def without_gpu(monkeypatch):
    monkeypatch.setattr(runtime, "detect_gpus", lambda: [])


def test_gpu_memory_growth_switches_preallocation(make_cfg, with_gpu):
    grow = runtime.plan(make_cfg("runtime.device=gpu", "runtime.gpu_memory_growth=true").runtime)
    prealloc = runtime.plan(make_cfg("runtime.device=gpu", "runtime.gpu_memory_growth=false").runtime)
    assert grow.device == prealloc.device == "gpu"
    assert (grow.env["XLA_PYTHON_CLIENT_PREALLOCATE"], grow.env["TF_FORCE_GPU_ALLOW_GROWTH"]) == ("false", "true")
    assert (prealloc.env["XLA_PYTHON_CLIENT_PREALLOCATE"], prealloc.env["TF_FORCE_GPU_ALLOW_GROWTH"]) == ("true",
                                                                                                         "false")


def test_gpu_memory_fraction_sets_jax_memory_fraction(make_cfg, with_gpu):
    quarter = runtime.plan(make_cfg("runtime.device=gpu", "runtime.gpu_memory_fraction=0.25").runtime)
    most = runtime.plan(make_cfg("runtime.device=gpu", "runtime.gpu_memory_fraction=0.9").runtime)
    default = runtime.plan(make_cfg("runtime.device=gpu", "runtime.gpu_memory_fraction=null").runtime)
    assert quarter.env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.250"
    assert most.env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.900"
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in default.env  # the library's own default
    with pytest.raises(ConfigError, match="runtime.gpu_memory_fraction=1.5 is out of range"):
        make_cfg("runtime.gpu_memory_fraction=1.5")


def test_gpu_fallback_to_cpu_refuses_or_falls_back_without_a_gpu(make_cfg, without_gpu, caplog):
    with pytest.raises(ConfigError, match="runtime.device=gpu but no NVIDIA GPU is visible") as info:
        runtime.plan(make_cfg("runtime.device=gpu", "runtime.gpu_fallback_to_cpu=false").runtime)
    assert "runtime.gpu_fallback_to_cpu=true" in info.value.fix
    with caplog.at_level(logging.WARNING, logger="mmm_meridian.models.meridian.runtime"):
        plan = runtime.plan(make_cfg("runtime.device=gpu", "runtime.gpu_fallback_to_cpu=true").runtime)
    assert plan.device == "cpu"
    assert (plan.env["JAX_PLATFORMS"], plan.env["CUDA_VISIBLE_DEVICES"]) == ("cpu", "-1")
    assert [r.getMessage() for r in caplog.records] == [
        "runtime: no GPU found; falling back to CPU (runtime.gpu_fallback_to_cpu=true)"]


def test_compilation_cache_dir_is_where_jax_keeps_compiled_programs(make_cfg, tmp_path):
    plan = runtime.plan(make_cfg(f"runtime.compilation_cache_dir={tmp_path}/xla").runtime)
    assert plan.env["JAX_COMPILATION_CACHE_DIR"] == str((tmp_path / "xla").resolve())
    assert (tmp_path / "xla").is_dir()
    assert "JAX_COMPILATION_CACHE_DIR" not in runtime.plan(make_cfg("runtime.compilation_cache_dir=null").runtime).env
    # the default lives in paths.cache; TensorFlow has no such cache
    default = make_cfg(f"paths.cache={tmp_path}/c", "runtime.compilation_cache_dir=${paths.cache}/jax").runtime
    assert runtime.plan(default).env["JAX_COMPILATION_CACHE_DIR"] == str((tmp_path / "c" / "jax").resolve())
    assert "JAX_COMPILATION_CACHE_DIR" not in runtime.plan(make_cfg("runtime.backend=tensorflow").runtime).env
    # A hand-built section keeps the unresolved default: refused, never a folder named "${paths.cache}"
    with pytest.raises(ConfigError, match="unresolved interpolation") as info:
        runtime.plan(RuntimeConfig())
    assert info.value.where == "runtime.compilation_cache_dir"
    assert not (Path.cwd() / "${paths.cache}").exists()


_SMALL_PROGRAM = "import jax, jax.numpy as jnp; print(float(jax.jit(lambda x: jnp.sin(x) * 2.0)(1.0)))"


def test_the_cache_keeps_programs_that_compile_in_under_a_second(make_cfg, tmp_path):
    """Meridian's many small programs (eager operations, prior draws) compile in ~0.05 s each; JAX's default keeps
    only those over a second, so without the plan's setting a new process would compile them all again."""
    plan = runtime.plan(make_cfg(f"runtime.compilation_cache_dir={tmp_path}/xla").runtime)
    assert plan.env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"

    def cached_after_a_small_program(env: dict[str, str]) -> int:
        subprocess.run([sys.executable, "-c", _SMALL_PROGRAM], env=env, check=True, capture_output=True)
        return len(list((tmp_path / "xla").iterdir()))

    env = base.subprocess_env(plan)
    jax_default = {k: v for k, v in env.items() if k != "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"}
    assert cached_after_a_small_program(jax_default) == 0
    assert cached_after_a_small_program(env) > 0
