"""Messy variants of clean simulated daily data, with an exact log of what was changed.

The validate/transform stages are tested on these: each defect touches rows no other defect touches, and the log
keeps the keys (series, day) of every touched row with the values it had before, so a repair can be checked
against :attr:`MessyResult.clean`.

Defects (applied in this order, whatever the order asked):

- ``correlated_pair``: one channel's spend is rewritten as ~0.98 correlated with another's (impressions, clicks and
  platform revenue follow at the series' own CPM/CTR/ROAS). Changes the clean reference too: it is a property of
  the data, not an error to repair.
- ``paused_nan``: a channel's spend, impressions and clicks are NaN for a stretch of days where the clean data has
  them all 0 (a paused channel). A dark stretch of the clean data is used; when none is long enough, the stretch is
  zeroed in the clean reference first (``details["zeroed_in_clean"]``).
- ``outage_gap``: impressions and clicks NaN while spend continues (``kind="impressions"``), and/or spend NaN while
  impressions continue (``kind="spend"``), for a few consecutive live days.
- ``revenue_spike_promo`` / ``revenue_spike_non_promo``: revenue multiplied (default 5x) on a few days inside /
  outside promo weeks.
- ``conflicting_duplicates``: a second row for the same (series, day) with different revenue and spend.
- ``split_duplicates``: a row split into two rows whose additive columns sum exactly to the original.
- ``exact_duplicates``: a row repeated verbatim.
- ``missing_weeks``: whole Monday-Sunday weeks of one series removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmm_meridian.errors import ConfigError, DataError
from mmm_meridian.simulate.dataset import NON_ADDITIVE_COLUMNS, channel_names_of

DEFECTS = (
    "correlated_pair", "paused_nan", "outage_gap", "revenue_spike_promo", "revenue_spike_non_promo",
    "conflicting_duplicates", "split_duplicates", "exact_duplicates", "missing_weeks",
)
DEFAULT_OPTS: dict[str, object] = {
    "n_rows": 3,  # rows per duplicate defect
    "n_missing_weeks": 2,
    "paused_days": 7,
    "paused_channel": None,  # None: drawn at random
    "outage_days": 4,
    "outage_kind": "both",  # "impressions", "spend" or "both"
    "spike_days": 3,
    "spike_factor": 5.0,
    "pair": ("meta_facebook", "meta_instagram"),  # (leader, follower): the follower's spend is rewritten
    "pair_noise": 0.2,  # daily lognormal sigma: weekly corr ~0.98-0.99, daily ~0.94
}
KEY = ["mmm_timeseries_id", "date_day"]
REVENUE = "all_purchases_original_price"


@dataclass(frozen=True)
class DefectLog:
    """What one defect did.

    Attributes:
        defect: the defect name.
        description: one line in words.
        rows: keys (``mmm_timeseries_id``, ``date_day``) of every clean row touched, one row each.
        columns: the columns whose values were changed (empty: whole rows added or removed).
        original: the touched rows as they were before the defect (all columns).
        details: defect specific facts (factors, channel, kind, added rows ...).
    """

    defect: str
    description: str
    rows: pd.DataFrame
    columns: tuple[str, ...]
    original: pd.DataFrame
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MessyResult:
    """A messy frame, its log per defect, and the clean reference a repair should reproduce."""

    data: pd.DataFrame
    log: dict[str, DefectLog]
    clean: pd.DataFrame


class _Messer:
    """Applies defects to a copy of the data, keeping the touched keys disjoint across defects."""

    def __init__(self, daily: pd.DataFrame, seed: int, opts: dict) -> None:
        order = {sid: i for i, sid in enumerate(pd.unique(daily["mmm_timeseries_id"]))}
        self.clean = daily.sort_values(KEY, key=lambda s: s.map(order) if s.name == KEY[0] else s,
                                       kind="stable").reset_index(drop=True)
        self.rng = np.random.default_rng(seed)
        self.opts = opts
        self.channels = channel_names_of(daily)
        self.touched = np.zeros(len(self.clean), dtype=bool)
        self.log: dict[str, DefectLog] = {}
        self.data: pd.DataFrame | None = None
        self.added: list[pd.DataFrame] = []
        self.removed: list[int] = []

    def _pick(self, mask: np.ndarray, n: int, defect: str) -> np.ndarray:
        candidates = np.flatnonzero(mask & ~self.touched)
        if len(candidates) < n:
            raise DataError(f"only {len(candidates)} rows qualify for {defect}, {n} needed", where="make_messy",
                            fix="use fewer rows or longer data")
        picked = np.sort(self.rng.choice(candidates, size=n, replace=False))
        self.touched[picked] = True
        return picked

    def _pick_window(self, ok: np.ndarray, length: int, defect: str) -> np.ndarray:
        """Positions of ``length`` consecutive days of one series where ``ok`` holds."""
        ok = ok & ~self.touched
        series = self.clean["mmm_timeseries_id"].to_numpy()
        same = np.r_[False, series[1:] == series[:-1]]  # a window must not cross series
        starts = [i for i in range(len(ok) - length + 1)
                  if ok[i:i + length].all() and same[i + 1:i + length].all()]
        if not starts:
            raise DataError(f"no {length}-day stretch qualifies for {defect}", where="make_messy",
                            fix="use a shorter stretch")
        start = starts[self.rng.integers(len(starts))]
        window = np.arange(start, start + length)
        self.touched[window] = True
        return window

    def _record(self, defect: str, description: str, positions: np.ndarray, columns: Sequence[str],
                before: pd.DataFrame | None = None, **details: object) -> None:
        original = (self.clean if before is None else before).loc[positions].reset_index(drop=True)
        self.log[defect] = DefectLog(defect, description, original[KEY].copy(), tuple(columns), original, details)

    # Defects that change the clean reference.

    def correlated_pair(self) -> None:
        leader, follower = self.opts["pair"]
        for name in (leader, follower):
            if name not in self.channels:
                raise ConfigError(f"unknown channel {name!r} in pair", where="make_messy(pair=...)",
                                  fix=f"use channels from {self.channels}")
        before = self.clean.copy()
        sums = self.clean.groupby("mmm_timeseries_id", sort=False)

        def ratio(num: str, den: str) -> pd.Series:  # per-series total ratio, broadcast to rows
            return self.clean["mmm_timeseries_id"].map(sums[num].sum() / sums[den].sum())

        spend_ratio = ratio(f"{follower}_spend", f"{leader}_spend")
        noise = np.exp(self.opts["pair_noise"] * self.rng.standard_normal(len(self.clean)))
        spend = (self.clean[f"{leader}_spend"] * spend_ratio * noise).round(2)
        impressions = (spend * ratio(f"{follower}_impressions", f"{follower}_spend")).round()
        clicks = (impressions * ratio(f"{follower}_clicks", f"{follower}_impressions")).round()
        platform = (spend * ratio(f"{follower}_platform_revenue", f"{follower}_spend")).round(2)
        dtypes = self.clean.dtypes
        for suffix, values in (("spend", spend), ("impressions", impressions), ("clicks", clicks),
                               ("platform_revenue", platform)):
            col = f"{follower}_{suffix}"
            self.clean[col] = values.fillna(0).astype(dtypes[col])
        columns = [f"{follower}_{s}" for s in ("spend", "impressions", "clicks", "platform_revenue")]
        self._record("correlated_pair", f"{follower} spend rewritten as {leader} spend x ratio x noise",
                     np.arange(len(self.clean)), columns, before=before, leader=leader, follower=follower)

    def paused_prepare(self) -> None:
        channel = self.opts["paused_channel"] or self.channels[self.rng.integers(len(self.channels))]
        if channel not in self.channels:
            raise ConfigError(f"unknown paused_channel {channel!r}", where="make_messy(paused_channel=...)",
                              fix=f"use one of {self.channels}")
        cols = [f"{channel}_{s}" for s in ("spend", "impressions", "clicks")]
        length = int(self.opts["paused_days"])
        dark = (self.clean[cols] == 0).all(axis=1).to_numpy()
        before = self.clean.copy()
        try:
            window, zeroed = self._pick_window(dark, length, "paused_nan"), False
        except DataError:
            window, zeroed = self._pick_window(np.ones(len(dark), dtype=bool), length, "paused_nan"), True
            self.clean.loc[window, cols + [f"{channel}_platform_revenue"]] = 0
        self._paused = (window, cols)
        self._record("paused_nan", f"{channel} paused: spend, impressions and clicks NaN where truly 0",
                     window, cols, before=before, channel=channel, zeroed_in_clean=zeroed,
                     series=self.clean.at[window[0], "mmm_timeseries_id"],
                     start=self.clean.at[window[0], "date_day"], end=self.clean.at[window[-1], "date_day"])

    # Defects that only change the messy copy.

    def paused_nan(self) -> None:
        window, cols = self._paused
        self.data[cols] = self.data[cols].astype("float64")
        self.data.loc[window, cols] = np.nan

    def outage_gap(self) -> None:
        kind = self.opts["outage_kind"]
        if kind not in ("impressions", "spend", "both"):
            raise ConfigError(f"outage_kind {kind!r}", where="make_messy(outage_kind=...)",
                              fix="use 'impressions', 'spend' or 'both'")
        kinds = ["impressions", "spend"] if kind == "both" else [kind]
        channels = self.rng.choice(self.channels, size=len(kinds), replace=False)
        gaps, positions, columns = [], [], []
        for gap_kind, channel in zip(kinds, channels, strict=True):
            live = ((self.clean[f"{channel}_spend"] > 0) & (self.clean[f"{channel}_impressions"] > 0)).to_numpy()
            window = self._pick_window(live, int(self.opts["outage_days"]), "outage_gap")
            cols = [f"{channel}_impressions", f"{channel}_clicks"] if gap_kind == "impressions" \
                else [f"{channel}_spend"]
            self.data[cols] = self.data[cols].astype("float64")
            self.data.loc[window, cols] = np.nan
            gaps.append({"kind": gap_kind, "channel": str(channel), "columns": cols,
                         "series": self.clean.at[window[0], "mmm_timeseries_id"],
                         "start": self.clean.at[window[0], "date_day"], "end": self.clean.at[window[-1], "date_day"]})
            positions.extend(window)
            columns.extend(cols)
        self._record("outage_gap", "tracking outage: impressions/clicks or spend NaN while the other continues",
                     np.array(positions), columns, gaps=gaps)

    def _spike(self, defect: str, promo: int) -> None:
        ok = ((self.clean["promo_flag"] == promo) & (self.clean[REVENUE] > 0)).to_numpy()
        picked = self._pick(ok, int(self.opts["spike_days"]), defect)
        factor = float(self.opts["spike_factor"])
        self.data.loc[picked, REVENUE] = self.clean.loc[picked, REVENUE] * factor
        where = "inside" if promo else "outside"
        self._record(defect, f"revenue x{factor} on days {where} promo weeks", picked, [REVENUE], factor=factor)

    def revenue_spike_promo(self) -> None:
        self._spike("revenue_spike_promo", 1)

    def revenue_spike_non_promo(self) -> None:
        self._spike("revenue_spike_non_promo", 0)

    def conflicting_duplicates(self) -> None:
        picked = self._pick(np.ones(len(self.clean), dtype=bool), int(self.opts["n_rows"]), "conflicting_duplicates")
        extra = self.clean.loc[picked].copy()
        factors = self.rng.uniform(1.1, 1.5, size=len(picked))
        channels = self.rng.choice(self.channels, size=len(picked))
        extra[REVENUE] = (extra[REVENUE] * factors).round(2)
        for label, channel, factor in zip(extra.index, channels, factors, strict=True):
            col = f"{channel}_spend"
            extra.loc[label, col] = round(extra.loc[label, col] * factor + 1.0, 2)  # +1 so zero spend differs too
        self.added.append(extra)
        columns = [REVENUE] + sorted({f"{c}_spend" for c in channels})
        self._record("conflicting_duplicates", "a second row per key with revenue and one spend changed",
                     picked, columns, factors=factors.tolist(), channels=[str(c) for c in channels],
                     conflicting_rows=extra.reset_index(drop=True))

    def split_duplicates(self) -> None:
        picked = self._pick(np.ones(len(self.clean), dtype=bool), int(self.opts["n_rows"]), "split_duplicates")
        additive = [c for c in self.clean.select_dtypes("number").columns if c not in NON_ADDITIVE_COLUMNS]
        # f >= 0.5 makes original - part exact in floating point (Sterbenz), so the two parts sum exactly back.
        fractions = self.rng.uniform(0.5, 0.7, size=len(picked))
        first = self.clean.loc[picked].copy()
        second = first.copy()
        for col in additive:
            values = self.clean.loc[picked, col]
            part = values * fractions
            part = np.floor(part).astype(values.dtype) if pd.api.types.is_integer_dtype(values) else part
            first[col], second[col] = part, values - part
        self.data.loc[picked] = first
        self.added.append(second)
        self._record("split_duplicates", "a row split into two rows whose additive columns sum to the original",
                     picked, additive, fractions=fractions.tolist())

    def exact_duplicates(self) -> None:
        picked = self._pick(np.ones(len(self.clean), dtype=bool), int(self.opts["n_rows"]), "exact_duplicates")
        self.added.append(self.clean.loc[picked].copy())
        self._record("exact_duplicates", "a row repeated verbatim", picked, [], copies=1)

    def missing_weeks(self) -> None:
        week = self.clean["date_day"] - pd.to_timedelta(self.clean["date_day"].dt.dayofweek, unit="D")
        groups = pd.Series(~self.touched).groupby([self.clean["mmm_timeseries_id"], week], sort=False)
        complete = groups.agg(["all", "size"])
        # Interior weeks only, so the gap is a hole and not a shorter series.
        complete = complete[complete["all"] & (complete["size"] == 7)]
        complete = complete.groupby(level=0, group_keys=False).apply(lambda g: g.iloc[1:-1])
        series = complete.index.get_level_values(0).unique()
        chosen_series = series[self.rng.integers(len(series))]
        weeks = complete.loc[chosen_series].index
        n = int(self.opts["n_missing_weeks"])
        if len(weeks) < n:
            raise DataError(f"only {len(weeks)} weeks can be removed, {n} asked", where="make_messy")
        dropped = np.sort(self.rng.choice(weeks.to_numpy(), size=n, replace=False))
        positions = np.flatnonzero(((self.clean["mmm_timeseries_id"] == chosen_series)
                                    & week.isin(dropped)).to_numpy())
        self.touched[positions] = True
        self.removed.extend(positions)
        self._record("missing_weeks", "whole weeks of one series removed", positions, [],
                     series=chosen_series, weeks=[pd.Timestamp(w) for w in dropped])

    def run(self, defects: Sequence[str]) -> MessyResult:
        if "correlated_pair" in defects:
            self.correlated_pair()
        if "paused_nan" in defects:
            self.paused_prepare()
        self.data = self.clean.copy()
        for defect in DEFECTS[2:]:
            if defect in defects:
                getattr(self, defect)()
        if "paused_nan" in defects:
            self.paused_nan()
        data = self.data.drop(index=self.removed)
        data = pd.concat([data, *self.added]) if self.added else data
        # Extra rows sit next to their originals (stable sort on the clean position) as an export would have them.
        data = data.sort_index(kind="stable").reset_index(drop=True)
        return MessyResult(data=data, log=self.log, clean=self.clean)


def make_messy(daily: pd.DataFrame, defects: Sequence[str], seed: int, **opts: object) -> MessyResult:
    """Applies data defects to clean daily data and logs exactly what was changed.

    Args:
        daily: clean daily frame from :func:`mmm_meridian.simulate.simulate` (one row per series and day).
        defects: names from :data:`DEFECTS`; each is applied once, to rows no other defect touches.
        seed: seed of the random choices; the same inputs give the same result.
        **opts: overrides of :data:`DEFAULT_OPTS` (e.g. ``spike_factor=10``, ``pair=("tiktok", "google_video")``).

    Returns:
        The messy frame, a log per defect, and the clean reference (which differs from ``daily`` only for
        ``correlated_pair`` and a zeroed ``paused_nan`` stretch).

    Raises:
        ConfigError: unknown defect or option, or an invalid option value.
        DataError: the data has too few qualifying rows for a defect.
    """
    unknown = sorted(set(defects) - set(DEFECTS))
    if unknown:
        raise ConfigError(f"unknown defects {unknown}", where="make_messy(defects)", fix=f"use names from {DEFECTS}")
    bad_opts = sorted(set(opts) - set(DEFAULT_OPTS))
    if bad_opts:
        raise ConfigError(f"unknown options {bad_opts}", where="make_messy(**opts)",
                          fix=f"use options from {sorted(DEFAULT_OPTS)}")
    return _Messer(daily, seed, {**DEFAULT_OPTS, **opts}).run(list(defects))
