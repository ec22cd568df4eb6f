"""The deck's charts, drawn with matplotlib (Agg backend) into PNG files; every axis says its unit.

Each function takes tidy tables and the currency label, writes one PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display in pipelines and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from mmm_meridian.models.base import NON_MEDIA_TREATMENT, ORGANIC  # noqa: E402
from mmm_meridian.report.formatting import label, money_short  # noqa: E402

WIDE = (10.0, 4.3)
DPI = 150
PALETTE = plt.get_cmap("tab10").colors
BASE_GREY = "#c9ccd1"
plt.rcParams.update({"font.size": 9, "axes.titlesize": 11, "axes.spines.top": False, "axes.spines.right": False})


def compact(value: float) -> str:
    """Axis tick text: 250k, 1.5m, 12m (the currency is in the axis label)."""
    v = abs(value)
    for size, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if v >= size:
            return f"{'-' if value < 0 else ''}{v / size:,.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.0f}"


def _money_axis(axis: object, currency: str, ticks: int = 6) -> None:
    axis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))  # type: ignore[attr-defined]
    axis.set_major_locator(MaxNLocator(ticks))  # type: ignore[attr-defined]


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def contributions(decomposition: pd.DataFrame, currency: str, path: Path) -> Path:
    """Weekly incremental revenue from each media channel, stacked."""
    media = decomposition[decomposition["component_type"] == "media"]
    wide = media.pivot_table(index="time", columns="component", values="revenue", aggfunc="sum").clip(lower=0)
    wide = wide[wide.sum().sort_values(ascending=False).index]
    fig, ax = plt.subplots(figsize=WIDE)
    ax.stackplot(wide.index, wide.T.to_numpy(), labels=[label(c) for c in wide.columns],
                 colors=PALETTE[: wide.shape[1]], alpha=0.9)
    ax.set_title("Weekly revenue driven by each media channel (posterior mean)")
    ax.set_ylabel(f"Incremental revenue per week ({currency})")
    ax.set_xlabel("Week")
    _money_axis(ax.yaxis, currency)
    ax.legend(loc="upper left", ncol=3, fontsize=8, frameon=False)
    ax.set_ylim(0, wide.sum(axis=1).max() * 1.35)
    return _save(fig, path)


def _named(decomposition: pd.DataFrame, component_type: str, default: str) -> str:
    """Legend text of a band: its components' names (``Promo``), or ``default`` when there are several."""
    names = list(dict.fromkeys(decomposition.loc[decomposition["component_type"] == component_type, "component"]))
    return label(names[0]) if len(names) == 1 else default


def decomposition_chart(decomposition: pd.DataFrame, fit: pd.DataFrame | None, currency: str, path: Path) -> Path:
    """Weekly revenue built up from base, seasonality and other controls, non-media treatments and organic media
    (when modelled), and media, with actual revenue."""
    wide = decomposition.pivot_table(index="time", columns="component_type", values="revenue", aggfunc="sum")
    base = wide.get("base", pd.Series(0.0, index=wide.index))
    non_media = base + wide.get("seasonality", 0.0) + wide.get("controls", 0.0)
    # Causes with their own incremental revenue (Meridian's non-media treatments and organic media): own bands
    # between the controls and paid media, drawn only when the model has them so other decks are unchanged.
    causes = [(wide[kind], colour, _named(decomposition, kind, default)) for kind, colour, default in (
        (NON_MEDIA_TREATMENT, "#b07aa1", "Non-media treatments (promotions, price ...)"),
        (ORGANIC, "#76b7b2", "Organic media")) if kind in wide]
    total = non_media + sum((series for series, _, _ in causes), 0.0) + wide.get("media", 0.0)
    fig, ax = plt.subplots(figsize=WIDE)
    ax.fill_between(wide.index, 0, base, color=BASE_GREY, label="Base (level and trend)")
    up = (non_media >= base).to_numpy()
    ax.fill_between(wide.index, base, non_media, where=up, interpolate=True, color="#7fb77e", alpha=0.8,
                    label="Seasonality, holidays, price, promotions: lift")
    ax.fill_between(wide.index, non_media, base, where=~up, interpolate=True, color="#e8a33d", alpha=0.8,
                    label="Seasonality, holidays, price, promotions: drag")
    level = non_media
    for series, colour, text in causes:
        ax.fill_between(wide.index, level, level + series, color=colour, alpha=0.85, label=text)
        level = level + series
    ax.fill_between(wide.index, level, total, color="#3b75af", alpha=0.85, label="Media (all channels)")
    if fit is not None and "actual" in fit:
        ax.plot(pd.to_datetime(fit["time"]), fit["actual"], color="black", lw=0.9, label="Actual revenue")
    ax.set_title("Where weekly revenue comes from")
    ax.set_ylabel(f"Revenue per week ({currency})")
    ax.set_xlabel("Week")
    _money_axis(ax.yaxis, currency)
    ax.set_ylim(0, max(total.max(), fit["actual"].max() if fit is not None else 0) * 1.25)
    ax.legend(loc="upper left", ncol=2, fontsize=8, frameon=False)
    return _save(fig, path)


def roi_chart(roi: pd.DataFrame, mroi: pd.DataFrame | None, currency: str, path: Path) -> Path:
    """ROI (and marginal ROI where known) per channel with 90 % credible intervals; break-even marked at 1."""
    order = roi.sort_values("roi_mean")
    y = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(10.0, 0.32 * len(order) + 1.6))
    shift = 0.17 if mroi is not None else 0.0
    ax.errorbar(order["roi_mean"], y + shift, xerr=[order["roi_mean"] - order["roi_lo_90"],
                                                   order["roi_hi_90"] - order["roi_mean"]],
                fmt="o", color=PALETTE[0], capsize=3, label="ROI (average over all spend)")
    if mroi is not None:
        m = mroi.set_index("channel").reindex(order["channel"])
        ax.errorbar(m["mroi_mean"], y - shift, xerr=[m["mroi_mean"] - m["mroi_lo_90"], m["mroi_hi_90"] - m["mroi_mean"]],
                    fmt="s", color=PALETTE[1], capsize=3, label="Marginal ROI (next unit of spend)")
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    ax.text(1.0, len(order) - 0.4, " break-even", color="grey", fontsize=8, va="bottom")
    ax.set_yticks(y, [label(c) for c in order["channel"]])
    ax.set_xlabel(f"Revenue ({currency}) per 1 {currency} of media spend; bars: 90 % credible interval")
    ax.set_title("Return on media spend by channel")
    ax.set_xlim(left=0)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _save(fig, path)


def response_curves(curves: pd.DataFrame, allocation: pd.DataFrame | None, currency: str, path: Path) -> Path:
    """One panel per channel: incremental revenue vs spend (90 % band), current and recommended spend marked."""
    channels = list(dict.fromkeys(curves["channel"]))
    ncols = 3
    nrows = int(np.ceil(len(channels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(10.0, 2.6 * nrows + 0.6), squeeze=False)
    recommended = {} if allocation is None else dict(zip(allocation["channel"], allocation["recommended_spend"], strict=False))
    for ax, channel in zip(axes.flat, channels, strict=False):
        c = curves[curves["channel"] == channel].sort_values("spend")
        ax.plot(c["spend"], c["incremental_revenue_mean"], color=PALETTE[0])
        if {"incremental_revenue_lo", "incremental_revenue_hi"} <= set(c.columns):
            ax.fill_between(c["spend"], c["incremental_revenue_lo"], c["incremental_revenue_hi"], color=PALETTE[0],
                            alpha=0.18, lw=0)
        current = c.loc[np.isclose(c["spend_multiplier"], 1.0), "spend"] if "spend_multiplier" in c else []
        for spend, colour, text in ((float(current.iloc[0]) if len(current) else None, "black", "current"),
                                    (recommended.get(channel), PALETTE[3], "recommended")):
            if spend is None or not np.isfinite(spend):
                continue
            value = float(np.interp(spend, c["spend"], c["incremental_revenue_mean"]))
            ax.plot([spend], [value], "o", color=colour, ms=6, label=text)
        ax.set_title(label(channel), fontsize=10)
        _money_axis(ax.xaxis, currency, ticks=4)
        _money_axis(ax.yaxis, currency, ticks=5)
        ax.tick_params(labelsize=7.5)
    for ax in axes.flat[len(channels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8, frameon=False, ncol=2)
    fig.supxlabel(f"Media spend over the period ({currency})", fontsize=9)
    fig.supylabel(f"Incremental revenue ({currency})", fontsize=9)
    fig.suptitle("Response curves: revenue from each channel as its spend changes (band: 90 % interval)",
                 fontsize=11, x=0.02, ha="left")
    return _save(fig, path)


def allocation_chart(allocation: pd.DataFrame, currency: str, path: Path) -> Path:
    """Current vs recommended spend per channel (horizontal bars)."""
    a = allocation.sort_values("current_spend")
    y = np.arange(len(a))
    fig, ax = plt.subplots(figsize=(10.0, 0.3 * len(a) + 1.5))
    ax.barh(y + 0.2, a["current_spend"], height=0.38, color=BASE_GREY, label="Current spend")
    ax.barh(y - 0.2, a["recommended_spend"], height=0.38, color=PALETTE[0], label="Recommended spend")
    ax.set_yticks(y, [label(c) for c in a["channel"]])
    ax.set_xlabel(f"Media spend over the period ({currency})")
    _money_axis(ax.xaxis, currency)
    ax.set_title("Budget allocation: current vs recommended")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _save(fig, path)


def scenarios_chart(scenarios: pd.DataFrame, currency: str, path: Path) -> Path:
    """Expected incremental revenue of each feasible scenario (90 % interval), with its budget."""
    s = scenarios[scenarios.get("status", pd.Series("ok", index=scenarios.index)).fillna("ok") == "ok"].copy()
    s = s.dropna(subset=["expected_incremental_revenue"])
    fig, ax = plt.subplots(figsize=WIDE)
    x = np.arange(len(s))
    err = None
    if {"expected_incremental_revenue_lo", "expected_incremental_revenue_hi"} <= set(s.columns):
        err = [s["expected_incremental_revenue"] - s["expected_incremental_revenue_lo"],
               s["expected_incremental_revenue_hi"] - s["expected_incremental_revenue"]]
    ax.bar(x, s["expected_incremental_revenue"], yerr=err, capsize=3, color=PALETTE[0], alpha=0.85)
    ax.set_xticks(x, [f"{label(n)}\n{money_short(b, currency)}" for n, b in zip(s["scenario"], s["budget"], strict=False)],
                  fontsize=8)
    ax.set_ylabel(f"Expected incremental revenue ({currency})")
    ax.set_xlabel(f"Scenario and its media budget ({currency})")
    _money_axis(ax.yaxis, currency)
    ax.set_title("Scenarios: revenue driven by media at each budget (optimised mix; bars: 90 % interval)")
    return _save(fig, path)


def calibration_chart(table: pd.DataFrame, currency: str, path: Path) -> Path:
    """Per lift test: the measured ROI's 90 % interval and the model's over the same weeks and geo, one above the
    other, so a reader sees at a glance where they overlap."""
    rows = table.reset_index(drop=True)
    y = np.arange(len(rows))[::-1]  # the first experiment at the top, as in the table
    fig, ax = plt.subplots(figsize=(10.0, 0.5 * len(rows) + 1.6))
    for offset, prefix, marker, colour, text in ((0.15, "measured_roi", "o", PALETTE[1], "Measured by the test"),
                                                 (-0.15, "model_roi", "s", PALETTE[0], "Model, same weeks and geo")):
        centre = rows["measured_roi" if prefix == "measured_roi" else "model_roi_mean"]
        ax.errorbar(centre, y + offset, xerr=[centre - rows[f"{prefix}_lo_90"], rows[f"{prefix}_hi_90"] - centre],
                    fmt=marker, color=colour, capsize=3, label=text)
    ax.set_yticks(y, [experiment_label(r) for r in rows.to_dict("records")])
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    ax.set_xlabel(f"ROI over the test's weeks: revenue ({currency}) per 1 {currency} of spend; bars: 90 % interval")
    ax.set_title("Model vs experiments: ROI measured by each lift test and the model's")
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)  # clear of the bars
    return _save(fig, path)


def experiment_label(row: dict) -> str:
    """``Tv, 2024-03-04 to 2024-03-25 (north)``: a test as a chart's tick label."""
    geo = row.get("geo")
    where = f" ({geo})" if isinstance(geo, str) and geo else ""
    return f"{label(row['channel'])}, {row['start']} to {row['end']}{where}"


def fit_chart(fit: pd.DataFrame, currency: str, path: Path, holdout_start: str | None = None) -> Path:
    """Actual vs model-expected weekly revenue with the 90 % interval (held-out weeks shaded)."""
    time = pd.to_datetime(fit["time"])
    fig, ax = plt.subplots(figsize=(10.0, 3.4))
    ax.fill_between(time, fit["expected_lo_90"], fit["expected_hi_90"], color=PALETTE[0], alpha=0.2, lw=0,
                    label="Model: 90 % interval")
    ax.plot(time, fit["expected"], color=PALETTE[0], lw=1.2, label="Model: expected revenue")
    ax.plot(time, fit["actual"], "o", color="black", ms=2.5, label="Actual revenue")
    if "kpi_excluded" in fit and fit["kpi_excluded"].any():  # placeholder revenue: a shaded gap, no points
        excluded = fit["kpi_excluded"].to_numpy(dtype=bool)
        step = pd.Timedelta(days=7)
        for i, (t, flag) in enumerate(zip(time, excluded, strict=True)):
            if flag:
                ax.axvspan(t - step / 2, t + step / 2, color="grey", alpha=0.25, lw=0,
                           label="No revenue data (kept out of the fit)" if not excluded[:i].any() else None)
    if holdout_start is not None:
        ax.axvspan(pd.Timestamp(holdout_start), time.max(), color="orange", alpha=0.12, label="Held-out weeks")
    ax.set_title("Model fit: actual vs predicted weekly revenue")
    ax.set_ylabel(f"Revenue per week ({currency})")
    ax.set_xlabel("Week")
    _money_axis(ax.yaxis, currency)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=2)
    return _save(fig, path)
