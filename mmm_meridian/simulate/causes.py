"""The truths of Meridian's wider media vocabulary that the simulator can plant, all off by default.

- :class:`RfChannelTruth`: a paid reach-and-frequency channel (weekly reach, average frequency and spend);
- :class:`OrganicTruth`: an organic medium (a weekly volume, no spend);
- :class:`TreatmentTruth`: a non-media treatment (a promotion's weekly intensity in [0, 1]);
- :class:`ExperimentSpec`: a lift test of a paid channel over a window of weeks (and optionally one territory).

Each response follows the equation Meridian fits, so that a well-specified model can recover the truth (see
:mod:`mmm_meridian.simulate.response`). Every field has a precise meaning: the truths are what estimates are tested
against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmm_meridian.errors import ConfigError

#: What an experiment measures (the columns of its experiments CSV): ROI, or incremental revenue.
MEASURES = ("roi", "incremental_revenue")
#: The experiments CSV's columns: these, then ``roi,roi_se`` or ``incremental_revenue,incremental_revenue_se``.
EXPERIMENT_KEYS = ("channel", "start", "end", "geo")


def _check(checks: list[tuple[bool, str]], where: str) -> None:
    """Raises ConfigError naming the first failed check."""
    for ok, what in checks:
        if not ok:
            raise ConfigError(what, where=where, fix="use a value inside the documented range")


def _is_identifier(name: str) -> bool:
    return bool(name) and name.replace("_", "").isalnum()


@dataclass(frozen=True)
class RfChannelTruth:
    """The true behaviour of one paid reach-and-frequency channel (Meridian's ``rf_channel``).

    The weekly response is Meridian's R&F equation: ``beta * adstock(reach * hill(frequency))`` (the Hill curve
    acts on the average frequency, unscaled as in Meridian, its output multiplies reach, and the product is
    adstocked), with ``beta`` solved per series so that the channel's incremental revenue over the whole period
    divided by its spend equals ``roi`` exactly.

    Attributes:
        name: channel name, the column prefix (``<name>_reach``, ``<name>_frequency``, ``<name>_spend``).
        roi: true ROI: incremental revenue caused by the channel over the whole period divided by its spend.
        decay: geometric adstock rate per week, in [0, 1).
        ec: Hill half-saturation point in frequency units (exposures per person reached in a week): Meridian's
            ``ec`` of an R&F channel, which acts on the raw frequency.
        slope: Hill slope on frequency; above 1 the ROI at fixed spend peaks at a finite frequency
            (:attr:`optimal_frequency`).
        cost_per_exposure: money per exposure (impression): weekly spend = cost_per_exposure x reach x frequency.
        mean_weekly_reach: mean people reached in a live week, for a series of scale 1.
        mean_frequency: mean average frequency in a live week (> 1; a week's frequency is at least 1).
        reach_volatility: lognormal sigma of weekly reach in live weeks.
        frequency_volatility: lognormal sigma of ``frequency - 1`` in live weeks.
        flighting: probability that a week is dark (reach, frequency and spend all 0, as in Meridian's data).
        max_lag: adstock window in weeks (Meridian's ``max_lag``).
    """

    name: str
    roi: float
    decay: float = 0.5
    ec: float = 2.0
    slope: float = 2.0
    cost_per_exposure: float = 0.012
    mean_weekly_reach: float = 250_000.0
    mean_frequency: float = 3.0
    reach_volatility: float = 0.35
    frequency_volatility: float = 0.3
    flighting: float = 0.15
    max_lag: int = 8

    @property
    def optimal_frequency(self) -> float | None:
        """The frequency that maximises ROI at fixed spend, in Meridian's sense (``Analyzer.optimal_freq``).

        Meridian holds each week's exposures (reach x frequency, so the spend) fixed and sets one frequency ``f``
        for every week and geo, so reach becomes exposures / ``f``. Adstock is linear, so the channel's revenue is
        then proportional to ``hill(f) / f = f**(s-1) / (f**s + ec**s)``, whose derivative has the sign of
        ``(s-1) * ec**s - f**s``: the maximum is at ``ec * (s-1)**(1/s)`` whatever the data. With ``slope <= 1``
        the ratio falls for every ``f``: the best frequency is the smallest one allowed, not an interior optimum,
        so None. (Meridian searches frequencies from 1 up: an optimum below 1 reads 1 there.)
        """
        if self.slope <= 1:
            return None
        return float(self.ec * (self.slope - 1) ** (1 / self.slope))

    def validate(self) -> None:
        """Raises ConfigError when a parameter is out of its documented range."""
        _check([
            (_is_identifier(self.name), "name must be a non-empty identifier"),
            (self.roi >= 0, f"roi must be >= 0, got {self.roi}"),
            (0 <= self.decay < 1, f"decay must be in [0, 1), got {self.decay}"),
            (self.ec > 0 and self.slope > 0, f"ec and slope must be > 0, got {self.ec}, {self.slope}"),
            (self.cost_per_exposure > 0, f"cost_per_exposure must be > 0, got {self.cost_per_exposure}"),
            (self.mean_weekly_reach >= 1, f"mean_weekly_reach must be >= 1, got {self.mean_weekly_reach}"),
            (self.mean_frequency > 1, f"mean_frequency must be > 1, got {self.mean_frequency}"),
            (self.reach_volatility >= 0 and self.frequency_volatility >= 0, "volatilities must be >= 0"),
            (0 <= self.flighting < 1, f"flighting must be in [0, 1), got {self.flighting}"),
            (self.max_lag >= 0, f"max_lag must be >= 0, got {self.max_lag}"),
        ], f"RfChannelTruth({self.name!r})")


@dataclass(frozen=True)
class OrganicTruth:
    """The true behaviour of one organic medium (Meridian's ``organic_media``: a volume with no spend).

    The weekly response is the paid media equation ``beta * hill(adstock(volume))``; ``beta`` is solved per series
    so that the medium's incremental revenue over the whole period is exactly
    ``mean_weekly_revenue x series scale x n_weeks``.

    Attributes:
        name: medium name; its weekly volume is the column ``<name>_volume`` (e.g. newsletters sent).
        mean_weekly_revenue: true incremental revenue per week on average, for a series of scale 1.
        decay: geometric adstock rate per week, in [0, 1).
        ec: Hill half-saturation point as a fraction of the medium's mean non-zero weekly adstocked volume.
        slope: Hill slope.
        mean_weekly_volume: mean volume of a live week, for a series of scale 1.
        volatility: lognormal sigma of the weekly volume in live weeks.
        flighting: probability that a week has no volume.
        max_lag: adstock window in weeks.
    """

    name: str
    mean_weekly_revenue: float = 15_000.0
    decay: float = 0.4
    ec: float = 1.0
    slope: float = 1.0
    mean_weekly_volume: float = 40_000.0
    volatility: float = 0.4
    flighting: float = 0.05
    max_lag: int = 8

    def validate(self) -> None:
        """Raises ConfigError when a parameter is out of its documented range."""
        _check([
            (_is_identifier(self.name), "name must be a non-empty identifier"),
            (self.mean_weekly_revenue >= 0, f"mean_weekly_revenue must be >= 0, got {self.mean_weekly_revenue}"),
            (0 <= self.decay < 1, f"decay must be in [0, 1), got {self.decay}"),
            (self.ec > 0 and self.slope > 0, f"ec and slope must be > 0, got {self.ec}, {self.slope}"),
            (self.mean_weekly_volume >= 1, f"mean_weekly_volume must be >= 1, got {self.mean_weekly_volume}"),
            (self.volatility >= 0, f"volatility must be >= 0, got {self.volatility}"),
            (0 <= self.flighting < 1, f"flighting must be in [0, 1), got {self.flighting}"),
            (self.max_lag >= 0, f"max_lag must be >= 0, got {self.max_lag}"),
        ], f"OrganicTruth({self.name!r})")


@dataclass(frozen=True)
class TreatmentTruth:
    """The true effect of one non-media treatment: a promotion's weekly intensity (Meridian's
    ``non_media_treatments``).

    The intensity is 0 outside promotion weeks and drawn uniformly in ``[min_intensity, max_intensity]`` (2
    decimals) inside them; each series has its own calendar (one calendar shared by every geo would be collinear
    with the weekly time effects of Meridian's geo model). The effect on the KPI is linear, as in Meridian:
    ``gamma * (intensity - baseline value)``, where the baseline value is the minimum intensity over every series
    and week (Meridian's default ``non_media_baseline_values``: 0 as soon as one week has no promotion). ``gamma``
    is solved per series so that the treatment's incremental revenue over the period, relative to that baseline,
    is exactly ``uplift x series scale x sum of (intensity - baseline value)``.

    Attributes:
        name: treatment name, also its column (e.g. ``promotion``).
        uplift: true incremental revenue of one week at intensity 1 (relative to intensity 0), for a series of
            scale 1.
        probability: probability that a week is a promotion week.
        min_intensity: smallest intensity of a promotion week, in (0, 1].
        max_intensity: largest intensity of a promotion week, in [min_intensity, 1].
    """

    name: str
    uplift: float = 40_000.0
    probability: float = 0.25
    min_intensity: float = 0.2
    max_intensity: float = 1.0

    def validate(self) -> None:
        """Raises ConfigError when a parameter is out of its documented range."""
        _check([
            (_is_identifier(self.name), "name must be a non-empty identifier"),
            (self.uplift >= 0, f"uplift must be >= 0, got {self.uplift}"),
            (0 < self.probability < 1, f"probability must be in (0, 1), got {self.probability}"),
            (0 < self.min_intensity <= self.max_intensity <= 1,
             f"need 0 < min_intensity <= max_intensity <= 1, got {self.min_intensity}, {self.max_intensity}"),
        ], f"TreatmentTruth({self.name!r})")


@dataclass(frozen=True)
class ExperimentSpec:
    """A lift test the simulator runs on its own truth: the channel's spend in a window of whole weeks, measured.

    The true ROI of the test is the incremental revenue caused by the channel's spend in the window's weeks (in the
    territory, or every series for a national test), carryover into later weeks of the simulated period included,
    divided by that spend; it is computed by simulating the response again with that spend zeroed. The measurement
    adds ``roi_se x`` a standard normal draw (seeded by the spec's seed and the test's position) to the true value.

    Attributes:
        channel: a paid channel (media or reach-and-frequency).
        start: first day of the test, a Monday (ISO date, inclusive).
        end: last day of the test, a Sunday (ISO date, inclusive): the test covers the weeks starting in
            ``[start, end]``.
        geo: a ``territory_name`` (every series of that territory), or None for a national test (every series).
        roi_se: standard error of the measured ROI (> 0). A test measuring incremental revenue has the same
            precision: ``incremental_revenue_se = roi_se x`` the window's spend.
        measure: ``roi`` (the CSV gets ``roi,roi_se``) or ``incremental_revenue`` (``incremental_revenue,
            incremental_revenue_se``); one measure for every test of a spec, as one CSV has one set of columns.
    """

    channel: str
    start: str
    end: str
    geo: str | None = None
    roi_se: float = 0.3
    measure: str = "roi"

    def validate(self, first_week: pd.Timestamp, n_weeks: int) -> None:
        """Raises ConfigError when the test cannot be run on a simulation of ``n_weeks`` from ``first_week``."""
        where = f"ExperimentSpec({self.channel!r}, {self.start}, {self.end})"
        try:
            start, end = pd.Timestamp(self.start), pd.Timestamp(self.end)
        except ValueError as exc:
            raise ConfigError(f"start/end are not ISO dates: {self.start!r}, {self.end!r}", where=where,
                              fix="write dates as YYYY-MM-DD") from exc
        last_day = first_week + pd.Timedelta(days=7 * n_weeks - 1)
        _check([
            (start.dayofweek == 0 and end.dayofweek == 6,
             f"a test covers whole weeks: start must be a Monday and end a Sunday, got {start.day_name()} and "
             f"{end.day_name()}"),
            (start <= end, f"start {self.start} is after end {self.end}"),
            (first_week <= start and end <= last_day,
             f"window {self.start}..{self.end} is outside the simulated period {first_week.date()}..{last_day.date()}"),
            (self.roi_se > 0, f"roi_se must be > 0, got {self.roi_se}"),
            (self.measure in MEASURES, f"measure must be one of {MEASURES}, got {self.measure!r}"),
        ], where)

    def in_window(self, weeks: pd.DatetimeIndex) -> np.ndarray:
        """Boolean per week start: the week is one of the test's."""
        return np.asarray((weeks >= pd.Timestamp(self.start)) & (weeks <= pd.Timestamp(self.end)))

    def overlaps(self, other: ExperimentSpec) -> bool:
        """Same channel, overlapping windows and geos (a national test overlaps every geo)."""
        same_geo = self.geo is None or other.geo is None or self.geo == other.geo
        return (self.channel == other.channel and same_geo
                and pd.Timestamp(self.start) <= pd.Timestamp(other.end)
                and pd.Timestamp(other.start) <= pd.Timestamp(self.end))


def experiments_frame(experiments: list[dict]) -> pd.DataFrame:
    """The experiments CSV's rows: ``channel,start,end[,geo]`` then ``roi,roi_se`` or ``incremental_revenue,
    incremental_revenue_se`` (``geo`` only when a test has one; empty for a national test)."""
    if not experiments:
        return pd.DataFrame(columns=["channel", "start", "end", "roi", "roi_se"])
    frame = pd.DataFrame(experiments)
    measure = experiments[0]["measure"]
    columns = ["channel", "start", "end"] + (["geo"] if frame["geo"].notna().any() else [])
    columns += ["roi", "roi_se"] if measure == "roi" else ["incremental_revenue", "incremental_revenue_se"]
    return frame[columns].reset_index(drop=True)
