"""From the user's table to the standardized rows (see :mod:`mmm_meridian.frame`).

:func:`standardize` maps and checks columns, parses dates, applies the series filter and names the geo, keeping the
input's grain. Ingest writes the result (``ingest/standardized.parquet``), which validate checks and transform cleans,
and aggregates it to the model's weekly grain with :func:`mmm_meridian.tables.weekly.to_weekly` (additive columns
summed, controls by ``data.control_aggregation``, promo as the share of promo days), as transform does after cleaning.
"""

from __future__ import annotations

import difflib
import logging

import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import DataError
from mmm_meridian.tables.columns import column_roles

log = logging.getLogger(__name__)


def check_columns(columns: list[str], cfg: MMMConfig) -> None:
    """Fail naming every mapped column that is missing, with the closest existing names."""
    present = set(columns)
    wanted = [(r.column, r.key) for r in column_roles(cfg)] + [(k, "data.keys") for k in cfg.data.keys]
    missing = [(col, key) for col, key in wanted if col not in present]
    if missing:
        parts = []
        for col, key in missing[:6]:
            close = difflib.get_close_matches(col, columns, n=3, cutoff=0.5)
            parts.append(f"{col!r} ({key})" + (f", closest: {close}" if close else ""))
        more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
        raise DataError(f"missing column(s) {'; '.join(parts)}{more}", where=f"the input table ({len(columns)} columns)",
                        fix="fix the column names in your data config (data.*) or the file's header")


# Whole-column formats tried when dates are not ISO: one format must read every row (row-by-row guessing would
# silently swap day and month for days 1-12).
_DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%Y", "%m.%d.%Y", "%d/%m/%y", "%m/%d/%y",
                 "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%d %b %Y", "%b %d %Y", "%d %B %Y", "%B %d %Y")


def parse_dates(values: pd.Series, column: str, date_format: str | None = None) -> pd.Series:
    """Parse a date column with one format for every row, refusing unparsable, mixed or ambiguous columns."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return parsed.dt.normalize()
    text = values.astype("string").str.strip()
    where = f"column {column!r}"
    if date_format:
        parsed = pd.to_datetime(text, errors="coerce", format=date_format)
        _refuse_unparsed(text[parsed.isna()], where, f"the format data.date_format={date_format!r}")
        return parsed.dt.normalize()
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if parsed.notna().all():
        return parsed.dt.normalize()
    fits = {fmt: pd.to_datetime(text, errors="coerce", format=fmt) for fmt in _DATE_FORMATS}
    complete = {fmt: p for fmt, p in fits.items() if p.notna().all()}
    distinct = {tuple(p.values): fmt for fmt, p in complete.items()}
    if len(distinct) == 1:
        return next(iter(complete.values())).dt.normalize()
    if len(distinct) > 1:
        raise DataError(f"the dates are ambiguous: they read as {' or as '.join(sorted(set(distinct.values())))} "
                        f"(e.g. {text.iloc[0]!r})", where=where,
                        fix="set data.date_format, e.g. data.date_format='%d/%m/%Y' for day-first dates")
    readable = pd.concat([parsed.notna()] + [p.notna() for p in fits.values()], axis=1).any(axis=1)
    if readable.all():
        raise DataError("the date column mixes formats (no single format reads every row, e.g. "
                        f"{text.iloc[0]!r} and {text[parsed.isna()].iloc[0]!r})", where=where,
                        fix="use one date format for the whole column, ideally YYYY-MM-DD")
    _refuse_unparsed(text[~readable], where, "any date format")
    raise AssertionError("unreachable: _refuse_unparsed raised")


def _refuse_unparsed(bad: pd.Series, where: str, tried: str) -> None:
    if len(bad):
        raise DataError(f"{len(bad)} value(s) of the date column cannot be read as dates with {tried}, e.g. "
                        f"{bad.iloc[0]!r} at row {int(bad.index[0]) + 2}", where=where,
                        fix="use one date format for the whole column, ideally YYYY-MM-DD (or set data.date_format)")


_THOUSANDS = r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?"
_DECIMAL_COMMA = r"[+-]?\d+,\d+"


def _to_numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip()
    thousands = text.str.fullmatch(_THOUSANDS).fillna(False)
    decimal_comma = text.str.fullmatch(_DECIMAL_COMMA).fillna(False) & ~thousands
    if decimal_comma.any():
        example = text[decimal_comma].iloc[0]
        raise DataError(f"column {column!r} uses a decimal comma (e.g. {example!r} at row "
                        f"{int(text[decimal_comma].index[0]) + 2}), which would be misread as thousands",
                        where=f"column {column!r}",
                        fix="set ingest.local_csv.decimal=',' (files with a decimal comma usually use delimiter ';')")
    converted = pd.to_numeric(text.where(~thousands, text.str.replace(",", "", regex=False)), errors="coerce")
    bad = values[converted.isna() & values.notna() & (text != "")]
    if len(bad):
        raise DataError(f"column {column!r} holds non-numeric value(s), e.g. {bad.iloc[0]!r} at row "
                        f"{int(bad.index[0]) + 2}", where=f"column {column!r}",
                        fix="clean the column so it holds numbers only (blank for missing)")
    return converted.astype(float)


def apply_series_filter(raw: pd.DataFrame, cfg: MMMConfig) -> pd.DataFrame:
    """Keep the rows selected by ``data.series`` (key -> value or list; null means no filter)."""
    mask = pd.Series(True, index=raw.index)
    for key, wanted in cfg.data.series.items():
        if wanted is None:
            continue
        allowed = [str(v) for v in (wanted if isinstance(wanted, (list, tuple)) else [wanted])]
        mask &= raw[key].astype(str).isin(allowed)
    selected = raw[mask]
    if selected.empty:
        available = {k: sorted(raw[k].astype(str).unique().tolist())[:8] for k in cfg.data.series if k in raw}
        raise DataError(f"the series filter data.series={dict(cfg.data.series)} selects no rows",
                        where="config key data.series", fix=f"choose values that exist, e.g. {available}")
    return selected


def series_ids(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    if not keys:
        return pd.Series(F.NATIONAL, index=frame.index)
    return frame[keys].astype(str).agg("_".join, axis=1)


def standardize(raw: pd.DataFrame, cfg: MMMConfig) -> pd.DataFrame:
    """Mapped, typed, filtered rows at the input's grain with canonical column names plus ``geo``."""
    check_columns(list(raw.columns), cfg)
    raw = apply_series_filter(raw, cfg)
    d = cfg.data
    non_geo_keys = [k for k in d.keys if k != d.geo_col]
    combos = raw[non_geo_keys].drop_duplicates() if non_geo_keys else pd.DataFrame()
    if len(combos) > 1:
        found = series_ids(combos, non_geo_keys).tolist()
        fix = ("filter to one with data.series (e.g. data.series." + f"{non_geo_keys[0]}={found[0].split('_')[0]})"
               + (", or keep a key as the geo dimension with data.geo_col" if not d.geo_col else ""))
        raise DataError(f"the data holds {len(found)} series ({', '.join(found[:6])}{'...' if len(found) > 6 else ''})"
                        " but the model takes one series" + (f" per {d.geo_col}" if d.geo_col else ""),
                        where="config keys data.keys / data.series", fix=fix)
    out = pd.DataFrame(index=raw.index)
    out[F.TIME] = parse_dates(raw[d.date_col], d.date_col, d.date_format)
    out[F.GEO] = raw[d.geo_col].astype(str) if d.geo_col else F.NATIONAL
    for role in column_roles(cfg)[1:]:
        out[role.target] = _to_numeric(raw, role.column)
    if d.revenue_per_kpi_col and d.kpi_type.value == "revenue":  # units x money per unit = revenue
        out[F.REVENUE] = out[F.REVENUE] * out.pop(F.REVENUE_PER_KPI)
    return out.sort_values([F.GEO, F.TIME], kind="stable").reset_index(drop=True)
