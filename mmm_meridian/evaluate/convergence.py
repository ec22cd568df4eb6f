"""The convergence gate for evaluate's holdout refits (temporal holdout, rolling splits, geo holdout).

Each refit is judged by the train stage's own gate (:func:`mmm_meridian.models.diagnostics.compute` in the refit's
process, against ``complexity.identifiability``), so the refits and the main fit answer to the same limits and the
same parameter set. What the evaluate stage records next to a strategy's metrics in ``evaluate/metrics.json``:

    "convergence": {"source": "refit", "converged": false, "max_rhat": 1.02, "min_ess": 145, "divergences": 0,
                    "failures": ["min ESS 145 < 400"], "worst": "mu_t (R-hat 1.019, ESS 145), ...",
                    "thresholds": {...}, "on_failure": "warn",
                    "sampler": "4 chains x 500 kept draws (500 adaptation, 200 burn-in)"}

and, when it did not converge, ``"status": "refit not converged"`` beside the metrics, a ``caveat`` on each of the
strategy's checks and a failed ``refit_convergence`` check. The effective ``on_failure`` is the main fit's
(``training.on_failure_override``, else ``complexity.identifiability.on_failure``): with ``fail`` an unconverged
refit stops the stage (exit 2) after ``metrics.json`` is written; with ``warn`` the run goes on and every place that
shows the metrics (log, ``metrics.json``, deck) says "refit not converged" next to them.
"""

from __future__ import annotations

import math
from typing import Any

from mmm_meridian.evaluate.metrics import Check
from mmm_meridian.models.diagnostics import Diagnostics, describe_worst

ADVICE = ("sample longer (training=production, or raise training.sampler.n_adapt / n_burnin / n_keep) or simplify "
          "the model (see README 'Fitting (`mmm train`)')")
MAIN_FIT = "train model"  # the temporal holdout scored on the train stage's own fit (already gated by train)
SECOND_OPINION_FIT = "train second opinion"  # model.second_opinion's holdout scored on train's fit of that engine
NOT_CONVERGED = "refit not converged"
MAIN_NOT_CONVERGED = "model not converged (accepted below the convergence gate)"


def on_failure(cfg: Any) -> str:
    """The convergence gate's effective ``on_failure`` for this run, as the train stage applies it."""
    return str(cfg.convergence_gate().on_failure.value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(float(value)) else None


def summarise(diagnostics: dict[str, Any], source: str, policy: str) -> dict[str, Any]:
    """What ``metrics.json`` records about one fit's convergence (``diagnostics``: a ``diagnostics.json``)."""
    d = Diagnostics.from_dict(diagnostics)
    return {"source": source, "converged": bool(d.converged), "max_rhat": _number(d.max_rhat),
            "min_ess": _number(d.min_ess), "divergences": int(d.divergences), "failures": list(d.failures),
            "worst": describe_worst(d, 3), "thresholds": {k: v for k, v in d.thresholds.items() if k != "on_failure"},
            "on_failure": policy, "sampler": sampler_words(diagnostics.get("sampler"))}


def sampler_words(sampler: dict[str, Any] | None) -> str | None:
    """``4 chains x 500 kept draws (500 adaptation, 200 burn-in)``: the sampler that produced a fit, as the deck
    names it (None when the diagnostics do not say)."""
    if not isinstance(sampler, dict) or not all(k in sampler for k in ("n_chains", "n_adapt", "n_burnin", "n_keep")):
        return None
    return (f"{sampler['n_chains']} chains x {sampler['n_keep']:,} kept draws ({sampler['n_adapt']:,} adaptation, "
            f"{sampler['n_burnin']:,} burn-in)")


def describe(record: dict[str, Any]) -> str:
    """``max R-hat 1.019, min ESS 145`` (and the failures when it did not converge)."""
    rhat, ess = record.get("max_rhat"), record.get("min_ess")
    text = (f"max R-hat {'n/a' if rhat is None else f'{rhat:.3f}'}, "
            f"min ESS {'n/a' if ess is None else f'{ess:.0f}'}")
    return text if record.get("converged") else f"{text}: {'; '.join(record.get('failures', []))}"


def check(strategy: str, record: dict[str, Any]) -> Check:
    """A ``refit_convergence`` check for one fit (blocking when the gate's ``on_failure`` is ``fail``)."""
    return Check("refit_convergence", _number(record.get("min_ess")), _number(record["thresholds"].get("min_ess")),
                 "flag", bool(record["converged"]), record.get("on_failure") == "fail" and record["source"] != MAIN_FIT,
                 f"{strategy}: {describe(record)}")


def mark(checks: list[Check], caveat: str) -> None:
    """Say next to each check of a strategy that its scores come from a fit that did not converge."""
    for c in checks:
        c.caveat = caveat
        c.detail = f"{caveat.upper()}: {c.detail}"
