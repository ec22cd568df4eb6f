"""The PyMC engine: PyMC-Marketing's ``MMM`` (PyMC, PyTensor; NUTS by PyMC, numpyro, nutpie or blackjax) behind
:class:`mmm_meridian.models.base.Engine` (``model.backend=pymc``).

This package is the only importer of ``pymc``, ``pymc_marketing`` and ``pytensor`` in the pipeline; they are imported
inside the functions of its submodules, so importing this package is cheap. Modules:

- :mod:`.build`: the model (priors from the feature spec, the ROI-prior reparameterisation, trend knots, holdout);
- :mod:`.experiments`: lift tests as likelihood terms, and the model's ROI over each test's window;
- :mod:`.fit`: sampling, save / load (PyMC-Marketing's netCDF), thinning;
- :mod:`.model`: the fitted-model wrapper, its stored record and the numpy forward pass on posterior draws;
- :mod:`.answers`: ROI, expected and predictive tables, holdout mask, plausibility figures;
- :mod:`.budget`: plan evaluation, PyMC-Marketing's budget optimizer, response curves, marginal ROI;
- :mod:`.outputs`: the report's decomposition, fit table, marginal ROI and curves;
- :mod:`.runtime`: threads, caches and device.

Not available on this engine: flexible-budget (profit) optimisation, the Meridian HTML pages, the MLflow spend-plan
model (the methods say so with ConfigError / False / None), and Meridian's reach-and-frequency channels, organic
media, non-media treatments and conversions KPI (refused with ConfigError, see :func:`.build.refuse_meridian_only`).
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
    subprocess_env,
)

#: The posterior variables of the media effects (the convergence gate's default set): each channel's ROI (the free
#: parameter the coefficient is derived from), adstock decay, half-saturation, coefficient and, in geo models, the geo
#: deviations of the media effects.
MEDIA_PARAMETERS: frozenset[str] = frozenset({
    "roi", "adstock_alpha", "saturation_lam", "saturation_alpha", "media_geo_effect",
})


class PymcEngine:
    """PyMC-Marketing (see the module docstring); stateless, one shared instance: :data:`ENGINE`."""

    name = "pymc"
    model_file = "model.nc"
    has_model_summary = False
    media_parameters = MEDIA_PARAMETERS

    # -- runtime -------------------------------------------------------------------------------------------------
    def plan(self, runtime: RuntimeConfig) -> RuntimePlan:
        from mmm_meridian.models.pymc import runtime as rt

        return rt.plan(runtime)

    def apply(self, plan: RuntimePlan) -> bool:
        from mmm_meridian.models.pymc import runtime as rt

        return rt.apply(plan)

    def child_env(self, plan: RuntimePlan) -> dict[str, str]:
        return subprocess_env(plan)

    def versions(self) -> dict[str, str]:
        from mmm_meridian.models.pymc import runtime as rt

        return rt.versions()

    def loaded_runtime(self) -> dict[str, str]:
        from mmm_meridian.models.pymc import runtime as rt

        return rt.loaded_runtime()

    # -- fitting -------------------------------------------------------------------------------------------------
    def build(self, inputs: pd.DataFrame, spec: FeatureSpec, *, holdout_weeks: int = 0,
              default_priors: bool = False, geo_holdout: GeoHoldout | None = None) -> Any:
        from mmm_meridian.models.pymc import build
        from mmm_meridian.models.pymc.model import PymcModel

        built = build.build(inputs, spec, holdout_weeks=holdout_weeks, default_priors=default_priors,
                            geo_holdout=geo_holdout)
        return PymcModel(built.mmm, built.record)

    def sample(self, model: Any, sampler: SamplerSettings) -> dict[str, float]:
        from mmm_meridian.models.pymc import fit
        from mmm_meridian.models.pymc.model import check_loaded

        return fit.sample(check_loaded(model), sampler)

    def inference_data(self, model: Any) -> Any:
        from mmm_meridian.models.pymc.model import check_loaded

        return check_loaded(model).idata

    def save(self, model: Any, path: Path) -> Path:
        from mmm_meridian.models.pymc import fit
        from mmm_meridian.models.pymc.model import check_loaded

        return fit.save(check_loaded(model), path)

    def load(self, path: Path) -> Any:
        from mmm_meridian.models.pymc import fit

        return fit.load(path)

    # -- answers -------------------------------------------------------------------------------------------------
    def channel_names(self, model: Any) -> list[str]:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.channel_names(check_loaded(model))

    def historical_spend(self, model: Any) -> np.ndarray:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.historical_spend(check_loaded(model))

    def weekly_spend(self, model: Any) -> pd.DataFrame:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.weekly_spend(check_loaded(model))

    def thin(self, model: Any, max_draws: int | None, key: str) -> tuple[int, int]:
        from mmm_meridian.models.pymc import fit
        from mmm_meridian.models.pymc.model import check_loaded

        return fit.thin(check_loaded(model), max_draws, key)

    def roi_table(self, model: Any) -> pd.DataFrame:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.roi_table(check_loaded(model))

    def revenue_figures(self, model: Any) -> dict[str, float]:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.revenue_figures(check_loaded(model))

    def expected_vs_actual(self, model: Any) -> pd.DataFrame:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.expected_vs_actual(check_loaded(model))

    def predictive_table(self, model: Any, interval: float, seed: int = 0) -> pd.DataFrame:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.predictive_table(check_loaded(model), interval, seed=seed)

    def holdout_mask(self, model: Any) -> np.ndarray:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.holdout_mask(check_loaded(model))

    def model_summary(self, model: Any) -> ModelSummary:
        from mmm_meridian.models.pymc import answers
        from mmm_meridian.models.pymc.model import check_loaded

        return answers.model_summary(check_loaded(model))

    def experiment_roi(self, model: Any, experiments: list[ExperimentInput]) -> pd.DataFrame:
        from mmm_meridian.models.pymc import experiments as lift_tests
        from mmm_meridian.models.pymc.model import check_loaded

        return lift_tests.experiment_roi(check_loaded(model), experiments)

    # -- budget --------------------------------------------------------------------------------------------------
    def plan_evaluator(self, model: Any, max_draws: int, risk: bool) -> PlanEvaluator:
        from mmm_meridian.models.pymc import budget
        from mmm_meridian.models.pymc.model import check_loaded

        return budget.PlanEvaluator(check_loaded(model), max_draws, risk=risk)

    def shared_grid(self, model: Any, historical: np.ndarray, highest: np.ndarray, budget: float,
                    gtol: float) -> Any:
        """None: PyMC-Marketing's optimizer is gradient-based and has no grid to share."""
        return None

    def optimize(self, model: Any, *, pct_of_spend: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 budget: float | None, fixed_budget: bool, target_mroi: float | None, gtol: float,
                 interval: float, grid: Any = None) -> Recommendation:
        from mmm_meridian.models.pymc import budget as budget_module
        from mmm_meridian.models.pymc.model import check_loaded

        return budget_module.optimize(check_loaded(model), pct_of_spend=pct_of_spend, lower=lower, upper=upper,
                                      budget=budget, fixed_budget=fixed_budget, target_mroi=target_mroi, gtol=gtol,
                                      interval=interval, grid=grid)

    def response_curves(self, model: Any, recommendation: Recommendation) -> pd.DataFrame:
        from mmm_meridian.models.pymc import budget
        from mmm_meridian.models.pymc.model import check_loaded

        return budget.response_curves(check_loaded(model), recommendation)

    def write_optimizer_html(self, recommendation: Recommendation, folder: Path, filename: str) -> bool:
        """False: PyMC-Marketing has no optimisation page."""
        return False

    # -- report --------------------------------------------------------------------------------------------------
    def model_outputs(self, model: Any, control_kinds: dict[str, str], with_curves: bool = True) -> ModelOutputs:
        from mmm_meridian.models.pymc import outputs
        from mmm_meridian.models.pymc.model import check_loaded

        return outputs.model_outputs(check_loaded(model), control_kinds, with_curves=with_curves)

    def write_model_summary(self, model: Any, folder: Path, filename: str) -> Path | None:
        """None: PyMC-Marketing has no HTML model summary."""
        return None

    # -- tracking ------------------------------------------------------------------------------------------------
    def log_spend_plan_model(self, run_id: str, tracking_uri: str, model_path: Path,
                             registered_name: str | None) -> str | None:
        """None: the MLflow spend-plan model is Meridian's only."""
        return None


ENGINE = PymcEngine()
