"""The lift tests (``calibration.experiments``) against the data: each bad row stops the run (exit 2), naming the row.

Unlike the data-quality checks, these are not scored: a test the model cannot be calibrated with is a mistake in the
experiments file, and calibrating with it anyway would put a wrong prior in the model. The rules, per row in order:

- ``channel`` is a paid channel of ``data.channel_map``;
- ``geo`` is one of the data's geos (a geo model), or empty (a national model has no geos to test in);
- ``start`` is not after ``end``, and both lie within the data's weeks (the first week's start to the last week's
  start + 6 days);
- the standard error is above zero, and so is the measured ROI or incremental revenue (Meridian's ROI prior is
  LogNormal, which has no mass at or below zero);
- the channel spent something in the test's weeks and geo (otherwise its ROI is undefined);
- no two tests of one channel cover a common week in the same geo, and a national test shares no week with any other
  test of its channel (the same weeks would be calibrated twice).

A test covers the model weeks whose 7 days overlap its dates (see :mod:`mmm_meridian.tables.experiments`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import DataError
from mmm_meridian.tables.experiments import WEEK_DAYS, covered_weeks, source_label, spend_in_weeks


def _day(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).date().isoformat()


def _describe(test: Any) -> str:
    where = "national" if test.geo is None else f"geo {test.geo!r}"
    return f"{_day(test.start)}..{_day(test.end)}, {where}"


def check_experiments(rows: pd.DataFrame, weekly: pd.DataFrame, cfg: MMMConfig,
                      source: dict[str, Any]) -> dict[str, Any]:
    """Check every test against the weekly table (``ingest/weekly.parquet``) and the config.

    Returns:
        The ``experiments`` section of ``validation_report.json``: the source, the number of tests, and per channel
        its tests' rows, weeks and spend.

    Raises:
        DataError: the first row breaking a rule (module docstring), with one line naming it, the problem and the fix.
    """
    where = source_label(source)
    channels = list(cfg.data.channel_map)
    geos = sorted(weekly[F.GEO].astype(str).unique())
    national_model = len(geos) == 1 and geos[0] == F.NATIONAL
    weeks = pd.DatetimeIndex(pd.to_datetime(weekly[F.TIME]).unique()).sort_values()
    first_day, last_day = weeks[0], weeks[-1] + WEEK_DAYS
    covered: dict[int, list[pd.Timestamp]] = {}
    per_channel: dict[str, dict[str, Any]] = {}
    for test in rows.itertuples(index=False):
        prefix = f"experiment row {test.row}"
        if test.channel not in channels:
            raise DataError(f"{prefix}: channel {test.channel!r} is not a paid channel of the data "
                            f"(data.channel_map: {channels})", where=where,
                            fix="name the channel as data.channel_map does, or drop the row")
        if test.geo is not None and national_model:
            raise DataError(f"{prefix}: geo {test.geo!r} given, but the model is national (one series, no geos)",
                            where=where, fix="leave geo empty for a test of a national model")
        if test.geo is not None and test.geo not in geos:
            raise DataError(f"{prefix}: geo {test.geo!r} is not a geo of the data (geos: {geos[:10]}"
                            f"{' ...' if len(geos) > 10 else ''})", where=where,
                            fix="use the geo's value as it appears in data.geo_col, or leave geo empty for a "
                                "national test")
        if test.start > test.end:
            raise DataError(f"{prefix}: start {_day(test.start)} is after end {_day(test.end)}", where=where,
                            fix="swap them: start is the test's first day, end its last (inclusive)")
        if test.start < first_day or test.end > last_day:
            raise DataError(f"{prefix}: the test ({_day(test.start)}..{_day(test.end)}) is not within the data's weeks "
                            f"({_day(first_day)}..{_day(last_day)})", where=where,
                            fix="check the test's dates (in the data's calendar), or drop a test the data does not "
                                "cover")
        value_column, se_column = (("roi", "roi_se") if test.measured == "roi"
                                   else ("incremental_revenue", "incremental_revenue_se"))
        se, value = getattr(test, se_column), getattr(test, value_column)
        if se <= 0:
            raise DataError(f"{prefix}: {se_column} is {se:g}; a standard error must be above zero", where=where,
                            fix=f"give the test's standard error (a measurement without uncertainty cannot be "
                                f"weighed against the data); if unknown, use a generous one such as half the "
                                f"{value_column}")
        if value <= 0:
            raise DataError(f"{prefix}: {value_column} is {value:g}; it must be above zero", where=where,
                            fix="Meridian's ROI prior is LogNormal, which has no mass at or below zero: drop a test "
                                "that found no positive effect, or record its upper bound knowingly as a small "
                                "positive value with a wide standard error")
        test_weeks = covered_weeks(test.start, test.end, weeks)
        spend = spend_in_weeks(weekly, test.channel, test.geo, test_weeks)
        if not spend > 0:
            raise DataError(f"{prefix}: channel {test.channel!r} has no spend in the test's weeks "
                            f"({_describe(test)}), so its ROI is undefined", where=where,
                            fix="check the channel, dates and geo of the test against the data")
        for other in rows[rows["row"].isin(covered) & (rows["channel"] == test.channel)].itertuples(index=False):
            same_place = other.geo is None or test.geo is None or other.geo == test.geo
            shared = sorted(set(covered[other.row]) & set(test_weeks))
            if same_place and shared:
                raise DataError(f"{prefix}: the {test.channel!r} test ({_describe(test)}) shares "
                                f"{len(shared)} week(s) from {_day(shared[0])} with row {other.row} "
                                f"({_describe(other)})", where=where,
                                fix="merge overlapping tests of one channel into one row, or make their weeks "
                                    "disjoint (a test covers every model week its dates touch; a national test "
                                    "covers every geo)")
        covered[test.row] = test_weeks
        entry = per_channel.setdefault(test.channel, {"tests": 0, "rows": [], "weeks": 0, "spend": 0.0})
        entry["tests"] += 1
        entry["rows"].append(int(test.row))
        entry["weeks"] += len(test_weeks)
        entry["spend"] += spend
    return {"source": source, "tests": int(len(rows)), "per_channel": per_channel}


def no_experiments() -> dict[str, Any]:
    """The ``experiments`` section when ``calibration.experiments`` is not set."""
    return {"source": None, "tests": 0, "per_channel": {}}
