"""INGEST (guide stage 1): load the raw table, map its columns, select the series and aggregate to weeks.

Writes ``raw.parquet`` (the rows as loaded, after the series filter), ``standardized.parquet`` (those rows
standardized: canonical columns, parsed dates, the geo; what validate checks and transform cleans), ``weekly.parquet``
(the canonical weekly table, before cleaning) and ``ingest_summary.json`` (source, rows, period, series, channels,
unmapped columns and the guide's success criteria). With ``calibration.experiments`` set, it also reads the lift tests
(:mod:`mmm_meridian.tables.experiments`: a bad file or row stops here) and writes them, as parsed, with their source
to ``experiments.json``; an experiments CSV's content is part of the source's fingerprint, so editing it re-runs ingest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.artifacts import file_sha256
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.ingest.connectors import load_with_fallback
from mmm_meridian.ingest.standardize import apply_series_filter, check_columns, standardize
from mmm_meridian.pipeline import StageContext
from mmm_meridian.tables import experiments as experiments_table
from mmm_meridian.tables import standardized
from mmm_meridian.tables.columns import column_roles
from mmm_meridian.tables.weekly import to_weekly

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`). The weeks a series
# needs decide which series are kept; the lift tests are read with the data.
READS: tuple[str, ...] = ("data", "ingest", "calibration", "validation.coverage_frequency.min_weeks_required")


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


def with_experiments(data_fingerprint: str, experiments_sha256: str | None) -> str:
    """The source's fingerprint: the data's, plus the experiments CSV's content when there is one (an inline list is
    in the config, which the artifacts are keyed on already)."""
    return f"{data_fingerprint}+experiments-{experiments_sha256}" if experiments_sha256 else data_fingerprint


def run(ctx: StageContext) -> dict[str, Any]:
    experiments = None
    if ctx.cfg.calibration.experiments is not None:  # read first: a bad row is found without loading the data
        experiments = experiments_table.read_experiments(ctx.cfg.calibration.experiments)
    raw, std, weekly, summary = ingest_tables(ctx.cfg)
    experiments_sha256 = None
    if experiments is not None:
        rows, source = experiments
        experiments_sha256 = source.get("sha256")
        ctx.out.write_json(experiments_table.ARTIFACT, experiments_table.artifact(rows, source))
        summary["experiments"] = {"source": source, "tests": int(len(rows))}
        ctx.log.info("ingest: %d lift test(s) from %s", len(rows), experiments_table.source_label(source))
    ctx.out.write_parquet("raw.parquet", raw)
    ctx.out.write_parquet(standardized.FILE, std)
    ctx.out.write_parquet("weekly.parquet", weekly)
    ctx.out.write_json("ingest_summary.json", summary)
    ctx.extra_manifest["fingerprint"] = with_experiments(summary["fingerprint"], experiments_sha256)
    criteria = summary["success_criteria"]
    ctx.log.info("ingest: %s rows -> %d weeks x %d geo(s), %s .. %s, %d channels", f"{len(raw):,}",
                 criteria["weeks"], len(summary["geos"]), summary["period"]["start"], summary["period"]["end"],
                 len(summary["channels"]))
    if not criteria["min_weeks_covered"]:
        ctx.log.warning("ingest: only %d weeks, below the %d-week minimum (validate will fail the gate)",
                        criteria["weeks"], criteria["min_weeks_required"])
    return {"rows": len(raw), "weeks": criteria["weeks"], "geos": len(summary["geos"]), "connector": summary["connector"]}


def fingerprint(cfg: MMMConfig) -> str | None:
    """What the data source (and the experiments CSV, when there is one) looks like now, without loading it (None:
    cannot tell cheaply, so re-run)."""
    data = _data_fingerprint(cfg)
    experiments = experiments_table.experiments_path(cfg.calibration.experiments)
    if data is None or experiments is None:
        return data
    if not experiments.is_file():
        return None  # re-run, which says the file is missing
    return with_experiments(data, file_sha256(experiments))


def _data_fingerprint(cfg: MMMConfig) -> str | None:
    from mmm_meridian import __version__

    first = cfg.ingest.connector_priority[0].value
    if first == "demo":
        return f"demo-{__version__}"
    if first == "local_csv" and cfg.ingest.local_csv.path:
        path = Path(cfg.ingest.local_csv.path).expanduser()
        return file_sha256(path) if path.is_file() else None
    return None
