"""Sampling, saving, loading and thinning of the PyMC engine's model.

Sampling is PyMC-Marketing's ``MMM.fit`` (``pm.sample`` then the deterministics) with the NUTS library of
``training.sampler.nuts_sampler``. Saving is PyMC-Marketing's own ``mmm.save`` (the ``InferenceData`` as netCDF, with
the model and sampler config in its attributes; no pickle) and loading ``MMM.load``, which rebuilds the standard
model graph from that config and the stored data.

Sampler settings: ``tune = n_adapt + n_burnin`` (PyMC adapts through its whole tuning phase), ``draws = n_keep``,
``chains = n_chains``, ``random_seed = seed``, the maximum tree depth under each library's own name. No prior draws are
taken (``prior_seconds`` is 0): nothing downstream reads them; :func:`sample_prior` draws them on demand.
``chain_batch_size`` and ``reconstruction_batch_size`` are Meridian's and not used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmm_meridian.errors import ConfigError, MissingArtifactError, UserError
from mmm_meridian.models.base import SamplerSettings
from mmm_meridian.models.pymc.model import PymcModel, read_record, store_record
from mmm_meridian.models.pymc.runtime import CORES_ENV

log = logging.getLogger(__name__)

SAMPLERS = ("pymc", "numpyro", "nutpie", "blackjax")
# Posterior deterministics over every (week, geo, channel) are dropped from the saved posterior above this many
# values (the answers are computed from the parameters; at 4000 draws x 156 weeks x 40 geos x 10 channels the
# contributions alone would be 2 GB of netCDF).
MAX_STORED_DETERMINISTIC = 20_000_000
# numpyro's and blackjax's "parallel" chains (one XLA host device per chain, pmap) grow resident memory for as long
# as they sample (JAX 0.10 on CPU: about 30 MB a second at 40 geos x 104 weeks x 5 channels, 7.6 GB after 350
# iterations of 4 chains; a default-preset 40-geo fit was killed at 24 GB). "vectorized" chains (one program, vmap)
# stay flat (1.7 GB) but took 1.8x as long with 2 chains on 2 cores, so panels up to this many week x geo x channel
# cells keep parallel chains (a 4-geo, 3-year, 5-channel panel has 3,120; the leak there stays small).
MAX_PARALLEL_CHAIN_CELLS = 10_000


def check_sampler(name: str) -> None:
    """ConfigError when ``training.sampler.nuts_sampler`` names a library that is not installed."""
    where = "config key training.sampler.nuts_sampler"
    if name not in SAMPLERS:
        raise ConfigError(f"training.sampler.nuts_sampler={name!r} is not a NUTS sampler PyMC knows",
                          where=where, fix=f"choose one of {', '.join(SAMPLERS)}")
    if name != "pymc" and importlib.util.find_spec(name) is None:
        raise ConfigError(f"training.sampler.nuts_sampler={name} but the {name} package is not installed",
                          where=where, fix=f"pip install {name}, or use training.sampler.nuts_sampler=numpyro "
                                           "(installed with this package) or pymc")


def _sampler_kwargs(settings: SamplerSettings) -> dict[str, Any]:
    """Keyword arguments of ``pm.sample`` for the chosen NUTS library (each names the tree depth differently)."""
    name = str(getattr(settings.nuts_sampler, "value", settings.nuts_sampler))
    depth = int(settings.max_tree_depth)
    kwargs: dict[str, Any] = {"nuts_sampler": name, "draws": int(settings.n_keep),
                              "tune": int(settings.n_adapt + settings.n_burnin), "chains": int(settings.n_chains),
                              "random_seed": int(settings.seed), "progressbar": False,
                              "compute_convergence_checks": False}
    if name == "pymc":
        cores = int(os.environ.get(CORES_ENV, "0")) or os.cpu_count() or 1
        kwargs.update(cores=max(1, min(cores, settings.n_chains)), nuts={"max_treedepth": depth})
    elif name == "numpyro":
        kwargs["nuts_sampler_kwargs"] = {"nuts_kwargs": {"max_tree_depth": depth}}
    elif name == "blackjax":
        kwargs["nuts_sampler_kwargs"] = {"nuts_kwargs": {"max_num_doublings": depth}}
    elif name == "nutpie":
        kwargs["nuts_sampler_kwargs"] = {"maxdepth": depth}
    return kwargs


def chain_method(model: PymcModel) -> str:
    """numpyro's / blackjax's ``chain_method`` for this model: "parallel" up to :data:`MAX_PARALLEL_CHAIN_CELLS`
    week x geo x channel cells, "vectorized" above (see there why)."""
    coords = model.mmm.model.coords
    cells = math.prod(len(coords[dim]) for dim in ("date", "channel")) * len(coords.get("geo") or (None,))
    return "parallel" if cells <= MAX_PARALLEL_CHAIN_CELLS else "vectorized"


@contextlib.contextmanager
def _jax_float64(name: str) -> Iterator[None]:
    """JAX in float64 while a JAX-based sampler runs, JAX's previous setting afterwards.

    PyMC-Marketing's models are float64, and PyTensor's JAX backend switches JAX's process-wide x64 flag on when it is
    first imported and never back. A Meridian model in the same process (float32 unless runtime.precision=float64)
    would then compute in another precision than it was set up for, so the flag is restored after sampling.
    """
    if name not in ("numpyro", "blackjax"):
        yield
        return
    import jax

    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def _host_devices(name: str, n_chains: int) -> None:
    """Before JAX starts: at least one XLA host device per chain, so numpyro / blackjax run the chains in parallel
    (the runtime plan sets one per core; with fewer devices than chains they run one after another)."""
    if name not in ("numpyro", "blackjax") or "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "").split()
    key = "--xla_force_host_platform_device_count="
    current = max([int(f[len(key):]) for f in flags if f.startswith(key) and f[len(key):].isdigit()] or [1])
    if n_chains > current:
        os.environ["XLA_FLAGS"] = " ".join([*(f for f in flags if not f.startswith(key)), f"{key}{n_chains}"])


def sample(model: PymcModel, settings: SamplerSettings) -> dict[str, float]:
    """Sample the posterior in place; returns ``prior_seconds`` (0: no prior draws are needed downstream, see
    :func:`sample_prior`) and ``sampling_seconds`` (compilation included).

    Raises:
        ConfigError: the NUTS library is not installed.
        UserError: the sampler ran out of memory.
    """
    name = str(getattr(settings.nuts_sampler, "value", settings.nuts_sampler))
    check_sampler(name)
    _host_devices(name, int(settings.n_chains))
    mmm = model.mmm
    kwargs = _sampler_kwargs(settings)
    if name in ("numpyro", "blackjax"):
        kwargs["nuts_sampler_kwargs"]["chain_method"] = chain_method(model)
        if kwargs["nuts_sampler_kwargs"]["chain_method"] == "vectorized":
            log.info("pymc engine: %s runs its %d chains vectorized in one program (more than %d week x geo x "
                     "channel cells: parallel chains' memory grows while they sample)", name, settings.n_chains,
                     MAX_PARALLEL_CHAIN_CELLS)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings(), _jax_float64(name):
            warnings.simplefilter("ignore")  # PyMC's chain-count and convergence notices: diagnostics.json has them
            mmm.fit(mmm.X, mmm.y, **kwargs)
    except MemoryError as exc:
        raise UserError(f"out of memory while sampling: {exc}", where="train",
                        fix="lower training.sampler.n_keep or n_chains") from exc
    seconds = time.perf_counter() - started
    finish(model)
    return {"prior_seconds": 0.0, "sampling_seconds": seconds}


def finish(model: PymcModel) -> None:
    """After sampling: store the record, drop oversized deterministics and rebuild the standard graph, so that the
    model in memory is the one :func:`load` returns."""
    mmm = model.mmm
    idata = mmm.idata
    posterior = idata.posterior
    big = [name for name in ("channel_contribution", "control_contribution")
           if name in posterior and posterior[name].size > MAX_STORED_DETERMINISTIC]
    if big:
        log.info("pymc engine: %s not stored in the posterior (%s values); answers use the parameters", big,
                 [posterior[n].size for n in big])
        idata.posterior = posterior.drop_vars(big)
    store_record(idata, model.record)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mmm.build_from_idata(idata)
    model.sampled = True
    model.reset()


def sample_prior(model: PymcModel, draws: int, seed: int = 0) -> Any:
    """Prior draws of the model as built (ROI reparameterisation included), as an ``InferenceData`` with groups
    ``prior`` and ``prior_predictive``; the model itself is left as it is."""
    import pymc as pm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with model.mmm.model:
            return pm.sample_prior_predictive(draws, random_seed=seed)


def save(model: PymcModel, path: Path) -> Path:
    """PyMC-Marketing's ``mmm.save``: the posterior, data, model config and this engine's record in one netCDF."""
    if not model.sampled:
        raise UserError("the PyMC model has not been sampled", where=str(path), fix="sample before saving")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.mmm.save(str(path))
    return path


def load(path: Path) -> PymcModel:
    """The model :func:`save` wrote.

    Raises:
        MissingArtifactError: the file does not exist or cannot be read as this engine's model.
    """
    from pymc_marketing.mmm.multidimensional import MMM

    path = Path(path)
    if not path.is_file():
        raise MissingArtifactError(f"no saved model at {path}", where=str(path), fix="run `mmm train` first")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mmm = MMM.load(str(path))
    except Exception as exc:  # netCDF, JSON or PyMC-Marketing's DifferentModelError
        raise MissingArtifactError(f"the saved PyMC model cannot be read ({type(exc).__name__}: {exc})",
                                   where=str(path), fix="re-run `mmm train` with this version of pymc-marketing") \
            from exc
    return PymcModel(mmm, read_record(mmm.idata, str(path)), sampled=True)


def thin(model: PymcModel, max_draws: int | None, key: str) -> tuple[int, int]:
    """Keep every k-th draw of every chain so that at most ``max_draws`` remain (in place); (draws used, in fit)."""
    posterior = model.idata.posterior
    n_chain, n_draw = int(posterior.sizes["chain"]), int(posterior.sizes["draw"])
    total = n_chain * n_draw
    if max_draws is None or total <= max_draws:
        return total, total
    step = -(-total // max_draws)
    if step > n_draw:
        raise UserError(f"max_posterior_draws={max_draws} is below the number of chains ({n_chain})",
                        where=f"{key}.max_posterior_draws", fix=f"set it to at least {n_chain}, or null")
    model.idata.posterior = posterior.isel(draw=slice(None, None, step))
    model.reset()
    return n_chain * len(range(0, n_draw, step)), total
