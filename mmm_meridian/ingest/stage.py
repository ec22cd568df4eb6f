"""INGEST (guide stage 1): load the raw table, map its columns, select the series and aggregate to weeks.

Writes ``raw.parquet`` (the rows as loaded, after the series filter), ``standardized.parquet`` (those rows
standardized: canonical columns, parsed dates, the geo; what validate checks and transform cleans), ``weekly.parquet``
(the canonical weekly table, before cleaning) and ``ingest_summary.json`` (source, rows, period, series, channels,
unmapped columns and the guide's success criteria).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.ingest.connectors import load_with_fallback
from mmm_meridian.ingest.standardize import apply_series_filter, check_columns, standardize
from mmm_meridian.pipeline import StageContext
from mmm_meridian.tables import standardized
from mmm_meridian.tables.columns import column_roles
from mmm_meridian.tables.weekly import to_weekly

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`). The weeks a series
# needs decide which series are kept.
READS: tuple[str, ...] = ("data", "ingest", "validation.coverage_frequency.min_weeks_required")


def ingest(cfg: MMMConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Library core: returns (raw rows, weekly table, summary)."""
    raw, _, weekly, summary = ingest_tables(cfg)
    return raw, weekly, summary


def ingest_tables(cfg: MMMConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Library core: returns (raw rows, standardized rows, weekly table, summary)."""
    loaded, attempts = load_with_fallback(cfg)
    check_columns(list(loaded.frame.columns), cfg)
    raw = apply_series_filter(loaded.frame, cfg).reset_index(drop=True)
    std = standardize(raw, cfg)
    weekly, aggregation = to_weekly(std, cfg)
    mapped = {r.column for r in column_roles(cfg)} | set(cfg.data.keys)
    weeks = aggregation["weeks"]
    min_weeks = cfg.validation.coverage_frequency.min_weeks_required
    channels = {ch: {"spend": col, "impressions": cfg.data.impressions_map.get(ch),
                     "clicks": cfg.data.clicks_map.get(ch),
                     "total_spend": float(weekly[F.spend(ch)].sum())} for ch, col in cfg.data.channel_map.items()}
    summary: dict[str, Any] = {
        "connector": loaded.connector, "source": loaded.source, "attempts": attempts,
        "fingerprint": loaded.fingerprint,
        "rows_loaded": int(len(loaded.frame)), "rows_selected": int(len(raw)), "columns": int(loaded.frame.shape[1]),
        "period": {"start": str(std[F.TIME].min().date()), "end": str(std[F.TIME].max().date())},
        "aggregation": aggregation, "geos": sorted(weekly[F.GEO].unique().tolist()),
        "series_filter": dict(cfg.data.series), "channels": channels,
        "unmapped_columns": sorted(c for c in loaded.frame.columns if c not in mapped),
        "success_criteria": {
            "data_loaded": len(raw) > 0,
            "required_columns_mapped": True,  # check_columns raised otherwise
            "min_weeks_covered": weeks >= min_weeks,
            "weeks": weeks, "min_weeks_required": min_weeks,
        },
    }
    return raw, std, weekly, summary


def run(ctx: StageContext) -> dict[str, Any]:
    raw, std, weekly, summary = ingest_tables(ctx.cfg)
    ctx.out.write_parquet("raw.parquet", raw)
    ctx.out.write_parquet(standardized.FILE, std)
    ctx.out.write_parquet("weekly.parquet", weekly)
    ctx.out.write_json("ingest_summary.json", summary)
    ctx.extra_manifest["fingerprint"] = summary["fingerprint"]
    criteria = summary["success_criteria"]
    ctx.log.info("ingest: %s rows -> %d weeks x %d geo(s), %s .. %s, %d channels", f"{len(raw):,}",
                 criteria["weeks"], len(summary["geos"]), summary["period"]["start"], summary["period"]["end"],
                 len(summary["channels"]))
    if not criteria["min_weeks_covered"]:
        ctx.log.warning("ingest: only %d weeks, below the %d-week minimum (validate will fail the gate)",
                        criteria["weeks"], criteria["min_weeks_required"])
    return {"rows": len(raw), "weeks": criteria["weeks"], "geos": len(summary["geos"]), "connector": summary["connector"]}


def fingerprint(cfg: MMMConfig) -> str | None:
    """What the data source looks like now, without loading it (None: cannot tell cheaply, so re-run)."""
    from mmm_meridian import __version__

    first = cfg.ingest.connector_priority[0].value
    if first == "demo":
        return f"demo-{__version__}"
    if first == "local_csv" and cfg.ingest.local_csv.path:
        from pathlib import Path

        from mmm_meridian.artifacts import file_sha256

        path = Path(cfg.ingest.local_csv.path).expanduser()
        return file_sha256(path) if path.is_file() else None
    return None
