"""The engine interface: what every stage may ask of a model engine (Meridian, PyMC-Marketing), in engine-neutral types.

A stage never imports an engine's library; it gets an :class:`Engine` from :func:`mmm_meridian.models.engine` and
works with the opaque fitted model it returns (``FittedModel``) through these methods only. Every table an engine
returns has the columns documented here, identical for every engine, so the artifacts (``train/roi.csv``,
``optimize/allocation.csv``, ``evaluate/metrics.json``, the deck) do not depend on the engine.

Conventions shared by every engine:

- Money is in the data's currency; "revenue" is the KPI in money (revenue models) or the conversions' value in money
  (conversions models: KPI x revenue per KPI, so every table below is in money for either kind).
- Paid channels (``channel``) are the spec's order: media channels, then reach-and-frequency channels.
- Posterior draws are flattened over (chain, draw) in chain-major order; "90 % interval" is the 5th to 95th percentile.
- ``geo`` and ``time`` values are strings (``time`` as ISO dates, the Monday-or-whatever week start of the data).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mmm_meridian.config.infra import RuntimeConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.feature_spec import ExperimentInput, FeatureSpec

#: ``train/roi.csv`` (and every refit's ``roi.csv``).
ROI_COLUMNS = ("channel", "spend", "incremental_revenue", "roi_mean", "roi_median", "roi_lo_90", "roi_hi_90")
#: :meth:`Engine.expected_vs_actual`.
EXPECTED_COLUMNS = ("geo", "time", "actual", "predicted_mean", "predicted_median", "predicted_lo_90",
                    "predicted_hi_90")
#: :meth:`Engine.predictive_table` (``holdout``: a forecast week to score; ``excluded``: a placeholder KPI week).
PREDICTIVE_COLUMNS = ("geo", "time", "actual", "predicted_mean", "predicted_lo", "predicted_hi", "holdout",
                      "excluded")
#: :meth:`Engine.response_curves` and :attr:`ModelOutputs.response_curves`.
CURVE_COLUMNS = ("channel", "spend_multiplier", "spend", "incremental_revenue_mean", "incremental_revenue_lo",
                 "incremental_revenue_hi")
#: :attr:`ModelOutputs.marginal_roi`.
MROI_COLUMNS = ("channel", "mroi_mean", "mroi_median", "mroi_lo_90", "mroi_hi_90")
#: :attr:`ModelOutputs.fit`.
FIT_COLUMNS = ("time", "actual", "expected", "expected_lo_90", "expected_hi_90", "baseline")
#: :attr:`ModelOutputs.decomposition` (``component_type``: base, seasonality, controls, media, organic or
#: non_media_treatment; one row per organic medium and per non-media treatment, named as in the spec).
DECOMPOSITION_COLUMNS = ("time", "component", "component_type", "revenue")
ORGANIC = "organic"
NON_MEDIA_TREATMENT = "non_media_treatment"
#: :attr:`ModelOutputs.optimal_frequency`: per reach-and-frequency channel, the average weekly frequency that
#: maximises its ROI (Meridian's ``optimal_freq``), the frequency it ran at, and the ROI at each.
OPTIMAL_FREQUENCY_COLUMNS = ("channel", "optimal_frequency", "historical_frequency", "roi_at_optimal",
                             "roi_at_historical")
#: :meth:`Engine.experiment_roi`: per experiment (``row`` of :class:`~mmm_meridian.feature_spec.ExperimentInput`),
#: the model's ROI of the channel's spend in the test's weeks and geo (carryover after the window included:
#: Meridian's definition of a calibration period's ROI), posterior mean / median / 90 % interval.
EXPERIMENT_ROI_COLUMNS = ("row", "channel", "spend", "model_incremental_revenue", "model_roi_mean",
                          "model_roi_median", "model_roi_lo_90", "model_roi_hi_90")

# Decomposition component names shared by the engines and the report.
BASE = "base"
SEASONALITY = "seasonality_and_holidays"
CONTROLS = "other_controls"
SEASONAL_KINDS = frozenset({"annual_fourier", "holiday", "custom_event", "weekly", "seasonality"})
BASE_KINDS = frozenset({"trend"})

FittedModel = Any  # an engine's own model object: only the engine that made it looks inside


def subprocess_env(plan: RuntimePlan) -> dict[str, str]:
    """The environment of a subprocess fit: this process's environment plus ``plan``'s settings.

    Library warnings in workers (Meridian's notes on national models, TensorFlow and PyMC deprecations) would reach
    the user's terminal unfiltered, so they are silenced unless the user set PYTHONWARNINGS.
    """
    quiet = {"PYTHONWARNINGS": "ignore::UserWarning,ignore::DeprecationWarning,ignore::FutureWarning"}
    return {**quiet, **os.environ, **plan.env}


def compilation_cache(runtime: RuntimeConfig) -> Path | None:
    """The folder of JAX's persistent compilation cache (created), or None when ``runtime.compilation_cache_dir`` is
    unset.

    Raises:
        ConfigError: the folder is still an unresolved interpolation (a ``RuntimeConfig`` built by hand keeps the
            default ``${paths.cache}/jax``, which would otherwise become a folder of that literal name).
    """
    if not runtime.compilation_cache_dir:
        return None
    if "${" in runtime.compilation_cache_dir:
        raise ConfigError(f"runtime.compilation_cache_dir is {runtime.compilation_cache_dir!r}, an unresolved "
                          f"interpolation", where="runtime.compilation_cache_dir",
                          fix="build the config with mmm_meridian.config.load_config, or set the key to a folder "
                              "(or null to compile without a cache)")
    cache = Path(runtime.compilation_cache_dir).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def jax_cache_env(cache: Path) -> dict[str, str]:
    """The environment that points JAX's persistent compilation cache at ``cache`` and keeps every program in it.

    JAX keeps only programs that took a second or more to compile. A Meridian fit also compiles hundreds of small
    ones (its eager array operations, the prior draws, the posterior's reconstruction), about 0.05 s each: about
    25 s of a small fit's process, paid again by every stage, refit and sweep job without this.
    """
    return {"JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def point_loaded_jax_at_cache(plan: RuntimePlan) -> None:
    """Tell an already imported JAX about ``plan``'s compilation cache (JAX reads the variables only when imported)."""
    cache = plan.env.get("JAX_COMPILATION_CACHE_DIR")
    if cache and "jax" in sys.modules:
        jax_config = sys.modules["jax"].config
        jax_config.update("jax_compilation_cache_dir", cache)
        jax_config.update("jax_persistent_cache_min_compile_time_secs",
                          float(plan.env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


def installed_versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """``name -> version`` of the installed ``distributions`` (absent ones left out): what an engine records."""
    found = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass(frozen=True)
class RuntimePlan:
    """Where and how an engine computes (resolved from ``runtime.*`` and the machine); ``env`` is what a
    subprocess fit needs in its environment."""

    engine: str
    backend: str  # Meridian: jax | tensorflow; PyMC: the sampler library
    precision: str
    device: str  # "cpu" or "gpu"
    threads: int | None
    env: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "env"}


@dataclass(frozen=True)
class SamplerSettings:
    """The NUTS settings of one fit (``training.sampler``); ``nuts_sampler`` is the PyMC engine's sampler library."""

    n_chains: int
    n_adapt: int
    n_burnin: int
    n_keep: int
    seed: int
    n_prior_draws: int = 256
    max_tree_depth: int = 10
    nuts_sampler: str = "pymc"
    chain_batch_size: int | None = None
    reconstruction_batch_size: int | None = None


@dataclass(frozen=True)
class GeoHoldout:
    """Evaluate's geo holdout: the weeks from ``start`` (ISO date) held out in ``geos`` only."""

    geos: tuple[str, ...]
    start: str


@dataclass
class Recommendation:
    """One budget optimisation by the engine's own optimizer, reduced to what the optimize stage reports.

    Attributes:
        spend: recommended spend per channel (the model's channel order).
        budget: the plan's total as the optimizer reports it.
        step: the optimizer's resolution: bounds and budget hold up to one step.
        mean_outcome: the engine's posterior-mean incremental revenue per channel for the recommended plan.
        native: the engine's own result object (Meridian's ``OptimizationResults``), for its HTML page and curves.
        frequency: the average weekly frequency each reach-and-frequency channel runs at in the plan (Meridian's
            optimal frequency), one per R&F channel; None without R&F channels. Pass it to the plan evaluator to
            measure the recommended plan as the optimizer planned it.
    """

    spend: np.ndarray
    budget: float
    step: float
    mean_outcome: np.ndarray
    native: Any = None
    frequency: np.ndarray | None = None


@runtime_checkable
class PlanEvaluator(Protocol):
    """Incremental revenue of any spend plan on a fixed subset of posterior draws (paired across plans).

    ``historical`` is the spend per channel over the modelled period; a plan scales each channel's historical media
    (every geo and week) by ``planned / historical`` spend, so flighting and cost per unit stay as observed.
    """

    historical: np.ndarray
    risk: bool

    def outcome_draws(self, plan: np.ndarray, frequency: np.ndarray | None = None) -> np.ndarray:
        """(draw, channel) incremental revenue of ``plan`` on the kept draws; RuntimeError when risk is off.
        ``frequency``: one per reach-and-frequency channel (a recommendation's), None: the historical frequency."""

    def outcome_mean(self, plan: np.ndarray, frequency: np.ndarray | None = None) -> np.ndarray:
        """Posterior-mean incremental revenue per channel of ``plan`` (``frequency`` as :meth:`outcome_draws`)."""


@dataclass
class ModelOutputs:
    """Posterior summaries the report draws from the model (columns: the ``*_COLUMNS`` above).

    ``decomposition`` rows sum to ``fit.expected`` per week; ``currency`` is the data's currency code when known.
    """

    decomposition: pd.DataFrame
    fit: pd.DataFrame
    marginal_roi: pd.DataFrame
    response_curves: pd.DataFrame
    currency: str | None = None
    optimal_frequency: pd.DataFrame | None = None  # :data:`OPTIMAL_FREQUENCY_COLUMNS`; None without R&F channels


@dataclass
class ModelSummary:
    """What evaluate's business checks need from a fitted model."""

    roi: pd.DataFrame
    channels: list[str]
    times: list[str]
    geos: list[str]
    total_revenue: float
    media_revenue: float
    negative_baseline_prob: float
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    """One model engine. Methods taking ``model`` accept only what this engine's :meth:`build` or :meth:`load` made."""

    name: str  # the value of model.backend
    model_file: str  # the saved model's file name in train/ (e.g. model.binpb)
    media_parameters: frozenset[str]  # posterior variables the convergence gate judges by default
    has_model_summary: bool  # whether write_model_summary writes a page (Meridian's HTML model results)

    # -- runtime -------------------------------------------------------------------------------------------------
    def plan(self, runtime: RuntimeConfig) -> RuntimePlan:
        """Resolve ``runtime.*`` for this engine (ConfigError on impossible settings); sets nothing."""

    def apply(self, plan: RuntimePlan) -> bool:
        """Set up this process for ``plan`` once; False when the process is already set up otherwise (the
        caller then fits in a subprocess with :meth:`child_env`)."""

    def child_env(self, plan: RuntimePlan) -> dict[str, str]:
        """The environment of a subprocess fit under ``plan``."""

    def versions(self) -> dict[str, str]:
        """The engine's library versions (for the deck, MLflow and diagnostics.json)."""

    def loaded_runtime(self) -> dict[str, str]:
        """What the loaded libraries actually compute on: backend, precision, device (recorded in diagnostics)."""

    # -- fitting -------------------------------------------------------------------------------------------------
    def build(self, inputs: pd.DataFrame, spec: FeatureSpec, *, holdout_weeks: int = 0,
              default_priors: bool = False, geo_holdout: GeoHoldout | None = None) -> FittedModel:
        """A ready-to-sample model of the model inputs with the spec's priors; the last ``holdout_weeks`` weeks (or
        ``geo_holdout``) and the spec's excluded weeks are left out of the likelihood. DataError when the engine
        refuses the data."""

    def sample(self, model: FittedModel, sampler: SamplerSettings) -> dict[str, float]:
        """Sample prior and posterior in place; returns seconds (``prior_seconds``, ``sampling_seconds``)."""

    def inference_data(self, model: FittedModel) -> Any:
        """ArviZ ``InferenceData`` with the posterior (and sample_stats with ``diverging`` when the sampler has it)."""

    def save(self, model: FittedModel, path: Path) -> Path:
        """Save without pickle (posterior included) at ``path``."""

    def load(self, path: Path) -> FittedModel:
        """Load what :meth:`save` wrote (MissingArtifactError when missing or unreadable)."""

    # -- answers -------------------------------------------------------------------------------------------------
    def channel_names(self, model: FittedModel) -> list[str]: ...

    def historical_spend(self, model: FittedModel) -> np.ndarray:
        """Spend per channel over the whole modelled period (all geos)."""

    def weekly_spend(self, model: FittedModel) -> pd.DataFrame:
        """Spend per week (rows: ISO dates, all geos summed) and channel (columns)."""

    def thin(self, model: FittedModel, max_draws: int | None, key: str) -> tuple[int, int]:
        """Keep at most ``max_draws`` evenly spaced posterior draws in place; (draws used, draws in the fit)."""

    def roi_table(self, model: FittedModel) -> pd.DataFrame:
        """:data:`ROI_COLUMNS`, one row per channel."""

    def revenue_figures(self, model: FittedModel) -> dict[str, float]:
        """``total_revenue`` and ``negative_baseline_prob`` (the plausibility gate's figures)."""

    def expected_vs_actual(self, model: FittedModel) -> pd.DataFrame:
        """:data:`EXPECTED_COLUMNS` per (geo, week)."""

    def predictive_table(self, model: FittedModel, interval: float, seed: int = 0) -> pd.DataFrame:
        """:data:`PREDICTIVE_COLUMNS` per (geo, week): posterior predictive interval (observation noise included)."""

    def holdout_mask(self, model: FittedModel) -> np.ndarray:
        """(geo, time) booleans: observations held out as a forecast to score (excluded KPI weeks not included)."""

    def model_summary(self, model: FittedModel) -> ModelSummary: ...

    def experiment_roi(self, model: FittedModel, experiments: list[ExperimentInput]) -> pd.DataFrame:
        """:data:`EXPERIMENT_ROI_COLUMNS`, one row per experiment (evaluate's calibration check)."""

    # -- budget --------------------------------------------------------------------------------------------------
    def plan_evaluator(self, model: FittedModel, max_draws: int, risk: bool) -> PlanEvaluator: ...

    def shared_grid(self, model: FittedModel, historical: np.ndarray, highest: np.ndarray, budget: float,
                    gtol: float) -> Any:
        """A precomputed search grid reused by every fixed-budget plan (None when the engine has none)."""

    def optimize(self, model: FittedModel, *, pct_of_spend: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 budget: float | None, fixed_budget: bool, target_mroi: float | None, gtol: float,
                 interval: float, grid: Any = None) -> Recommendation:
        """The engine's optimizer under per-channel bounds ``[centre x (1 - lower), centre x (1 + upper)]`` with
        ``centre = budget x pct_of_spend`` (Meridian's convention, see :mod:`mmm_meridian.optimize.constraints`).
        ``fixed_budget`` False: spend while the marginal ROI stays above ``target_mroi`` (ConfigError when the
        engine cannot)."""

    def response_curves(self, model: FittedModel, recommendation: Recommendation) -> pd.DataFrame:
        """:data:`CURVE_COLUMNS` over the spend range the recommendation's bounds allow."""

    def write_optimizer_html(self, recommendation: Recommendation, folder: Path, filename: str) -> bool:
        """The engine's own optimisation page; False when it has none or cannot render it here."""

    # -- report --------------------------------------------------------------------------------------------------
    def model_outputs(self, model: FittedModel, control_kinds: dict[str, str],
                      with_curves: bool = True) -> ModelOutputs: ...

    def write_model_summary(self, model: FittedModel, folder: Path, filename: str) -> Path | None:
        """The engine's own model summary page; None when it has none or cannot render it here."""

    # -- tracking ------------------------------------------------------------------------------------------------
    def log_spend_plan_model(self, run_id: str, tracking_uri: str, model_path: Path,
                             registered_name: str | None) -> str | None:
        """Log the model as an MLflow pyfunc predicting revenue for spend plans; its URI (None: not supported)."""
