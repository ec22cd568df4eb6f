"""EVALUATE stage: accuracy and calibration on held-out weeks, backtests, digital and business checks.

Reads ``train/model.binpb`` (and for refits the features stage's inputs, for digital checks
``transform/clean.parquet``). Strategies (``evaluation.validation_strategies``):

- temporal holdout: the last N weeks. The train model is scored directly when it already holds out exactly those
  weeks (``model.holdout_weeks``); otherwise the same model is refitted with them held out, in a subprocess;
- rolling origin over ``training.rolling_splits``: the train stage's per-split results when it wrote them, else one
  refit per split (each in its own process); metrics per split, their spread, and how much ROI moves between splits;
- geo holdout (several geos): the last N weeks of every other geo held out of one refit, scored per geo.

Metrics: MAPE, wMAPE, R-squared and coverage of the posterior predictive interval (``evaluation.metrics.interval``).
Writes ``evaluate/metrics.json`` (every metric, threshold, pass / fail, per split), the prediction tables, and logs
a summary; the stage fails only when a check named in ``evaluation.metrics.blocking`` fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.errors import UserError
from mmm_meridian.evaluate.checks import digital_checks, media_share_check, platform_revenue, roi_bounds_check
from mmm_meridian.evaluate.metrics import Check, judge, roi_movement, score, spread


class EvaluationGateError(UserError):
    """A check the user configured as blocking failed."""


def _last_weeks_mask(n_geos: int, n_times: int, weeks: int) -> np.ndarray:
    mask = np.zeros((n_geos, n_times), dtype=bool)
    mask[:, n_times - weeks:] = True
    return mask


class Evaluator:
    """Runs the configured strategies and checks for one stage run."""

    def __init__(self, ctx: Any) -> None:
        from mmm_meridian.evaluate import meridian_eval as me
        from mmm_meridian.train import runtime

        self.ctx, self.cfg, self.ev = ctx, ctx.cfg, ctx.cfg.evaluation
        self.me = me
        self.plan = runtime.plan(ctx.cfg.runtime)
        self.mmm = me.adapter.load_model(ctx.input_path("train", "model.binpb"))
        self.summary = me.model_summary(self.mmm)
        self.blocking = list(self.ev.metrics.blocking)
        self.checks: list[Check] = []
        self._base = None

    def base_job(self) -> Any:
        if self._base is None:
            from mmm_meridian.train.stage import make_job

            self._base = make_job(self.ctx, self.plan)
        return self._base

    def refit(self, name: str, **kwargs: Any) -> Any:
        from mmm_meridian.evaluate.refit import refit_job, run_refit

        job = refit_job(self.base_job(), f"evaluate {name}", interval=self.ev.metrics.interval, **kwargs)
        self.ctx.log.info("evaluate: %s: refitting in a separate process", name)
        return run_refit(job, self.ctx.out.path(f"refits/{name}/.keep").parent, self.plan,
                         self.cfg.training.split_timeout_s)

    def temporal(self) -> dict[str, Any]:
        weeks = self.ev.validation_strategies.temporal_holdout.weeks
        n_geos, n_times = len(self.summary["geos"]), len(self.summary["times"])
        if weeks >= n_times - 1:
            raise UserError(f"evaluation.validation_strategies.temporal_holdout.weeks={weeks} leaves no weeks to fit "
                            f"({n_times} weeks)", where="config key evaluation.validation_strategies.temporal_holdout",
                            fix="hold out fewer weeks")
        if np.array_equal(self.me.holdout_mask(self.mmm), _last_weeks_mask(n_geos, n_times, weeks)):
            predictions, source = self.me.predictive_table(self.mmm, self.ev.metrics.interval), "train model"
        else:
            predictions, source = self.refit("temporal_holdout", holdout_weeks=weeks).predictions, "refit"
        self.ctx.out.write_csv("holdout_predictions.csv", predictions)
        held, fitted = score(predictions, predictions["holdout"]), score(predictions, ~predictions["holdout"])
        m = self.ev.metrics
        self.checks += [judge("mape", held["mape"], m.mape_threshold, "max", self.blocking, "temporal holdout"),
                        judge("wmape", held["wmape"], m.wmape_threshold, "max", self.blocking, "temporal holdout"),
                        judge("r2", held["r2"], m.r2_threshold, "min", self.blocking, "temporal holdout"),
                        judge("coverage", held["coverage"], m.coverage_threshold, "min", self.blocking,
                              f"{m.interval:.0%} predictive interval, temporal holdout")]
        return {"weeks": weeks, "source": source, "holdout": held, "in_sample": fitted}

    def rolling(self) -> dict[str, Any]:
        from mmm_meridian.evaluate.refit import train_split_results
        from mmm_meridian.train.rolling import make_splits

        results = train_split_results(self.ctx.input_path("train", "splits"))
        if results is None:
            weeks = pd.to_datetime(pd.Series(self.summary["times"])).tolist()
            results = []
            for split in make_splits(weeks, self.cfg.training.rolling_splits):
                refit = self.refit(f"split_{split.index}", holdout_weeks=split.n_horizon_weeks,
                                   window=(split.train_start, split.horizon_end))
                results.append({"split": split.__dict__, "predictions": refit.predictions, "roi": refit.roi,
                                "source": "refit", "interval_kind": "predictive"})
        rows = []
        for result in results:
            metrics = score(result["predictions"], result["predictions"]["holdout"].astype(bool))
            if result["interval_kind"] != "predictive":
                metrics["coverage_expected_90"] = metrics.pop("coverage")
            rows.append({**result["split"], **metrics, "source": result["source"]})
        names = [k for k in ("mape", "wmape", "r2", "coverage", "coverage_expected_90") if k in rows[0]]
        doc = {"splits": rows, "spread": {k: spread([r[k] for r in rows]) for k in names},
               "roi_movement": roi_movement([r["roi"] for r in results])}
        m = self.ev.metrics
        self.checks.append(judge("rolling_mape", doc["spread"]["mape"]["mean"], m.mape_threshold, "max",
                                 self.blocking, f"mean over {len(rows)} split(s)"))
        if "coverage" in doc["spread"]:
            self.checks.append(judge("rolling_coverage", doc["spread"]["coverage"]["mean"], m.coverage_threshold,
                                     "min", self.blocking, f"mean over {len(rows)} split(s)"))
        return doc

    def geo(self) -> dict[str, Any]:
        geos = self.summary["geos"]
        if len(geos) < 2:
            return {"skipped": "national model: one geo, nothing to hold out"}
        weeks = self.ev.validation_strategies.geo_holdout.weeks
        held = geos[::2]
        refit = self.refit("geo_holdout", geo_holdout={"geos": held, "start": self.summary["times"][-weeks]})
        predictions = refit.predictions
        per_geo = {g: score(predictions, (predictions[cols.GEO] == g) & predictions["holdout"]) for g in held}
        mean_mape = float(np.mean([v["mape"] for v in per_geo.values()]))
        self.checks.append(judge("geo_mape", mean_mape, self.ev.metrics.mape_threshold, "max", self.blocking,
                                 f"mean over held-out geos {held}"))
        return {"weeks": weeks, "held_out_geos": held, "per_geo": per_geo}

    def digital(self) -> list[dict]:
        clean = pd.read_parquet(self.ctx.input_path("transform", "clean.parquet"))
        platform = platform_revenue(clean, self.summary["channels"], self.summary["times"])
        model = dict(zip(self.summary["roi"]["channel"], self.summary["roi"]["incremental_revenue"], strict=True))
        rows, check = digital_checks(model, platform, list(self.ev.digital_checks.incrementality_bounds),
                                     self.blocking)
        self.checks.append(check)
        return rows

    def business(self) -> dict[str, Any]:
        b = self.ev.business_checks
        rows, check = roi_bounds_check(self.summary["roi"], self.cfg.model.priors.roi_bounds, self.blocking)
        negative = self.summary["negative_baseline_prob"]
        self.checks += [check, judge("negative_baseline", negative, b.max_negative_baseline_prob, "max",
                                     self.blocking, "posterior probability that the baseline is negative"),
                        media_share_check(self.summary["media_revenue"], self.summary["total_revenue"],
                                          list(b.media_share_range), self.blocking)]
        return {"roi_bounds": rows, "negative_baseline_prob": negative,
                "media_share": self.summary["media_revenue"] / self.summary["total_revenue"]}


def _format(check: Check) -> str:
    value = "n/a" if check.value is None else f"{check.value:.4g}"
    verdict = {True: "pass", False: "FAIL", None: "info"}[check.passed]
    limit = "" if check.threshold is None else f" ({'<=' if check.direction == 'max' else '>='} {check.threshold})"
    return f"{check.name:<18} {value:>10}{limit:<14} {verdict}{' [blocking]' if check.blocking else ''}  {check.detail}"


def run(ctx: Any) -> dict[str, Any]:
    """Stage entry point (see the module docstring)."""
    from mmm_meridian.optimize.stage import _prepare_runtime

    _prepare_runtime(ctx.cfg)
    evaluator = Evaluator(ctx)
    ev, strategies = evaluator.ev, evaluator.ev.validation_strategies
    doc: dict[str, Any] = {"interval": ev.metrics.interval, "strategies": {}}
    if strategies.temporal_holdout.enabled:
        doc["strategies"]["temporal_holdout"] = evaluator.temporal()
    if strategies.rolling_origin.enabled:
        doc["strategies"]["rolling_origin"] = evaluator.rolling()
    if strategies.geo_holdout.enabled:
        doc["strategies"]["geo_holdout"] = evaluator.geo()
    if ev.digital_checks.enabled:
        doc["digital_checks"] = evaluator.digital()
    if ev.business_checks.enabled:
        doc["business_checks"] = evaluator.business()
    checks = evaluator.checks
    doc["checks"] = [c.to_dict() for c in checks]
    failed = [c.name for c in checks if c.passed is False]
    blocking_failed = [c.name for c in checks if c.passed is False and c.blocking]
    doc["passed"] = not failed
    doc["failed"], doc["blocking_failed"] = failed, blocking_failed
    ctx.out.write_json("metrics.json", doc)
    ctx.log.info("evaluate: summary\n%s", "\n".join(_format(c) for c in checks))
    if blocking_failed:
        raise EvaluationGateError(f"blocking check(s) failed: {blocking_failed}", where=str(Path("evaluate") /
                                  "metrics.json"), fix="improve the model (see the guide's troubleshooting) or "
                                                       "remove the check from evaluation.metrics.blocking")
    holdout = doc["strategies"].get("temporal_holdout", {}).get("holdout", {})
    return {"passed": not failed, "failed": len(failed), "mape": holdout.get("mape"),
            "coverage": holdout.get("coverage"), "checks": len(checks),
            # every strategy's and split's MAPE / wMAPE / R² / coverage, for tracking and sweep summaries
            "strategies": _numbers_only(doc["strategies"])}


def _numbers_only(tree: Any) -> Any:
    """The numeric leaves of a nested report (lists become {index: ...}); None when nothing numeric is left."""
    if isinstance(tree, bool):
        return None
    if isinstance(tree, (int, float)):
        return tree
    if isinstance(tree, (list, tuple)):
        tree = {str(i): v for i, v in enumerate(tree)}
    if isinstance(tree, dict):
        kept = {str(k): _numbers_only(v) for k, v in tree.items()}
        kept = {k: v for k, v in kept.items() if v is not None}
        return kept or None
    return None
