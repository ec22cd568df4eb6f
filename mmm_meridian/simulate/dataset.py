"""The simulated dataset: daily data, weekly aggregate, truth, and the true response to any spend plan."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from mmm_meridian.errors import DataError

if TYPE_CHECKING:
    from mmm_meridian.simulate.spec import ChannelTruth, SimulationSpec

KEY_COLUMNS = ["mmm_timeseries_id", "organisation_id", "territory_name", "currency_code"]
NON_ADDITIVE_COLUMNS = {"promo_flag": "max", "avg_price": "mean"}
MEDIA_SUFFIXES = ("spend", "impressions", "clicks", "platform_revenue")
DAILY_FILE = "demo_daily.csv.gz"
TRUTH_FILE = "demo_truth.json"


def geometric_adstock(media: np.ndarray, decay: float, max_lag: int) -> np.ndarray:
    """Meridian's geometric adstock along the last axis: weights ``decay**l / sum`` for l in 0..max_lag.

    Media before the first period is taken as zero, as Meridian does when no lagged media is given.
    """
    window = min(max_lag + 1, media.shape[-1])
    weights = decay ** np.arange(window)
    return lfilter(weights / weights.sum(), [1.0], media, axis=-1)


def hill(media: np.ndarray, ec: np.ndarray | float, slope: np.ndarray | float) -> np.ndarray:
    """Meridian's Hill curve ``x**s / (x**s + ec**s)``."""
    powered = media**slope
    return powered / (powered + np.asarray(ec) ** slope)


def media_effect(impressions: np.ndarray, channels: Sequence[ChannelTruth], ec_abs: np.ndarray,
                 beta: np.ndarray, saturate: bool = True) -> np.ndarray:
    """``beta * hill(adstock(impressions))`` per (series, channel, week).

    Args:
        impressions: weekly impressions, shape (series, channel, week).
        channels: the true channel parameters, in axis-1 order.
        ec_abs: absolute half-saturation per (series, channel).
        beta: effect scale per (series, channel).
        saturate: False returns ``beta * adstock`` (used to find the adstock level the ec fraction refers to).
    """
    out = np.empty(impressions.shape, dtype=np.float64)
    for j, channel in enumerate(channels):
        adstocked = geometric_adstock(impressions[:, j], channel.decay, channel.max_lag)
        shaped = hill(adstocked, ec_abs[:, j, None], channel.slope) if saturate else adstocked
        out[:, j] = beta[:, j, None] * shaped
    return out



def channel_names_of(frame: pd.DataFrame) -> list[str]:
    """Channel names found in a frame's ``<channel>_spend`` columns, in column order."""
    return [c[: -len("_spend")] for c in frame.columns if c.endswith("_spend")]


def weekly_from_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """Aggregates daily rows to weeks starting Monday: additive columns summed, money rounded to cents."""
    frame = daily.assign(week_start=daily["date_day"] - pd.to_timedelta(daily["date_day"].dt.dayofweek, unit="D"))
    value_cols = [c for c in daily.columns if c not in KEY_COLUMNS and c != "date_day"]
    agg = {c: NON_ADDITIVE_COLUMNS.get(c, "sum") for c in value_cols}
    weekly = frame.groupby(KEY_COLUMNS + ["week_start"], sort=False, as_index=False).agg(agg)
    money = [c for c in value_cols if c.endswith(("_price", "_spend", "_platform_revenue")) and c != "avg_price"]
    weekly[money] = weekly[money].round(2)
    return weekly


@dataclass
class SimulatedDataset:
    """Simulated data and its truth.

    Attributes:
        daily: one row per (series, day) in the Conjura eCommerce schema.
        truth: JSON-able truth (see :func:`mmm_meridian.simulate.simulate`).
    """

    daily: pd.DataFrame
    truth: dict

    @cached_property
    def spec(self) -> SimulationSpec:
        """The spec the data were simulated from."""
        from mmm_meridian.simulate.spec import SimulationSpec

        return SimulationSpec.from_dict(self.truth["spec"])

    @cached_property
    def weekly(self) -> pd.DataFrame:
        """Weekly aggregate per series (``week_start`` = Monday), same columns as daily minus ``date_day``."""
        return weekly_from_daily(self.daily)

    @cached_property
    def weekly_contributions(self) -> pd.DataFrame:
        """True incremental revenue per (series, week_start, channel)."""
        frame = pd.DataFrame(self.truth["weekly_contributions"])
        return frame.assign(week_start=pd.to_datetime(frame["week_start"]))

    @cached_property
    def weekly_baseline(self) -> pd.DataFrame:
        """True non-media revenue per (series, week_start); revenue = baseline + sum of contributions."""
        frame = pd.DataFrame(self.truth["weekly_baseline"])
        return frame.assign(week_start=pd.to_datetime(frame["week_start"]))

    def _series_index(self, series: str | None) -> list[int]:
        ids = list(self.truth["series"])
        if series is None:
            return list(range(len(ids)))
        if series not in ids:
            raise DataError(f"unknown series {series!r}", where="expected_revenue(series=...)",
                            fix=f"use one of {ids} or None for all")
        return [ids.index(series)]

    def _weekly_array(self, suffix: str) -> np.ndarray:
        """Weekly ``<channel>_<suffix>`` as an array (series, channel, week) in truth order."""
        names, ids = list(self.truth["channels"]), list(self.truth["series"])
        frame = self.weekly.set_index(["mmm_timeseries_id", "week_start"]).sort_index()
        cols = [f"{c}_{suffix}" for c in names]
        return np.stack([frame.loc[sid, cols].to_numpy(dtype=np.float64).T for sid in ids])

    def current_spend(self, series: str | None = None) -> dict[str, float]:
        """Observed total spend per channel over the period (all series, or one)."""
        spend = self._weekly_array("spend")[self._series_index(series)].sum(axis=(0, 2))
        return {name: float(spend[j]) for j, name in enumerate(self.truth["channels"])}

    def expected_contributions(self, spend_plan: Mapping[str, float], series: str | None = None) -> dict[str, float]:
        """True incremental revenue per channel over the period under a spend plan.

        Each channel's observed weekly spend (and so its impressions) is scaled by one factor so that its total
        over the selected series equals ``spend_plan[channel]``; adstock and Hill are recomputed with the true
        parameters. Channels missing from the plan keep their observed spend.

        Args:
            spend_plan: total spend per channel over the whole period.
            series: one ``mmm_timeseries_id``, or None for all series together.

        Raises:
            DataError: unknown channel or series, negative spend, or spend on a channel never observed live.
        """
        names = list(self.truth["channels"])
        unknown = sorted(set(spend_plan) - set(names))
        if unknown:
            raise DataError(f"unknown channels {unknown} in spend plan", where="expected_revenue(spend_plan)",
                            fix=f"use channels from {names}")
        idx = self._series_index(series)
        current = self.current_spend(series)
        factors = np.ones(len(names))
        for j, name in enumerate(names):
            if name not in spend_plan:
                continue
            planned = float(spend_plan[name])
            if not np.isfinite(planned) or planned < 0:
                raise DataError(f"spend for {name} is {planned}", where="expected_revenue(spend_plan)",
                                fix="give a finite spend >= 0")
            if current[name] == 0 and planned > 0:
                raise DataError(f"{name} has no observed spend to scale", where="expected_revenue(spend_plan)")
            factors[j] = planned / current[name] if current[name] else 0.0
        impressions = self._weekly_array("impressions")[idx] * factors[None, :, None]
        from mmm_meridian.simulate.spec import ChannelTruth

        channels = [ChannelTruth(**self.truth["channels"][n]) for n in names]
        series_truth = [self.truth["series"][sid]["channels"] for sid in np.array(list(self.truth["series"]))[idx]]
        ec_abs = np.array([[s[n]["ec_abs"] for n in names] for s in series_truth])
        beta = np.array([[s[n]["beta"] for n in names] for s in series_truth])
        effect = media_effect(impressions, channels, ec_abs=ec_abs, beta=beta).sum(axis=(0, 2))
        return {name: float(effect[j]) for j, name in enumerate(names)}

    def expected_revenue(self, spend_plan: Mapping[str, float], series: str | None = None) -> float:
        """True total incremental media revenue over the period under a spend plan.

        See :meth:`expected_contributions`; at the observed totals this equals the sum of the true contributions.
        """
        return float(sum(self.expected_contributions(spend_plan, series).values()))

    def to_json_truth(self) -> str:
        """The truth as deterministic JSON text (floats round-trip exactly)."""
        return json.dumps(self.truth, indent=1, sort_keys=True) + "\n"

    def daily_csv_gz(self) -> bytes:
        """The daily frame as gzip-compressed CSV bytes, identical for identical data (gzip mtime = 0)."""
        text = self.daily.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
        return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Writes ``demo_daily.csv.gz`` and ``demo_truth.json`` into ``out_dir`` (created if missing)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        daily_path, truth_path = out / DAILY_FILE, out / TRUTH_FILE
        daily_path.write_bytes(self.daily_csv_gz())
        truth_path.write_text(self.to_json_truth(), encoding="utf-8")
        return daily_path, truth_path

    @classmethod
    def from_bytes(cls, daily_csv_gz: bytes, truth_json: str) -> SimulatedDataset:
        """Inverse of :meth:`daily_csv_gz` + :meth:`to_json_truth`."""
        daily = pd.read_csv(io.BytesIO(gzip.decompress(daily_csv_gz)), parse_dates=["date_day"],
                            float_precision="round_trip")
        return cls(daily=daily, truth=json.loads(truth_json))

    @classmethod
    def load(cls, in_dir: str | Path) -> SimulatedDataset:
        """Reads what :meth:`save` wrote."""
        path = Path(in_dir)
        return cls.from_bytes((path / DAILY_FILE).read_bytes(), (path / TRUTH_FILE).read_text(encoding="utf-8"))
