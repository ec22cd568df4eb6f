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
from mmm_meridian.simulate.causes import experiments_frame

if TYPE_CHECKING:
    from mmm_meridian.simulate.spec import ChannelTruth, SimulationSpec

KEY_COLUMNS = ["mmm_timeseries_id", "organisation_id", "territory_name", "currency_code"]
NON_ADDITIVE_COLUMNS = {"promo_flag": "max", "avg_price": "mean"}
MEDIA_SUFFIXES = ("spend", "impressions", "clicks", "platform_revenue")
DAILY_FILE = "demo_daily.csv.gz"
TRUTH_FILE = "demo_truth.json"
RF_WEEKLY_FILE = "demo_rf_weekly.csv"  # only for a spec with reach-and-frequency channels
SERIES_WEEK = ["mmm_timeseries_id", "week_start"]
# Each kind of cause and the truth's key of its section.
KIND_KEYS = {"media": "channels", "rf": "rf_channels", "organic": "organic", "treatment": "treatments"}


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


def rf_effect(reach: np.ndarray, frequency: np.ndarray, decay: float, max_lag: int, ec: float, slope: float,
              beta: np.ndarray) -> np.ndarray:
    """Meridian's reach-and-frequency response per (series, week): ``beta * adstock(reach * hill(frequency))``.

    The order is Meridian's ``adstock_hill_rf``: the Hill curve acts on the raw frequency, its output multiplies
    reach, and the product is adstocked. A dark week (reach 0) contributes nothing whatever its frequency.

    Args:
        reach, frequency: weekly reach and average frequency, shape (series, week).
        decay, max_lag: geometric adstock rate and window.
        ec, slope: Hill parameters in frequency units.
        beta: effect scale per series.
    """
    shaped = np.asarray(reach, dtype=np.float64) * hill(np.asarray(frequency, dtype=np.float64), ec, slope)
    return np.asarray(beta, dtype=np.float64)[:, None] * geometric_adstock(shaped, decay, max_lag)


def organic_effect(volume: np.ndarray, decay: float, max_lag: int, ec_abs: np.ndarray, slope: float,
                   beta: np.ndarray) -> np.ndarray:
    """An organic medium's response per (series, week): ``beta * hill(adstock(volume))``, as paid media.

    Args:
        volume: weekly volume, shape (series, week).
        ec_abs: absolute half-saturation per series (in adstocked volume).
        beta: effect scale per series.
    """
    adstocked = geometric_adstock(np.asarray(volume, dtype=np.float64), decay, max_lag)
    return np.asarray(beta, dtype=np.float64)[:, None] * hill(adstocked, np.asarray(ec_abs)[:, None], slope)


def treatment_effect(values: np.ndarray, baseline_value: float, gamma: np.ndarray) -> np.ndarray:
    """A non-media treatment's response per (series, week): ``gamma * (value - baseline_value)`` (Meridian's
    linear non-media treatment effect, relative to its baseline value)."""
    return np.asarray(gamma, dtype=np.float64)[:, None] * (np.asarray(values, dtype=np.float64) - baseline_value)



def _switched_off(values: np.ndarray, off: np.ndarray | None, baseline: float = 0.0) -> np.ndarray:
    return values if off is None else np.where(off, baseline, values)


def channel_names_of(frame: pd.DataFrame) -> list[str]:
    """Channel names found in a frame's ``<channel>_spend`` columns, in column order."""
    return [c[: -len("_spend")] for c in frame.columns if c.endswith("_spend")]


def weekly_from_daily(daily: pd.DataFrame, non_additive: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Aggregates daily rows to weeks starting Monday: additive columns summed, money rounded to cents.

    ``non_additive``: further columns and how they aggregate, beside :data:`NON_ADDITIVE_COLUMNS`.
    """
    frame = daily.assign(week_start=daily["date_day"] - pd.to_timedelta(daily["date_day"].dt.dayofweek, unit="D"))
    value_cols = [c for c in daily.columns if c not in KEY_COLUMNS and c != "date_day"]
    rules = {**NON_ADDITIVE_COLUMNS, **(non_additive or {})}
    agg = {c: rules.get(c, "sum") for c in value_cols}
    weekly = frame.groupby(KEY_COLUMNS + ["week_start"], sort=False, as_index=False).agg(agg)
    money = [c for c in value_cols if c.endswith(("_price", "_spend", "_platform_revenue")) and c != "avg_price"]
    weekly[money] = weekly[money].round(2)
    return weekly


@dataclass
class SimulatedDataset:
    """Simulated data and its truth.

    Attributes:
        daily: one row per (series, day) in the Conjura eCommerce schema (plus, when the spec asks for them, a
            conversions KPI's ``conversions`` and ``revenue_per_conversion``, organic media's ``<name>_volume`` and
            each treatment's intensity under its name).
        truth: JSON-able truth (see :func:`mmm_meridian.simulate.simulate`).
        rf_weekly: reach-and-frequency channels' weekly ``<name>_spend``, ``<name>_reach`` and
            ``<name>_frequency`` per (``mmm_timeseries_id``, ``week_start``): weekly only, as reach does not add up
            over days; None without such channels.
    """

    daily: pd.DataFrame
    truth: dict
    rf_weekly: pd.DataFrame | None = None

    @cached_property
    def spec(self) -> SimulationSpec:
        """The spec the data were simulated from."""
        from mmm_meridian.simulate.spec import SimulationSpec

        return SimulationSpec.from_dict(self.truth["spec"])

    @cached_property
    def weekly(self) -> pd.DataFrame:
        """Weekly aggregate per series (``week_start`` = Monday), same columns as daily minus ``date_day``, then the
        reach-and-frequency channels' columns."""
        # Treatments and revenue per conversion are one value per week by construction: the week keeps it exactly.
        rules = {name: "first" for name in self.truth.get("treatments", {})}
        if self.kpi_type == "conversions":
            rules["revenue_per_conversion"] = "first"
        weekly = weekly_from_daily(self.daily, rules)
        if self.rf_weekly is None:
            return weekly
        rf = self.rf_weekly.assign(week_start=self.rf_weekly["week_start"].astype(weekly["week_start"].dtype))
        return weekly.merge(rf, on=SERIES_WEEK, how="left", validate="one_to_one")

    @property
    def kpi_type(self) -> str:
        """``revenue`` or ``conversions`` (see :class:`SimulationSpec`)."""
        return self.truth.get("kpi_type", "revenue")

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
        """True incremental revenue per impression channel (``truth["channels"]``; not the reach-and-frequency
        channels) over the period under a spend plan.

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

    # --- Every cause, recomputed from the weekly data and the truth's parameters (re-simulating the response) ---

    def weekly_values(self, column: str) -> np.ndarray:
        """A weekly column as an array (series, week), series in truth order."""
        frame = self.weekly.set_index(SERIES_WEEK).sort_index()
        return np.stack([frame.loc[sid, column].to_numpy(dtype=np.float64) for sid in self.truth["series"]])

    def value_per_kpi(self) -> np.ndarray:
        """Money per KPI unit per (series, week): a conversions KPI's revenue per conversion, else 1."""
        if self.kpi_type == "conversions":
            return self.weekly_values("revenue_per_conversion")
        return np.ones((len(self.truth["series"]), self.spec.n_weeks))

    def cause_kind(self, name: str) -> str:
        """``media`` (impressions channel), ``rf``, ``organic`` or ``treatment``.

        Raises:
            DataError: ``name`` is none of the simulated causes.
        """
        for kind, key in KIND_KEYS.items():
            if name in self.truth.get(key, {}):
                return kind
        known = [n for key in KIND_KEYS.values() for n in self.truth.get(key, {})]
        raise DataError(f"unknown cause {name!r}", where="SimulatedDataset", fix=f"use one of {known}")

    def _series_params(self, kind: str, name: str) -> dict[str, np.ndarray]:
        """The truth's per-series parameters of one cause, as arrays in series order."""
        key = "channels" if kind == "media" else KIND_KEYS[kind]
        rows = [self.truth["series"][sid][key][name] for sid in self.truth["series"]]
        return {p: np.array([np.nan if r[p] is None else r[p] for r in rows], dtype=np.float64) for p in rows[0]}

    def cause_contributions(self, name: str, off: np.ndarray | None = None) -> np.ndarray:
        """True KPI contribution per (series, week) of one cause, simulated again from the weekly data.

        Args:
            name: a paid channel, reach-and-frequency channel, organic medium or non-media treatment.
            off: booleans per (series, week) where the cause is switched off: media, reach and volume 0, a
                treatment at its baseline value. None: as observed.
        """
        kind = self.cause_kind(name)
        params = self._series_params(kind, name)
        if kind == "media":
            from mmm_meridian.simulate.spec import ChannelTruth

            channel = ChannelTruth(**self.truth["channels"][name])
            impressions = _switched_off(self.weekly_values(f"{name}_impressions"), off)
            return media_effect(impressions[:, None, :], [channel], ec_abs=params["ec_abs"][:, None],
                                beta=params["beta"][:, None])[:, 0]
        truth = self.truth[KIND_KEYS[kind]][name]
        if kind == "rf":
            reach = _switched_off(self.weekly_values(f"{name}_reach"), off)
            frequency = _switched_off(self.weekly_values(f"{name}_frequency"), off)
            return rf_effect(reach, frequency, truth["decay"], truth["max_lag"], truth["ec"], truth["slope"],
                             params["beta"])
        if kind == "organic":
            volume = _switched_off(self.weekly_values(f"{name}_volume"), off)
            return organic_effect(volume, truth["decay"], truth["max_lag"], params["ec_abs"], truth["slope"],
                                  params["beta"])
        values = _switched_off(self.weekly_values(name), off, truth["baseline_value"])
        return treatment_effect(values, truth["baseline_value"], params["gamma"])

    def window(self, start: str | None = None, end: str | None = None, geo: str | None = None) -> np.ndarray:
        """Booleans per (series, week): the weeks starting in ``[start, end]`` (ISO dates, inclusive; None: open)
        of the series in territory ``geo`` (None: every series)."""
        weeks = pd.date_range(self.spec.start, periods=self.spec.n_weeks, freq="7D")
        in_weeks = np.asarray((weeks >= pd.Timestamp(start or weeks[0])) & (weeks <= pd.Timestamp(end or weeks[-1])))
        territories = np.array([s["territory_name"] for s in self.truth["series"].values()])
        if geo is not None and geo not in territories:
            raise DataError(f"unknown geo {geo!r}", where="SimulatedDataset.window", fix=f"use one of {territories}")
        in_series = np.ones(len(territories), bool) if geo is None else territories == geo
        return in_series[:, None] & in_weeks[None, :]

    def incremental_revenue(self, name: str, start: str | None = None, end: str | None = None,
                            geo: str | None = None) -> float:
        """True revenue caused by ``name`` in a window: the revenue lost over the whole period (carryover into
        later weeks included) when it is switched off in the weeks and geo of :meth:`window`."""
        off = self.window(start, end, geo)
        lost = self.cause_contributions(name) - self.cause_contributions(name, off)
        return float((lost * self.value_per_kpi()).sum())

    def spend_in(self, channel: str, start: str | None = None, end: str | None = None,
                 geo: str | None = None) -> float:
        """A paid channel's spend in the weeks and geo of :meth:`window`."""
        return float(self.weekly_values(f"{channel}_spend")[self.window(start, end, geo)].sum())

    def experiments_frame(self) -> pd.DataFrame:
        """The lift tests' measurements in the experiments CSV format (see :func:`causes.experiments_frame`)."""
        return experiments_frame(self.truth.get("experiments", []))

    def to_json_truth(self) -> str:
        """The truth as deterministic JSON text (floats round-trip exactly)."""
        return json.dumps(self.truth, indent=1, sort_keys=True) + "\n"

    def daily_csv_gz(self) -> bytes:
        """The daily frame as gzip-compressed CSV bytes, identical for identical data (gzip mtime = 0)."""
        text = self.daily.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
        return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Writes ``demo_daily.csv.gz`` and ``demo_truth.json`` into ``out_dir`` (created if missing), and
        ``demo_rf_weekly.csv`` when there are reach-and-frequency channels."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        daily_path, truth_path = out / DAILY_FILE, out / TRUTH_FILE
        daily_path.write_bytes(self.daily_csv_gz())
        truth_path.write_text(self.to_json_truth(), encoding="utf-8")
        if self.rf_weekly is not None:
            self.rf_weekly.to_csv(out / RF_WEEKLY_FILE, index=False, date_format="%Y-%m-%d", lineterminator="\n")
        return daily_path, truth_path

    @classmethod
    def from_bytes(cls, daily_csv_gz: bytes, truth_json: str, rf_weekly_csv: str | None = None) -> SimulatedDataset:
        """Inverse of :meth:`daily_csv_gz` + :meth:`to_json_truth` (+ the R&F channels' weekly CSV text)."""
        daily = pd.read_csv(io.BytesIO(gzip.decompress(daily_csv_gz)), parse_dates=["date_day"],
                            float_precision="round_trip")
        rf_weekly = None if rf_weekly_csv is None else pd.read_csv(
            io.StringIO(rf_weekly_csv), parse_dates=["week_start"], float_precision="round_trip")
        return cls(daily=daily, truth=json.loads(truth_json), rf_weekly=rf_weekly)

    @classmethod
    def load(cls, in_dir: str | Path) -> SimulatedDataset:
        """Reads what :meth:`save` wrote."""
        path = Path(in_dir)
        rf_path = path / RF_WEEKLY_FILE
        return cls.from_bytes((path / DAILY_FILE).read_bytes(), (path / TRUTH_FILE).read_text(encoding="utf-8"),
                              rf_path.read_text(encoding="utf-8") if rf_path.exists() else None)
