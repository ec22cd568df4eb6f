"""Convergence diagnostics (R-hat, effective sample size, divergences) and the convergence gate.

Meridian reports R-hat but no ESS, so both come from ArviZ on the posterior draws (``mmm.inference_data``):
rank-normalised split R-hat and bulk ESS, per parameter the worst element. Parameters whose draws are constant
(e.g. Meridian's deterministic Hill slope) have no R-hat / ESS and are left out of the gate.

Which parameters the R-hat and ESS limits judge is ``complexity.identifiability.gate_parameters``: by default the
media parameters (the engine's ``media_parameters``), the ones every ROI, contribution and budget answer is made of; the
others are reported (``ungated_*`` in diagnostics.json, a warning in the log) without stopping the run.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mmm_meridian.config.modeling import ConvergenceConfig
from mmm_meridian.errors import UserError

log = logging.getLogger(__name__)

ADVICE = ("R-hat above the limit: sample longer (training=production, or raise training.sampler.n_adapt / n_burnin / "
          "n_keep) or simplify the model (fewer controls or channels, fewer knots via "
          "features.seasonality.knot_every_weeks); low ESS: check strongly correlated channels or parameters and "
          "raise n_keep; divergences or implausible estimates: review the priors (model.priors.roi_bounds, "
          "features.adstock / features.saturation; in geo models a smaller model.priors.geo_variation pools geos "
          "more). To accept the fit anyway set "
          "complexity.identifiability.on_failure=warn")


@dataclass
class ParameterDiagnostics:
    name: str
    max_rhat: float
    min_ess: float
    size: int
    gated: bool = True  # judged by the R-hat / ESS limits (see complexity.identifiability.gate_parameters)


@dataclass
class Diagnostics:
    """What ``train/diagnostics.json`` holds."""

    max_rhat: float
    min_ess: float
    divergences: int
    n_draws: int
    n_chains: int
    converged: bool
    failures: list[str]
    parameters: list[ParameterDiagnostics]
    thresholds: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("extra"))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnostics:
        """Inverse of :meth:`to_dict` (keys beyond the dataclass fields go to ``extra``)."""
        names = set(cls.__dataclass_fields__) - {"extra"}  # type: ignore[attr-defined]
        known = {k: v for k, v in data.items() if k in names}
        known["parameters"] = [ParameterDiagnostics(**p) for p in data.get("parameters", [])]
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def worst(self, n: int = 5) -> list[ParameterDiagnostics]:
        """The gated parameters furthest from convergence (highest R-hat first, then lowest ESS)."""
        return sorted((p for p in self.parameters if p.gated), key=lambda p: (-p.max_rhat, p.min_ess))[:n]


def _finite_extreme(values: np.ndarray, fn: Any) -> float:
    finite = values[np.isfinite(values)]
    return float(fn(finite)) if finite.size else math.nan


def compute(inference_data: Any, thresholds: ConvergenceConfig, media_parameters: frozenset[str]) -> Diagnostics:
    """Diagnostics of the posterior in ``inference_data`` checked against ``complexity.identifiability``;
    ``media_parameters`` are the engine's (:attr:`mmm_meridian.models.base.Engine.media_parameters`)."""
    import arviz as az  # heavy: imported when a fit is checked

    posterior = inference_data.posterior
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant draws: NaN R-hat, handled below
        rhat = az.rhat(posterior)
        ess = az.ess(posterior, method="bulk")
    parameters: list[ParameterDiagnostics] = []
    for name in posterior.data_vars:
        draws = np.asarray(posterior[name], dtype=np.float64)
        if draws.size == 0 or np.all(np.ptp(draws, axis=(0, 1)) == 0):
            continue  # constant parameter (deterministic prior): no R-hat or ESS to speak of
        r = np.asarray(rhat[name], dtype=np.float64).reshape(-1)
        e = np.asarray(ess[name], dtype=np.float64).reshape(-1)
        max_r, min_e = _finite_extreme(r, np.max), _finite_extreme(e, np.min)
        parameters.append(ParameterDiagnostics(str(name), max_r, min_e, int(r.size),
                                               gated=_is_gated(str(name), thresholds.gate_parameters.value,
                                                                      media_parameters)))
    if not any(p.gated for p in parameters):  # no media parameter sampled: judge all
        for p in parameters:
            p.gated = True
    gated = [p for p in parameters if p.gated]
    ungated = [p for p in parameters if not p.gated]
    divergences = 0
    stats = getattr(inference_data, "sample_stats", None)
    if stats is not None and "diverging" in stats:
        divergences = int(np.asarray(stats["diverging"]).sum())
    max_rhat, min_ess = _extremes(gated)
    ungated_rhat, ungated_ess = _extremes(ungated)
    ungated_failures = _limit_failures(ungated_rhat, ungated_ess, thresholds) if ungated else []
    if ungated_failures:
        worst = ", ".join(f"{p.name} (R-hat {p.max_rhat:.3f}, ESS {p.min_ess:.0f})"
                          for p in sorted(ungated, key=lambda p: (-p.max_rhat, p.min_ess))[:3])
        log.warning("parameters outside the convergence gate (complexity.identifiability.gate_parameters=%s) are below "
                    "its limits: %s; worst: %s. The media parameters carry the ROIs and are judged on their own; "
                    "gate_parameters=all judges these too", thresholds.gate_parameters.value,
                    "; ".join(ungated_failures), worst)
    failures = _limit_failures(max_rhat, min_ess, thresholds)
    if ungated:  # say which parameters the limits judged
        failures = [f"{failure} (media parameters)" for failure in failures]
    kept = int(posterior.sizes.get("chain", 0) * posterior.sizes.get("draw", 0))
    divergent_pct = 100.0 * divergences / kept if kept else 0.0
    if divergent_pct > thresholds.max_divergences_pct:
        failures.append(f"{divergences} divergent transitions ({divergent_pct:.2f} % of {kept} draws) > "
                        f"{thresholds.max_divergences_pct:g} %")
    elif divergences:
        log.warning("%d divergent transition(s) (%.2f %% of %d draws), within complexity.identifiability."
                    "max_divergences_pct=%g", divergences, divergent_pct, kept, thresholds.max_divergences_pct)
    return Diagnostics(max_rhat=max_rhat, min_ess=min_ess, divergences=divergences,
                       n_draws=int(posterior.sizes.get("draw", 0)), n_chains=int(posterior.sizes.get("chain", 0)),
                       converged=not failures, failures=failures, parameters=parameters,
                       thresholds={"max_rhat": thresholds.max_rhat, "min_ess": thresholds.min_ess,
                                   "max_divergences_pct": thresholds.max_divergences_pct,
                                   "on_failure": thresholds.on_failure.value,
                                   "gate_parameters": thresholds.gate_parameters.value},
                       extra={"gated_parameters": [p.name for p in gated],
                              "ungated_max_rhat": None if math.isnan(ungated_rhat) else ungated_rhat,
                              "ungated_min_ess": None if math.isnan(ungated_ess) else ungated_ess,
                              "ungated_failures": ungated_failures})


def _is_gated(name: str, gate_parameters: str, media_parameters: frozenset[str]) -> bool:
    return gate_parameters == "all" or name in media_parameters


def _extremes(parameters: list[ParameterDiagnostics]) -> tuple[float, float]:
    """The largest R-hat and the smallest ESS over ``parameters`` (NaN when none has one)."""
    return (max((p.max_rhat for p in parameters if not math.isnan(p.max_rhat)), default=math.nan),
            min((p.min_ess for p in parameters if not math.isnan(p.min_ess)), default=math.nan))


def _limit_failures(max_rhat: float, min_ess: float, thresholds: ConvergenceConfig) -> list[str]:
    failures: list[str] = []
    if not max_rhat <= thresholds.max_rhat:
        failures.append(f"max R-hat {max_rhat:.3f} > {thresholds.max_rhat}")
    if not min_ess >= thresholds.min_ess:
        failures.append(f"min ESS {min_ess:.0f} < {thresholds.min_ess:g}")
    return failures


def describe_worst(diagnostics: Diagnostics, n: int = 5) -> str:
    return ", ".join(f"{p.name} (R-hat {p.max_rhat:.3f}, ESS {p.min_ess:.0f})" for p in diagnostics.worst(n))


def gate(diagnostics: Diagnostics, thresholds: ConvergenceConfig, where: str = "train/diagnostics.json") -> None:
    """Apply ``complexity.identifiability.on_failure``: raise a UserError (exit 2) or log a warning.

    Raises:
        UserError: the posterior did not converge and ``on_failure`` is ``fail``.
    """
    if diagnostics.converged:
        log.info("train: converged (max R-hat %.3f, min ESS %.0f, %d divergences)", diagnostics.max_rhat,
                 diagnostics.min_ess, diagnostics.divergences)
        return
    what = (f"the posterior did not converge: {'; '.join(diagnostics.failures)}; worst parameters: "
            f"{describe_worst(diagnostics)}")
    if thresholds.on_failure.value == "fail":
        raise UserError(what, where=where, fix=ADVICE)
    log.warning("train: %s (continuing: complexity.identifiability.on_failure=warn). Advice: %s", what, ADVICE)
