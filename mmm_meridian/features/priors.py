"""Business knowledge as numbers: the parameters of the priors Meridian receives, per channel, with their source.

Everything here is plain numpy / scipy (no Meridian import) so the features stage stays fast; the train stage's
adapter turns these numbers into Meridian distributions (float64 numpy arrays, as Meridian's JAX backend needs).

Mappings (each documented in the config dataclasses too):

- ROI (``roi_m``): ``model.priors.roi_bounds.<ch>: [lo, hi]`` -> LogNormal(mu, sigma) with ``roi_mass`` of its mass
  in [lo, hi], symmetric in log space around the median sqrt(lo * hi): sigma = ln(hi / lo) / (2 z), mu = ln(hi) -
  z sigma with z = Phi^-1(0.5 + roi_mass / 2). This is exactly Meridian's ``lognormal_dist_from_range``. Channels
  without bounds get ``model.priors.default_roi`` (Meridian's own default LogNormal(0.2, 0.9)).
- Carryover (``alpha_m``): decay d with strength s -> Beta(d s, (1 - d) s), whose mean is d and standard deviation
  sqrt(d (1 - d) / (s + 1)). ``fixed: true`` uses s = 1e5 (sd < 0.0016): pinned for practical purposes while
  keeping one distribution family for all channels, which Meridian needs for its per-channel vector prior.
- Half-saturation (``ec_m``): k with strength s -> LogNormal(ln k, 1 / sqrt(s)): median k, 90 % of the mass in
  k * exp(+-1.645 / sqrt(s)). Meridian's Hill curve acts on adstocked media divided by the channel's median
  non-zero weekly value (per capita in geo models), so k is in multiples of that typical weekly volume.
- Reach-and-frequency channels (``ec_rf``): Meridian's Hill curve acts on the average weekly frequency itself
  (exposures per person reached, not scaled), so k is a frequency: ``features.saturation.channel_overrides.<ch>.k``
  when set, else Meridian's own default for R&F channels (LogNormal(0.7, 0.4) shifted by 0.1: median 2.1 exposures),
  represented here as LogNormal(ln 2.11, 0.4).
"""

from __future__ import annotations

import math

from scipy.stats import norm

from mmm_meridian.config.modeling import FeaturesConfig, ModelConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.feature_spec import ChannelPriors

FIXED_STRENGTH = 1e5  # Beta concentration used for `fixed: true` decays
RF_DEFAULT_K = math.exp(0.7) + 0.1  # median of Meridian's default ec_rf prior (a frequency)
RF_DEFAULT_SIGMA = 0.4


def lognormal_from_range(low: float, high: float, mass: float) -> tuple[float, float]:
    """(mu, sigma) of the LogNormal with ``mass`` of its probability in [low, high], centred in log space.

    Args:
        low: lower bound, > 0.
        high: upper bound, > low.
        mass: probability inside the bounds, in (0, 1).

    Raises:
        ConfigError: bounds or mass out of range.
    """
    if not 0 < low < high or not 0 < mass < 1:
        raise ConfigError(f"cannot build a LogNormal from range [{low}, {high}] with mass {mass}",
                          where="config key model.priors", fix="use 0 < low < high and 0 < roi_mass < 1")
    z = float(norm.ppf(0.5 + mass / 2))
    sigma = math.log(high / low) / (2 * z)
    return math.log(high) - z * sigma, sigma


def beta_from_decay(decay: float, strength: float) -> tuple[float, float]:
    """(alpha, beta) of the Beta distribution with mean ``decay`` and concentration ``strength``."""
    return decay * strength, (1.0 - decay) * strength


def ec_lognormal(k: float, strength: float) -> tuple[float, float]:
    """(mu, sigma) of the LogNormal half-saturation prior with median ``k``."""
    return math.log(k), 1.0 / math.sqrt(strength)


def channel_priors(channel: str, features: FeaturesConfig, model: ModelConfig, rf: bool = False) -> ChannelPriors:
    """The priors of one channel from the features and model config sections (``rf``: a reach-and-frequency
    channel, whose half-saturation is a frequency)."""
    bounds = model.priors.roi_bounds.get(channel)
    if bounds is not None:
        roi_mu, roi_sigma = lognormal_from_range(float(bounds[0]), float(bounds[1]), model.priors.roi_mass)
        roi_source, roi_bounds = "roi_bounds", [float(bounds[0]), float(bounds[1])]
    else:
        roi_mu, roi_sigma = model.priors.default_roi.mu, model.priors.default_roi.sigma
        roi_source, roi_bounds = "default", None

    adstock = features.adstock
    override = adstock.platform_overrides.get(channel)
    decay = override.decay if override is not None else adstock.decay
    fixed = override.fixed if override is not None else adstock.fixed
    # A decay of exactly 0 would make Beta(0, s) improper; nudge it to "practically no carryover".
    decay = min(max(decay, 1e-4), 1 - 1e-4)
    strength = FIXED_STRENGTH if fixed else adstock.prior_strength
    decay_alpha, decay_beta = beta_from_decay(decay, strength)

    saturation = features.saturation
    sat_override = saturation.channel_overrides.get(channel)
    k = sat_override.k if sat_override is not None else saturation.k
    ec_mu, ec_sigma = ec_lognormal(k, saturation.prior_strength)
    k_source = "override" if sat_override is not None else "default"
    if rf and sat_override is None:
        k, ec_mu, ec_sigma = RF_DEFAULT_K, math.log(RF_DEFAULT_K), RF_DEFAULT_SIGMA
        k_source = "default for reach and frequency (Meridian's ec_rf: about 2 exposures per person)"
    return ChannelPriors(
        channel=channel, roi_mu=roi_mu, roi_sigma=roi_sigma, roi_source=roi_source, roi_bounds=roi_bounds,
        decay=decay, decay_alpha=decay_alpha, decay_beta=decay_beta, decay_fixed=fixed,
        decay_source="override" if override is not None else "default",
        ec_mu=ec_mu, ec_sigma=ec_sigma, k=k, k_source=k_source)


def all_channel_priors(channels: list[str], features: FeaturesConfig, model: ModelConfig,
                       rf_channels: frozenset[str] = frozenset()) -> list[ChannelPriors]:
    """Priors for every channel, in channel order (``rf_channels``: the reach-and-frequency ones)."""
    return [channel_priors(channel, features, model, rf=channel in rf_channels) for channel in channels]
