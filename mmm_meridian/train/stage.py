"""TRAIN stage: fit the configured engine on the features stage's inputs, gate on convergence and plausibility, save
the model and ROI table.

Outputs in ``train/``: the saved model (the engine's ``model_file``: Meridian's ``model.binpb`` protobuf, the PyMC
engine's netCDF; data, spec, prior and posterior draws: the engine's ``load`` reloads it without refitting),
``diagnostics.json``
(max R-hat, min ESS, per parameter, divergences, converged flag, timings, engine and versions, backend, device), ``roi.csv`` (channel,
spend, incremental_revenue, roi_mean, roi_median, roi_lo_90, roi_hi_90), ``plausibility.json`` (the plausibility
gate's figures and verdict: :mod:`mmm_meridian.train.plausibility`) and, when ``training.rolling_splits.enabled``,
``splits/<i>/`` per walk-forward split (see :mod:`mmm_meridian.train.rolling`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian import models
from mmm_meridian.artifacts import dumps
from mmm_meridian.errors import UserError
from mmm_meridian.feature_spec import INPUTS_FILE, SPEC_FILE, FeatureSpec
from mmm_meridian.models import compare
from mmm_meridian.models.diagnostics import Diagnostics, gate
from mmm_meridian.models.jobs import FitJob, job_from_config, run_in_subprocess, run_job
from mmm_meridian.pipeline import stage_config
from mmm_meridian.train import plausibility, quarantine
from mmm_meridian.train.rolling import run_rolling

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`): chain and
# reconstruction batching change the random streams and so the draws.
READS: tuple[str, ...] = ("training", "complexity", "model.backend", "runtime.backend", "runtime.precision",
                          "runtime.chain_batch_size", "runtime.reconstruction_batch_size")


def check_plausibility(ctx: Any, diagnostics: Diagnostics) -> plausibility.Plausibility:
    """Judge the fit against ``complexity.plausibility``, write ``plausibility.json``, then fail or warn."""
    limits = ctx.cfg.complexity.plausibility
    figures = diagnostics.extra.get("revenue_figures") or {}
    roi = pd.read_csv(ctx.out.dir / "roi.csv")
    spec = FeatureSpec.read(ctx.input_path("features", SPEC_FILE))
    excluded = None
    if spec.excluded_weeks:  # KPI gaps kept out of the likelihood carry placeholder revenue: judge without them
        excluded = plausibility.excluded_weeks_figures(pd.read_parquet(ctx.input_path("features", INPUTS_FILE)),
                                                       spec.excluded_weeks, roi)
    verdict = plausibility.judge(roi, figures["total_revenue"], figures.get("negative_baseline_prob"),
                                 ctx.cfg.model.priors.roi_bounds, limits, excluded=excluded)
    verdict.accepted_below_gate = not verdict.passed
    ctx.out.write_json(plausibility.FILE, verdict.to_dict())
    plausibility.gate(verdict, limits.on_failure.value)
    return verdict


def second_opinion(ctx: Any, job: FitJob) -> dict[str, Any]:
    """Fit ``model.second_opinion`` on the same inputs, priors and sampler settings (in its own process), write its
    results under ``train/second_opinion/`` and the side-by-side ROI table ``train/second_opinion.csv``.

    The second fit is not gated: its convergence is recorded (and warned about) so the comparison can be read
    with it; the main fit stays the pipeline's answer.
    """
    cfg = ctx.cfg
    main, other = models.for_config(cfg), models.engine(cfg.model.second_opinion)
    plan = other.plan(cfg.runtime)
    folder = ctx.out.dir / compare.FOLDER
    second_job = dataclasses.replace(job, engine=other.name, runtime=plan.to_dict(), revenue_figures=False,
                                     label=f"train second opinion ({other.name})")
    ctx.log.info("train: second opinion: fitting the %s engine on the same inputs and priors", other.name)
    diagnostics = run_in_subprocess(second_job, folder, other.child_env(plan), cfg.training.split_timeout_s,
                                    "the second-opinion fit")
    if not diagnostics["converged"]:
        ctx.log.warning("train: the second opinion (%s) did not converge: %s; read its ROIs with care", other.name,
                        "; ".join(diagnostics["failures"]))
    table = compare.compare_roi(pd.read_csv(ctx.out.dir / "roi.csv"), pd.read_csv(folder / "roi.csv"), main.name,
                                other.name)
    ctx.out.write_csv(compare.FILE, table)
    apart = table.loc[~table["intervals_overlap"], "channel"].tolist()
    if apart:
        ctx.log.warning("train: second opinion: the engines' 90 %% ROI intervals do not overlap for %s: the data "
                        "cannot tell these apart, so the priors and model forms decide", apart)
    return {"engine": other.name, "converged": bool(diagnostics["converged"]),
            "max_rhat": diagnostics["max_rhat"], "min_ess": diagnostics["min_ess"],
            "channels_apart": apart,
            "roi_mean": dict(zip(table["channel"], table[f"{other.name}_roi_mean"].round(4), strict=True))}


def run(ctx: Any) -> dict[str, Any]:
    """Stage entry point (see the module docstring)."""
    cfg = ctx.cfg
    engine = models.for_config(cfg)
    plan = engine.plan(cfg.runtime)
    if plan.engine == "meridian" and plan.backend == "tensorflow":
        ctx.log.info("train: Meridian's TensorFlow backend is deprecated and about 3x slower than JAX here")
    job = job_from_config(cfg, ctx.input_path("features", SPEC_FILE).parent, plan)
    train_dir = ctx.store.stage_dir("train")
    features = ctx.store.manifest("features")
    key = quarantine.fit_key(stage_config(cfg, "train"), features.digest if features is not None else "")
    held = quarantine.matching(train_dir, key)
    if held is not None:  # the same config and inputs were fitted and refused: judge that fit again, no resampling
        quarantine.promote(held, ctx.out.dir)
    elif engine.apply(plan):
        run_job(job, ctx.out.dir)
    else:
        ctx.log.info("train: the engine is loaded with other runtime settings in this process; fitting in a "
                     "subprocess")
        run_in_subprocess(job, ctx.out.dir, engine.child_env(plan), cfg.training.split_timeout_s, "the train fit")
    diagnostics_path = ctx.out.dir / "diagnostics.json"
    diagnostics = Diagnostics.from_dict(json.loads(diagnostics_path.read_text(encoding="utf-8")))
    thresholds = cfg.convergence_gate()
    try:
        gate(diagnostics, thresholds)
        verdict = check_plausibility(ctx, diagnostics)
    except UserError as exc:
        if held is None:
            quarantine.keep(ctx.out.dir, train_dir, key, exc.what)
        exc.fix += (f"; the fit is kept in {quarantine.folder(train_dir)}: re-running train with the failed gate's "
                    "on_failure=warn and nothing else changed accepts it without resampling")
        raise
    diagnostics.extra["accepted_below_gate"] = not diagnostics.converged
    diagnostics.extra["promoted_from_quarantine"] = held is not None
    diagnostics_path.write_text(dumps(diagnostics.to_dict()) + "\n", encoding="utf-8")
    if held is not None:
        quarantine.discard(train_dir)
    summary: dict[str, Any] = {
        "converged": diagnostics.converged, "max_rhat": diagnostics.max_rhat, "min_ess": diagnostics.min_ess,
        "divergences": diagnostics.divergences, "sampling_seconds": diagnostics.extra.get("sampling_seconds"),
        "engine": engine.name, "backend": diagnostics.extra.get("backend"), "device": diagnostics.extra.get("device"),
        "preset": cfg.training.preset, "promoted_from_quarantine": held is not None}
    summary["plausible"] = verdict.passed
    summary["media_share"] = round(verdict.media_share, 4)
    roi = pd.read_csv(ctx.out.dir / "roi.csv")
    summary["roi_mean"] = dict(zip(roi["channel"], roi["roi_mean"].round(4), strict=True))
    if cfg.training.rolling_splits.enabled:
        inputs = pd.read_parquet(job.inputs_path, columns=[cols.TIME])
        weeks = sorted(pd.to_datetime(inputs[cols.TIME]).unique())
        root = ctx.out.dir / "splits"
        root.mkdir(parents=True, exist_ok=True)
        splits = run_rolling(job, weeks, cfg.training.rolling_splits, root, engine.child_env(plan),
                             cfg.training.split_timeout_s)
        summary["splits"] = int(len(splits))
        summary["splits_converged"] = int(splits["converged"].sum())
    if cfg.model.second_opinion is not None:
        summary["second_opinion"] = second_opinion(ctx, job)
    ctx.extra_manifest["runtime"] = plan.to_dict()
    return summary
