"""Lift tests into ROI priors (pure functions; the features stage calls them).

:func:`resolve_experiments` turns the checked rows of ``calibration.experiments`` into
:class:`~mmm_meridian.feature_spec.ExperimentInput` against the clean weekly table: each test's model weeks (a test
covers the weeks whose 7 days overlap its dates; :mod:`mmm_meridian.tables.experiments`), the channel's spend in those
weeks and geo, and its ROI (measured, or incremental revenue over that spend, with the standard error scaled alike).

:func:`calibrate_priors` sets each tested channel's ROI prior from its tests, replacing ``model.priors.roi_bounds``
or the default:

- several tests of one channel are combined by inverse-variance weighting: with w_i = 1 / se_i², the combined ROI is
  sum(w_i roi_i) / sum(w_i) and its standard error 1 / sqrt(sum(w_i));
- the prior is the LogNormal with that mean and standard deviation (Meridian's ``lognormal_dist_from_mean_std``):
  sigma² = ln(1 + (se / mean)²), mu = ln(mean) - sigma² / 2;
- the prior is about the channel's ROI in the tests' weeks (``roi_window``; Meridian's ``roi_calibration_period``).
  Meridian calibrates by time only, so a geo test's ROI is applied to the channel's ROI in those weeks across every
  geo (logged).
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import ChannelPriors, ExperimentInput
from mmm_meridian.tables.experiments import ARTIFACT, covered_weeks, spend_in_weeks

log = logging.getLogger(__name__)

EXPERIMENT = "experiment"


def _iso(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).date().isoformat()


def resolve_experiments(rows: pd.DataFrame, clean: pd.DataFrame, cfg: MMMConfig) -> list[ExperimentInput]:
    """The lift tests as the engines take them, in row order.

    Args:
        rows: the normalised rows (:func:`mmm_meridian.tables.experiments.read_artifact`), already checked by
            validate.
        clean: transform's weekly table (``time``, ``geo``, ``<channel>_spend``).
        cfg: the run's config (its paid channels).

    Returns:
        One :class:`ExperimentInput` per row: ``start`` / ``end`` are the first and last covered week's start (ISO),
        ``spend`` the channel's spend in those weeks (in the test's geo, or all geos for a national test), and
        ``roi`` / ``roi_se`` the measured ones, or ``incremental_revenue`` / ``incremental_revenue_se`` over ``spend``.

    Raises:
        DataError: a test with no covered week or no spend in the clean table (validate checks the ingested table;
            cleaning should not change this, but the ROI would be undefined).
    """
    weeks = pd.to_datetime(clean[F.TIME])
    resolved: list[ExperimentInput] = []
    for test in rows.itertuples(index=False):
        if test.channel not in cfg.data.channel_map:
            raise DataError(f"experiment row {test.row}: channel {test.channel!r} is not a paid channel of the data",
                            where=ARTIFACT, fix="re-run `mmm validate`, which names the problem")
        test_weeks = covered_weeks(test.start, test.end, weeks)
        geo = None if test.geo is None else str(test.geo)
        spend = spend_in_weeks(clean, test.channel, geo, test_weeks) if test_weeks else 0.0
        if not spend > 0:
            raise DataError(f"experiment row {test.row}: channel {test.channel!r} has no spend in the cleaned data "
                            f"in the test's weeks ({_iso(test.start)}..{_iso(test.end)}), so its ROI is undefined",
                            where=ARTIFACT, fix="check the test's channel, dates and geo against the data")
        if test.measured == "roi":
            roi, roi_se = float(test.roi), float(test.roi_se)
            incremental, incremental_se = None, None
        else:  # ROI of the spend the test measured: its incremental revenue (and uncertainty) per unit of spend
            incremental, incremental_se = float(test.incremental_revenue), float(test.incremental_revenue_se)
            roi, roi_se = incremental / spend, incremental_se / spend
        resolved.append(ExperimentInput(
            row=int(test.row), channel=str(test.channel), start=_iso(test_weeks[0]), end=_iso(test_weeks[-1]),
            geo=geo, roi=roi, roi_se=roi_se, measured=str(test.measured), spend=spend,
            incremental_revenue=incremental, incremental_revenue_se=incremental_se))
    return resolved


def lognormal_from_mean_sd(mean: float, sd: float) -> tuple[float, float]:
    """(mu, sigma) of the LogNormal with this mean and standard deviation (Meridian's
    ``prior_distribution.lognormal_dist_from_mean_std``, in numpy)."""
    if not mean > 0 or not sd > 0:
        raise ValueError(f"a LogNormal needs mean > 0 and sd > 0, got mean={mean}, sd={sd}")
    variance_log = float(np.log1p((sd / mean) ** 2))
    return float(np.log(mean) - 0.5 * variance_log), math.sqrt(variance_log)


def combine(experiments: list[ExperimentInput]) -> tuple[float, float]:
    """(ROI, standard error) of several tests of one channel, inverse-variance weighted."""
    if not experiments:
        raise ValueError("no experiments to combine")
    weights = np.array([1.0 / e.roi_se ** 2 for e in experiments])
    rois = np.array([e.roi for e in experiments])
    return float(weights @ rois / weights.sum()), float(1.0 / math.sqrt(weights.sum()))


def _replaced(prior: ChannelPriors) -> str:
    lognormal = f"LogNormal({prior.roi_mu:.3g}, {prior.roi_sigma:.3g})"
    if prior.roi_source == "roi_bounds":
        return f"model.priors.roi_bounds {prior.roi_bounds} ({lognormal})"
    return f"the {prior.roi_source} ROI prior {lognormal}"


def calibrate_priors(priors: list[ChannelPriors], experiments: list[ExperimentInput]) -> list[ChannelPriors]:
    """The channels' priors with each tested channel's ROI prior set from its experiments (module docstring).

    A calibrated channel gets ``roi_mu`` / ``roi_sigma`` of the LogNormal matched to its combined ROI and standard
    error, ``roi_source="experiment"``, ``roi_window`` (each test's first and last week start, in row order),
    ``roi_experiments`` (the tests' row numbers) and ``uncalibrated_roi`` (the [mu, sigma] it replaced);
    ``roi_bounds`` keeps the configured bounds for the record. Other channels are returned unchanged. Logs one line
    per calibrated channel naming the prior it replaced, and one per channel with geo tests.

    Raises:
        ValueError: an experiment for a channel without priors (validate refuses unknown channels first).
    """
    by_channel: dict[str, list[ExperimentInput]] = {}
    for experiment in experiments:
        by_channel.setdefault(experiment.channel, []).append(experiment)
    unknown = sorted(set(by_channel) - {p.channel for p in priors})
    if unknown:
        raise ValueError(f"experiments for channel(s) {unknown}, which have no priors")
    out: list[ChannelPriors] = []
    for prior in priors:
        tests = by_channel.get(prior.channel)
        if not tests:
            out.append(prior)
            continue
        roi, roi_se = combine(tests)
        roi_mu, roi_sigma = lognormal_from_mean_sd(roi, roi_se)
        rows = [t.row for t in tests]
        log.info("calibration: %s ROI prior LogNormal(%.3g, %.3g) (mean %.3g, sd %.3g) from experiment row(s) %s "
                 "replaces %s", prior.channel, roi_mu, roi_sigma, roi, roi_se, rows, _replaced(prior))
        geo_tests = [t for t in tests if t.geo is not None]
        if geo_tests:
            log.info("calibration: %s has geo test(s) (row(s) %s in %s); Meridian calibrates ROI by time only, so "
                     "their ROI applies to %s's ROI in those weeks across every geo", prior.channel,
                     [t.row for t in geo_tests], sorted({str(t.geo) for t in geo_tests}), prior.channel)
        out.append(dataclasses.replace(
            prior, roi_mu=roi_mu, roi_sigma=roi_sigma, roi_source=EXPERIMENT,
            roi_window=[[t.start, t.end] for t in tests], roi_experiments=rows,
            # Calibrating twice keeps the prior the experiments first replaced.
            uncalibrated_roi=prior.uncalibrated_roi or [prior.roi_mu, prior.roi_sigma]))
    return out
