"""The plausibility gate: does the fitted model tell a believable story about the business?

A posterior can converge and still be impossible: on the real Conjura apparel brand without business knowledge,
meta_facebook "drove" 155 % of all revenue, which forces a negative baseline. This gate, run after the convergence
gate, judges the posterior means against ``complexity.plausibility`` (see
:class:`mmm_meridian.config.modeling.PlausibilityConfig`): media's share of revenue in total and per channel, the
probability of a negative baseline (Meridian's Analyzer), posterior-mean ROIs far outside ``model.priors.roi_bounds``
and, when set, a maximum ROI. The figures come from the fit (``train/roi.csv`` and ``diagnostics.json``); the
verdict is written to ``train/plausibility.json`` for the deck.

Weeks whose KPI is only a placeholder for a long gap (``enhanced_cleaning.missing_data.kpi_long_gaps=exclude``,
``excluded_weeks`` in ``feature_spec.json``) are not revenue: :func:`excluded_weeks_figures` measures them from the
model inputs and :func:`judge` takes them out of both sides of every share (the placeholder revenue out of the total,
media's revenue in those weeks, estimated as ROI x spend, out of the media revenue).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.config.modeling import PlausibilityConfig
from mmm_meridian.errors import UserError

log = logging.getLogger(__name__)
KEY = "complexity.plausibility"
FILE = "plausibility.json"
ADVICE = ("give the model business knowledge: ROI ranges per channel (model.priors.roi_bounds, ideally from lift "
          "tests), controls for what else drives revenue (data.controls, features.seasonality: custom_events for "
          "sales peaks such as Black Friday, more fourier_terms), or a KPI media can move directly (e.g. first "
          "orders, with revenue per order); see README 'Running on your own data'. To keep this model anyway set "
          f"{KEY}.on_failure=warn (the deck then says it failed this gate)")


@dataclass
class PlausibilityCheck:
    """One judged figure: ``value`` against ``limit`` (``kind`` max or min); ``channel`` empty for the whole model."""

    name: str
    value: float
    limit: float
    kind: str
    passed: bool
    channel: str = ""
    detail: str = ""


@dataclass
class ExcludedWeeks:
    """The weeks whose KPI is a placeholder (``kpi_long_gaps=exclude``): what to leave out of the revenue figures."""

    weeks: int  # (geo, week) cells
    placeholder_revenue: float  # the placeholder KPI summed over them (interpolated, not sales)
    media_revenue: dict[str, float] = field(default_factory=dict)  # per channel, posterior-mean ROI x spend there


def excluded_weeks_figures(inputs: pd.DataFrame, excluded_weeks: Mapping[str, list[str]],
                           roi: pd.DataFrame | None = None) -> ExcludedWeeks:
    """The placeholder revenue (and, given ``roi``, media's estimated revenue) in the excluded weeks.

    Args:
        inputs: the features stage's ``model_inputs.parquet`` (``time``, ``geo``, ``revenue``, ``<channel>__spend``).
        excluded_weeks: ``feature_spec.json``'s ``excluded_weeks`` (geo -> ISO weeks).
        roi: ``train/roi.csv`` (``channel``, ``roi_mean``); media's revenue in those weeks is estimated as the
            channel's posterior-mean ROI x its spend there (carry-over across the gap's edges is ignored).
    """
    rows = cols.excluded_rows(inputs, excluded_weeks)
    media: dict[str, float] = {}
    if roi is not None:
        for r in roi.itertuples():
            column = f"{r.channel}__spend"
            if column in inputs:
                media[str(r.channel)] = float(r.roi_mean) * float(inputs.loc[rows, column].sum())
    return ExcludedWeeks(int(rows.sum()), float(inputs.loc[rows, "revenue"].sum()), media)


@dataclass
class Plausibility:
    """What ``train/plausibility.json`` holds."""

    passed: bool
    total_revenue: float
    media_revenue: float
    media_share: float
    negative_baseline_prob: float | None
    channel_share: dict[str, float]
    checks: list[PlausibilityCheck]
    thresholds: dict[str, Any]
    accepted_below_gate: bool = False
    failures: list[str] = field(default_factory=list)
    excluded_weeks: int = 0  # placeholder-KPI (geo, week) cells left out of the figures above
    excluded_revenue: float = 0.0  # their placeholder revenue, not counted in total_revenue

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plausibility:
        values = dict(data)
        values["checks"] = [PlausibilityCheck(**c) for c in values.get("checks", [])]
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})  # type: ignore[attr-defined]


def _pct(share: float) -> str:
    return f"{100 * share:.0f} %"


def judge(roi: pd.DataFrame, total_revenue: float, negative_baseline_prob: float | None,
          roi_bounds: Mapping[str, list[float]], limits: PlausibilityConfig,
          excluded: ExcludedWeeks | None = None) -> Plausibility:
    """Judge a fit's ROI table (``train/roi.csv``) and revenue figures against ``complexity.plausibility``.

    Args:
        roi: per channel ``spend``, ``incremental_revenue`` (posterior mean) and ``roi_mean``.
        total_revenue: the KPI summed over every geo and week of the fit.
        negative_baseline_prob: posterior probability of a negative baseline (None: not computed).
        roi_bounds: ``model.priors.roi_bounds``.
        limits: the thresholds.
        excluded: the placeholder-KPI weeks (:func:`excluded_weeks_figures`): their placeholder revenue leaves the
            total and media's revenue there leaves the media figures, so every share is over real weeks only.
    """
    excluded = excluded or ExcludedWeeks(0, 0.0)
    incremental = {str(r.channel): float(r.incremental_revenue) - excluded.media_revenue.get(str(r.channel), 0.0)
                   for r in roi.itertuples()}
    media = float(sum(incremental.values()))
    total = float(total_revenue) - excluded.placeholder_revenue
    share = media / total if total > 0 else float("inf")
    per_channel = {channel: (value / total if total > 0 else float("inf")) for channel, value in incremental.items()}
    checks = [PlausibilityCheck("media_share", share, limits.max_media_share, "max", share <= limits.max_media_share,
                                detail=f"paid media drove {_pct(share)} of all revenue")]
    for channel, value in per_channel.items():
        checks.append(PlausibilityCheck("channel_share", value, limits.max_channel_share, "max",
                                        value <= limits.max_channel_share, channel,
                                        f"{channel} drove {_pct(value)} of all revenue"))
    if negative_baseline_prob is not None:
        checks.append(PlausibilityCheck(
            "negative_baseline_prob", float(negative_baseline_prob), limits.max_negative_baseline_prob, "max",
            negative_baseline_prob <= limits.max_negative_baseline_prob,
            detail=f"probability {negative_baseline_prob:.2f} that revenue without media is negative"))
    for r in roi.itertuples():
        channel, value = str(r.channel), float(r.roi_mean)
        bounds = roi_bounds.get(channel)
        if bounds is not None:
            lo, hi = float(bounds[0]) / limits.roi_bounds_factor, float(bounds[1]) * limits.roi_bounds_factor
            inside = lo <= value <= hi
            limit, kind = (hi, "max") if value > hi or inside else (lo, "min")
            checks.append(PlausibilityCheck(
                "roi_bounds", value, limit, kind, inside, channel,
                f"{channel} ROI {value:.2f} vs roi_bounds {list(bounds)} (x/ {limits.roi_bounds_factor:g})"))
        if limits.max_roi is not None:
            checks.append(PlausibilityCheck("max_roi", value, limits.max_roi, "max", value <= limits.max_roi, channel,
                                            f"{channel} ROI {value:.2f}"))
    failures = [_failure(c) for c in checks if not c.passed]
    return Plausibility(passed=not failures, total_revenue=total, media_revenue=media, media_share=share,
                        negative_baseline_prob=None if negative_baseline_prob is None else float(negative_baseline_prob),
                        channel_share=per_channel, checks=checks,
                        thresholds={k: (v.value if hasattr(v, "value") else v) for k, v in asdict(limits).items()},
                        failures=failures, excluded_weeks=excluded.weeks,
                        excluded_revenue=excluded.placeholder_revenue)


def _failure(check: PlausibilityCheck) -> str:
    """One readable sentence naming the channel, the number and the limit it broke."""
    key = {"media_share": "max_media_share", "channel_share": "max_channel_share",
           "negative_baseline_prob": "max_negative_baseline_prob", "roi_bounds": "roi_bounds_factor",
           "max_roi": "max_roi"}[check.name]
    if check.name in ("media_share", "channel_share"):
        return f"{check.detail} (> {KEY}.{key}={check.limit:g})"
    if check.name == "roi_bounds":
        side = "above" if check.kind == "max" else "below"
        return f"{check.detail}: {side} {check.limit:.2f} ({KEY}.{key})"
    return f"{check.detail} (> {KEY}.{key}={check.limit:g})"


def gate(result: Plausibility, on_failure: str, where: str = "train/plausibility.json") -> None:
    """Apply ``complexity.plausibility.on_failure``: raise a UserError (exit 2) or log a warning.

    Raises:
        UserError: a limit was broken and ``on_failure`` is ``fail``.
    """
    if result.passed:
        log.info("train: plausible: media drove %s of revenue (largest channel %s), P(negative baseline) %s",
                 _pct(result.media_share), _pct(max(result.channel_share.values(), default=0.0)),
                 "n/a" if result.negative_baseline_prob is None else f"{result.negative_baseline_prob:.2f}")
        return
    what = f"the fitted model is implausible: {'; '.join(result.failures)}"
    if on_failure == "fail":
        raise UserError(what, where=where, fix=ADVICE)
    log.warning("train: %s (continuing: %s.on_failure=warn; the deck says so on its first page)", what, KEY)
