"""Compute runtime for the Meridian engine: backend, precision, device and threads, set before Meridian is first imported.

Meridian reads ``MERIDIAN_BACKEND`` and ``MERIDIAN_ENABLE_JAX_X64`` when ``meridian`` is imported, and JAX / TF read
their device and thread settings when they start, so :func:`configure` only sets environment variables and must
run before the first Meridian import in the process. When Meridian is already loaded with another backend (e.g. a
test process), :func:`matches_loaded` is False and the caller fits in a subprocess started with
:func:`mmm_meridian.models.base.subprocess_env`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from mmm_meridian.config.infra import RuntimeConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.models.base import RuntimePlan, compilation_cache, jax_cache_env, point_loaded_jax_at_cache

log = logging.getLogger(__name__)


def detect_gpus() -> list[str]:
    """Names of the NVIDIA GPUs visible to this process (empty when none), found without importing JAX / TF."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return []
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
            return [line.strip() for line in listing.stdout.splitlines() if line.startswith("GPU")]
        except (OSError, subprocess.SubprocessError):
            return []
    proc = Path("/proc/driver/nvidia/gpus")
    return [p.name for p in proc.iterdir()] if proc.is_dir() else []


def plan(runtime: RuntimeConfig) -> RuntimePlan:
    """Resolve the runtime settings into a device choice and environment variables.

    Raises:
        ConfigError: ``runtime.device=gpu`` on a machine without a GPU and ``runtime.gpu_fallback_to_cpu`` false.
    """
    backend, precision, wanted = runtime.backend.value, runtime.precision.value, runtime.device.value
    gpus = detect_gpus() if wanted in ("auto", "gpu") else []
    if wanted == "gpu" and not gpus:
        if not runtime.gpu_fallback_to_cpu:
            raise ConfigError("runtime.device=gpu but no NVIDIA GPU is visible (nvidia-smi lists none)",
                              where="config key runtime.device",
                              fix="run on a GPU machine with CUDA drivers, set runtime.device=cpu (or auto), or set "
                                  "runtime.gpu_fallback_to_cpu=true")
        log.warning("runtime: no GPU found; falling back to CPU (runtime.gpu_fallback_to_cpu=true)")
    device = "gpu" if gpus else "cpu"
    env = {"MERIDIAN_BACKEND": backend, "MERIDIAN_ENABLE_JAX_X64": "true" if precision == "float64" else "false",
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    if device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
        env["CUDA_VISIBLE_DEVICES"] = "-1"  # keeps TF from probing CUDA libraries
    else:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false" if runtime.gpu_memory_growth else "true"
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true" if runtime.gpu_memory_growth else "false"
        if runtime.gpu_memory_fraction is not None:
            env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{runtime.gpu_memory_fraction:.3f}"
        if backend == "tensorflow" and precision == "float32":
            # Meridian issue 1446: TF32 matmuls on Ampere+ GPUs can stop chains converging.
            env["NVIDIA_TF32_OVERRIDE"] = "0"
    cache = compilation_cache(runtime) if backend == "jax" else None
    if cache is not None:
        env.update(jax_cache_env(cache))
    if runtime.threads is not None:
        n = str(runtime.threads)
        env.update({"OMP_NUM_THREADS": n, "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1",
                    "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}"})
    return RuntimePlan("meridian", backend, precision, device, runtime.threads, env)


def meridian_loaded() -> bool:
    return "meridian" in sys.modules


def matches_loaded(runtime_plan: RuntimePlan) -> bool:
    """True when Meridian is not imported yet, or was imported with this plan's backend and precision."""
    if not meridian_loaded():
        return True
    loaded = "jax" if _loaded_backend_is_jax() else "tensorflow"
    if loaded != runtime_plan.backend:
        return False
    if loaded == "jax":
        import jax

        return bool(jax.config.jax_enable_x64) == (runtime_plan.precision == "float64")
    return True


def _loaded_backend_is_jax() -> bool:
    from meridian.backend import config as backend_config

    return backend_config.get_backend().value == "jax"


def apply(runtime_plan: RuntimePlan) -> None:
    """Set the plan's environment in this process (before Meridian's first import).

    Raises:
        ConfigError: Meridian is already imported with another backend or precision.
    """
    if meridian_loaded() and not matches_loaded(runtime_plan):
        raise ConfigError(f"Meridian is already loaded in this process with another backend than "
                          f"{runtime_plan.backend}/{runtime_plan.precision}", where="runtime.backend",
                          fix="fit in a fresh process (the train stage does this itself)")
    os.environ.update(runtime_plan.env)
    point_loaded_jax_at_cache(runtime_plan)


def loaded_precision() -> str:
    """The float type Meridian's loaded backend actually computes in ("float32" or "float64"): what is recorded."""
    if not meridian_loaded():
        return "unknown"
    try:
        from meridian import backend

        return str(np.dtype(backend.np_float_dtype))  # JAX: float64 only with MERIDIAN_ENABLE_JAX_X64; TF: float32
    except Exception:  # noqa: BLE001 - reporting only; never fail a fit over it
        return "unknown"


def loaded_device() -> str:
    """The device Meridian's backend actually computes on ("cpu" or "gpu"), once Meridian is imported."""
    try:
        if _loaded_backend_is_jax():
            import jax

            return "gpu" if jax.devices()[0].platform in ("gpu", "cuda", "rocm") else "cpu"
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    except Exception:  # noqa: BLE001 - reporting only; never fail a fit over it
        return "unknown"
