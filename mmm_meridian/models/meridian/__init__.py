"""The Meridian engine: Google Meridian (JAX or TensorFlow through TFP) behind :class:`mmm_meridian.models.base.Engine`.

This package is the only importer of ``meridian``, ``tensorflow`` and ``jax``. Meridian fixes its backend (JAX or
TensorFlow, float32 or float64) when first imported, so nothing here imports it at module level: :meth:`apply` sets
the environment first (:mod:`.runtime`), and the submodules that import Meridian (:mod:`.adapter`,
:mod:`.optimizer`, :mod:`.evaluation`, :mod:`.calibration`, :mod:`.outputs`, :mod:`.pyfunc`) are imported inside the
methods.

Paid channels are Meridian's: media channels, then reach-and-frequency channels; every answer covers both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.config.infra import RuntimeConfig
from mmm_meridian.feature_spec import ExperimentInput, FeatureSpec
from mmm_meridian.models.base import (
    GeoHoldout,
    ModelOutputs,
    ModelSummary,
    PlanEvaluator,
    Recommendation,
    RuntimePlan,
    SamplerSettings,
    installed_versions,
    subprocess_env,
)
from mmm_meridian.models.meridian import runtime

#: Meridian's media parameters (paid, R&F, organic media and organic R&F, with their geo spreads): the names of
#: ``meridian.constants`` MEDIA_, RF_, ORGANIC_MEDIA_ and ORGANIC_RF_PARAMETER_NAMES, with the derived ROI / mROI /
#: contribution draws (tests check the list against Meridian's).
MEDIA_PARAMETERS: frozenset[str] = frozenset({
    "roi_m", "mroi_m", "contribution_m", "alpha_m", "ec_m", "slope_m", "eta_m", "beta_m", "beta_gm",
    "roi_rf", "mroi_rf", "contribution_rf", "alpha_rf", "ec_rf", "slope_rf", "eta_rf", "beta_rf", "beta_grf",
    "contribution_om", "alpha_om", "ec_om", "slope_om", "eta_om", "beta_om", "beta_gom",
    "contribution_orf", "alpha_orf", "ec_orf", "slope_orf", "eta_orf", "beta_orf", "beta_gorf",
})

_VERSIONED = ("google-meridian", "jax", "tensorflow", "tfp-nightly")


class MeridianEngine:
    """Google Meridian (see the module docstring); stateless, one shared instance: :data:`ENGINE`."""

    name = "meridian"
    model_file = "model.binpb"
    has_model_summary = True
    media_parameters = MEDIA_PARAMETERS

    # -- runtime -------------------------------------------------------------------------------------------------
    def plan(self, runtime_config: RuntimeConfig) -> RuntimePlan:
        return runtime.plan(runtime_config)

    def apply(self, plan: RuntimePlan) -> bool:
        if not runtime.matches_loaded(plan):
            return False
        runtime.apply(plan)
        return True

    def child_env(self, plan: RuntimePlan) -> dict[str, str]:
        return subprocess_env(plan)

    def versions(self) -> dict[str, str]:
        return installed_versions(_VERSIONED)

    def loaded_runtime(self) -> dict[str, str]:
        from mmm_meridian.models.meridian import adapter

        return {"backend": adapter.backend_name(), "precision": runtime.loaded_precision(),
                "device": runtime.loaded_device()}

    # -- fitting -------------------------------------------------------------------------------------------------
    def build(self, inputs: pd.DataFrame, spec: FeatureSpec, *, holdout_weeks: int = 0,
              default_priors: bool = False, geo_holdout: GeoHoldout | None = None) -> Any:
        from mmm_meridian.models.meridian import adapter, evaluation

        # A forecast of the last weeks gets no trend knot inside them (adapter.fitted_knots); a geo holdout keeps
        # the model's knots (every week is fitted in the other geos).
        mmm = adapter.build_model(inputs, spec, holdout_weeks=0 if geo_holdout else holdout_weeks,
                                  default_priors=default_priors)
        if geo_holdout is not None:
            mmm = evaluation.with_geo_holdout(mmm, list(geo_holdout.geos), geo_holdout.start)
        return mmm

    def sample(self, model: Any, sampler: SamplerSettings) -> dict[str, float]:
        from mmm_meridian.models.meridian import adapter

        return adapter.sample(model, n_chains=sampler.n_chains, n_adapt=sampler.n_adapt, n_burnin=sampler.n_burnin,
                              n_keep=sampler.n_keep, seed=sampler.seed, n_prior_draws=sampler.n_prior_draws,
                              max_tree_depth=sampler.max_tree_depth, chain_batch_size=sampler.chain_batch_size,
                              reconstruction_batch_size=sampler.reconstruction_batch_size)

    def inference_data(self, model: Any) -> Any:
        return model.inference_data

    def save(self, model: Any, path: Path) -> Path:
        from mmm_meridian.models.meridian import adapter

        return adapter.save_model(model, path)

    def load(self, path: Path) -> Any:
        from mmm_meridian.models.meridian import adapter

        return adapter.load_model(path)

    # -- answers -------------------------------------------------------------------------------------------------
    def channel_names(self, model: Any) -> list[str]:
        from mmm_meridian.models.meridian import adapter

        return adapter.channel_names(model)

    def historical_spend(self, model: Any) -> np.ndarray:
        from mmm_meridian.models.meridian import optimizer

        return optimizer.historical_spend(model)

    def weekly_spend(self, model: Any) -> pd.DataFrame:
        from mmm_meridian.models.meridian import optimizer

        return optimizer.weekly_spend(model)

    def thin(self, model: Any, max_draws: int | None, key: str) -> tuple[int, int]:
        from mmm_meridian.models.meridian import adapter

        return adapter.thin_posterior(model, max_draws, key=key)

    def roi_table(self, model: Any) -> pd.DataFrame:
        from mmm_meridian.models.meridian import adapter

        return adapter.roi_table(model)

    def revenue_figures(self, model: Any) -> dict[str, float]:
        from mmm_meridian.models.meridian import adapter

        return adapter.revenue_figures(model)

    def expected_vs_actual(self, model: Any) -> pd.DataFrame:
        from mmm_meridian.models.meridian import adapter

        return adapter.expected_vs_actual(model)

    def predictive_table(self, model: Any, interval: float, seed: int = 0) -> pd.DataFrame:
        from mmm_meridian.models.meridian import evaluation

        return evaluation.predictive_table(model, interval, seed=seed)

    def holdout_mask(self, model: Any) -> np.ndarray:
        from mmm_meridian.models.meridian import evaluation

        return evaluation.holdout_mask(model)

    def model_summary(self, model: Any) -> ModelSummary:
        from mmm_meridian.models.meridian import evaluation

        return ModelSummary(**evaluation.model_summary(model))

    def experiment_roi(self, model: Any, experiments: list[ExperimentInput]) -> pd.DataFrame:
        from mmm_meridian.models.meridian import calibration

        return calibration.experiment_roi(model, experiments)

    # -- budget --------------------------------------------------------------------------------------------------
    def plan_evaluator(self, model: Any, max_draws: int, risk: bool) -> PlanEvaluator:
        from mmm_meridian.models.meridian import optimizer

        return optimizer.PlanEvaluator(model, max_draws, risk=risk)

    def shared_grid(self, model: Any, historical: np.ndarray, highest: np.ndarray, budget: float,
                    gtol: float) -> Any:
        from mmm_meridian.models.meridian import optimizer

        return optimizer.shared_grid(model, historical, highest, budget, gtol)

    def optimize(self, model: Any, *, pct_of_spend: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 budget: float | None, fixed_budget: bool, target_mroi: float | None, gtol: float,
                 interval: float, grid: Any = None) -> Recommendation:
        from mmm_meridian.models.meridian import optimizer

        return optimizer.optimize(model, pct_of_spend=pct_of_spend, lower=lower, upper=upper, budget=budget,
                                  fixed_budget=fixed_budget, target_mroi=target_mroi, gtol=gtol, interval=interval,
                                  grid=grid)

    def response_curves(self, model: Any, recommendation: Recommendation) -> pd.DataFrame:
        from mmm_meridian.models.meridian import optimizer

        return optimizer.response_curves(recommendation)

    def write_optimizer_html(self, recommendation: Recommendation, folder: Path, filename: str) -> bool:
        from mmm_meridian.models.meridian import optimizer

        return optimizer.write_html(recommendation, folder, filename)

    # -- report --------------------------------------------------------------------------------------------------
    def model_outputs(self, model: Any, control_kinds: dict[str, str], with_curves: bool = True) -> ModelOutputs:
        from mmm_meridian.models.meridian import outputs

        return outputs.model_outputs(model, control_kinds, with_curves=with_curves)

    def write_model_summary(self, model: Any, folder: Path, filename: str) -> Path | None:
        from mmm_meridian.models.meridian import outputs

        return outputs.write_model_summary(model, folder, filename)

    # -- tracking ------------------------------------------------------------------------------------------------
    def log_spend_plan_model(self, run_id: str, tracking_uri: str, model_path: Path,
                             registered_name: str | None) -> str | None:
        from mmm_meridian.models.meridian import pyfunc

        return pyfunc.log_spend_plan_model(run_id, tracking_uri, model_path, registered_name)


ENGINE = MeridianEngine()
