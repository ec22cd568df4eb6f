"""Read a user's table from disk with clear errors: size cap (also on the decompressed size), encoding,
delimiter, decimal mark, empty or header-only files."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import zipfile
from pathlib import Path
from typing import IO

import pandas as pd

from mmm_meridian.errors import DataError

COMPRESSED = {".gz", ".zip", ".bz2", ".xz"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}


def human_bytes(size: float) -> str:
    """``1536`` -> ``'1.5 kB'``: sizes in messages stay readable at every scale."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} GB"


def _too_large(size: float, max_bytes: int, path: Path, what: str = "data file") -> DataError:
    return DataError(f"{what} is {human_bytes(size)}, above the {human_bytes(max_bytes)} cap", where=str(path),
                     fix="aggregate or filter the file first, or raise ingest.local_csv.max_bytes")


class _CappedReader(io.RawIOBase):
    """A binary stream that refuses to deliver more than ``max_bytes`` (a decompression bomb stops here)."""

    def __init__(self, inner: IO[bytes], max_bytes: int, path: Path) -> None:
        self.inner, self.max_bytes, self.path, self.count = inner, max_bytes, path, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        self.count += len(data)
        if self.count > self.max_bytes:
            raise _too_large(self.count, self.max_bytes, self.path, "the decompressed data")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def _open_decompressed(path: Path, kind: str) -> IO[bytes]:
    if kind == ".gz":
        return gzip.open(path, "rb")
    if kind == ".bz2":
        return bz2.open(path, "rb")
    if kind == ".xz":
        return lzma.open(path, "rb")
    archive = zipfile.ZipFile(path)
    members = [m for m in archive.namelist() if not m.endswith("/")]
    if len(members) != 1:
        raise DataError(f"the zip archive holds {len(members)} files; expected exactly one table", where=str(path),
                        fix="put one CSV in the archive or unzip it and point at the CSV")
    return archive.open(members[0])


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path, *, delimiter: str | None = None, encoding: str = "utf-8",
               sheet: str | None = None, max_bytes: int = 2_000_000_000, decimal: str = ".") -> pd.DataFrame:
    """Load a CSV/TSV (optionally gz/bz2/xz/zip compressed), Parquet or Excel file as stored.

    Raises:
        DataError: the file is missing, too large (also once decompressed), empty, header-only, undecodable or not
            a table.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist", where="ingest.local_csv.path",
                        fix="point ingest.local_csv.path at an existing CSV, Parquet or Excel file")
    size = path.stat().st_size
    if size > max_bytes:
        raise _too_large(size, max_bytes, path)
    if size == 0:
        raise DataError("data file is empty (0 bytes)", where=str(path), fix="export the table again with its rows")
    suffixes = [s.lower() for s in path.suffixes]
    compression = suffixes[-1] if suffixes and suffixes[-1] in COMPRESSED else None
    kind = next((s for s in reversed(suffixes) if s not in COMPRESSED), "")
    try:
        if kind == ".parquet":
            frame = pd.read_parquet(path)
        elif kind in EXCEL_SUFFIXES:
            frame = pd.read_excel(path, sheet_name=sheet or 0)
        else:
            frame = _read_text(path, delimiter, encoding, compression, max_bytes, decimal)
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"data file is not valid {encoding} text ({exc.reason} at byte {exc.start})", where=str(path),
                        fix="set ingest.local_csv.encoding (e.g. latin-1 or utf-16) or re-export as UTF-8") from exc
    except (ValueError, OSError, ImportError, zipfile.BadZipFile, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"cannot read the data file as a table: {exc}", where=str(path),
                        fix="use a CSV, Parquet or Excel file with one header row") from exc
    if frame.empty:
        raise DataError(f"data file has a header ({len(frame.columns)} columns) but no data rows", where=str(path),
                        fix="export the table again with its rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _text_stream(path: Path, compression: str | None, max_bytes: int) -> IO[bytes]:
    raw = _open_decompressed(path, compression) if compression else open(path, "rb")
    return io.BufferedReader(_CappedReader(raw, max_bytes, path))


def _read_text(path: Path, delimiter: str | None, encoding: str, compression: str | None, max_bytes: int,
               decimal: str) -> pd.DataFrame:
    with _text_stream(path, compression, max_bytes) as stream:
        sample = stream.peek(65536)[:65536].decode(encoding, errors="strict" if not compression else "ignore")
        if not sample.strip():
            raise DataError("data file holds only whitespace", where=str(path), fix="export the table again")
        sep = delimiter or _sniff_delimiter(sample)
        try:
            frame = pd.read_csv(stream, sep=sep, encoding=encoding, low_memory=False, decimal=decimal)
        except pd.errors.EmptyDataError as exc:
            raise DataError("data file has no header row", where=str(path),
                            fix="export the table with a header") from exc
        except pd.errors.ParserError as exc:
            raise DataError(f"cannot parse the file with delimiter {sep!r}: {str(exc).splitlines()[0]}",
                            where=str(path), fix="set ingest.local_csv.delimiter to the file's separator") from exc
    if frame.shape[1] == 1 and any(d in str(frame.columns[0]) for d in ",;\t|" if d != sep):
        raise DataError(f"the file parsed as a single column {str(frame.columns[0])[:60]!r}: wrong delimiter {sep!r}",
                        where=str(path), fix="set ingest.local_csv.delimiter to the file's separator, e.g. ';'")
    return frame
