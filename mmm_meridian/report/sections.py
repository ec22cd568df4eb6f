"""The deck's content, section by section, in words a marketing executive reads.

Every section checks its inputs and, when they are absent, prints a note saying what is missing instead of the
section. Numbers come straight from the upstream artifacts (ROI from ``train/roi.csv``, spends from
``optimize/allocation.csv``) so the PDF agrees with them to the printed precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian.models.base import NON_MEDIA_TREATMENT, ORGANIC, ModelOutputs
from mmm_meridian.report import quality
from mmm_meridian.report.dashboard import cause_table
from mmm_meridian.report.deck import Deck, escape
from mmm_meridian.report.formatting import interval, is_number, label, money, money_short, pct, ratio, share
from mmm_meridian.report.sources import ReportInputs

RISK_OFF = ("no interval or probability: the risk analysis was off (optimization.sensitivity.enabled=false), so "
            "this is the posterior mean only")
INTERVAL_NOTE = "90 % credible interval: the model puts a 90 % probability on the true value lying in this range."


@dataclass
class ReportData:
    """Everything the sections draw on."""

    inputs: ReportInputs
    model: ModelOutputs | None
    charts: dict[str, Path]
    currency: str
    cover: dict[str, str]
    total_revenue: float | None
    caveats: list[str] = field(default_factory=list)

    @property
    def media_revenue(self) -> float:
        return float(self.inputs.roi["incremental_revenue"].sum())


def cover(deck: Deck, data: ReportData) -> None:
    c = data.cover
    deck.space(3.0)
    deck.text(escape(c["project"]), "title")
    deck.text(escape(c.get("description", "")), "subtitle")
    deck.space(1.0)
    rows = [["Data period", c["period"]], ["Series", c["series"]], ["Model", c["model"]],
            ["Data version", c["data_version"]], ["Report date", c["date"]]]
    if data.inputs.kpi_type == "conversions":
        rows.insert(3, ["KPI", conversions_note(data.currency)])
    if c.get("owner"):
        rows.append(["Owner", c["owner"]])
    deck.table(["Marketing mix model report", ""], rows, widths=[0.25, 0.75], align_right_from=99)
    for warning in gate_warnings(data):
        deck.space(0.4)
        deck.note(warning)


def conversions_note(currency: str) -> str:
    """What a conversions model's money figures are (``data.kpi_type=conversions``)."""
    return (f"Conversions, valued in money: revenue = conversions x revenue per conversion, so every revenue and "
            f"ROI figure in this deck is in {currency} (the model counts conversions; the data's revenue per "
            "conversion turns them into revenue).")


def gate_warnings(data: ReportData) -> list[str]:
    """What the first page must say when the model was kept although it failed a gate of the train stage."""
    out = []
    verdict = data.inputs.plausibility or {}
    if verdict and not verdict.get("passed", True):
        out.append("WARNING: this model FAILED the plausibility gate and was kept only because "
                   "complexity.plausibility.on_failure=warn: " + "; ".join(verdict.get("failures", [])) +
                   ". Do not act on its ROIs or budget plan before fixing the model (see README 'Running on your own "
                   "data').")
    diag = data.inputs.diagnostics or {}
    if diag and not diag.get("converged", True):
        out.append("WARNING: the sampler did not converge (" + "; ".join(diag.get("failures", [])) + "): the "
                   "numbers are preliminary; re-run with the production preset before deciding.")
    return out


def headline(data: ReportData) -> str | None:
    """One sentence on the budget recommendation and its expected lift (None without optimize outputs)."""
    alloc, summary = data.inputs.allocation, data.inputs.optimize_summary or {}
    if alloc is None:
        return None
    cur = data.currency
    status = summary.get("recommendation") or {}
    chance = (f"probability it beats the current mix {share(summary.get('prob_beats_current'), 0)}"
              if is_number(summary.get("prob_beats_current")) else RISK_OFF)
    if status.get("status") == "keep_current_mix":
        lift = summary.get("expected_lift") or {}
        return (f"Keep the current media mix. The best plan inside the budget constraints {status.get('verdict')}: "
                f"it would change media-driven revenue by {money(lift.get('mean'), cur)} "
                f"({pct(lift.get('pct'), signed=True)}; {chance}). The constraints, not the media, cost "
                f"{money(status.get('constraints_cost'), cur)}: loosen them (e.g. bounds relative to each "
                "channel's current spend) before moving budget.")
    change = (alloc["recommended_spend"] - alloc["current_spend"]).round(2)
    up = alloc.loc[change > 0].assign(c=change).sort_values("c", ascending=False)
    down = alloc.loc[change < 0].assign(c=change).sort_values("c")
    moved = float(change.clip(lower=0).sum())
    parts = [f"Move {money(moved, cur)} of the media budget"]
    if not down.empty:
        parts.append(" from " + ", ".join(label(ch) for ch in down["channel"].head(3)))
    if not up.empty:
        parts.append(" to " + ", ".join(label(ch) for ch in up["channel"].head(3)))
    sentence = "".join(parts) + "."
    lift = summary.get("expected_lift") or {}
    if is_number(lift.get("mean")):
        width = int(round(100 * float(lift.get("interval", 0.9)))) if is_number(lift.get("interval")) else 90
        spread = (f"{width} % interval {money(lift.get('lo'), cur)} to {money(lift.get('hi'), cur)}"
                  if is_number(lift.get("lo")) and is_number(lift.get("hi")) else RISK_OFF)
        sentence += (f" Expected extra revenue: {money(lift['mean'], cur)} ({pct(lift.get('pct'), signed=True)} of "
                     f"media-driven revenue; {spread}).")
    if is_number(summary.get("prob_beats_current")):
        sentence += f" Probability the new plan beats the current one: {share(summary['prob_beats_current'], 0)}."
    return sentence


def summary(deck: Deck, data: ReportData) -> None:
    cur, roi = data.currency, data.inputs.roi
    deck.page_break()
    deck.heading("Summary")
    media_share = data.media_revenue / data.total_revenue if data.total_revenue else None
    spend = float(roi["spend"].sum())
    deck.kpis([(money(data.total_revenue, cur), "Total revenue over the period"),
               (share(media_share) if media_share is not None else "n/a", "Share of revenue driven by media"),
               (money(spend, cur), "Media spend"),
               (ratio(data.media_revenue / spend) if spend else "n/a",
                f"Revenue per 1 {cur} of media spend (blended ROI)")])
    deck.space(0.4)
    deck.heading("Top channels by return on spend", 2)
    top = roi.sort_values("roi_mean", ascending=False).head(3)
    deck.table(["Channel", "ROI (mean)", "90 % interval", "Spend", "Revenue driven"],
               [[label(r.channel), ratio(r.roi_mean), interval(r.roi_lo_90, r.roi_hi_90), money(r.spend, cur),
                 money(r.incremental_revenue, cur)] for r in top.itertuples()], widths=[0.3, 0.12, 0.18, 0.2, 0.2])
    deck.text(f"ROI = revenue caused by the channel per 1 {escape(cur)} spent. {INTERVAL_NOTE}", "small")
    deck.heading("Budget recommendation", 2)
    sentence = headline(data)
    if sentence is None:
        deck.note("No budget recommendation: optimize/allocation.csv is missing (run `mmm optimize`).")
    else:
        deck.text(escape(sentence))
    if data.caveats:
        deck.heading("Read with care", 2)
        deck.bullets([escape(c) for c in data.caveats[:4]], "small")


def contributions(deck: Deck, data: ReportData) -> None:
    deck.page_break()
    deck.heading("What drives revenue")
    if data.model is None:
        deck.note("Contributions over time and the revenue decomposition need the trained model (train/), which is missing.")
        return
    deck.text("Revenue each media channel brought in, week by week (what the model attributes to media on top of "
              "the revenue that would have come anyway).", "small")
    deck.image(data.charts["contributions"], max_height=340)
    weekly = data.model.decomposition.pivot_table(index="time", columns="component_type", values="revenue",
                                                  aggfunc="sum")
    parts, swing = weekly.sum(), weekly.std()
    expected = float(parts.sum())

    def component_row(key: str, name: str) -> list[str]:
        return [name, money(parts.get(key, 0.0), data.currency), share(parts.get(key, 0.0) / expected),
                money(swing.get(key, 0.0), data.currency)]

    rows = [component_row(key, name) for key, name in (
        ("base", "Base (level and trend)"), ("seasonality", "Seasonality and holidays (net over the period)"),
        ("controls", "Price, promotions and other controls (net)")) if key in parts.index]
    # Non-media treatments and organic media have their own incremental revenue: one row each, before paid media.
    causes = cause_table(data.model.decomposition)
    rows += [[f"{label(r.component)} ({CAUSE_KINDS[r.component_type]})", money(r.revenue, data.currency),
              share(r.share_of_modelled_revenue), money(r.weekly_swing, data.currency)] for r in causes.itertuples()]
    if "media" in parts.index:
        rows.append(component_row("media", "Media"))
    deck.page_break()
    deck.heading("Revenue decomposition")
    deck.image(data.charts["decomposition"], max_height=290)
    deck.table(["Component", "Revenue over the period", "Share of modelled revenue", "Typical weekly swing (+/-)"],
               rows, widths=[0.4, 0.2, 0.2, 0.2])
    for sentence in cause_sentences(causes, data.currency):
        deck.text(escape(sentence))
    deck.text("Seasonality, holidays and price / promotion effects lift some weeks and lower others; over the whole "
              "period they largely net out, which is why their totals are small while the chart shows their swings.",
              "small")


CAUSE_KINDS = {NON_MEDIA_TREATMENT: "non-media treatment", ORGANIC: "organic media, no spend"}


def cause_sentences(causes: pd.DataFrame, currency: str) -> list[str]:
    """One sentence per non-media treatment and organic medium with its incremental revenue as a number, e.g.
    ``Promo brought GBP 1.23m of revenue over the period (4.0 % of modelled revenue).``"""
    out = []
    for r in causes.itertuples():
        name = label(r.component) + (" (organic media, no spend)" if r.component_type == ORGANIC else "")
        if r.revenue < 0:  # e.g. a price rise: the treatment cost revenue
            out.append(f"{name} lowered revenue by {money_short(-r.revenue, currency)} over the period "
                       f"({share(-r.share_of_modelled_revenue)} of modelled revenue).")
        else:
            out.append(f"{name} brought {money_short(r.revenue, currency)} of revenue over the period "
                       f"({share(r.share_of_modelled_revenue)} of modelled revenue).")
    return out


def roi_section(deck: Deck, data: ReportData) -> None:
    cur = data.currency
    deck.page_break()
    deck.heading("Return on investment by channel")
    mroi = data.model.marginal_roi if data.model is not None else None
    deck.image(data.charts["roi"], max_height=250)
    m = mroi.set_index("channel") if mroi is not None else None
    rows = []
    for r in data.inputs.roi.sort_values("roi_mean", ascending=False).itertuples():
        row = [label(r.channel), money(r.spend, cur), money(r.incremental_revenue, cur), ratio(r.roi_mean),
               interval(r.roi_lo_90, r.roi_hi_90)]
        if m is not None and r.channel in m.index:
            row += [ratio(m.at[r.channel, "mroi_mean"]), interval(m.at[r.channel, "mroi_lo_90"],
                                                                  m.at[r.channel, "mroi_hi_90"])]
        elif m is not None:
            row += ["n/a", "n/a"]
        rows.append(row)
    header = ["Channel", "Spend", "Revenue driven", "ROI", "ROI 90 % interval"]
    if m is not None:
        header += ["Marginal ROI", "mROI 90 % interval"]
    deck.table(header, rows, widths=[0.2, 0.14, 0.14, 0.08, 0.15] + ([0.12, 0.17] if m is not None else []))
    text = (f"ROI: average revenue per 1 {escape(cur)} over all the channel's spend. Marginal ROI: revenue from the "
            f"next 1 {escape(cur)}; below 1 the next unit of spend does not pay back. {INTERVAL_NOTE}")
    if m is None:
        text += " Marginal ROI needs the trained model, which is missing."
    deck.text(text, "small")


def experiments(deck: Deck, data: ReportData) -> None:
    """"Model vs experiments": each lift test's measured ROI beside the model's over the same weeks and geo
    (``evaluate/calibration.csv``); nothing when there were no experiments."""
    table = data.inputs.calibration
    if table is None or table.empty:
        return
    deck.page_break()
    deck.heading("Model vs experiments")
    deck.text(escape(experiments_sentence(table)))
    if "calibration" in data.charts:
        deck.image(data.charts["calibration"], max_height=200)
    rows = [[label(r["channel"]), window_text(r["start"], r["end"]), geo_text(r["geo"]), ratio(r["measured_roi"]),
             interval(r["measured_roi_lo_90"], r["measured_roi_hi_90"]), ratio(r["model_roi_mean"]),
             interval(r["model_roi_lo_90"], r["model_roi_hi_90"]), "agrees" if agrees(r["inside"]) else "DISAGREES"]
            for r in table.to_dict("records")]
    deck.table(["Channel", "Test weeks", "Geo", "Measured ROI", "Measured 90 % interval", "Model ROI",
                "Model 90 % interval", "Agrees?"], rows, widths=[0.13, 0.22, 0.09, 0.1, 0.14, 0.09, 0.14, 0.09],
               align_right_from=3)
    deck.text(escape(f"ROI over the test's weeks and geo: revenue per 1 {data.currency} of the channel's spend "
                     "there, the revenue that spend caused after the window included. Measured 90 % interval: the "
                     "test's ROI +- 1.645 standard errors. The model agrees with a test when its ROI lies inside "
                     "that interval."), "small")


def experiments_sentence(table: pd.DataFrame) -> str:
    """The page's message for a marketing director: how many tests the model agrees with, and for each one it does
    not, what the test said and what the model says."""
    records = table.to_dict("records")
    agreed = sum(agrees(r["inside"]) for r in records)
    tests = "lift test" if len(records) == 1 else "lift tests"
    if agreed == len(records):
        return (f"The model agrees with {'the' if len(records) == 1 else 'all ' + str(len(records))} {tests}: over "
                "each test's weeks and geo, its ROI lies inside the range the test measured. The tests back the "
                "model's estimates for those channels.")
    apart = [f"{label(r['channel'])}'s test ({r['start']} to {r['end']}{_in_geo(r['geo'])}) says an ROI of "
             f"{ratio(r['measured_roi'])}, the model {ratio(r['model_roi_mean'])}"
             for r in records if not agrees(r["inside"])]
    return (f"The model agrees with {agreed} of {len(records)} {tests}; " + "; ".join(apart) + ". The tests were "
            "given to the model as evidence, so where it still disagrees the weekly data pull the other way: check "
            "the test's set-up (weeks, geo, spend) and the channel's data, and do not move budget on that channel "
            "on either number alone.")


def window_text(start: Any, end: Any) -> str:
    """``2024-03-04 to 2024-03-25 (4 weeks)``: a test's window (dates are the weeks' starts, both inclusive)."""
    weeks = (pd.Timestamp(end) - pd.Timestamp(start)).days // 7 + 1
    return f"{start} to {end} ({weeks} week{'s' if weeks != 1 else ''})"


def geo_text(geo: Any) -> str:
    """A test's geo; ``all geos`` for a national test (geo empty)."""
    return str(geo) if isinstance(geo, str) and geo else "all geos"


def _in_geo(geo: Any) -> str:
    return f", geo {geo}" if isinstance(geo, str) and geo else ""


def agrees(value: Any) -> bool:
    """A calibration row's ``inside`` flag, read back from CSV (bool, or the strings True / False)."""
    return value is True or str(value).strip().lower() == "true" or (is_number(value) and bool(value))


def reach_frequency(deck: Deck, data: ReportData) -> None:
    """Reach-and-frequency channels: the average weekly frequency that maximises each channel's ROI against the one
    it ran at (``ModelOutputs.optimal_frequency``); nothing without R&F channels."""
    table = data.model.optimal_frequency if data.model is not None else None
    if table is None or table.empty:
        return
    deck.page_break()
    deck.heading("Reach and frequency: how often to show the ads")
    rows = [[label(r.channel), ratio(r.historical_frequency, 1), ratio(r.roi_at_historical),
             ratio(r.optimal_frequency, 1), ratio(r.roi_at_optimal)] for r in table.itertuples()]
    deck.table(["Channel", "Frequency it ran at (per week)", "ROI at that frequency", "Optimal frequency (per week)",
                "ROI at the optimal frequency"], rows, widths=[0.24, 0.19, 0.19, 0.19, 0.19])
    deck.space(0.2)
    deck.bullets([escape(frequency_sentence(r, data.currency)) for r in table.to_dict("records")])
    deck.text("Frequency: the average number of times a person reached sees the channel's ads in a week. At the same "
              "budget, a higher frequency reaches fewer people more often; the optimal frequency is the one the "
              "model expects to return most revenue per unit of spend (Meridian's optimal frequency).", "small")


def frequency_sentence(row: dict[str, Any], currency: str) -> str:
    """``Tv reached people 2.1 times a week on average (ROI 1.50); at 3.4 times a week the same budget would return
    1.80 per 1 GBP.``"""
    name, historical, optimal = label(row["channel"]), row["historical_frequency"], row["optimal_frequency"]
    sentence = f"{name} reached people {ratio(historical, 1)} times a week on average (ROI {ratio(row['roi_at_historical'])})"
    if is_number(historical) and is_number(optimal) and round(historical, 1) == round(optimal, 1):
        return sentence + ": already the frequency the model finds best."
    return (sentence + f"; at {ratio(optimal, 1)} times a week the same budget would return "
            f"{ratio(row['roi_at_optimal'])} per 1 {currency}.")


ENGINE_TITLES = {"meridian": "Meridian", "pymc": "PyMC-Marketing"}


def second_opinion(deck: Deck, data: ReportData) -> None:
    """Each channel's ROI from both engines side by side (``model.second_opinion``); nothing when it was off."""
    table = data.inputs.second_opinion
    if table is None or table.empty:
        return
    engines = [c[: -len("_roi_mean")] for c in table.columns if c.endswith("_roi_mean")]
    deck.page_break()
    deck.heading("Second opinion: two engines, same data")
    rows = []
    for r in table.to_dict("records"):
        row = [label(r["channel"])]
        for engine in engines:
            row += [ratio(r[f"{engine}_roi_mean"]), interval(r[f"{engine}_roi_lo_90"], r[f"{engine}_roi_hi_90"])]
        row.append("agree" if r["intervals_overlap"] else "DISAGREE")
        rows.append(row)
    header = ["Channel"]
    for engine in engines:
        title = ENGINE_TITLES.get(engine, engine)
        header += [f"{title} ROI", f"{title} 90 % interval"]
    deck.table(header + ["Intervals"], rows, widths=[0.2, 0.13, 0.2, 0.13, 0.2, 0.14])
    apart = [label(c) for c in table.loc[~table["intervals_overlap"].astype(bool), "channel"]]
    text = ("Both engines were fitted on the same weekly data and the same business priors; they differ in how "
            "they model carryover, saturation and the baseline. Where their 90 % intervals overlap, the data "
            "supports one answer whichever model reads it. ")
    text += (f"They disagree on {', '.join(apart)}: there the data cannot pin the return down and the modelling "
             "assumptions decide it. Treat those channels' ROI as unsettled and test them (e.g. a geo experiment) "
             "before moving budget on them." if apart else "They agree on every channel.")
    deck.text(escape(text), "small")
    forecast = holdout_comparison(data.inputs.metrics or {}, engines)
    if forecast:
        deck.text(escape(forecast), "small")


def holdout_comparison(metrics: dict[str, Any], engines: list[str]) -> str | None:
    """Both engines' forecast errors on evaluate's held-out weeks, in words (None when evaluate did not score the
    second opinion)."""
    second = metrics.get("second_opinion")
    main = (metrics.get("strategies") or {}).get("temporal_holdout")
    if not second or not main or len(engines) != 2:
        return None
    main_engine = next(e for e in engines if e != second["engine"])
    parts = []
    for engine, doc in ((main_engine, main), (second["engine"], second)):
        held = doc.get("holdout", {})
        note = f" ({doc['status']})" if doc.get("status") else ""
        parts.append(f"{ENGINE_TITLES.get(engine, engine)} MAPE {share(held.get('mape'))}, coverage "
                     f"{share(held.get('coverage'))}{note}")
    return f"Forecast of the last {second['weeks']} weeks, each engine fitted without them: " + "; ".join(parts) + "."


def curves(deck: Deck, data: ReportData) -> None:
    deck.page_break()
    deck.heading("Response curves")
    if "curves" not in data.charts:
        deck.note("Response curves need Meridian's analysis of the trained model (optimize/response_curves.csv or "
                  "the trained model in train/); neither is available.")
        return
    deck.image(data.charts["curves"], max_height=390)
    deck.text("Each curve shows the revenue a channel drives as its spend over the period changes; black dot: current "
              "spend, red dot: recommended spend. Flattening curves mean diminishing returns.", "small")


def optimization(deck: Deck, data: ReportData) -> None:
    cur, alloc = data.currency, data.inputs.allocation
    deck.page_break()
    deck.heading("Budget recommendations")
    if alloc is None:
        deck.note("optimize/allocation.csv is missing: run `mmm optimize` for budget recommendations.")
        return
    sentence = headline(data)
    if sentence:
        deck.text(escape(sentence))
    deck.image(data.charts["allocation"], max_height=230)
    rows = []
    for r in alloc.itertuples():
        rows.append([label(r.channel), money(r.current_spend, cur), money(r.recommended_spend, cur),
                     pct(getattr(r, "change_pct", None), signed=True), ratio(getattr(r, "current_roi", None)),
                     ratio(getattr(r, "expected_roi", None)),
                     money(getattr(r, "expected_incremental_revenue", None), cur)])
    rows.append(["Total", money(alloc["current_spend"].sum(), cur), money(alloc["recommended_spend"].sum(), cur),
                 "", "", "", money(alloc["expected_incremental_revenue"].sum(), cur)
                 if "expected_incremental_revenue" in alloc else "n/a"])
    keep = ((data.inputs.optimize_summary or {}).get("recommendation") or {}).get("status") == "keep_current_mix"
    if keep:
        deck.heading("Best plan inside the constraints (not recommended: it loses to the current mix)", 2)
    deck.table(["Channel", "Current spend", "Best plan in bounds" if keep else "Recommended spend", "Change",
                "Current ROI", "Expected ROI", "Expected revenue driven"], rows,
               widths=[0.18, 0.15, 0.15, 0.1, 0.1, 0.1, 0.18], highlight=[len(rows) - 1])
    scenarios(deck, data)


def scenarios(deck: Deck, data: ReportData) -> None:
    cur, s = data.currency, data.inputs.scenarios
    deck.page_break()
    deck.heading("Scenarios", 2)
    if s is None or s.empty:
        deck.note("optimize/scenarios.csv is missing: no scenario comparison.")
        return
    if "scenarios" in data.charts:
        deck.image(data.charts["scenarios"], max_height=270)
    rows = []
    for r in s.itertuples():
        status = str(getattr(r, "status", "ok"))
        if status != "ok" and status != "nan":
            rows.append([label(r.scenario), money(r.budget, cur), "not feasible", "", "", status[:90]])
            continue
        verdict = str(getattr(r, "verdict", "") or "")
        rows.append([label(r.scenario), money(r.budget, cur), money(getattr(r, "expected_incremental_revenue", None),
                                                                    cur),
                     money(getattr(r, "lift", None), cur),
                     share(r.prob_beats_current_mix, 0) if hasattr(r, "prob_beats_current_mix") else "not computed",
                     verdict.upper() if verdict.startswith("loses") else verdict,
                     "met" if getattr(r, "constraints_satisfied", True) else "missed"])
    deck.table(["Scenario", "Media budget", "Revenue driven by media", "Gain vs current mix at that budget",
                "Chance it beats current mix", "Verdict", "Constraints"], rows,
               widths=[0.14, 0.13, 0.15, 0.15, 0.12, 0.19, 0.12])
    deck.text("A scenario that loses to the current mix is not a recommendation: its constraints force budget where "
              "the model expects less revenue than today's mix brings at the same budget.", "small")


def model_quality(deck: Deck, data: ReportData) -> None:
    deck.page_break()
    deck.heading("Appendix A: model quality")
    if data.model is not None:
        deck.image(data.charts["fit"], max_height=230)
    metrics = quality.metric_rows(data.inputs.metrics)
    if metrics.empty:
        deck.note("evaluate/metrics.json is missing or holds no accuracy metrics (run `mmm evaluate`).")
    else:
        rows = []
        interval = (data.inputs.metrics or {}).get("interval")
        for r in metrics.itertuples():
            value = share(r.value) if r.metric in ("mape", "wmape", "coverage", "smape") else ratio(r.value, 3)
            threshold = "" if not is_number(r.threshold) else (
                share(r.threshold) if r.metric in ("mape", "wmape", "coverage", "smape") else ratio(r.threshold, 3))
            passed = r.passed if isinstance(r.passed, bool) else None
            rows.append([" / ".join(label(p) for p in r.scope.split("/") if p != "strategies"),
                         r.metric.upper().replace("R2", "R²"), value, threshold,
                         quality.verdict(r.metric, r.value, r.threshold, passed, r.caveat, interval)])
        deck.heading("Accuracy on held-out data", 2)
        deck.table(["Where measured", "Metric", "Value", "Threshold", "Result"], rows[:30],
                   widths=[0.27, 0.1, 0.1, 0.1, 0.43])
        fits = quality.refit_convergence(data.inputs.metrics)
        if not fits.empty:
            deck.heading("Convergence of the fits behind these scores", 2)
            deck.table(["Fit", "Sampler", "Largest R-hat", "Smallest ESS", "Result"],
                       [[label(r.fit), r.sampler, ratio(r.max_rhat, 3), ratio(r.min_ess, 0),
                         "converged" if r.converged else f"NOT CONVERGED ({r.failures}): its scores above are not a "
                                                         "clean measure of accuracy"]
                        for r in fits.itertuples()], widths=[0.2, 0.26, 0.1, 0.1, 0.34])
    diag = data.inputs.diagnostics
    deck.heading("Sampler convergence", 2)
    if diag is None:
        deck.note("train/diagnostics.json is missing.")
    else:
        th = diag.get("thresholds", {})
        deck.table(["Check", "Value", "Limit", "Result"], [
            ["Largest R-hat (should be close to 1)", ratio(diag.get("max_rhat"), 3), ratio(th.get("max_rhat"), 2),
             "pass" if is_number(diag.get("max_rhat")) and diag["max_rhat"] <= th.get("max_rhat", 1.1) else
             "FAILS: the chains disagree; the posterior has not settled"],
            ["Smallest effective sample size", ratio(diag.get("min_ess"), 0), ratio(th.get("min_ess"), 0),
             "pass" if is_number(diag.get("min_ess")) and diag["min_ess"] >= th.get("min_ess", 0) else
             "FAILS: too few independent draws for stable estimates"],
            ["Divergent transitions", _divergences(diag), f"{th['max_divergences_pct']:g} %"
             if is_number(th.get("max_divergences_pct")) else "n/a",
             "FAILS: the sampler hit regions it cannot explore; estimates may be biased"
             if (_divergent_pct(diag) or 0.0) > th.get("max_divergences_pct", 100.0) else "pass"]],
            widths=[0.36, 0.14, 0.12, 0.38])
    _check_table(deck, "Digital platforms vs model", quality.digital_checks(data.inputs.metrics))
    _check_table(deck, "Business logic checks", quality.business_checks(data.inputs.metrics))


def _check_table(deck: Deck, title: str, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    frame = frame.drop(columns=[c for c in frame.columns if frame[c].map(lambda v: isinstance(v, (list, dict))).any()])
    columns = list(frame.columns)[:7]
    rows = [[_cell(v) for v in row] for row in frame[columns].itertuples(index=False)]
    deck.heading(title, 2)
    deck.table([label(c) for c in columns], rows)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_number(value):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return "" if value is None or (isinstance(value, float)) else str(value)


def data_quality(deck: Deck, data: ReportData) -> None:
    deck.page_break()
    deck.heading("Appendix B: data quality")
    report = data.inputs.validation
    if report is None:
        deck.note("validate/validation_report.json is missing (run `mmm validate`).")
    else:
        verdict = "passed" if report.get("passed") else ("failed (run anyway: gate overridden)"
                                                         if report.get("gate_overridden") else "failed")
        deck.text(f"Validation score <b>{ratio(report.get('score'))}</b> (minimum "
                  f"{ratio(report.get('min_validation_score'))}): {verdict}.")
        checks = quality.validation_checks(report)
        flagged = checks[checks["status"].astype(str) != "pass"]
        if flagged.empty:
            deck.text(f"All {len(checks)} data checks passed.", "small")
        else:
            deck.heading(f"Checks that need attention ({len(flagged)} of {len(checks)})", 2)
            deck.table(["Check", "Status", "Severity", "What it means"],
                       [[label(r.name), str(r.status).upper(), str(r.severity), str(r.message)]
                        for r in flagged.itertuples()], widths=[0.18, 0.08, 0.09, 0.65], align_right_from=99)
    actions = quality.cleaning_actions(data.inputs.cleaning)
    deck.heading("Cleaning actions", 2)
    if data.inputs.cleaning is None:
        deck.note("transform/cleaning_log.json is missing (run `mmm transform`).")
    elif actions.empty:
        deck.text("The data needed no cleaning.", "small")
    else:
        deck.table(["Rule", "Changes", "Rows affected", "Columns changed"],
                   [[r.rule, f"{r.entries:,}", f"{r.rows:,}", r.columns] for r in actions.itertuples()],
                   widths=[0.3, 0.12, 0.13, 0.45], align_right_from=1)


def caveats(deck: Deck, data: ReportData) -> None:
    deck.page_break()
    deck.heading("Caveats and notes")
    deck.bullets([escape(c) for c in data.caveats])
    if data.inputs.notes:
        deck.heading("Sections left out", 2)
        deck.bullets([escape(n) for n in data.inputs.notes], "small")


def _divergent_pct(diag: dict[str, Any]) -> float | None:
    """Divergent transitions in % of the kept draws (chains x draws); None when not recorded."""
    count, kept = diag.get("divergences"), diag.get("n_chains", 0) * diag.get("n_draws", 0)
    return 100.0 * count / kept if is_number(count) and kept else None


def _divergences(diag: dict[str, Any]) -> str:
    """Divergent transitions as a count and a share of the kept draws."""
    count, pct = diag.get("divergences"), _divergent_pct(diag)
    if not is_number(count):
        return "n/a"
    return f"{int(count)} ({pct:.2f} %)" if pct is not None else str(int(count))
