"""REPORT stage (guide stage 8): the executive deck, the dashboard tables and Meridian's own HTML pages.

Reads every earlier stage's artifacts (see :mod:`mmm_meridian.report.sources`; only ``train/roi.csv`` is
mandatory, absent inputs leave their section out with a note). Writes to ``report/``:

- ``executive_deck.pdf`` (``reports.executive_deck``) and the PNG charts it shows under ``charts/``;
- ``dashboard/<table>.csv|.parquet`` with ``SCHEMA.md`` / ``schema.json`` (``reports.dashboard_exports``);
- ``attribution_report.csv`` (``reports.attribution_report``) and ``optimization_recommendations.csv``
  (``reports.optimization_recommendations``);
- ``model_summary.html`` (the Meridian engine's model results page) and ``optimization_summary.html`` (copied from
  optimize) when ``reports.meridian_html`` and the engine writes them. In ``mmm run`` the model summary page is
  written in its own process once train is done, beside optimize (:func:`prestart`, ``runtime.overlap_stages``).
"""

from __future__ import annotations

import logging
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian import models
from mmm_meridian.models.base import Engine, ModelOutputs
from mmm_meridian.models.jobs import SubprocessSummary, why_not_overlap
from mmm_meridian.report import charts, dashboard, quality, sections
from mmm_meridian.report.deck import Deck
from mmm_meridian.report.formatting import label, ratio
from mmm_meridian.report.sources import ReportInputs, load_inputs

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`).
READS: tuple[str, ...] = ("reports", "project", "model.backend")
MODEL_SUMMARY_FILE = "model_summary.html"

DECK_FILE = "executive_deck.pdf"
# What :func:`prestart`'s early model summary page reads: in ``mmm run`` it starts once these stages are done.
PRESTART_NEEDS: tuple[str, ...] = ("train",)


def prestart(cfg: Any, inputs: dict[str, Path], scratch: Path, log: logging.Logger) -> SubprocessSummary | None:
    """``mmm run``'s early start of the engine's model summary page, once train is done: written in its own process
    into ``scratch`` while optimize runs (on the demo about 10 of the report stage's 17 s), and taken over by
    :func:`run`. None (nothing started) when ``reports.meridian_html`` or ``runtime.overlap_stages`` is off, the
    engine writes no such page, or no core is to spare (:func:`~mmm_meridian.models.jobs.why_not_overlap`)."""
    engine = models.for_config(cfg)
    model_file = inputs["train"] / engine.model_file
    if not (cfg.reports.meridian_html and cfg.runtime.overlap_stages and engine.has_model_summary
            and model_file.is_file()):
        return None
    plan = engine.plan(cfg.runtime)
    refused = why_not_overlap(plan)
    if refused is not None:
        log.info("report: the model summary page waits for report, not started beside optimize: %s", refused)
        return None
    log.info("report: writing the model summary page in a separate process, started now so that it runs beside "
             "optimize (runtime.overlap_stages)")
    return SubprocessSummary(engine.name, model_file, cfg.reports.max_posterior_draws, scratch, MODEL_SUMMARY_FILE,
                             engine.child_env(plan))


def write_model_summary(ctx: Any, engine: Engine, mmm: Any, model_file: Path) -> Path | None:
    """The engine's model summary page in ``report/``: the one ``mmm run`` started beside optimize when it is of this
    model (:func:`prestart`), else written here; None when the engine writes none (it logged why)."""
    early = ctx.early
    if isinstance(early, SubprocessSummary) and early.model_file.resolve() == model_file.resolve():
        ctx.log.info("report: collecting the model summary page written beside optimize")
        if early.wait():
            return Path(shutil.copy2(early.page, ctx.out.path(MODEL_SUMMARY_FILE))) if early.page.is_file() else None
        ctx.log.warning("report: the model summary page's process failed (its error is above); writing it here")
    return engine.write_model_summary(mmm, ctx.out.dir, MODEL_SUMMARY_FILE)


def currency_label(cfg: Any, folders: dict[str, Path], model_currency: str | None) -> str:
    """``reports.currency``, else the data's ``currency_code`` column, else Meridian's, else a neutral label."""
    if cfg.reports.currency:
        return str(cfg.reports.currency)
    raw = folders.get("ingest", Path("/nonexistent")) / "raw.parquet"
    if raw.is_file():
        try:
            codes = pd.read_parquet(raw, columns=["currency_code"])["currency_code"].dropna().unique()
            if len(codes):
                return "/".join(sorted(map(str, codes)))
        except (KeyError, ValueError, OSError, ImportError):  # no such column: fall through
            pass
    return model_currency or "currency units"


def _failed_figure(scope: str, metric: str, value: float, threshold: float) -> str:
    """A failed accuracy figure in words, e.g. "forecast of held-out weeks (temporal holdout): error 45.8 % (limit
    15 %)"."""
    parts = [p for p in str(scope).split("/") if p and p != "strategies"]
    where = {"holdout": "forecast of held-out weeks", "in_sample": "fit to the weeks it saw"}.get(
        parts[-1] if parts else "", " / ".join(parts))
    strategy = f" ({label(parts[0])})" if len(parts) > 1 else ""
    name = metric.lower()
    if name in ("mape", "wmape", "smape"):
        figure = f"error {100 * value:.1f} % (limit {100 * threshold:.0f} %)"
    elif name == "coverage":
        figure = f"{100 * value:.0f} % of weeks inside the interval (target {100 * threshold:.0f} %)"
    else:
        figure = f"{metric} {ratio(value)} (threshold {ratio(threshold)})"
    return f"{where}{strategy}: {figure}"


ENGINE_NAMES = {"meridian": ("Google Meridian", "google-meridian"), "pymc": ("PyMC-Marketing", "pymc-marketing")}


def engine_label(diagnostics: dict[str, Any]) -> str:
    """The engine that fitted the model and its version, as train recorded them (e.g. "Google Meridian 2.1.0")."""
    name, package = ENGINE_NAMES.get(diagnostics.get("engine", "meridian"), ("?", "?"))
    version = (diagnostics.get("versions") or {}).get(package)
    if version is None:  # diagnostics from before engines were recorded: the installed version
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "?"
    return f"{name} {version}"


def cover_facts(ctx: Any, inputs: ReportInputs) -> dict[str, str]:
    cfg = ctx.cfg
    spec = inputs.feature_spec or {}
    period = f"{spec.get('time_start', '?')} to {spec.get('time_end', '?')} ({spec.get('n_weeks', '?')} weeks)"
    if not spec and inputs.clean is not None:
        times = pd.to_datetime(inputs.clean["time"])
        period = f"{times.min():%Y-%m-%d} to {times.max():%Y-%m-%d} ({times.nunique()} weeks)"
    series = ", ".join(f"{k} = {v}" for k, v in cfg.data.series.items()) or "all rows"
    geos = spec.get("geos") or []
    series += f"; {'geo model over ' + str(len(geos)) + ' geos' if len(geos) > 1 else 'national model'}"
    diag = inputs.diagnostics or {}
    sampler = diag.get("sampler", {})
    train = ctx.store.manifest("train")
    # What sampled: Meridian's backend (jax / tensorflow); the PyMC engine's NUTS library (its backend is pytensor)
    sampled_by = (f"{sampler.get('nuts_sampler', '?')} NUTS" if diag.get("engine") == "pymc"
                  else diag.get("backend", "?"))
    model = (f"{engine_label(diag)}; {len(inputs.roi)} channels; sampler preset '{cfg.training.preset}' "
             f"({sampler.get('n_chains', '?')} chains x {sampler.get('n_keep', '?')} draws, "
             f"{sampled_by}); model version {train.digest if train else '?'}")
    ingest = ctx.store.manifest("ingest")
    data_version = cfg.project.data_version + (f" (data fingerprint {ingest.digest})" if ingest else "")
    return {"project": cfg.project.name, "description": cfg.project.description, "period": period, "series": series,
            "model": model, "data_version": data_version, "date": time.strftime("%Y-%m-%d"),
            "owner": cfg.project.owner}


def caveats(inputs: ReportInputs, metrics: pd.DataFrame) -> list[str]:
    """Plain-words warnings about how far to trust the numbers."""
    out = ["The model estimates what media caused from weekly history; it is not a controlled experiment. "
           "Confirm large budget moves with a test (e.g. a geo experiment) before committing them."]
    diag = inputs.diagnostics or {}
    if diag and not diag.get("converged", True):
        out.append(f"The model's sampler did not fully settle ({'; '.join(diag.get('failures', [])) or 'see appendix'})"
                   ": treat the numbers as preliminary and re-run with the production preset.")
    roi = inputs.roi
    wide = roi[(roi["roi_hi_90"] > 3 * roi["roi_lo_90"].clip(lower=1e-9))]
    if not wide.empty:
        out.append("ROI is uncertain for " + ", ".join(label(c) for c in wide["channel"]) + " (the 90 % interval "
                   "spans a factor of 3 or more): decide on those channels with extra care.")
    summary = inputs.optimize_summary or {}
    if summary.get("extrapolated_channels"):
        out.append("The recommended spend for " + ", ".join(label(c) for c in summary["extrapolated_channels"]) +
                   " goes beyond anything seen in the data; the model's prediction there is an extrapolation.")
    status = summary.get("recommendation") or {}
    if status.get("status") == "keep_current_mix":
        out.append(f"No budget move is recommended: the best plan inside the budget constraints {status.get('verdict')}"
                   "; the constraints exclude today's mix (see optimize/summary.json, current_mix_breaches).")
    verdict = inputs.plausibility or {}
    if verdict and not verdict.get("passed", True):
        out.append("The model failed the plausibility gate (" + "; ".join(verdict.get("failures", [])) + ") and was "
                   "kept only because complexity.plausibility.on_failure=warn.")
    constraints = summary.get("constraints") or {}
    if constraints.get("satisfied") is False:
        out.append("The optimised plan misses one of the budget constraints slightly (see optimize/summary.json).")
    out += [str(n) for n in summary.get("business_notes", []) if n]
    validation = inputs.validation or {}
    if validation and not validation.get("passed", True):
        out.append(f"The data failed validation (score {ratio(validation.get('score'))}); the run went ahead "
                   "because the gate was overridden.")
    failed = metrics[metrics["passed"].map(lambda v: v is False)]
    if not failed.empty:
        out.append("Accuracy below target: " + "; ".join(_failed_figure(r.scope, r.metric, r.value, r.threshold)
                                                         for r in failed.head(4).itertuples())
                   + ". Budget moves rest on a model that misses these targets: test them before committing.")
    fits = quality.refit_convergence(inputs.metrics)
    unconverged = fits[~fits["converged"].astype(bool)]
    if not unconverged.empty:
        out.append("The holdout scores of " + ", ".join(label(f) for f in unconverged["fit"]) + " come from a fit "
                   "that did not converge (" + "; ".join(f for f in unconverged["failures"] if f) + "): they are not "
                   "a clean measure of accuracy; re-run with a longer sampler preset before trusting them.")
    calibration = inputs.calibration
    if calibration is not None and not calibration.empty:
        apart = [label(r["channel"]) for r in calibration.to_dict("records") if not sections.agrees(r["inside"])]
        if apart:
            out.append(f"The model disagrees with {len(apart)} of {len(calibration)} lift test(s) ("
                       + ", ".join(dict.fromkeys(apart)) + "): see 'Model vs experiments' before moving budget on "
                       "those channels.")
    excluded = inputs.excluded_weeks
    if excluded:
        out.append(f"{len(excluded)} week(s) have no real revenue (a long gap in the data, kept out of the fit: "
                   "kpi_long_gaps=exclude); totals, shares and the fit chart leave them out.")
    return out


def draw_charts(data: sections.ReportData, curves: pd.DataFrame | None, folder: Path) -> dict[str, Path]:
    inputs, model, cur = data.inputs, data.model, data.currency
    found: dict[str, Path] = {"roi": charts.roi_chart(inputs.roi, model.marginal_roi if model else None, cur,
                                                      folder / "roi.png")}
    if model is not None:
        found["contributions"] = charts.contributions(model.decomposition, cur, folder / "contributions.png")
        found["decomposition"] = charts.decomposition_chart(model.decomposition, model.fit, cur,
                                                            folder / "decomposition.png")
        spec = inputs.feature_spec or {}
        holdout = int(spec.get("holdout_weeks", 0) or 0)
        start = str(model.fit["time"].iloc[-holdout].date()) if 0 < holdout < len(model.fit) else None
        found["fit"] = charts.fit_chart(model.fit, cur, folder / "fit.png", holdout_start=start)
    if curves is not None and not curves.empty:
        found["curves"] = charts.response_curves(curves, inputs.allocation, cur, folder / "response_curves.png")
    if inputs.allocation is not None:
        found["allocation"] = charts.allocation_chart(inputs.allocation, cur, folder / "allocation.png")
    if inputs.calibration is not None and not inputs.calibration.empty:
        found["calibration"] = charts.calibration_chart(inputs.calibration, cur, folder / "calibration.png")
    s = inputs.scenarios
    if s is not None and "expected_incremental_revenue" in s and s["expected_incremental_revenue"].notna().any():
        found["scenarios"] = charts.scenarios_chart(s, cur, folder / "scenarios.png")
    return found


def build_deck(data: sections.ReportData, path: Path) -> Path:
    deck = Deck(title=f"{data.cover['project']}: marketing mix model",
                footer=f"{data.cover['project']} | {data.cover['period']} | generated {data.cover['date']}")
    for section in (sections.cover, sections.summary, sections.contributions, sections.roi_section,
                    sections.experiments, sections.reach_frequency, sections.second_opinion, sections.curves,
                    sections.optimization, sections.model_quality, sections.data_quality, sections.caveats):
        section(deck, data)
    return deck.build(path)


def mark_excluded(fit: pd.DataFrame, excluded_weeks: list[str]) -> pd.DataFrame:
    """``fit`` with ``kpi_excluded`` set on the weeks whose revenue is a placeholder (``kpi_long_gaps=exclude``) and
    their ``actual`` emptied (NaN): it is not revenue, and the chart shows those weeks as a shaded gap."""
    out = fit.copy()
    out["kpi_excluded"] = pd.to_datetime(out["time"]).dt.strftime("%Y-%m-%d").isin(set(excluded_weeks)).to_numpy()
    out.loc[out["kpi_excluded"], "actual"] = np.nan
    return out


def total_revenue(inputs: ReportInputs, model: ModelOutputs | None) -> float | None:
    """Revenue over the (geo, week) cells with real revenue (placeholder cells of ``kpi_long_gaps=exclude`` left
    out; a week excluded in one geo keeps the other geos' revenue). For a conversions KPI the clean table counts
    conversions: revenue is conversions x revenue per conversion (the model's money figures, when the clean table
    lacks the column)."""
    if inputs.clean is not None:
        spec = inputs.feature_spec or {}
        placeholder = cols.excluded_rows(inputs.clean, spec.get("excluded_weeks") or {})
        rows = inputs.clean.loc[~placeholder]
        if spec.get("kpi_type", "revenue") != "conversions":
            return float(rows[cols.REVENUE].sum())
        if cols.REVENUE_PER_KPI in rows:  # the KPI counts conversions: revenue = conversions x revenue per conversion
            return float((rows[cols.REVENUE] * rows[cols.REVENUE_PER_KPI]).sum())
    if model is not None:
        return float(model.fit["actual"].sum())  # NaN (skipped) on excluded weeks: see mark_excluded
    return None


def run(ctx: Any) -> dict[str, Any]:
    """Stage entry point (see the module docstring)."""
    cfg, out = ctx.cfg, ctx.out
    engine = models.for_config(cfg)
    inputs = load_inputs(ctx.inputs, engine.model_file)
    model, mmm = None, None
    if inputs.model_path is not None:
        engine.apply(engine.plan(cfg.runtime))
        mmm = engine.load(inputs.model_path)
        used, total = engine.thin(mmm, cfg.reports.max_posterior_draws, key="reports")
        if used < total:
            ctx.log.info("report: model analyses on %d of the fit's %d posterior draws (reports.max_posterior_draws)",
                         used, total)
        model = engine.model_outputs(mmm, inputs.control_kinds, with_curves=inputs.response_curves is None)
        model.fit = mark_excluded(model.fit, inputs.excluded_weeks)
    curves = inputs.response_curves if inputs.response_curves is not None else (model.response_curves if model
                                                                                 else None)
    metrics = quality.metric_rows(inputs.metrics)
    currency = currency_label(cfg, ctx.inputs, model.currency if model else None)
    data = sections.ReportData(inputs, model, {}, currency, cover_facts(ctx, inputs), total_revenue(inputs, model),
                               caveats(inputs, metrics))
    summary: dict[str, Any] = {"currency": currency, "notes": len(inputs.notes)}
    if cfg.reports.executive_deck:
        data.charts = draw_charts(data, curves, out.path("charts/.keep").parent)
        build_deck(data, out.path(DECK_FILE))
        summary["deck"] = DECK_FILE
    attribution = dashboard.attribution_table(inputs.roi, data.total_revenue)
    recommendations = (dashboard.recommendations_table(inputs.allocation) if inputs.allocation is not None
                       else None)
    if cfg.reports.attribution_report:
        out.write_csv("attribution_report.csv", attribution)
    if cfg.reports.optimization_recommendations and recommendations is not None:
        out.write_csv("optimization_recommendations.csv", recommendations)
    if cfg.reports.dashboard_exports:
        tables = {"weekly_contributions": dashboard.weekly_table(model.decomposition) if model else None,
                  "attribution": attribution,
                  "roi": dashboard.roi_table(inputs.roi, model.marginal_roi if model else None),
                  "response_curves": curves, "allocation": inputs.allocation, "recommendations": recommendations,
                  "scenarios": inputs.scenarios, "metrics": metrics, "model_fit": model.fit if model else None,
                  "second_opinion": inputs.second_opinion,
                  "organic_and_treatments": dashboard.cause_table(model.decomposition) if model else None,
                  "calibration": inputs.calibration,
                  "optimal_frequency": model.optimal_frequency if model else None}
        schema = dashboard.write_tables(tables, out.path("dashboard/SCHEMA.md").parent, currency)
        summary["dashboard_tables"] = len(schema["tables"])
    if cfg.reports.meridian_html:
        if mmm is not None and inputs.model_path is not None:
            summary["model_summary_html"] = write_model_summary(ctx, engine, mmm, inputs.model_path) is not None
        if inputs.optimize_html is not None:
            shutil.copy2(inputs.optimize_html, out.path(inputs.optimize_html.name))
    media_share = data.media_revenue / data.total_revenue if data.total_revenue else None
    summary.update({"total_revenue": data.total_revenue, "media_share": media_share,
                    "sections_left_out": len(inputs.notes)})
    ctx.log.info("report: deck, %d dashboard table(s), currency %s; %d section(s) left out",
                 summary.get("dashboard_tables", 0), currency, len(inputs.notes))
    return summary
