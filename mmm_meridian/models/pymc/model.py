"""The fitted PyMC model as the engine's methods see it, and the forward pass that every answer is computed with.

:class:`PymcModel` wraps PyMC-Marketing's ``MMM`` with this engine's :class:`~.build.Record` (spend per week, geo and
channel; forecast-holdout and excluded cells; adstock settings; control kinds). After sampling, the record is stored
in the model's ``InferenceData`` (group ``mmm_meridian`` plus the JSON attribute ``mmm_meridian``), so
``mmm.save`` / ``MMM.load`` carry it.

:class:`Posterior` evaluates the model on posterior draws with numpy: media contribution per (draw, week, geo,
channel) for any scaling of the historical media, and the expected revenue (the likelihood's mean) per (draw, week,
geo). It is the same computation as PyMC-Marketing's graph (normalised adstock over ``l_max`` weeks, Michaelis-Menten
saturation, coefficient, intercept, controls, revenue scale), a test checks it against the model's own
``channel_contribution``; it needs no compilation, so the many plans of the optimize stage cost a numpy pass each.
Media contributions are in-sample: the carryover of the last weeks beyond the end of the data is not counted (as
Meridian's incremental outcome over the period).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from mmm_meridian.errors import MissingArtifactError, UserError
from mmm_meridian.models.pymc.build import GEO, Record

GROUP = "mmm_meridian"
RECORD_VERSION = 1
_CHUNK_CELLS = 4_000_000  # (draw x week x geo x channel) values per numpy chunk: bounds the memory of a pass


@dataclass
class PymcModel:
    """What :meth:`PymcEngine.build` and :meth:`PymcEngine.load` return."""

    mmm: Any = field(repr=False)  # pymc_marketing.mmm.multidimensional.MMM
    record: Record = field(repr=False)
    sampled: bool = False
    _posterior: Posterior | None = field(default=None, init=False, repr=False)
    # The compiled budget optimizer (:mod:`.budget`): its objective depends on the posterior draws, not on bounds
    # or budget, so the optimize stage's plans share one compilation.
    optimizer: Any = field(default=None, init=False, repr=False)

    @property
    def idata(self) -> Any:
        return self.mmm.idata

    def posterior(self) -> Posterior:
        """The forward pass on the current posterior draws (cached until :meth:`reset`)."""
        if not self.sampled:
            raise UserError("the PyMC model has not been sampled", where="train",
                            fix="call the engine's sample() before asking for answers")
        if self._posterior is None:
            self._posterior = Posterior(self)
        return self._posterior

    def reset(self) -> None:
        """Forget what was computed from the posterior draws (after sampling or thinning)."""
        self._posterior = None
        self.optimizer = None


def store_record(idata: Any, record: Record) -> None:
    """Write ``record`` into ``idata`` (group ``mmm_meridian`` and attribute ``mmm_meridian``)."""
    dims3, dims2 = ("date", GEO, "channel"), ("date", GEO)
    coords = {"date": record.times, GEO: record.geos, "channel": record.channels}
    data = xr.Dataset({"spend": (dims3, record.spend), "holdout": (dims2, record.holdout.astype(np.int8)),
                       "excluded": (dims2, record.excluded.astype(np.int8))}, coords=coords)
    if GROUP in idata.groups():
        del idata[GROUP]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ notes that the group is not in its schema
        idata.add_groups({GROUP: data})
    idata.attrs[GROUP] = json.dumps({
        "version": RECORD_VERSION, "channels": record.channels, "controls": record.controls,
        "control_kinds": record.control_kinds, "geos": record.geos, "times": record.times,
        "geo_model": record.geo_model, "adstock": record.adstock, "l_max": record.l_max,
        "adstock_first": record.adstock_first, "knots": record.knots, "roi_prior": record.roi_prior,
        "default_priors": record.default_priors})


def read_record(idata: Any, where: str) -> Record:
    """The record :func:`store_record` wrote (MissingArtifactError when the file was not saved by this engine)."""
    if GROUP not in idata.groups() or GROUP not in idata.attrs:
        raise MissingArtifactError("the saved PyMC model lacks this pipeline's record (group mmm_meridian)",
                                   where=where, fix="re-run `mmm train` with model.backend=pymc")
    meta = json.loads(idata.attrs[GROUP])
    if meta.get("version") != RECORD_VERSION:
        raise MissingArtifactError(f"the saved PyMC model's record has version {meta.get('version')}, expected "
                                   f"{RECORD_VERSION}", where=where, fix="re-run `mmm train`")
    data = idata[GROUP]
    return Record(channels=meta["channels"], controls=meta["controls"], control_kinds=meta["control_kinds"],
                  geos=meta["geos"], times=meta["times"], geo_model=meta["geo_model"],
                  spend=np.asarray(data["spend"], dtype=np.float64),
                  holdout=np.asarray(data["holdout"]).astype(bool), excluded=np.asarray(data["excluded"]).astype(bool),
                  adstock=meta["adstock"], l_max=int(meta["l_max"]), adstock_first=bool(meta["adstock_first"]),
                  knots=list(meta["knots"]), roi_prior=meta["roi_prior"],
                  default_priors=bool(meta["default_priors"]))


def _cube(values: xr.DataArray, order: tuple[str, ...], record: Record) -> np.ndarray:
    """``values`` as a numpy array in ``order``, labels in the record's order; a missing geo dim becomes length 1,
    and ArviZ's length-1 dims of stored scalars (e.g. ``target_scale_dim_0`` of a national model) are dropped."""
    values = _aligned(values.isel({d: 0 for d in values.dims if d not in order and values.sizes[d] == 1}), record)
    if GEO in order and GEO not in values.dims:
        values = values.expand_dims({GEO: 1})
    return np.asarray(values.transpose(*order).values, dtype=np.float64)


def _aligned(values: xr.DataArray, record: Record) -> xr.DataArray:
    """``values`` with its geo, channel and control labels in the record's order."""
    labels = {GEO: record.geos, "channel": record.channels, "control": record.controls}
    return values.sel({d: labels[d] for d in values.dims if d in labels and values.sizes[d] == len(labels[d])})


def adstock_weights(alpha: np.ndarray, l_max: int, kind: str) -> np.ndarray:
    """(draw, channel, lag) normalised adstock weights, PyMC-Marketing's geometric or binomial kernel."""
    lags = np.arange(l_max, dtype=np.float64)
    a = alpha[..., None]
    if kind == "binomial":
        w = np.power(1.0 - lags / (l_max + 1), 1.0 / a - 1.0)
    else:
        w = np.power(a, lags)
    return w / w.sum(axis=-1, keepdims=True)


def convolve(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Adstock along the week axis: ``x`` (draw|1, week, geo, channel), ``weights`` (draw, channel, lag)."""
    out = np.zeros(np.broadcast_shapes(x.shape, (weights.shape[0], 1, 1, weights.shape[1])))
    for lag in range(weights.shape[-1]):
        w = weights[:, None, None, :, lag]
        if lag == 0:
            out += w * x
        else:
            out[:, lag:] += w * x[:, :-lag]
    return out


class Posterior:
    """Posterior draws (flattened chain-major) and the data, as numpy arrays: see the module docstring."""

    def __init__(self, model: PymcModel) -> None:
        idata = model.idata
        post = idata.posterior
        record = model.record
        self.record = record
        self.n_chains, self.n_draws = int(post.sizes["chain"]), int(post.sizes["draw"])
        const = idata.constant_data
        order3, order2 = ("date", GEO, "channel"), ("date", GEO)
        media = _cube(const["channel_data"], order3, record)
        scale = _cube(const["channel_scale"], (GEO, "channel"), record)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.media_scaled = np.nan_to_num(media / np.where(scale > 0, scale, 1.0))  # (week, geo, channel)
        self.media = media
        self.target_scale = _cube(const["target_scale"], (GEO,), record)  # (geo,)
        self.revenue = _cube(const["target_data"], order2, record)  # (week, geo)
        self.controls = (_cube(const["control_data"], ("date", GEO, "control"), record) if "control_data" in const
                         else None)

        def draws(name: str, dims: tuple[str, ...]) -> np.ndarray:
            values = _aligned(post[name], record).stack(sample=("chain", "draw")).transpose("sample", ...)
            if GEO in dims and GEO not in values.dims:
                values = values.expand_dims({GEO: 1}, axis=1)
            return np.asarray(values.transpose("sample", *dims).values, dtype=np.float64)

        self.alpha = draws("adstock_alpha", ("channel",))
        self.lam = draws("saturation_lam", ("channel",))
        self.beta = draws("saturation_alpha", (GEO, "channel"))
        self.intercept = draws("intercept_contribution", (GEO,))
        self.sigma = draws("y_sigma", (GEO,))
        self.gamma = draws("gamma_control", (GEO, "control")) if self.controls is not None else None
        self.weights = adstock_weights(self.alpha, record.l_max, record.adstock)

    @property
    def n_samples(self) -> int:
        return self.alpha.shape[0]

    def contribution(self, ratio: np.ndarray | None = None, draws: np.ndarray | None = None,
                     reduce: str = "total") -> np.ndarray:
        """Media revenue with each channel's historical media scaled by ``ratio`` (None: as observed).

        Args:
            ratio: per-channel multiplier of the historical media (every week and geo).
            draws: indices of the posterior draws to use (None: all).
            reduce: "total": (draw, channel) summed over weeks and geos; "week": (draw, week, channel) summed over
                geos; "cells": (draw, week, geo) summed over channels; "none": (draw, week, geo, channel).
        """
        x = self.media_scaled if ratio is None else self.media_scaled * np.asarray(ratio, dtype=np.float64)
        index = np.arange(self.n_samples) if draws is None else np.asarray(draws)
        axes = {"total": (1, 2), "week": (2,), "cells": (3,), "none": ()}[reduce]
        size = max(1, _CHUNK_CELLS // max(1, x.size))  # draws per chunk
        parts = []
        for start in range(0, len(index), size):
            pick = index[start:start + size]
            lam, beta, w = self.lam[pick][:, None, None, :], self.beta[pick][:, None, :, :], self.weights[pick]
            if self.record.adstock_first:
                stocked = convolve(x[None], w)
                part = beta * stocked / (lam + stocked)
            else:
                part = beta * convolve(x[None] / (lam + x[None]), w)
            part = part * self.target_scale[None, None, :, None]
            parts.append(part.sum(axis=axes) if axes else part)
        return np.concatenate(parts, axis=0)

    def control_terms(self) -> np.ndarray | None:
        """(draw, week, geo, control) revenue effect of each control, or None without controls."""
        if self.controls is None or self.gamma is None:
            return None
        return (self.gamma[:, None, :, :] * self.controls[None]) * self.target_scale[None, None, :, None]

    def expected(self, draws: np.ndarray | None = None) -> np.ndarray:
        """(draw, week, geo) expected revenue: the likelihood's mean in money."""
        index = np.arange(self.n_samples) if draws is None else np.asarray(draws)
        media = self.contribution(draws=index, reduce="cells")
        base = self.intercept[index][:, None, :] * self.target_scale[None, None, :]
        total = media + base
        if self.controls is not None and self.gamma is not None:
            total = total + np.einsum("tgk,sgk->stg", self.controls, self.gamma[index]) * self.target_scale
        return total

    def baseline(self, draws: np.ndarray | None = None) -> np.ndarray:
        """(draw, week, geo) expected revenue without media (intercept, trend and controls)."""
        index = np.arange(self.n_samples) if draws is None else np.asarray(draws)
        base = np.broadcast_to(self.intercept[index][:, None, :], (len(index), *self.revenue.shape)).copy()
        if self.controls is not None and self.gamma is not None:
            base = base + np.einsum("tgk,sgk->stg", self.controls, self.gamma[index])
        return base * self.target_scale[None, None, :]


def check_loaded(model: Any) -> PymcModel:
    """``model`` as this engine's model (a clear error for another engine's object)."""
    if not isinstance(model, PymcModel):
        raise TypeError(f"the PyMC engine was given a {type(model).__name__}, not a model it built or loaded")
    return model
