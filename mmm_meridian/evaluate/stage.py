"""EVALUATE stage: accuracy and calibration on held-out weeks, backtests, digital and business checks.

Reads the train stage's saved model (and for refits the features stage's inputs, for digital checks
``transform/clean.parquet``). Strategies (``evaluation.validation_strategies``):

- temporal holdout: the last N weeks. The train model is scored directly when it already holds out exactly those
  weeks (``model.holdout_weeks``); otherwise the same model is refitted with them held out, in a subprocess
  started first, so it samples while this process imports the engine and loads the train model; in ``mmm run`` it
  starts as soon as the features stage is done (:func:`prestart`, ``runtime.overlap_stages``), so that it
  samples while train does;
- rolling origin over ``training.rolling_splits``: the train stage's per-split results when it wrote them, else one
  refit per split (each in its own process); metrics per split, their spread, and how much ROI moves between splits;
- geo holdout (several geos): the last N weeks of every other geo held out of one refit, scored per geo.

Metrics: MAPE, wMAPE, R-squared and coverage of the posterior predictive interval (``evaluation.metrics.interval``).
When the feature spec holds lift tests (``calibration.experiments``), the calibration check compares the train
model's ROI over each test's weeks and geo with the measured one (:mod:`mmm_meridian.evaluate.calibration`; reported,
never a gate) and writes ``evaluate/calibration.csv``.
Writes ``evaluate/metrics.json`` (every metric, threshold, pass / fail, per split), the prediction tables, and logs
a summary; the stage fails only when a check named in ``evaluation.metrics.blocking`` fails.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian import models
from mmm_meridian.errors import UserError
from mmm_meridian.evaluate import calibration, convergence
from mmm_meridian.evaluate.checks import digital_checks, media_share_check, platform_revenue, roi_bounds_check
from mmm_meridian.evaluate.metrics import Check, judge, mark_excluded, roi_movement, score, scored_in_sample, spread
from mmm_meridian.evaluate.refit import PendingRefit, refit_job, train_split_results
from mmm_meridian.feature_spec import INPUTS_FILE, SPEC_FILE
from mmm_meridian.models import compare
from mmm_meridian.models.base import Engine, RuntimePlan
from mmm_meridian.models.jobs import FitJob, job_from_config, make_splits, why_not_overlap

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`).
READS: tuple[str, ...] = ("evaluation", "model.backend")
# What :func:`prestart`'s early refit reads: in ``mmm run`` it starts once these stages are done.
PRESTART_NEEDS: tuple[str, ...] = ("features",)


class EvaluationGateError(UserError):
    """A check the user configured as blocking failed, or a holdout refit failed the convergence gate."""


def _check_holdout_weeks(weeks: int, n_times: int) -> None:
    if weeks >= n_times - 1:
        raise UserError(f"evaluation.validation_strategies.temporal_holdout.weeks={weeks} leaves no weeks to fit "
                        f"({n_times} weeks)", where="config key evaluation.validation_strategies.temporal_holdout",
                        fix="hold out fewer weeks")


def temporal_refit_weeks(cfg: Any, features_dir: Path) -> int | None:
    """The weeks the temporal holdout refits the model without; None when no refit is certainly needed (the strategy
    is off, or train's model may already hold out these weeks: :meth:`Evaluator.temporal` decides once it is loaded).

    Raises:
        UserError: the strategy holds out every week.
    """
    temporal = cfg.evaluation.validation_strategies.temporal_holdout
    spec = json.loads((features_dir / SPEC_FILE).read_text(encoding="utf-8"))
    if not temporal.enabled or int(spec.get("holdout_weeks") or 0) == temporal.weeks:
        return None
    n_times = pd.read_parquet(features_dir / INPUTS_FILE, columns=[cols.TIME])[cols.TIME].nunique()
    _check_holdout_weeks(temporal.weeks, n_times)
    return int(temporal.weeks)


def holdout_refit_job(cfg: Any, base: FitJob, engine: Engine, plan: RuntimePlan, name: str,
                      **holdout: Any) -> FitJob:
    """The refit job of one validation strategy (``name``): ``base`` (the main fit's job) run by ``engine`` on
    ``plan``, its sampler capped by ``evaluation.refit_sampler``, with ``holdout`` (see
    :func:`~mmm_meridian.evaluate.refit.refit_job`)."""
    base = dataclasses.replace(base, engine=engine.name, runtime=plan.to_dict(),
                               sampler=cfg.evaluation.refit_sampler.capped(base.sampler))
    return refit_job(base, f"evaluate {name}", interval=cfg.evaluation.metrics.interval, **holdout)


def prestart(cfg: Any, inputs: dict[str, Path], scratch: Path, log: logging.Logger) -> PendingRefit | None:
    """``mmm run``'s early start of the temporal holdout's refit, once the features stage is done, into
    ``scratch``: it samples while train does, and :meth:`Evaluator.start_temporal_refit` collects it. None (nothing
    started) when ``runtime.overlap_stages`` is off, no refit is certainly needed, or no core is to spare
    (:func:`~mmm_meridian.models.jobs.why_not_overlap`)."""
    if not cfg.runtime.overlap_stages:
        return None
    weeks = temporal_refit_weeks(cfg, inputs["features"])
    if weeks is None:
        return None
    engine = models.for_config(cfg)
    plan = engine.plan(cfg.runtime)
    refused = why_not_overlap(plan)
    if refused is not None:
        log.info("evaluate: temporal_holdout: the refit waits for evaluate, not started beside train: %s", refused)
        return None
    job = holdout_refit_job(cfg, job_from_config(cfg, inputs["features"], plan), engine, plan, "temporal_holdout",
                            holdout_weeks=weeks)
    log.info("evaluate: temporal_holdout: refitting (%s engine) in a separate process, started now so that it "
             "samples beside train (runtime.overlap_stages)", engine.name)
    return PendingRefit(job, scratch / "temporal_holdout", engine.child_env(plan), cfg.training.split_timeout_s)


def _last_weeks_mask(n_geos: int, n_times: int, weeks: int) -> np.ndarray:
    mask = np.zeros((n_geos, n_times), dtype=bool)
    mask[:, n_times - weeks:] = True
    return mask


class Evaluator:
    """Runs the configured strategies and checks for one stage run."""

    def __init__(self, ctx: Any) -> None:
        self.ctx, self.cfg, self.ev = ctx, ctx.cfg, ctx.cfg.evaluation
        self.engine = models.for_config(ctx.cfg)
        self.plan = self.engine.plan(ctx.cfg.runtime)
        self.mmm: Any = None  # the train model and its summary: load()
        self.summary: Any = None
        self._early: Any = None  # the temporal refit started before the model was loaded: start_temporal_refit()
        self.blocking = list(self.ev.metrics.blocking)
        self.checks: list[Check] = []
        self.policy = convergence.on_failure(ctx.cfg)
        # Weeks whose KPI is a placeholder (kpi_long_gaps=exclude): never scored, in sample or held out.
        spec = json.loads(ctx.input_path("features", "feature_spec.json").read_text(encoding="utf-8"))
        self.excluded_weeks: dict[str, list[str]] = spec.get("excluded_weeks") or {}
        self.experiments = calibration.experiments_from_spec(spec)
        self.spec_holdout_weeks = int(spec.get("holdout_weeks") or 0)
        self._base = None

    def load(self) -> None:
        """Import the engine and load the train model and its summary (about 15 s for Meridian on 2 cores)."""
        self.engine.apply(self.plan)
        self.mmm = self.engine.load(self.ctx.input_path("train", self.engine.model_file))
        self.summary = self.engine.model_summary(self.mmm)

    def start_temporal_refit(self) -> None:
        """Start the temporal holdout's refit now, before :meth:`load`, when it is certainly needed (train's model
        holds out other weeks than the strategy's), so loading and the other checks run while it samples; or take
        over the one ``mmm run`` started beside train (:func:`prestart`) when it is this very refit."""
        weeks = temporal_refit_weeks(self.cfg, self.ctx.input_path("features", SPEC_FILE).parent)
        if weeks is None:
            return
        early = self.ctx.early
        if isinstance(early, PendingRefit) and early.job == self.refit_job("temporal_holdout", holdout_weeks=weeks):
            self.ctx.log.info("evaluate: temporal_holdout: collecting the refit started beside train")
            self._early = early
        else:
            self._early = self.refit("temporal_holdout", wait=False, holdout_weeks=weeks)

    def stop_refits(self) -> None:
        """End a refit started early that nobody collected (the stage failed or was interrupted meanwhile)."""
        if self._early is not None:
            self._early.stop()

    def base_job(self) -> Any:
        if self._base is None:
            self._base = job_from_config(self.cfg, self.ctx.input_path("features", SPEC_FILE).parent, self.plan)
        return self._base

    def _plan_for(self, engine: Engine) -> RuntimePlan:
        return self.plan if engine is self.engine else engine.plan(self.cfg.runtime)

    def refit_job(self, name: str, engine: Engine | None = None, **holdout: Any) -> FitJob:
        """The main fit's job (``engine``: another engine's, for the second opinion) with a strategy's holdout."""
        engine = engine or self.engine
        return holdout_refit_job(self.cfg, self.base_job(), engine, self._plan_for(engine), name, **holdout)

    def refit_dir(self, name: str) -> Path:
        return self.ctx.out.path(f"refits/{name}/.keep").parent

    def refit(self, name: str, engine: Engine | None = None, wait: bool = True, **holdout: Any) -> Any:
        """Refit the main fit's job (``engine``: another engine's, for the second opinion) with a holdout: its
        :class:`~mmm_meridian.evaluate.refit.RefitResult`, or with ``wait=False`` the running refit
        (:class:`~mmm_meridian.evaluate.refit.PendingRefit`)."""
        engine = engine or self.engine
        plan = self._plan_for(engine)
        job = holdout_refit_job(self.cfg, self.base_job(), engine, plan, name, **holdout)
        doing = "scoring train's fit" if job.saved_model else "refitting"
        self.ctx.log.info("evaluate: %s: %s (%s engine) in a separate process", name, doing, engine.name)
        pending = PendingRefit(job, self.refit_dir(name), engine.child_env(plan), self.cfg.training.split_timeout_s)
        return pending.result() if wait else pending

    def second_opinion(self) -> dict[str, Any] | None:
        """The temporal holdout scored for ``model.second_opinion``'s engine too (None when it is off): both
        engines' forecasts of the same held-out weeks, each from a fit without them. When train's fits already held
        these weeks out (``model.holdout_weeks``), train's second-opinion fit is scored (its full sampler, no
        sampling here); otherwise the other engine is refitted."""
        if self.cfg.model.second_opinion is None or not self.ev.validation_strategies.temporal_holdout.enabled:
            return None
        other = models.engine(self.cfg.model.second_opinion)
        weeks = self.ev.validation_strategies.temporal_holdout.weeks
        saved = self.ctx.input_path("train", compare.FOLDER) / other.model_file
        scores_saved = self.spec_holdout_weeks == weeks and saved.is_file()
        source = convergence.SECOND_OPINION_FIT if scores_saved else "refit"
        refit = self.refit(f"second_opinion_{other.name}", engine=other, holdout_weeks=weeks,
                           saved_model=saved if scores_saved else None)
        predictions = mark_excluded(refit.predictions, self.excluded_weeks, cols.GEO, cols.TIME)
        self.ctx.out.write_csv(f"holdout_predictions_{other.name}.csv", predictions)
        held = self._judged(score(predictions, predictions["holdout"]))
        record = convergence.summarise(refit.diagnostics, source, self.policy)
        return {"engine": other.name, "weeks": weeks, **_status(record), "holdout": held, "convergence": record}

    def _converged(self, name: str, diagnostics: dict[str, Any], source: str, checks: list[Check]) -> dict[str, Any]:
        """Judge one fit's convergence, mark ``checks`` (the strategy's) when it failed, and return the record."""
        record = convergence.summarise(diagnostics, source, self.policy)
        if source != convergence.MAIN_FIT:  # the main fit was gated by train (and accepted there)
            self.checks.append(convergence.check(name, record))
        if not record["converged"]:
            caveat = convergence.MAIN_NOT_CONVERGED if source == convergence.MAIN_FIT else convergence.NOT_CONVERGED
            convergence.mark(checks, caveat)
            self.ctx.log.warning("evaluate: %s: %s (%s): its scores are not a clean measure of accuracy", name,
                                 caveat, convergence.describe(record))
        return record

    def _judged(self, scores: dict[str, Any]) -> dict[str, Any]:
        """``scores`` with each configured threshold and its pass / fail beside the metrics (for readers of
        ``metrics.json`` and the deck; the stage's checks are in ``checks``)."""
        m = self.ev.metrics
        limits = {"mape": (m.mape_threshold, "max"), "wmape": (m.wmape_threshold, "max"),
                  "r2": (m.r2_threshold, "min"), "coverage": (m.coverage_threshold, "min")}
        limits = {k: v for k, v in limits.items() if v[0] is not None and k in scores}
        return {**scores, "thresholds": {k: t for k, (t, _) in limits.items()},
                "passed": {k: judge(k, scores[k], t, d, []).passed for k, (t, d) in limits.items()}}

    def _main_fit(self) -> dict[str, Any]:
        return json.loads(self.ctx.input_path("train", "diagnostics.json").read_text(encoding="utf-8"))

    def temporal(self) -> dict[str, Any]:
        weeks = self.ev.validation_strategies.temporal_holdout.weeks
        n_geos, n_times = len(self.summary.geos), len(self.summary.times)
        _check_holdout_weeks(weeks, n_times)
        if self._early is not None:
            refit, self._early = self._early.result(into=self.refit_dir("temporal_holdout")), None
            predictions, source, diagnostics = refit.predictions, "refit", refit.diagnostics
        elif np.array_equal(self.engine.holdout_mask(self.mmm), _last_weeks_mask(n_geos, n_times, weeks)):
            predictions = self.engine.predictive_table(self.mmm, self.ev.metrics.interval)
            source = convergence.MAIN_FIT
            diagnostics = self._main_fit()
        else:
            refit = self.refit("temporal_holdout", holdout_weeks=weeks)
            predictions, source, diagnostics = refit.predictions, "refit", refit.diagnostics
        predictions = mark_excluded(predictions, self.excluded_weeks, cols.GEO, cols.TIME)
        self.ctx.out.write_csv("holdout_predictions.csv", predictions)
        held = self._judged(score(predictions, predictions["holdout"]))
        fitted = self._judged(score(predictions, scored_in_sample(predictions)))
        m = self.ev.metrics
        checks = [judge("mape", held["mape"], m.mape_threshold, "max", self.blocking, "temporal holdout"),
                  judge("wmape", held["wmape"], m.wmape_threshold, "max", self.blocking, "temporal holdout"),
                  judge("r2", held["r2"], m.r2_threshold, "min", self.blocking, "temporal holdout"),
                  judge("coverage", held["coverage"], m.coverage_threshold, "min", self.blocking,
                        f"{m.interval:.0%} predictive interval, temporal holdout")]
        record = self._converged("temporal_holdout", diagnostics, source, checks)
        self.checks += checks
        return {"weeks": weeks, "source": source, **_status(record), "holdout": held, "in_sample": fitted,
                "convergence": record}

    def rolling(self) -> dict[str, Any]:
        results = train_split_results(self.ctx.input_path("train", "splits"))
        if results is None:
            weeks = pd.to_datetime(pd.Series(self.summary.times)).tolist()
            results = []
            for split in make_splits(weeks, self.cfg.training.rolling_splits):
                refit = self.refit(f"split_{split.index}", holdout_weeks=split.n_horizon_weeks,
                                   window=(split.train_start, split.horizon_end))
                results.append({"split": split.__dict__, "predictions": refit.predictions, "roi": refit.roi,
                                "source": "refit", "interval_kind": "predictive", "diagnostics": refit.diagnostics})
        rows, unconverged = [], []
        for result in results:
            result["predictions"] = mark_excluded(result["predictions"], self.excluded_weeks, cols.GEO, cols.TIME)
            metrics = score(result["predictions"], result["predictions"]["holdout"])
            if result["interval_kind"] != "predictive":
                metrics["coverage_expected_90"] = metrics.pop("coverage")
            metrics = self._judged(metrics)
            index = result["split"].get("index", len(rows))
            # Train's splits were fitted (and gated) by train, evaluate's by its own refits: both are holdout fits.
            record = self._converged(f"rolling split {index}", result["diagnostics"],
                                     "train split" if result["source"] == "train" else "refit", [])
            if not record["converged"]:
                unconverged.append(index)
            rows.append({**result["split"], **metrics, "source": result["source"], **_status(record),
                         "convergence": record})
        names = [k for k in ("mape", "wmape", "r2", "coverage", "coverage_expected_90") if k in rows[0]]
        doc = {"splits": rows, "spread": {k: spread([r[k] for r in rows]) for k in names},
               "roi_movement": roi_movement([r["roi"] for r in results]),
               "convergence": {"all_converged": not unconverged, "splits_not_converged": unconverged}}
        # The means over splits are what the rolling checks judge; they inherit any split's convergence failure.
        doc["mean"] = self._judged({k: doc["spread"][k]["mean"] for k in names})
        if unconverged:
            doc["mean"]["status"] = f"{convergence.NOT_CONVERGED} (split(s) {unconverged})"
        m = self.ev.metrics
        checks = [judge("rolling_mape", doc["spread"]["mape"]["mean"], m.mape_threshold, "max", self.blocking,
                        f"mean over {len(rows)} split(s)")]
        if "coverage" in doc["spread"]:
            checks.append(judge("rolling_coverage", doc["spread"]["coverage"]["mean"], m.coverage_threshold,
                                "min", self.blocking, f"mean over {len(rows)} split(s)"))
        if unconverged:
            convergence.mark(checks, f"{convergence.NOT_CONVERGED} (split(s) {unconverged})")
        self.checks += checks
        return doc

    def geo(self) -> dict[str, Any]:
        geos = self.summary.geos
        if len(geos) < 2:
            return {"skipped": "national model: one geo, nothing to hold out"}
        weeks = self.ev.validation_strategies.geo_holdout.weeks
        held = geos[::2]
        refit = self.refit("geo_holdout", geo_holdout={"geos": held, "start": self.summary.times[-weeks]})
        predictions = mark_excluded(refit.predictions, self.excluded_weeks, cols.GEO, cols.TIME)
        per_geo = {g: self._judged(score(predictions, (predictions[cols.GEO] == g) & predictions["holdout"]))
                   for g in held}
        mean_mape = float(np.mean([v["mape"] for v in per_geo.values()]))
        checks = [judge("geo_mape", mean_mape, self.ev.metrics.mape_threshold, "max", self.blocking,
                        f"mean over held-out geos {held}")]
        record = self._converged("geo_holdout", refit.diagnostics, "refit", checks)
        self.checks += checks
        return {"weeks": weeks, "held_out_geos": held, **_status(record), "per_geo": per_geo,
                "convergence": record}

    def calibration(self) -> dict[str, Any]:
        """The train model against every lift test: ``calibration.csv`` and ``metrics.json``'s section (a
        disagreement is a warning naming the experiment, and an info check, never a failure)."""
        model_roi = self.engine.experiment_roi(self.mmm, self.experiments)
        table = calibration.compare(self.experiments, model_roi)
        self.ctx.out.write_csv(calibration.CALIBRATION_FILE, table)
        doc = calibration.section(table)
        calibration.warn_disagreements(table, self.ctx.log)
        self.checks.append(calibration.check(doc))
        self.ctx.log.info("evaluate: calibration: the model agrees with %d of %d experiment(s)", doc["n_inside"],
                          doc["n"])
        return doc

    def digital(self) -> list[dict]:
        clean = pd.read_parquet(self.ctx.input_path("transform", "clean.parquet"))
        platform = platform_revenue(clean, self.summary.channels, self.summary.times)
        model = dict(zip(self.summary.roi["channel"], self.summary.roi["incremental_revenue"], strict=True))
        rows, check = digital_checks(model, platform, list(self.ev.digital_checks.incrementality_bounds),
                                     self.blocking)
        self.checks.append(check)
        return rows

    def business(self) -> dict[str, Any]:
        b = self.ev.business_checks
        rows, check = roi_bounds_check(self.summary.roi, self.cfg.model.priors.roi_bounds, self.blocking)
        negative = self.summary.negative_baseline_prob
        self.checks += [check, judge("negative_baseline", negative, b.max_negative_baseline_prob, "max",
                                     self.blocking, "posterior probability that the baseline is negative"),
                        media_share_check(self.summary.media_revenue, self.summary.total_revenue,
                                          list(b.media_share_range), self.blocking)]
        return {"roi_bounds": rows, "negative_baseline_prob": negative,
                "media_share": self.summary.media_revenue / self.summary.total_revenue}


def _status(record: dict[str, Any]) -> dict[str, str]:
    """``{"status": "refit not converged"}`` next to a strategy's metrics when its fit did not converge."""
    if record["converged"]:
        return {}
    main = record["source"] == convergence.MAIN_FIT
    return {"status": convergence.MAIN_NOT_CONVERGED if main else convergence.NOT_CONVERGED}


def _format(check: Check) -> str:
    value = "n/a" if check.value is None else f"{check.value:.4g}"
    verdict = {True: "pass", False: "FAIL", None: "info"}[check.passed]
    limit = "" if check.threshold is None else f" ({'<=' if check.direction == 'max' else '>='} {check.threshold})"
    return f"{check.name:<18} {value:>10}{limit:<14} {verdict}{' [blocking]' if check.blocking else ''}  {check.detail}"


def run(ctx: Any) -> dict[str, Any]:
    """Stage entry point (see the module docstring)."""
    evaluator = Evaluator(ctx)
    # The temporal refit samples in its own process while this one imports the engine and loads the model and its
    # summary (on the demo, about 19 s that used to come before the refit's start).
    evaluator.start_temporal_refit()
    try:
        return _evaluate(ctx, evaluator)
    finally:
        evaluator.stop_refits()


def _evaluate(ctx: Any, evaluator: Evaluator) -> dict[str, Any]:
    evaluator.load()
    ev, strategies = evaluator.ev, evaluator.ev.validation_strategies
    doc: dict[str, Any] = {"interval": ev.metrics.interval, "strategies": {}}
    if strategies.temporal_holdout.enabled:
        doc["strategies"]["temporal_holdout"] = evaluator.temporal()
        second = evaluator.second_opinion()
        if second is not None:
            doc["second_opinion"] = second
    if strategies.rolling_origin.enabled:
        doc["strategies"]["rolling_origin"] = evaluator.rolling()
    if strategies.geo_holdout.enabled:
        doc["strategies"]["geo_holdout"] = evaluator.geo()
    if evaluator.experiments:
        doc["calibration"] = evaluator.calibration()
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
    unconverged = [c.detail for c in checks if c.name == "refit_convergence" and c.passed is False]
    if unconverged and any(c.blocking for c in checks if c.name == "refit_convergence"):
        raise EvaluationGateError(
            f"holdout refit(s) did not converge, so their scores do not measure the model: {'; '.join(unconverged)}",
            where=str(Path("evaluate") / "metrics.json"),
            fix=f"{convergence.ADVICE} (the refits use training.sampler, capped by evaluation.refit_sampler); or set complexity.identifiability.on_failure=warn to keep the scores, "
                f"marked '{convergence.NOT_CONVERGED}' in metrics.json, the log and the deck")
    if blocking_failed:
        raise EvaluationGateError(f"blocking check(s) failed: {blocking_failed}", where=str(Path("evaluate") /
                                  "metrics.json"), fix="improve the model (see the guide's troubleshooting) or "
                                                       "remove the check from evaluation.metrics.blocking")
    holdout = doc["strategies"].get("temporal_holdout", {}).get("holdout", {})
    return {"passed": not failed, "failed": len(failed), "mape": holdout.get("mape"),
            "coverage": holdout.get("coverage"), "checks": len(checks),
            **_calibration_figures(doc.get("calibration")),
            # every strategy's and split's MAPE / wMAPE / R² / coverage, for tracking and sweep summaries
            "strategies": _numbers_only(doc["strategies"])}


def _calibration_figures(section: dict[str, Any] | None) -> dict[str, Any]:
    """The calibration counts for tracking (nothing without experiments, so runs without them log the same)."""
    if not section:
        return {}
    return {"calibration_experiments": section["n"], "calibration_inside": section["n_inside"],
            "calibration_share_inside": section["share_inside"]}


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
