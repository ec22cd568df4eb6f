"""TRANSFORM (guide stage 3): clean the ingested rows with a log of every change and write the weekly table.

Reads ``ingest/standardized.parquet`` (the ingested rows, standardized once by ingest); writes ``clean.parquet`` (the
canonical weekly table, no missing values in the model's columns) and ``cleaning_log.json`` (every change, warnings,
per-rule totals, and how each additive total moved).
"""

from __future__ import annotations

from typing import Any

from mmm_meridian.pipeline import StageContext
from mmm_meridian.tables.standardized import read_standardized
from mmm_meridian.transform.clean import transform

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`).
READS: tuple[str, ...] = ("enhanced_cleaning",)


def run(ctx: StageContext) -> dict[str, Any]:
    weekly, report = transform(read_standardized(ctx), ctx.cfg)
    ctx.out.write_parquet("clean.parquet", weekly)
    ctx.out.write_json("cleaning_log.json", report)
    for rule, info in report["by_rule"].items():
        moved = {c: v for c, v in info["total_change_by_column"].items() if v}
        ctx.log.info("transform: %s: %d change(s), %d row(s)%s", rule, info["entries"], info["rows"],
                     f", totals moved {moved}" if moved else "")
    for warning in report["warnings"]:
        ctx.log.warning("transform: %s", warning)
    ctx.log.info("transform: %d weeks x %d geo(s) written; revenue total changed by %+.2f%%", report["weeks_out"],
                 len(report["geos"]), report["total_change_pct"].get("revenue", 0.0))
    for geo, weeks in report["kpi_excluded_weeks"].items():
        ctx.log.warning("transform: %s: %d week(s) kept out of the model's fit with a placeholder KPI "
                        "(enhanced_cleaning.missing_data.kpi_long_gaps=exclude): %s", geo, len(weeks), ", ".join(weeks))
    revenue_in = report["totals"]["input"].get("revenue") or 0.0
    if report["kpi_excluded_weeks"] and revenue_in:
        ctx.log.info("transform: of the revenue total, %+.2f%% are placeholders on excluded weeks (not fitted)",
                     100 * report["kpi_placeholder_total"] / revenue_in)
    return {"weeks": report["weeks_out"], "changes": len(report["changes"]), "warnings": len(report["warnings"]),
            "revenue_change_pct": report["total_change_pct"].get("revenue", 0.0),
            "kpi_excluded_weeks": sum(len(w) for w in report["kpi_excluded_weeks"].values())}
