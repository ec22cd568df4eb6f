"""Lift tests (``calibration.experiments``): the file format, its strict parser, and the weeks a test covers.

The format is a public interface (README "Calibration with experiments"); keep it stable. One test a row, columns:

- ``channel``: a paid channel of ``data.channel_map``;
- ``start``, ``end``: the test's first and last day, inclusive, ISO ``YYYY-MM-DD``, in the data's calendar;
- ``geo`` (optional column): the geo the test ran in; empty or absent for a national test;
- either ``roi`` and ``roi_se`` (the measured return per unit of spend and its standard error), or
  ``incremental_revenue`` and ``incremental_revenue_se`` (the measured incremental revenue in the data's currency and
  its standard error; the ROI is then that over the channel's spend in the test's weeks). A file may carry both pairs
  of columns, but each row fills exactly one pair.

``calibration.experiments`` is the path of such a CSV (absolute, or relative to the folder ``mmm`` runs in, as
``ingest.local_csv.path``) or the same rows as an inline list of mappings. Rows are numbered from 1: a CSV's data row
number (its line number minus one, the header being line 1), or the position in the inline list.

Week mapping (shared by validate, which checks the tests, and features, which turns them into priors): a test covers
the model weeks whose 7 days ``[week_start, week_start + 6]`` overlap ``[start, end]``, where ``week_start`` is the
weekly table's ``time`` column. A test from a Wednesday to the Tuesday after thus covers two model weeks.

Ingest writes the parsed rows to ``ingest/experiments.json`` (:data:`ARTIFACT`) with their source; validate and
features read them back with :func:`read_artifact`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.artifacts import file_sha256
from mmm_meridian.errors import DataError, MissingArtifactError

ARTIFACT = "experiments.json"
CONFIG_KEY = "calibration.experiments"

REQUIRED = ("channel", "start", "end")
#: What a test measured -> its (value, standard error) columns.
MEASURES: dict[str, tuple[str, str]] = {"roi": ("roi", "roi_se"),
                                        "incremental_revenue": ("incremental_revenue", "incremental_revenue_se")}
KNOWN = (*REQUIRED, "geo", *(column for pair in MEASURES.values() for column in pair))
#: Columns of the normalised table (:func:`parse_rows`), in order.
COLUMNS = ("row", "channel", "start", "end", "geo", "measured", "roi", "roi_se", "incremental_revenue",
           "incremental_revenue_se")
NUMERIC = ("roi", "roi_se", "incremental_revenue", "incremental_revenue_se")

WEEK_DAYS = pd.Timedelta(days=6)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMAT = ("channel,start,end[,geo] plus either roi,roi_se or incremental_revenue,incremental_revenue_se "
           "(README \"Calibration with experiments\")")


# -- reading ------------------------------------------------------------------------------------------------------------
def experiments_path(value: Any) -> Path | None:
    """The CSV a ``calibration.experiments`` value names (relative paths from the working folder, as
    ``ingest.local_csv.path``); None for an inline list or no experiments."""
    if isinstance(value, str) and value.strip():
        return Path(value.strip()).expanduser()
    return None


def read_experiments(value: str | Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``calibration.experiments`` (a CSV path or an inline list) into the normalised table and its source.

    Returns:
        (rows, source): rows with :data:`COLUMNS` (``start``/``end`` as Timestamps, ``geo`` None for a national test,
        the other measure's columns NaN); source ``{"kind": "csv", "path", "sha256"}`` or ``{"kind": "inline"}``.

    Raises:
        DataError: a missing or malformed file, or a row that does not follow the format (one line naming the row).
    """
    path = experiments_path(value)
    if path is not None:
        return read_csv(path), {"kind": "csv", "path": str(path.resolve()), "sha256": file_sha256(path)}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return parse_inline(value), {"kind": "inline"}
    raise DataError(f"{CONFIG_KEY}={value!r} is neither a CSV path nor a list of experiments", where=CONFIG_KEY,
                    fix="give the path of a CSV of lift tests or a list of rows")


def read_csv(path: Path) -> pd.DataFrame:
    """Parse an experiments CSV (comma-separated, UTF-8, one header row) strictly: see :func:`parse_rows`."""
    where = str(path)
    if not path.is_file():
        raise DataError(f"experiments file {where!r} does not exist", where=CONFIG_KEY,
                        fix=f"point {CONFIG_KEY} at the CSV of lift tests (absolute, or relative to the folder mmm "
                            "runs in), or set it to null")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: Excel's "CSV UTF-8" starts with a BOM
            reader = csv.reader(handle)
            header = next(reader, None)
            records: list[tuple[int, dict[str, Any]]] = []
            if header is not None:
                header = [name.strip() for name in header]
                _check_header(header, where)
                for cells in reader:
                    if not any(cell.strip() for cell in cells):
                        continue  # blank line: no test
                    row = reader.line_num - 1  # the header is line 1, so data row n is on line n + 1
                    if len(cells) != len(header):
                        raise DataError(f"experiment row {row}: {len(cells)} fields where the header has "
                                        f"{len(header)} ({', '.join(header)})", where=where,
                                        fix="give every row one value per column (leave a cell empty, e.g. the geo "
                                            "of a national test, rather than dropping it)")
                    records.append((row, dict(zip(header, cells, strict=True))))
    except UnicodeDecodeError as exc:
        raise DataError(f"experiments file is not valid UTF-8 text ({exc.reason} at byte {exc.start})", where=where,
                        fix="save the file as CSV UTF-8") from exc
    if header is None:
        raise DataError("experiments file is empty", where=where, fix=f"write a header row {_FORMAT} and one row "
                                                                        f"per test, or set {CONFIG_KEY}=null")
    return parse_rows(records, where)


def _check_header(header: list[str], where: str) -> None:
    """Columns: no unknown or repeated ones, the required ones, and whole (value, standard error) pairs."""
    if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
        raise DataError(f"experiments file parsed as a single column {header[0][:60]!r}: it is not comma-separated",
                        where=where, fix=f"separate the columns with commas: {_FORMAT}")
    unknown = [name for name in header if name not in KNOWN]
    if unknown:
        raise DataError(f"experiments file has unknown column(s) {unknown}; the columns are {list(KNOWN)}",
                        where=where, fix=f"rename or remove them: {_FORMAT}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"experiments file repeats column(s) {repeated}", where=where, fix="keep one of each")
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise DataError(f"experiments file lacks the column(s) {missing}", where=where, fix=f"add them: {_FORMAT}")
    for value, se in MEASURES.values():
        if (value in header) != (se in header):
            have, lack = (value, se) if value in header else (se, value)
            raise DataError(f"experiments file has column {have!r} without {lack!r}", where=where,
                            fix=f"add the {lack!r} column: a measurement needs its standard error")
    if not any(value in header for value, _ in MEASURES.values()):
        raise DataError("experiments file has neither roi,roi_se nor incremental_revenue,incremental_revenue_se "
                        "columns", where=where, fix=f"add the measured ROI or incremental revenue: {_FORMAT}")


def parse_inline(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Parse ``calibration.experiments`` given as a list of mappings (row n is the n-th item); see :func:`parse_rows`."""
    records: list[tuple[int, dict[str, Any]]] = []
    for number, item in enumerate(rows, start=1):
        if not isinstance(item, Mapping):
            raise DataError(f"experiment row {number}: {item!r} is not a mapping of column to value", where=CONFIG_KEY,
                            fix="write each test as {channel: ..., start: ..., end: ..., roi: ..., roi_se: ...}")
        unknown = [str(key) for key in item if str(key) not in KNOWN]
        if unknown:
            raise DataError(f"experiment row {number}: unknown key(s) {unknown}; the keys are {list(KNOWN)}",
                            where=CONFIG_KEY, fix=f"rename or remove them: {_FORMAT}")
        records.append((number, {str(key): value for key, value in item.items()}))
    return parse_rows(records, CONFIG_KEY)


def parse_rows(records: Sequence[tuple[int, Mapping[str, Any]]], where: str) -> pd.DataFrame:
    """The normalised table (:data:`COLUMNS`) from (row number, {column: value}) pairs, strictly.

    Empty strings and None are missing values. ``channel``, ``start`` and ``end`` are required; each row fills exactly
    one whole (value, standard error) pair; numbers must be finite; dates ISO ``YYYY-MM-DD``.

    Raises:
        DataError: no rows, or the first row that breaks a rule (one line naming it, the problem and the fix).
    """
    if not records:
        raise DataError("the experiments hold no test", where=where,
                        fix=f"add one row per lift test ({_FORMAT}), or set {CONFIG_KEY}=null")
    parsed = [_parse_row(row, values, where) for row, values in records]
    frame = pd.DataFrame(parsed, columns=list(COLUMNS))
    frame["row"] = frame["row"].astype(int)
    for column in ("start", "end"):
        frame[column] = pd.to_datetime(frame[column])
    frame["geo"] = frame["geo"].astype(object).where(frame["geo"].notna(), None)
    for column in NUMERIC:
        frame[column] = frame[column].astype(float)
    return frame


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def _parse_row(row: int, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    prefix = f"experiment row {row}"
    out: dict[str, Any] = {"row": row}
    for column in REQUIRED:
        if _missing(values.get(column)):
            raise DataError(f"{prefix}: {column} is empty", where=where,
                            fix=f"fill in the test's {column} ({_FORMAT})")
    out["channel"] = str(values["channel"]).strip()
    out["start"] = _parse_date(values["start"], "start", prefix, where)
    out["end"] = _parse_date(values["end"], "end", prefix, where)
    geo = values.get("geo")
    out["geo"] = None if _missing(geo) else str(geo).strip()
    filled = [name for name, pair in MEASURES.items() if any(not _missing(values.get(c)) for c in pair)]
    if len(filled) != 1:
        problem = "fills both roi,roi_se and" if filled else "fills neither roi,roi_se nor"
        raise DataError(f"{prefix}: {problem} incremental_revenue,incremental_revenue_se", where=where,
                        fix="give either the measured ROI and its standard error, or the measured incremental "
                            "revenue and its standard error (leave the other pair empty)")
    measured = filled[0]
    out["measured"] = measured
    for column in NUMERIC:
        out[column] = math.nan
    for column in MEASURES[measured]:
        if _missing(values.get(column)):
            other = next(c for c in MEASURES[measured] if c != column)
            raise DataError(f"{prefix}: {other} is given without {column}", where=where,
                            fix=f"fill in {column}: a measurement needs its "
                                + ("standard error" if column.endswith("_se") else "value"))
        out[column] = _parse_number(values[column], column, prefix, where)
    return out


def _parse_date(value: Any, column: str, prefix: str, where: str) -> dt.date:
    if isinstance(value, dt.datetime):  # also pd.Timestamp; a time of day other than midnight is not a calendar day
        if value.time() == dt.time(0):
            return value.date()
    elif isinstance(value, dt.date):
        return value
    else:
        text = str(value).strip()
        if _ISO_DATE.match(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
    raise DataError(f"{prefix}: {column} {str(value)!r} is not a date YYYY-MM-DD", where=where,
                    fix=f"write {column} as an ISO date, e.g. 2024-03-04 (the day itself, inclusive)")


def _parse_number(value: Any, column: str, prefix: str, where: str) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise DataError(f"{prefix}: {column} {str(value)!r} is not a number", where=where,
                        fix=f"write {column} as a plain number such as 0.4 (no currency signs, percent signs or "
                            "thousands separators)")
    return number


# -- the artifact -------------------------------------------------------------------------------------------------------
def to_records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The normalised rows as JSON-able records (dates ISO, missing numbers None)."""
    records = []
    for item in rows.to_dict(orient="records"):
        record: dict[str, Any] = {}
        for column in COLUMNS:
            value = item[column]
            if column in ("start", "end"):
                value = pd.Timestamp(value).date().isoformat()
            elif column in NUMERIC:
                value = None if pd.isna(value) else float(value)
            elif column == "row":
                value = int(value)
            record[column] = value
        records.append(record)
    return records


def from_records(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The normalised table back from :func:`to_records` (what ``ingest/experiments.json`` holds)."""
    return parse_rows([(int(r["row"]), {k: v for k, v in r.items() if k in KNOWN}) for r in records], ARTIFACT)


def artifact(rows: pd.DataFrame, source: dict[str, Any]) -> dict[str, Any]:
    """The content of ``ingest/experiments.json``."""
    return {"source": source, "tests": int(len(rows)), "rows": to_records(rows)}


def read_artifact(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(rows, source) from ``ingest/experiments.json``."""
    if not path.is_file():
        raise MissingArtifactError(f"ingest/{ARTIFACT} is missing although {CONFIG_KEY} is set", where=str(path),
                                   fix="re-run `mmm ingest`")
    data = json.loads(path.read_text(encoding="utf-8"))
    return from_records(data["rows"]), dict(data["source"])


def source_label(source: Mapping[str, Any]) -> str:
    """Where the rows came from, for error messages: the CSV's path or the config key."""
    return str(source["path"]) if source.get("kind") == "csv" else CONFIG_KEY


# -- weeks and spend ----------------------------------------------------------------------------------------------------
def covered_weeks(start: pd.Timestamp, end: pd.Timestamp, weeks: Sequence[pd.Timestamp] | pd.Series
                  ) -> list[pd.Timestamp]:
    """The week starts in ``weeks`` whose 7 days ``[week, week + 6]`` overlap ``[start, end]``, ascending."""
    unique = pd.DatetimeIndex(pd.to_datetime(pd.Series(weeks)).unique()).sort_values()
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    return list(unique[(unique <= end) & (unique + WEEK_DAYS >= start)])


def spend_in_weeks(table: pd.DataFrame, channel: str, geo: str | None, weeks: Sequence[pd.Timestamp]) -> float:
    """The channel's spend in ``weeks`` (summed over every geo for a national test, ``geo`` None) of a canonical
    weekly table (``time``, ``geo``, ``<channel>_spend``); missing spend counts as none."""
    times = pd.to_datetime(table[F.TIME])
    mask = times.isin(pd.DatetimeIndex(weeks))
    if geo is not None:
        mask &= table[F.GEO].astype(str) == geo
    return float(table.loc[mask, F.spend(channel)].sum())
