"""Lift tests (``spec.experiments``) in the PyMC engine: a likelihood term per experiment, and the model's ROI over
each experiment's window from the posterior.

The quantity (the same in the graph and on posterior draws, Meridian's definition of a calibration period's ROI):
the model's incremental revenue of the channel's spend in the test's weeks and geo (all geos for a national test),
divided by that spend. The incremental revenue is the channel's contribution with its historical media minus its
contribution with the media of the test's cells set to zero, summed over every week and geo of the data, so the
carryover after the window is included (up to the data's last week, like the ROI table). Over the whole period and
every geo it is the ROI table's ROI exactly (the counterfactual media is all zero).

Each experiment is observed as ``Normal(model ROI, roi_se)`` at its measured ``roi`` (``experiment_roi`` in the
graph, dims ``experiment`` labelled by the experiment's row); the model ROI is kept as the deterministic
``experiment_model_roi``. A model of part of the weeks (evaluate's rolling splits) takes only the tests wholly inside
them (:func:`inside_the_data`). Tests in a forecast holdout's weeks stay in: they are evidence about the media effect,
not the held-out revenue.

Why not PyMC-Marketing's ``MMM.add_lift_test_measurements``: it observes the difference of the channel's saturation
curve between two steady weekly media levels (``x`` and ``x + delta_x``, one week, no adstock, no window), on the
channel's media scale, with a Gamma likelihood of absolute values. A lift test here is an ROI over a window of weeks
with carryover, and with adstock applied before saturation the window's lift is not one saturation difference: it
depends on the whole media path through the adstock kernel. So the term is added here with the graph's own adstock
and saturation functions and parameters (``adstock_alpha``, ``saturation_lam``, ``saturation_alpha``), which is what
``add_lift_test_measurements`` would do for its simpler quantity.

ROI prior: an engine that takes experiments as likelihood must not also take them as the ROI prior. The features
stage replaces a tested channel's ROI prior with the experiment-matched one (``roi_source="experiment"``, for
Meridian); :func:`base_roi_prior` gives the prior the channel had otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import ChannelPriors, ExperimentInput
from mmm_meridian.models.base import EXPERIMENT_ROI_COLUMNS
from mmm_meridian.models.pymc.build import DATE, GEO, Record
from mmm_meridian.models.pymc.model import PymcModel, convolve

log = logging.getLogger(__name__)

EXPERIMENT_DIM = "experiment"
OBSERVED = "experiment_roi"  # the likelihood term (observed measured ROI)
MODEL_ROI = "experiment_model_roi"  # the model's ROI over each experiment's window (deterministic)
_WHERE = "calibration.experiments"


def base_roi_prior(priors: ChannelPriors) -> tuple[float, float]:
    """(mu, sigma) of the channel's LogNormal ROI prior without experiments.

    When the features stage matched the prior to experiments (``roi_source="experiment"``), it keeps the prior the
    channel would have had otherwise in ``uncalibrated_roi`` ([mu, sigma]); this engine takes the experiments as
    likelihood terms, so it uses that one. A matched prior without it (a hand-built spec) is used as it is, and the
    log says that the experiments then count twice.
    """
    if priors.roi_source == "experiment":
        if priors.uncalibrated_roi is not None:
            return float(priors.uncalibrated_roi[0]), float(priors.uncalibrated_roi[1])
        log.warning("pymc engine: channel %s's ROI prior comes from experiments and the feature spec does not keep "
                    "its uncalibrated prior; the experiments count twice (prior and likelihood)", priors.channel)
    return float(priors.roi_mu), float(priors.roi_sigma)


def window_cells(record: Record, experiment: ExperimentInput) -> np.ndarray:
    """(week, geo) booleans: the experiment's weeks (start..end inclusive) in its geo (every geo for a national test).

    Raises:
        DataError: unknown channel or geo, no week of the data in the window, or no spend in it.
    """
    row = f"experiment row {experiment.row} ({experiment.channel}, {experiment.start}..{experiment.end})"
    if experiment.channel not in record.channels:
        raise DataError(f"{row} names channel {experiment.channel!r}, which the model does not have",
                        where=_WHERE, fix=f"use one of {record.channels}")
    weeks = np.asarray([experiment.start <= t <= experiment.end for t in record.times])
    geos = np.ones(len(record.geos), dtype=bool)
    if experiment.geo is not None:
        if str(experiment.geo) not in record.geos:
            raise DataError(f"{row} is in geo {experiment.geo!r}, which the model does not have", where=_WHERE,
                            fix=f"use one of {record.geos}, or leave geo empty for a national test")
        geos = np.asarray([g == str(experiment.geo) for g in record.geos])
    cells = weeks[:, None] & geos[None, :]
    if not cells.any():
        raise DataError(f"{row} covers no week of the data ({record.times[0]}..{record.times[-1]})", where=_WHERE,
                        fix="give dates inside the data's period")
    c = record.channels.index(experiment.channel)
    if not record.spend[..., c][cells].sum() > 0:
        raise DataError(f"{row}: the channel has no spend in the test's weeks, so its ROI there is undefined",
                        where=_WHERE, fix="check the test's dates, geo and channel")
    return cells


def window_spend(record: Record, experiment: ExperimentInput, cells: np.ndarray) -> float:
    """The channel's spend in the experiment's cells (the data's, not the experiment file's)."""
    return float(record.spend[..., record.channels.index(experiment.channel)][cells].sum())


# -- likelihood term ---------------------------------------------------------------------------------------------
def inside_the_data(record: Record, experiments: Sequence[ExperimentInput]) -> list[ExperimentInput]:
    """The experiments whose weeks all lie in the modelled weeks; the others are left out, with a log line.

    Validate refuses a test outside the data, so this only happens in a model of part of the data (evaluate's
    rolling splits): there a test outside the window says nothing about it, and a test cut by the window would
    compare the model's ROI of part of its weeks with the ROI measured over all of them.
    """
    first, last = record.times[0], record.times[-1]
    kept = [e for e in experiments if first <= e.start and e.end <= last]
    left_out = [e.row for e in experiments if e not in kept]
    if left_out:
        log.info("pymc engine: experiment row(s) %s not (wholly) in the modelled weeks %s..%s; left out of this "
                 "model's likelihood", left_out, first, last)
    return kept


def add_likelihood(mmm: Any, record: Record, experiments: Sequence[ExperimentInput]) -> None:
    """Add the experiments' term to the built (not yet sampled) model graph (see the module docstring)."""
    import pymc.dims as pmd
    from pymc_marketing.mmm.transformers import michaelis_menten
    from pytensor.xtensor import as_xtensor

    experiments = inside_the_data(record, experiments)
    if not experiments:
        return
    model = mmm.model
    cells = [window_cells(record, e) for e in experiments]
    index = np.asarray([record.channels.index(e.channel) for e in experiments])
    x = _scaled_media(model, record)  # (week, geo, channel), media as the graph sees it
    full = x[..., index]  # (week, geo, experiment): each experiment's channel media
    without = full * ~np.stack(cells, axis=-1)  # the same with the test's cells switched off
    dims: tuple[str, ...] = (DATE, GEO, EXPERIMENT_DIM) if record.geo_model else (DATE, EXPERIMENT_DIM)
    if not record.geo_model:  # a national graph has no geo dim
        full, without = full[:, 0], without[:, 0]
    pick = {"channel": as_xtensor(index, dims=(EXPERIMENT_DIM,))}
    alpha = model["adstock_alpha"].isel(pick)
    lam = model["saturation_lam"].isel(pick)
    beta = model["saturation_alpha"].isel(pick)  # (geo,) experiment, the coefficient (derived from roi)
    target_scale = model["target_scale"]

    def unit(media: np.ndarray) -> Any:
        media = as_xtensor(media, dims=dims)
        if record.adstock_first:
            return michaelis_menten(mmm.adstock.function(media, alpha=alpha, dim=DATE), 1.0, lam)
        return mmm.adstock.function(michaelis_menten(media, 1.0, lam), alpha=alpha, dim=DATE)

    lift = (unit(full) - unit(without)) * beta * target_scale
    incremental = lift.sum(dim=[d for d in dims if d != EXPERIMENT_DIM])
    spend = np.asarray([window_spend(record, e, c) for e, c in zip(experiments, cells, strict=True)])
    with model:
        model.add_coord(EXPERIMENT_DIM, [int(e.row) for e in experiments])
        roi = pmd.Deterministic(MODEL_ROI, incremental / as_xtensor(spend, dims=(EXPERIMENT_DIM,)))
        pmd.Normal(OBSERVED, mu=roi, sigma=as_xtensor(np.asarray([e.roi_se for e in experiments], dtype=float),
                                                      dims=(EXPERIMENT_DIM,)),
                   observed=as_xtensor(np.asarray([e.roi for e in experiments], dtype=float), dims=(EXPERIMENT_DIM,)))
    log.info("pymc engine: %d experiment(s) added to the likelihood (rows %s)", len(experiments),
             [e.row for e in experiments])


def _scaled_media(model: Any, record: Record) -> np.ndarray:
    """(week, geo, channel) media divided by its scale, as the graph's channel data (a national graph: one geo)."""
    scale = np.asarray(model["channel_scale"].get_value(), dtype=np.float64)
    media = np.asarray(model["channel_data"].get_value(), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.nan_to_num(media / np.where(scale > 0, scale, 1.0))
    return x if record.geo_model else x[:, None, :]


# -- posterior answer --------------------------------------------------------------------------------------------
def incremental_draws(model: PymcModel, channel: str, cells: np.ndarray) -> np.ndarray:
    """(draw,) the channel's incremental revenue of its media in ``cells`` (week, geo), carryover included."""
    post = model.posterior()
    c = model.record.channels.index(channel)
    x = post.media_scaled[None, :, :, c:c + 1]  # (1, week, geo, 1)
    return _contribution(post, c, x) - _contribution(post, c, x * ~cells[None, :, :, None])


def _contribution(post: Any, c: int, x: np.ndarray) -> np.ndarray:
    """(draw,) channel ``c``'s revenue from media ``x`` (1, week, geo, 1), summed over weeks and geos; the same
    computation as :meth:`~.model.Posterior.contribution` for one channel."""
    lam, beta = post.lam[:, None, None, c:c + 1], post.beta[:, None, :, c:c + 1]
    weights = post.weights[:, c:c + 1]
    if post.record.adstock_first:
        stocked = convolve(x, weights)
        part = beta * stocked / (lam + stocked)
    else:
        part = beta * convolve(x / (lam + x), weights)
    return (part * post.target_scale[None, None, :, None]).sum(axis=(1, 2, 3))


def experiment_roi(model: PymcModel, experiments: Sequence[ExperimentInput]) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.EXPERIMENT_ROI_COLUMNS`, one row per experiment, from the posterior."""
    rows = []
    for e in experiments:
        cells = window_cells(model.record, e)
        spend = window_spend(model.record, e, cells)
        incremental = incremental_draws(model, e.channel, cells)
        roi = incremental / spend
        rows.append({"row": int(e.row), "channel": e.channel, "spend": spend,
                     "model_incremental_revenue": float(incremental.mean()), "model_roi_mean": float(roi.mean()),
                     "model_roi_median": float(np.median(roi)), "model_roi_lo_90": float(np.quantile(roi, 0.05)),
                     "model_roi_hi_90": float(np.quantile(roi, 0.95))})
    return pd.DataFrame(rows, columns=list(EXPERIMENT_ROI_COLUMNS))
