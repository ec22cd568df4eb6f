"""The model's answer to each lift test: the ROI of a channel's spend in the test's weeks (and geo), on the Meridian engine.

Meridian's definition of a calibration period's ROI (``ModelSpec.roi_calibration``), which is also what an experiment
measures: the revenue caused by the channel's media run in the test's weeks, over every week of the model (the
carryover after the test included), divided by the channel's spend in those weeks. The numerator is
``Analyzer.incremental_outcome(media_selected_times=<test weeks>, selected_geos=<test geo>)``: the expected revenue
with the channel's historical media minus that with its media at zero in the test's weeks only. An R&F channel's
media is its reach (Meridian's ``by_reach``). A window covering every week gives the channel's ROI of the ROI table.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import ExperimentInput
from mmm_meridian.models.base import EXPERIMENT_ROI_COLUMNS
from mmm_meridian.models.meridian import adapter


def _test_geos(mmm: Any, test: ExperimentInput) -> list[str] | None:
    """Meridian's ``selected_geos`` for ``test``: None for a national test or a national model, else its geo.

    Raises:
        DataError: the test names a geo the model does not have.
    """
    geos = [str(g) for g in mmm.input_data.geo.values]
    if test.geo is None or str(test.geo) == "":
        return None
    # A national model's one geo is named by Meridian (national_geo), the data's by the pipeline (national).
    known = geos + ([cols.NATIONAL] if len(geos) == 1 else [])
    if str(test.geo) not in known:
        raise DataError(f"experiment row {test.row} ({test.channel}) is about geo {test.geo!r}, which the model does "
                        f"not have (its geos: {geos})", where="calibration.experiments",
                        fix="name one of the model's geos, or leave geo empty for a national test")
    return None if len(geos) == 1 else [str(test.geo)]


def _window_spend(mmm: Any, channel: int, weeks: list[str], geos: list[str] | None) -> float:
    """The channel's spend in ``weeks`` (and ``geos``; all when None).

    Raises:
        DataError: the data holds spend totals only (no weekly spend to take a window of).
    """
    spend = adapter.paid_spend(mmm)
    if spend.ndim != 3:
        raise DataError("the model's spend has no weeks, so an experiment's window has no spend",
                        where="features/model_inputs.parquet", fix="give spend per geo and week")
    all_geos = [str(g) for g in mmm.input_data.geo.values]
    times = [str(t) for t in mmm.input_data.time.values]
    rows = slice(None) if geos is None else [all_geos.index(g) for g in geos]
    columns = [times.index(w) for w in weeks]
    return float(spend[rows][:, columns, channel].sum())


def experiment_roi(mmm: Any, experiments: list[ExperimentInput]) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.EXPERIMENT_ROI_COLUMNS`, one row per experiment (see the module docstring).

    Tests sharing weeks and geo share one pass over the posterior.

    Raises:
        DataError: an experiment names a channel that is not a paid channel of the model, a geo it does not have, or
            weeks outside it.
    """
    channels = adapter.channel_names(mmm)
    times = [str(t) for t in mmm.input_data.time.values]
    tool = adapter.analyzer(mmm)
    passes: dict[tuple[tuple[str, ...], tuple[str, ...] | None], np.ndarray] = {}
    rows = []
    for test in experiments:
        if test.channel not in channels:
            raise DataError(f"experiment row {test.row} is about channel {test.channel!r}, which is not a paid channel "
                            f"of the model ({channels})", where="calibration.experiments",
                            fix="name a channel of data.channel_map")
        weeks = adapter.window_weeks([[test.start, test.end]], times)
        if not weeks:
            raise DataError(f"experiment row {test.row} ({test.channel}, {test.start}..{test.end}) covers none of the "
                            f"model's weeks ({times[0]}..{times[-1]})", where="calibration.experiments",
                            fix="give dates inside the modelled period")
        geos = _test_geos(mmm, test)
        key = (tuple(weeks), None if geos is None else tuple(geos))
        if key not in passes:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Meridian's notes on national models and deprecations
                draws = tool.incremental_outcome(media_selected_times=weeks, selected_geos=geos,
                                                 include_non_paid_channels=False)
            passes[key] = np.asarray(draws, dtype=np.float64).reshape(-1, len(channels))
        index = channels.index(test.channel)
        incremental = passes[key][:, index]
        spend = _window_spend(mmm, index, weeks, geos)
        roi = incremental / spend if spend > 0 else np.full_like(incremental, np.nan)
        rows.append({"row": test.row, "channel": test.channel, "spend": spend,
                     "model_incremental_revenue": float(incremental.mean()), "model_roi_mean": float(roi.mean()),
                     "model_roi_median": float(np.median(roi)), "model_roi_lo_90": float(np.quantile(roi, 0.05)),
                     "model_roi_hi_90": float(np.quantile(roi, 0.95))})
    return pd.DataFrame(rows, columns=list(EXPERIMENT_ROI_COLUMNS))
