"""Compute runtime of the PyMC engine: threads, parallel chains and compilation caches, as environment variables.

PyMC compiles the model with PyTensor (C code, cached in PyTensor's ``compiledir``); the JAX-based NUTS libraries
(numpyro, blackjax) compile it again with XLA. Settings of ``runtime.*``:

- ``threads``: BLAS / OpenMP threads (``OMP_NUM_THREADS``, ...) and the number of chains sampled in parallel (PyMC's
  own sampler runs chains in processes; numpyro maps them over that many XLA host devices). None: every core.
- ``compilation_cache_dir``: JAX's persistent cache (``JAX_COMPILATION_CACHE_DIR``) for numpyro / blackjax, and
  PyTensor's ``compiledir`` beside it (``<parent>/pytensor`` when the folder is called ``jax``, else
  ``<folder>/pytensor``), so later processes reuse compiled C modules.
- ``device``: this engine computes on the CPU (PyTensor's C backend; the JAX samplers are pinned to the CPU too).
  ``gpu`` is refused unless ``gpu_fallback_to_cpu`` is true.
- ``precision``: PyMC-Marketing models are built in float64; ``float32`` (Meridian's default) is recorded as float64.
- ``backend``, ``gpu_memory_*``, ``chain_batch_size``, ``reconstruction_batch_size``: Meridian's; not used here.

Environment variables take effect when PyTensor / JAX are first imported, so :func:`apply` only sets them; settings
that cannot change any more in this process (a loaded PyTensor or JAX) change speed, never results, so the fit goes
ahead in the same process.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from mmm_meridian.config.infra import RuntimeConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.models.base import (
    RuntimePlan,
    compilation_cache,
    installed_versions,
    jax_cache_env,
    point_loaded_jax_at_cache,
)

log = logging.getLogger(__name__)

BACKEND = "pytensor"
PRECISION = "float64"
CORES_ENV = "MMM_PYMC_CORES"  # chains sampled in parallel (read by fit.sample)
_VERSIONED = ("pymc-marketing", "pymc", "pytensor", "numpyro", "jax", "nutpie", "blackjax", "arviz")


def _pytensor_dir(cache: Path) -> Path:
    return cache.parent / "pytensor" if cache.name == "jax" else cache / "pytensor"


def plan(runtime: RuntimeConfig) -> RuntimePlan:
    """Resolve ``runtime.*`` for the PyMC engine (see the module docstring).

    Raises:
        ConfigError: ``runtime.device=gpu`` without ``runtime.gpu_fallback_to_cpu``.
    """
    device = getattr(runtime.device, "value", runtime.device)
    if device == "gpu":
        if not runtime.gpu_fallback_to_cpu:
            raise ConfigError("runtime.device=gpu is not supported by the PyMC engine (model.backend=pymc), which "
                              "computes on the CPU", where="config keys runtime.device, model.backend",
                              fix="set runtime.device=auto or cpu, runtime.gpu_fallback_to_cpu=true, or use "
                                  "model.backend=meridian for GPU fits")
        log.warning("runtime: the PyMC engine computes on the CPU (runtime.gpu_fallback_to_cpu=true)")
    cores = runtime.threads or os.cpu_count() or 1
    env = {"JAX_PLATFORMS": "cpu", CORES_ENV: str(cores),
           "XLA_FLAGS": _xla_flags(os.environ.get("XLA_FLAGS", ""), cores)}
    if runtime.threads is not None:
        n = str(runtime.threads)
        env.update({"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n})
    cache = compilation_cache(runtime)
    if cache is not None:
        compiledir = _pytensor_dir(cache)
        compiledir.mkdir(parents=True, exist_ok=True)
        env.update(jax_cache_env(cache))
        flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f and not f.startswith("compiledir")]
        env["PYTENSOR_FLAGS"] = ",".join([*flags, f"compiledir={compiledir}"])
    return RuntimePlan("pymc", BACKEND, PRECISION, "cpu", runtime.threads, env)


def _xla_flags(current: str, devices: int) -> str:
    """``XLA_FLAGS`` with as many host devices as chains may run in parallel (numpyro's parallel chains)."""
    kept = [f for f in current.split() if not f.startswith("--xla_force_host_platform_device_count")]
    return " ".join([*kept, f"--xla_force_host_platform_device_count={devices}"])


def apply(runtime_plan: RuntimePlan) -> bool:
    """Set the plan's environment in this process; always True (see the module docstring)."""
    late = [name for name in ("pytensor", "jax") if name in sys.modules]
    if late:
        log.debug("runtime: %s already loaded; thread and cache settings apply to new processes only", late)
    os.environ.update(runtime_plan.env)
    point_loaded_jax_at_cache(runtime_plan)
    return True


def versions() -> dict[str, str]:
    """Installed versions of the engine's libraries (those present)."""
    return installed_versions(_VERSIONED)


def loaded_runtime() -> dict[str, str]:
    """What the engine computes on: PyTensor's float type once loaded (float64 for PyMC-Marketing's models)."""
    precision = PRECISION
    if "pytensor" in sys.modules:
        import pytensor

        precision = str(pytensor.config.floatX)
    return {"backend": BACKEND, "precision": precision, "device": "cpu"}
