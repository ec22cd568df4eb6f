"""Read a user's table from disk with clear errors: size cap, encoding, delimiter, empty or header-only files."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from mmm_meridian.errors import DataError

TEXT_SUFFIXES = {".csv", ".tsv", ".txt"}
COMPRESSED = {".gz", ".zip", ".bz2", ".xz"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path, *, delimiter: str | None = None, encoding: str = "utf-8",
               sheet: str | None = None, max_bytes: int = 2_000_000_000) -> pd.DataFrame:
    """Load a CSV/TSV (optionally compressed), Parquet or Excel file as strings-or-numbers, as stored.

    Raises:
        DataError: the file is missing, too large, empty, header-only, undecodable or not a table.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist", where="ingest.local_csv.path",
                        fix="point ingest.local_csv.path at an existing CSV, Parquet or Excel file")
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"data file is {size / 1e6:,.0f} MB, above the {max_bytes / 1e6:,.0f} MB cap", where=str(path),
                        fix="aggregate or filter the file first, or raise ingest.local_csv.max_bytes")
    if size == 0:
        raise DataError("data file is empty (0 bytes)", where=str(path), fix="export the table again with its rows")
    suffixes = [s.lower() for s in path.suffixes]
    kind = next((s for s in reversed(suffixes) if s not in COMPRESSED), "")
    try:
        if kind == ".parquet":
            frame = pd.read_parquet(path)
        elif kind in EXCEL_SUFFIXES:
            frame = pd.read_excel(path, sheet_name=sheet or 0)
        else:
            frame = _read_text(path, delimiter, encoding, compressed=bool(set(suffixes) & COMPRESSED))
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"data file is not valid {encoding} text ({exc.reason} at byte {exc.start})", where=str(path),
                        fix="set ingest.local_csv.encoding (e.g. latin-1 or utf-16) or re-export as UTF-8") from exc
    except (ValueError, OSError, ImportError) as exc:
        raise DataError(f"cannot read the data file as a table: {exc}", where=str(path),
                        fix="use a CSV, Parquet or Excel file with one header row") from exc
    if frame.empty:
        raise DataError(f"data file has a header ({len(frame.columns)} columns) but no data rows", where=str(path),
                        fix="export the table again with its rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_text(path: Path, delimiter: str | None, encoding: str, *, compressed: bool) -> pd.DataFrame:
    if not compressed:
        with open(path, encoding=encoding, newline="") as handle:
            sample = handle.read(65536)
        if not sample.strip():
            raise DataError("data file holds only whitespace", where=str(path), fix="export the table again")
        sep = delimiter or _sniff_delimiter(sample)
    else:
        sep = delimiter or ","
    try:
        frame = pd.read_csv(path, sep=sep, encoding=encoding, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError("data file has no header row", where=str(path), fix="export the table with a header") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"cannot parse the file with delimiter {sep!r}: {str(exc).splitlines()[0]}", where=str(path),
                        fix="set ingest.local_csv.delimiter to the file's separator") from exc
    if frame.shape[1] == 1 and any(d in str(frame.columns[0]) for d in ",;\t|" if d != sep):
        raise DataError(f"the file parsed as a single column {str(frame.columns[0])[:60]!r}: wrong delimiter {sep!r}",
                        where=str(path), fix="set ingest.local_csv.delimiter to the file's separator, e.g. ';'")
    return frame

