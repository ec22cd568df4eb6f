"""Config sections for modelling: ``features``, ``model``, ``training``, ``complexity``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any, Dict, List, Optional

from mmm_meridian.config._checks import check_pair, check_positive_int, check_range
from mmm_meridian.errors import ConfigError, NotImplementedFeatureError


class DecayFunction(str, Enum):
    geometric = "geometric"
    binomial = "binomial"


@dataclass
class AdstockOverride:
    """Per-channel carryover: ``decay`` centres the Beta prior on Meridian's ``alpha_m``; ``fixed`` pins it."""

    decay: float = 0.6
    fixed: bool = False


def _entries(key: str, entries: Dict[str, Any], kind: type, **defaults: Any) -> Dict[str, Any]:
    """Per-channel override mappings as dataclass instances; an entry may leave out keys (section defaults apply)."""
    out: Dict[str, Any] = {}
    allowed = [f.name for f in fields(kind)]
    for channel, entry in (entries or {}).items():
        if isinstance(entry, kind):
            out[channel] = entry
            continue
        values = dict(entry) if isinstance(entry, Mapping) else None
        unknown = sorted(set(values or {}) - set(allowed)) if values is not None else ["<not a mapping>"]
        if unknown:
            raise ConfigError(f"{key}.{channel} has unknown key(s) {unknown}", where=f"config key {key}.{channel}",
                              fix=f"use keys from {allowed}, e.g. {key}.{channel}.{allowed[0]}=...")
        merged = {name: values.get(name, defaults.get(name, defaults.get(f"default_{name}"))) for name in allowed}
        out[channel] = kind(**{k: v for k, v in merged.items() if v is not None})
    return out


@dataclass
class AdstockConfig:
    """Carryover priors. ``decay`` is Meridian's ``alpha_m`` (geometric: weight of lag l is decay**l; binomial: larger
    decay = longer, flatter carryover); the prior is Beta(decay * s, (1 - decay) * s) with s = ``prior_strength``."""

    decay: float = 0.6
    decay_function: DecayFunction = DecayFunction.geometric
    max_lag: int = 8
    # Beta prior concentration (alpha + beta) around the configured decay: higher pins it harder.
    prior_strength: float = 10.0
    fixed: bool = False
    # Typed Any (entries become AdstockOverride in __post_init__) so that command-line overrides can add channels:
    # OmegaConf cannot create a new Dict[str, dataclass] entry from an override.
    platform_overrides: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.platform_overrides = _entries("features.adstock.platform_overrides", self.platform_overrides,
                                           AdstockOverride, default_decay=self.decay, default_fixed=self.fixed)
        check_range("features.adstock.decay", self.decay, 0, 1, hi_open=True)
        check_positive_int("features.adstock.max_lag", self.max_lag)
        check_range("features.adstock.prior_strength", self.prior_strength, 0, lo_open=True)
        for channel, override in self.platform_overrides.items():
            check_range(f"features.adstock.platform_overrides.{channel}.decay", override.decay, 0, 1, hi_open=True)


@dataclass
class SaturationOverride:
    k: float = 0.8


@dataclass
class SaturationConfig:
    """Half-saturation priors. ``k`` is the median of Meridian's ``ec_m`` prior: the adstocked weekly media volume at
    which a channel reaches half its maximum effect, in multiples of the channel's median non-zero weekly media volume
    (impressions, or spend when no impressions are mapped; per unit of population in geo models). The prior is
    LogNormal(log k, 1 / sqrt(prior_strength)). k = 0.3 saturates early (half the effect at 30 % of a typical week),
    k = 2 late. The default 0.8 matches the centre of Meridian's own default prior."""

    k: float = 0.8
    prior_strength: float = 2.0
    channel_overrides: Dict[str, Any] = field(default_factory=dict)  # entries become SaturationOverride

    def __post_init__(self) -> None:
        self.channel_overrides = _entries("features.saturation.channel_overrides", self.channel_overrides,
                                          SaturationOverride, k=self.k)
        check_range("features.saturation.k", self.k, 0, lo_open=True)
        check_range("features.saturation.prior_strength", self.prior_strength, 0, lo_open=True)
        for channel, override in self.channel_overrides.items():
            check_range(f"features.saturation.channel_overrides.{channel}.k", override.k, 0, lo_open=True)


@dataclass
class CustomEvent:
    """A business event: an indicator control that is 1 in every week containing one of ``dates``.

    Each entry of ``dates`` is a day ``YYYY-MM-DD`` or an inclusive range ``YYYY-MM-DD/YYYY-MM-DD``.
    """

    name: str = ""
    dates: List[str] = field(default_factory=list)


AUTO_COUNTRY = "auto"


@dataclass
class HolidaysConfig:
    """Public holidays from the ``holidays`` package: one control counting holiday days per week, plus one indicator
    control per holiday whose name contains an entry of ``separate`` (e.g. ``[Christmas, Thanksgiving]``).

    ``country`` picks each series' calendar: ``auto`` (default) reads it from the series' territory / country key (the
    ``data.geo_col`` value of each geo, or the ``data.series`` filter on a key named like territory or country; codes
    such as GB, GBR, UK or names such as "United Kingdom" are understood); one code (``GB``) for every geo; or a
    mapping geo -> code (``{GB: GB, US: US}``; geos not listed are derived as under auto). A series whose country
    cannot be derived gets ``fallback_country`` with a warning in the log (null: it is an error instead). The calendar
    of every geo is logged and recorded in ``feature_spec.json`` (``holiday_calendars``).
    """

    enabled: bool = True
    # Typed Any: a single code or a mapping geo -> code (OmegaConf has no union of str and dict).
    country: Any = AUTO_COUNTRY
    fallback_country: Optional[str] = "US"
    subdivision: Optional[str] = None  # applies to every geo's calendar
    separate: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        where = "config key features.seasonality.holidays.country"
        if isinstance(self.country, Mapping):
            self.country = {str(geo): code for geo, code in self.country.items()}
            bad = {geo: code for geo, code in self.country.items() if not isinstance(code, str) or not code.strip()}
            if bad or not self.country:
                raise ConfigError(f"features.seasonality.holidays.country maps geo(s) to non-codes {bad}" if bad else
                                  "features.seasonality.holidays.country is an empty mapping", where=where,
                                  fix="map each geo to a country code, e.g. {GB: GB, US: US}, or use auto")
        elif not isinstance(self.country, str) or not self.country.strip():
            raise ConfigError(f"features.seasonality.holidays.country={self.country!r} is neither a country code nor "
                              "a mapping geo -> code", where=where, fix="use auto, a code such as GB, or {GB: GB}")


@dataclass
class SeasonalityConfig:
    annual: bool = True
    fourier_terms: int = 2
    # A day-of-week pattern. The model is weekly (daily input is summed to weeks at ingest), so every week holds each
    # weekday once and such a pattern cancels out: true is refused at config load rather than silently ignored.
    weekly: bool = False
    holidays: HolidaysConfig = field(default_factory=HolidaysConfig)
    custom_events: List[CustomEvent] = field(default_factory=list)
    # Meridian's time-varying intercept: one knot every N weeks (None: Meridian's default, which is one knot for a
    # national model and one per week for a geo model; a geo model with time-only controls then gets
    # geo_knot_every_weeks instead, because Meridian rejects controls collinear with a per-week intercept).
    knot_every_weeks: Optional[int] = 26
    geo_knot_every_weeks: int = 8

    def __post_init__(self) -> None:
        if self.weekly:
            raise ConfigError("features.seasonality.weekly=true asks for a day-of-week pattern, which this weekly "
                              "model cannot have: daily input is summed to weeks at ingest, so every week holds each "
                              "weekday once and the pattern cancels out",
                              where="config key features.seasonality.weekly",
                              fix="set features.seasonality.weekly=false; yearly patterns are "
                                  "features.seasonality.annual and fourier_terms, dated effects holidays and "
                                  "custom_events")
        check_range("features.seasonality.fourier_terms", self.fourier_terms, 0, 10)
        if self.knot_every_weeks is not None:
            check_positive_int("features.seasonality.knot_every_weeks", self.knot_every_weeks)
        check_positive_int("features.seasonality.geo_knot_every_weeks", self.geo_knot_every_weeks)
        for event in self.custom_events:
            if not event.name or not event.dates:
                raise ConfigError(f"custom event {event.name!r} needs a name and at least one date",
                                  where="config key features.seasonality.custom_events",
                                  fix="write {name: black_friday, dates: [2023-11-24, 2024-11-29/2024-12-02]}")


@dataclass
class BaselineConfig:
    controls: bool = True  # use data.controls
    promotions: bool = True  # use data.promo_col as a control
    # Trend: with 2+ knots Meridian's piecewise-linear intercept already spans a linear trend; with a single knot a
    # linear trend control is added. False removes it: Meridian gets one knot (a flat baseline, whatever
    # features.seasonality.knot_every_weeks says) and seasonality stays in the calendar controls.
    trend: bool = True


@dataclass
class ExtensionConfig:
    """A future extension named by the guide; enabling it fails until it is implemented."""

    enabled: bool = False


@dataclass
class FeaturesConfig:
    adstock: AdstockConfig = field(default_factory=AdstockConfig)
    saturation: SaturationConfig = field(default_factory=SaturationConfig)
    seasonality: SeasonalityConfig = field(default_factory=SeasonalityConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    attribution: ExtensionConfig = field(default_factory=ExtensionConfig)
    creative_fatigue: ExtensionConfig = field(default_factory=ExtensionConfig)
    custom_terms: ExtensionConfig = field(default_factory=ExtensionConfig)

    def __post_init__(self) -> None:
        for name in ("attribution", "creative_fatigue", "custom_terms"):
            if getattr(self, name).enabled:
                raise NotImplementedFeatureError(
                    f"features.{name} is a future extension of the guide and is not implemented yet",
                    where=f"config key features.{name}.enabled", fix=f"set features.{name}.enabled=false")


class MediaSource(str, Enum):
    impressions = "impressions"  # impressions where mapped, spend otherwise
    spend = "spend"


class ModelBackend(str, Enum):
    """The model engine (``mmm_meridian.models``): Google Meridian or PyMC-Marketing."""

    meridian = "meridian"
    pymc = "pymc"


class NutsSampler(str, Enum):
    """The NUTS implementation the PyMC engine samples with (Meridian always uses its own, TFP's)."""

    pymc = "pymc"
    numpyro = "numpyro"
    nutpie = "nutpie"
    blackjax = "blackjax"


class PopulationProxy(str, Enum):
    """Geo sizes used when the data has no population column (national models always use 1.0)."""

    revenue = "revenue"  # each geo's mean weekly revenue relative to the largest geo's
    spend = "spend"  # each geo's mean weekly total media spend relative to the largest geo's
    ones = "ones"  # 1.0 for every geo (no per-capita scaling)


@dataclass
class RoiDefaultPrior:
    mu: float = 0.2  # Meridian's default LogNormal(0.2, 0.9) on ROI
    sigma: float = 0.9


AUTO_SPREAD = "auto"
# What ``auto`` picks (benchmarks/RESULTS.md, "Model truth at every size"): below MANY_GEOS geos the spread of effects
# across geos is pooled with HalfNormal(FEW_GEOS_SPREAD) (a 4-geo model did not converge with Meridian's 1 / 5);
# from MANY_GEOS on, Meridian's own priors, which that many geos can inform.
MANY_GEOS = 10
FEW_GEOS_SPREAD = 0.2


@dataclass
class GeoVariationPrior:
    """Geo models only: scales of the HalfNormal priors on how much effects differ between geos (Meridian's
    ``eta_m`` for media, ``xi_c`` for controls; its defaults are 1.0 and 5.0).

    Each is ``auto`` (default: chosen from the number of geos, see :meth:`resolve`), a positive number, or ``null``
    for Meridian's default. With Meridian's defaults a 4-geo simulated model with the production sampler left R-hat
    1.17 and 818 divergences (a funnel between the geo spread and the geo effects); with 0.2 / 0.2 three seeds
    converged (R-hat <= 1.007, 1 to 72 divergences) with ROI means within 0.15 of the unpooled fits. Few geos cannot
    inform a wide spread; tens of geos can (benchmarks/RESULTS.md).
    """

    # Typed Any: "auto", a number or null (OmegaConf has no union of str and float).
    media: Any = AUTO_SPREAD
    controls: Any = AUTO_SPREAD

    def __post_init__(self) -> None:
        for name in ("media", "controls"):
            value = getattr(self, name)
            key = f"model.priors.geo_variation.{name}"
            if value is None or value == AUTO_SPREAD:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{key}={value!r} is neither auto, a number nor null", where=f"config key {key}",
                                  fix=f"use auto (chosen from the number of geos), a HalfNormal scale such as "
                                      f"{FEW_GEOS_SPREAD}, or null for Meridian's default")
            setattr(self, name, float(value))
            check_range(key, float(value), 0, lo_open=True)

    def resolve(self, n_geos: int, learned: bool = True) -> tuple[dict[str, float | None], str]:
        """The HalfNormal scales a model with ``n_geos`` geos gets ({"media", "controls"}; None: the engine's
        default) and why, for the log and the feature spec.

        ``learned``: whether the engine learns the spread from the data under these priors (Meridian's ``eta_m`` /
        ``xi_c``). The PyMC engine uses the scale as a fixed spread, which no number of geos informs, so ``auto``
        keeps it pooled at every size.
        """
        auto = FEW_GEOS_SPREAD if n_geos < MANY_GEOS or not learned else None
        picked = [name for name in ("media", "controls") if getattr(self, name) == AUTO_SPREAD]
        chosen = {name: auto if name in picked else getattr(self, name) for name in ("media", "controls")}
        if not picked:
            return chosen, "set by model.priors.geo_variation"
        if not learned:
            why = (f"{FEW_GEOS_SPREAD}, pooled at any number of geos: this engine's geo spread is a fixed scale, "
                   "not learned from the data")
        elif auto is not None:
            why = (f"{n_geos} geos (fewer than {MANY_GEOS}): pooled with HalfNormal({FEW_GEOS_SPREAD}), since few "
                   "geos cannot inform a wide spread")
        else:
            why = f"{n_geos} geos ({MANY_GEOS} or more): Meridian's default spread priors, which that many geos inform"
        return chosen, f"auto for {', '.join(picked)}: {why}"


@dataclass
class PriorsConfig:
    roi_bounds: Dict[str, List[float]] = field(default_factory=dict)
    roi_mass: float = 0.9  # prior probability mass inside the bounds
    default_roi: RoiDefaultPrior = field(default_factory=RoiDefaultPrior)
    geo_variation: GeoVariationPrior = field(default_factory=GeoVariationPrior)

    def __post_init__(self) -> None:
        for channel, bounds in self.roi_bounds.items():
            check_pair(f"model.priors.roi_bounds.{channel}", bounds, lo=0.0)
            if bounds[0] <= 0:
                raise ConfigError(f"model.priors.roi_bounds.{channel}={list(bounds)} needs a low bound above 0 "
                                  "for a LogNormal prior", where=f"config key model.priors.roi_bounds.{channel}",
                                  fix="use e.g. [0.1, 5.0]")
        check_range("model.priors.roi_mass", self.roi_mass, 0, 1, lo_open=True, hi_open=True)
        check_range("model.priors.default_roi.sigma", self.default_roi.sigma, 0, lo_open=True)


@dataclass
class ModelConfig:
    media_source: MediaSource = MediaSource.impressions
    population_proxy: PopulationProxy = PopulationProxy.revenue
    priors: PriorsConfig = field(default_factory=PriorsConfig)
    hill_before_adstock: bool = False
    holdout_weeks: int = 0  # last N weeks held out of the fit (evaluate's temporal holdout sets its own)
    # The engine that fits the model: meridian (Google Meridian, JAX/TFP) or pymc (PyMC-Marketing). Every stage works
    # with both; runtime.backend stays Meridian's own choice of JAX or TensorFlow.
    backend: ModelBackend = ModelBackend.meridian
    # A second opinion: train also fits this other engine on the same inputs and priors, evaluate scores it on the
    # temporal holdout, and the report compares both engines' ROIs channel by channel. null: off.
    second_opinion: Optional[ModelBackend] = None


@dataclass
class SamplerConfig:
    n_chains: int = 4
    n_adapt: int = 500
    n_burnin: int = 500
    n_keep: int = 1000
    seed: int = 42
    # Prior draws feed only Meridian's HTML model summary (reports.meridian_html: its prior-vs-posterior charts);
    # 0 skips them and that page (the report stage warns, naming this key), saving their sampling and compilation.
    n_prior_draws: int = 500
    max_tree_depth: int = 10
    # The PyMC engine's NUTS library (model.backend=pymc); Meridian samples with TFP's NUTS and refuses another value.
    nuts_sampler: NutsSampler = NutsSampler.numpyro

    def __post_init__(self) -> None:
        for name in ("n_chains", "n_adapt", "n_burnin", "n_keep", "max_tree_depth"):
            check_positive_int(f"training.sampler.{name}", getattr(self, name))
        check_range("training.sampler.n_prior_draws", self.n_prior_draws, 0)


@dataclass
class RollingSplitsConfig:
    enabled: bool = False
    window_weeks: int = 104
    step_weeks: int = 13
    horizon_weeks: int = 13
    max_splits: int = 4

    def __post_init__(self) -> None:
        for name in ("window_weeks", "step_weeks", "horizon_weeks", "max_splits"):
            check_positive_int(f"training.rolling_splits.{name}", getattr(self, name))


class OnFailure(str, Enum):
    fail = "fail"
    warn = "warn"


@dataclass
class TrainingConfig:
    preset: str = "default"
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    rolling_splits: RollingSplitsConfig = field(default_factory=RollingSplitsConfig)
    progress_every_s: float = 30.0  # log elapsed time and an estimate of the time left this often while sampling
    split_timeout_s: float = 3600.0  # a rolling split's subprocess is stopped after this long
    # A preset may relax the convergence gate (the fast preset warns); None applies complexity.identifiability.
    on_failure_override: Optional[OnFailure] = None

    def __post_init__(self) -> None:
        check_range("training.progress_every_s", self.progress_every_s, 0, lo_open=True)
        check_range("training.split_timeout_s", self.split_timeout_s, 0, lo_open=True)


class GateParameters(str, Enum):
    media = "media"
    all = "all"


@dataclass
class ConvergenceConfig:
    max_rhat: float = 1.1
    min_ess: float = 400.0
    # Divergent transitions allowed, in % of the kept draws (chains x n_keep). Any divergence is logged; a handful
    # in 10,000 draws with R-hat near 1 (e.g. a 4-geo production fit: 1 to 72) does not bias the ROI summaries
    # measurably, while a funnel that biases them shows up in the hundreds (818 before model.priors.geo_variation).
    max_divergences_pct: float = 1.0
    on_failure: OnFailure = OnFailure.fail
    # Which parameters the R-hat and ESS limits judge. ``media``: the parameters the answers are made of (each
    # channel's ROI, adstock, saturation and effect, paid, organic and R&F, and their geo spreads); the rest (trend
    # knots, geo intercepts, controls, noise) is reported in diagnostics.json and the log but does not stop the run.
    # A 40-geo fit whose ROIs had converged was refused on tau_g, mu_t and knot_values (ESS 231) after 16 minutes.
    # ``all``: every sampled parameter must pass. Divergences are judged on the whole sampler either way.
    gate_parameters: GateParameters = GateParameters.media

    def __post_init__(self) -> None:
        check_range("complexity.identifiability.max_rhat", self.max_rhat, 1.0, lo_open=True)
        check_range("complexity.identifiability.max_divergences_pct", self.max_divergences_pct, 0, 100)
        check_range("complexity.identifiability.min_ess", self.min_ess, 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (enums as strings), as fit jobs carry them to a worker process."""
        return {**asdict(self), "on_failure": self.on_failure.value, "gate_parameters": self.gate_parameters.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConvergenceConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "on_failure": OnFailure(data["on_failure"]),
                      "gate_parameters": GateParameters(data.get("gate_parameters", GateParameters.media.value))})


@dataclass
class PlausibilityConfig:
    """Is the fitted model's story believable? Judged after the convergence gate, on posterior means.

    A model can converge and still tell an impossible story: on the real Conjura apparel brand, with no business
    knowledge, one channel "caused" 155 % of all revenue (so the baseline had to be negative). Each limit below is
    checked on every fit; ``on_failure: fail`` stops the train stage with exit status 2 naming the channel and the
    number, ``warn`` keeps the model and the deck says on its first page that it was accepted below this gate.

    - ``max_media_share``: paid media's incremental revenue as a share of all revenue (0.8: 80 %). Published MMMs of
      e-commerce brands put media at roughly 10-50 % of revenue; above 80 % the baseline (brand, seasonality,
      organic demand) is left with almost nothing.
    - ``max_channel_share``: the same for any one channel (0.5).
    - ``max_negative_baseline_prob``: posterior probability that revenue without media would be negative over the
      period (Meridian's Analyzer ``negative_baseline_probability``; 0.8 is the fail threshold of Meridian's own
      model review, ``BaselineConfig``, which asks for a review above 0.2).
    - ``roi_bounds_factor``: a channel with ``model.priors.roi_bounds`` [lo, hi] fails when its posterior-mean ROI
      is above hi x factor or below lo / factor: the data pulled it far from what the business told the model.
    - ``max_roi``: any channel's posterior-mean ROI (revenue per unit of spend); null: not judged (small channels can
      show high ROIs that move little money, which the share limits judge better).
    """

    max_media_share: float = 0.8
    max_channel_share: float = 0.5
    max_negative_baseline_prob: float = 0.8
    roi_bounds_factor: float = 2.0
    max_roi: Optional[float] = None
    on_failure: OnFailure = OnFailure.fail

    def __post_init__(self) -> None:
        check_range("complexity.plausibility.max_media_share", self.max_media_share, 0, lo_open=True)
        check_range("complexity.plausibility.max_channel_share", self.max_channel_share, 0, lo_open=True)
        check_range("complexity.plausibility.max_negative_baseline_prob", self.max_negative_baseline_prob, 0, 1)
        check_range("complexity.plausibility.roi_bounds_factor", self.roi_bounds_factor, 1)
        check_range("complexity.plausibility.max_roi", self.max_roi, 0, lo_open=True)


@dataclass
class ComplexityConfig:
    identifiability: ConvergenceConfig = field(default_factory=ConvergenceConfig)
    plausibility: PlausibilityConfig = field(default_factory=PlausibilityConfig)
