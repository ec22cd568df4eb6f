"""What the simulator generates: the true per-channel parameters and the shape of the simulated business.

The truths here are the ground truth the pipeline's estimates are tested against, so every field has a precise
meaning (see :class:`ChannelTruth`), and defaults are chosen so the six channels are distinguishable (distinct
decay, ROI and saturation) while staying plausible for an eCommerce brand.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import pandas as pd

from mmm_meridian.errors import ConfigError
from mmm_meridian.simulate.causes import ExperimentSpec, OrganicTruth, RfChannelTruth, TreatmentTruth


@dataclass(frozen=True)
class ChannelTruth:
    """The true behaviour of one paid-media channel.

    Attributes:
        name: channel name, used verbatim as the column prefix (``<name>_spend`` ...).
        roi: true ROI: incremental revenue caused by the channel over the whole period divided by its spend.
        decay: geometric adstock rate per week, in [0, 1).
        max_lag: adstock window in weeks (Meridian's ``max_lag``).
        ec: Hill half-saturation point as a fraction of the channel's mean non-zero weekly adstocked impressions.
        slope: Hill slope; <= 1 keeps the response concave.
        cpm: cost per 1000 impressions (local currency).
        ctr: clicks per impression.
        mean_weekly_spend: mean weekly spend (dark weeks included) for a series of scale 1.
        spend_volatility: lognormal sigma of weekly spend in live weeks.
        flighting: probability that a week is dark (zero spend).
        platform_roas_bias: platform-reported revenue divided by true incremental revenue (over-attribution).
    """

    name: str
    roi: float
    decay: float
    ec: float
    cpm: float
    ctr: float
    mean_weekly_spend: float
    max_lag: int = 8
    slope: float = 1.0
    spend_volatility: float = 0.45
    flighting: float = 0.15
    platform_roas_bias: float = 2.0

    def validate(self) -> None:
        """Raises ConfigError when a parameter is out of its documented range."""
        where = f"ChannelTruth({self.name!r})"
        checks = [
            (bool(self.name) and self.name.replace("_", "").isalnum(), "name must be a non-empty identifier"),
            (self.roi >= 0, f"roi must be >= 0, got {self.roi}"),
            (0 <= self.decay < 1, f"decay must be in [0, 1), got {self.decay}"),
            (self.max_lag >= 0, f"max_lag must be >= 0, got {self.max_lag}"),
            (self.ec > 0, f"ec must be > 0, got {self.ec}"),
            (self.slope > 0, f"slope must be > 0, got {self.slope}"),
            (self.cpm > 0 and self.ctr > 0, "cpm and ctr must be > 0"),
            (self.mean_weekly_spend > 0, f"mean_weekly_spend must be > 0, got {self.mean_weekly_spend}"),
            (self.spend_volatility >= 0, f"spend_volatility must be >= 0, got {self.spend_volatility}"),
            (0 <= self.flighting < 1, f"flighting must be in [0, 1), got {self.flighting}"),
            (self.platform_roas_bias > 0, f"platform_roas_bias must be > 0, got {self.platform_roas_bias}"),
        ]
        for ok, what in checks:
            if not ok:
                raise ConfigError(what, where=where, fix="use a value inside the documented range")


DEFAULT_CHANNELS: tuple[ChannelTruth, ...] = (
    ChannelTruth("google_search", roi=3.0, decay=0.3, ec=0.9, cpm=30.0, ctr=0.05, mean_weekly_spend=15_000.0,
                 spend_volatility=0.35, flighting=0.08, platform_roas_bias=1.5),
    ChannelTruth("google_display", roi=1.2, decay=0.6, ec=1.2, cpm=3.0, ctr=0.002, mean_weekly_spend=6_000.0,
                 spend_volatility=0.5, flighting=0.2, platform_roas_bias=2.5),
    ChannelTruth("google_video", roi=1.5, decay=0.6, ec=1.0, cpm=10.0, ctr=0.004, mean_weekly_spend=8_000.0,
                 spend_volatility=0.5, flighting=0.25, platform_roas_bias=2.0),
    ChannelTruth("meta_facebook", roi=2.2, decay=0.45, ec=0.8, cpm=8.0, ctr=0.01, mean_weekly_spend=10_000.0,
                 spend_volatility=0.4, flighting=0.12, platform_roas_bias=2.2),
    ChannelTruth("meta_instagram", roi=1.8, decay=0.45, ec=0.9, cpm=7.0, ctr=0.008, mean_weekly_spend=7_000.0,
                 spend_volatility=0.45, flighting=0.15, platform_roas_bias=2.0),
    ChannelTruth("tiktok", roi=1.0, decay=0.4, ec=1.1, cpm=5.0, ctr=0.006, mean_weekly_spend=5_000.0,
                 spend_volatility=0.55, flighting=0.2, platform_roas_bias=3.0),
)

DEFAULT_SERIES: tuple[tuple[str, str], ...] = (
    ("brand_a", "GB"), ("brand_a", "US"), ("brand_b", "GB"), ("brand_b", "DE"),
)

DEFAULT_CURRENCIES: tuple[tuple[str, str], ...] = (
    ("GB", "GBP"), ("US", "USD"), ("DE", "EUR"), ("FR", "EUR"), ("IE", "EUR"), ("AU", "AUD"), ("CA", "CAD"),
)


@dataclass(frozen=True)
class SimulationSpec:
    """The simulated business: time range, series, channels and baseline dynamics.

    Attributes:
        start: first day, must be a Monday (weeks run Monday to Sunday).
        n_weeks: number of weeks simulated.
        series: (organisation_id, territory_name) pairs, one time series each.
        series_scale: size factor per series (multiplies baseline and spend) so geos differ in scale.
        channels: the true channel parameters.
        baseline_weekly_revenue: mean weekly non-media revenue of a series of scale 1.
        trend_per_year: linear growth of the baseline per year (0.06 = +6 % a year).
        seasonality_amplitude: amplitude of the annual (Fourier) seasonality, relative to the baseline.
        seasonality_peak_week: ISO-ish week of the year where the seasonality peaks.
        promo_probability: probability a week is a promo week.
        promo_uplift: relative baseline uplift in promo weeks.
        price_volatility: sigma of the weekly relative price movement (AR(1)).
        price_elasticity: baseline revenue elasticity to price (baseline x (price / base) ** -elasticity).
        noise_cv: coefficient of variation of the multiplicative lognormal noise on the baseline.
        basket_size: items per order (order value = avg_price x basket_size).
        new_customer_share: expected share of orders that are first purchases.
        currencies: territory -> currency code pairs.
        seed: seed of the numpy Generator; same spec gives identical data.
        rf_channels: paid reach-and-frequency channels (weekly data only: see :class:`RfChannelTruth`).
        organic: organic media (see :class:`OrganicTruth`).
        treatments: non-media treatments (see :class:`TreatmentTruth`).
        kpi_type: ``revenue``, or ``conversions``: the KPI is then a number of conversions (integers), written
            beside the revenue of each (``conversions``, ``revenue_per_conversion``, with revenue = conversions x
            revenue_per_conversion exactly), every effect acts on conversions and every truth is stated in money.
        experiments: lift tests to run on the truth (see :class:`ExperimentSpec`).
        spend_seasonality: how strongly every channel's spend follows the baseline's annual season (0: not at all;
            0.5: spend swings half as much as the season's shape, peaking in the same weeks), the confounding a
            model has to separate from seasonality. The mean weekly spend is unchanged.
        flighting_groups: groups of channel names flighted together: every channel of a group is dark in the weeks
            its first channel is dark (correlated media, as when one team books two channels on one calendar).
        geo_roi_spread: how much a channel's ROI differs between series: each series' ROI is the channel's ROI
            times a lognormal factor of this sigma (0: the same ROI everywhere), the factors scaled so that the
            channel's ROI over all series (spend-weighted) is still exactly ``ChannelTruth.roi``.

    The five fields before the last three are Meridian's wider vocabulary, all off by default; the last three are
    confounding scenarios, also off by default. A spec that leaves them all at their defaults simulates exactly the
    data (and truth) it did before they existed.
    """

    start: str = "2022-01-03"
    n_weeks: int = 156
    series: tuple[tuple[str, str], ...] = DEFAULT_SERIES
    series_scale: tuple[float, ...] = (1.0, 1.4, 0.8, 0.6)
    channels: tuple[ChannelTruth, ...] = DEFAULT_CHANNELS
    baseline_weekly_revenue: float = 250_000.0
    trend_per_year: float = 0.06
    seasonality_amplitude: float = 0.15
    seasonality_peak_week: int = 48
    promo_probability: float = 0.1
    promo_uplift: float = 0.25
    price_volatility: float = 0.03
    price_elasticity: float = 0.8
    noise_cv: float = 0.05
    basket_size: float = 1.6
    new_customer_share: float = 0.35
    currencies: tuple[tuple[str, str], ...] = field(default=DEFAULT_CURRENCIES)
    seed: int = 0
    rf_channels: tuple[RfChannelTruth, ...] = ()
    organic: tuple[OrganicTruth, ...] = ()
    treatments: tuple[TreatmentTruth, ...] = ()
    kpi_type: str = "revenue"
    experiments: tuple[ExperimentSpec, ...] = ()
    spend_seasonality: float = 0.0
    flighting_groups: tuple[tuple[str, ...], ...] = ()
    geo_roi_spread: float = 0.0

    @property
    def series_ids(self) -> list[str]:
        """The ``mmm_timeseries_id`` of each series (``<organisation_id>_<territory_name>``)."""
        return [f"{org}_{territory}" for org, territory in self.series]

    @property
    def channel_names(self) -> list[str]:
        """Channel names (impression channels) in spec order."""
        return [c.name for c in self.channels]

    @property
    def paid_channel_names(self) -> list[str]:
        """Every paid channel: impression channels, then reach-and-frequency channels (Meridian's order)."""
        return self.channel_names + [c.name for c in self.rf_channels]

    @property
    def uses_vocabulary(self) -> bool:
        """Whether any of Meridian's wider vocabulary (R&F, organic, treatments, conversions, experiments) is on."""
        return any(getattr(self, name) != default for name, default in VOCABULARY_DEFAULTS.items())

    def currency_of(self, territory: str) -> str:
        """The currency code of a territory."""
        mapping = dict(self.currencies)
        if territory not in mapping:
            raise ConfigError(f"no currency for territory {territory!r}", where="SimulationSpec.currencies",
                              fix=f"add ({territory!r}, '<ISO code>') to currencies")
        return mapping[territory]

    def validate(self) -> None:
        """Raises ConfigError when the spec cannot be simulated."""
        where = "SimulationSpec"
        start = pd.Timestamp(self.start)
        if start.dayofweek != 0:
            raise ConfigError(f"start {self.start} is a {start.day_name()}", where=f"{where}.start",
                              fix="use a Monday")
        if self.n_weeks < 2:
            raise ConfigError(f"n_weeks must be >= 2, got {self.n_weeks}", where=f"{where}.n_weeks")
        if not self.series or len(self.series_scale) != len(self.series):
            raise ConfigError(f"{len(self.series)} series but {len(self.series_scale)} scales",
                              where=f"{where}.series_scale", fix="give one positive scale per series")
        if len(set(self.series_ids)) != len(self.series) or min(self.series_scale) <= 0:
            raise ConfigError("series must be unique and scales positive", where=f"{where}.series")
        if not self.channels or len(set(self.channel_names)) != len(self.channels):
            raise ConfigError("channels must be non-empty with unique names", where=f"{where}.channels")
        for channel in self.channels:
            channel.validate()
        for _, territory in self.series:
            self.currency_of(territory)
        ranges = {
            "promo_probability": (0, 1), "new_customer_share": (0, 1), "noise_cv": (0, 1),
            "seasonality_amplitude": (0, 0.9), "price_volatility": (0, 0.5), "spend_seasonality": (0, 1),
            "geo_roi_spread": (0, 1),
        }
        for name, (lo, hi) in ranges.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ConfigError(f"{name} must be in [{lo}, {hi}], got {value}", where=f"{where}.{name}")
        if self.baseline_weekly_revenue <= 0 or self.basket_size <= 0:
            raise ConfigError("baseline_weekly_revenue and basket_size must be > 0", where=where)
        grouped = [name for group in self.flighting_groups for name in group]
        if sorted(set(grouped) - set(self.channel_names)) or len(set(grouped)) != len(grouped):
            raise ConfigError(f"flighting_groups {[list(g) for g in self.flighting_groups]} name an unknown channel "
                              "or one channel twice", where=f"{where}.flighting_groups",
                              fix=f"group channels of {self.channel_names}, each in one group at most")
        self._validate_vocabulary()

    def _validate_vocabulary(self) -> None:
        """The optional truths: valid each, one name per column, experiments on paid channels that can be run."""
        where = "SimulationSpec"
        for truth in (*self.rf_channels, *self.organic, *self.treatments):
            truth.validate()
        names = self.paid_channel_names + [o.name for o in self.organic] + [t.name for t in self.treatments]
        if len(set(names)) != len(names):
            raise ConfigError(f"names {names} are not unique", where=f"{where}.rf_channels/organic/treatments",
                              fix="give every channel, organic medium and treatment its own name")
        media_columns = {f"{c}_{suffix}" for c in self.channel_names
                         for suffix in ("spend", "impressions", "clicks", "platform_revenue")}
        media_columns |= {f"{c.name}_{suffix}" for c in self.rf_channels for suffix in ("spend", "reach", "frequency")}
        media_columns |= {f"{o.name}_volume" for o in self.organic}
        taken = sorted({t.name for t in self.treatments} & (RESERVED_COLUMNS | media_columns))
        if taken:
            raise ConfigError(f"treatment name(s) {taken} clash with a column of the data", where=f"{where}.treatments",
                              fix="rename the treatment")
        if self.kpi_type not in ("revenue", "conversions"):
            raise ConfigError(f"kpi_type must be revenue or conversions, got {self.kpi_type!r}",
                              where=f"{where}.kpi_type")
        self._validate_experiments()

    def _validate_experiments(self) -> None:
        where = "SimulationSpec.experiments"
        territories = {territory for _, territory in self.series}
        for row, test in enumerate(self.experiments, start=1):
            test.validate(pd.Timestamp(self.start), self.n_weeks)
            if test.channel not in self.paid_channel_names:
                raise ConfigError(f"experiment {row} tests {test.channel!r}, not a paid channel", where=where,
                                  fix=f"test one of {self.paid_channel_names}")
            if test.geo is not None and test.geo not in territories:
                raise ConfigError(f"experiment {row} names geo {test.geo!r}, not a territory of the series",
                                  where=where, fix=f"use one of {sorted(territories)} or None for a national test")
            clash = [other for other in self.experiments[: row - 1] if other.overlaps(test)]
            if clash:
                raise ConfigError(f"experiment {row} overlaps an earlier test of {test.channel} in the same geo",
                                  where=where, fix="give each channel's tests disjoint windows or geos")
        if len({test.measure for test in self.experiments}) > 1:
            raise ConfigError("experiments mix measures (roi and incremental_revenue)", where=where,
                              fix="one experiments CSV has one set of columns: use one measure for every test")

    def to_dict(self) -> dict:
        """The spec as JSON-able dict (tuples become lists, exactly as it reads back from JSON).

        The optional vocabulary's fields are left out while at their defaults, so a spec without them writes the
        same truth JSON as before they existed.
        """
        data = json.loads(json.dumps(dataclasses.asdict(self)))
        for name, default in {**VOCABULARY_DEFAULTS, **SCENARIO_DEFAULTS}.items():
            if getattr(self, name) == default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SimulationSpec:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["series"] = tuple(tuple(pair) for pair in data["series"])
        data["currencies"] = tuple(tuple(pair) for pair in data["currencies"])
        data["series_scale"] = tuple(data["series_scale"])
        data["flighting_groups"] = tuple(tuple(group) for group in data.get("flighting_groups", ()))
        data["channels"] = tuple(ChannelTruth(**c) for c in data["channels"])
        for name, kind in (("rf_channels", RfChannelTruth), ("organic", OrganicTruth),
                           ("treatments", TreatmentTruth), ("experiments", ExperimentSpec)):
            data[name] = tuple(kind(**item) for item in data.get(name, ()))
        return cls(**data)


#: The optional vocabulary's fields and their defaults (off).
VOCABULARY_DEFAULTS: dict[str, object] = {
    "rf_channels": (), "organic": (), "treatments": (), "kpi_type": "revenue", "experiments": (),
}
#: The confounding scenarios' fields and their defaults (off; left out of the truth JSON while off).
SCENARIO_DEFAULTS: dict[str, object] = {"spend_seasonality": 0.0, "flighting_groups": (), "geo_roi_spread": 0.0}
#: Columns of the simulated data a treatment (whose column is its name) must not take.
RESERVED_COLUMNS = frozenset({
    "mmm_timeseries_id", "organisation_id", "territory_name", "currency_code", "date_day", "week_start",
    "all_purchases", "all_purchases_original_price", "first_purchases", "first_purchases_original_price",
    "promo_flag", "avg_price", "conversions", "revenue_per_conversion",
})
