"""The record of every change transform makes (``transform/cleaning_log.json``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def period_labels(times: Iterable[Any]) -> list[str]:
    return [str(pd.Timestamp(t).date()) for t in times]


def _plain(values: Iterable[Any]) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 6) for v in values]


@dataclass
class Change:
    """One rule applied to one column of one series.

    Attributes:
        rule: the cleaning rule (``duplicates.split``, ``missing.pause_zero``, ``outliers.winsorize`` ...).
        column: the canonical column changed ("*" for whole rows).
        series: the geo / series id.
        periods: the dates (input grain) changed.
        rows: rows affected.
        before: values before (None where missing), in ``periods`` order.
        after: values after.
        total_change: after minus before, summed over the rows (missing counted as 0): how much the rule moved the
            column's total.
        reason: the rule's reason in words.
    """

    rule: str
    column: str
    series: str
    periods: list[str]
    rows: int
    before: list[float | None]
    after: list[float | None]
    total_change: float
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)


class CleaningLog:
    """Collects :class:`Change` entries and warnings while transform runs."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.warnings: list[str] = []

    def record(self, rule: str, column: str, series: str, times: Iterable[Any], before: Iterable[Any],
               after: Iterable[Any], reason: str, **extra: Any) -> None:
        """Record a change of ``column`` on the rows at ``times`` (skipped when nothing changed)."""
        before_l, after_l = _plain(before), _plain(after)
        if not before_l or before_l == after_l:
            return
        total = float(np.nansum(np.array(after_l, dtype=float)) - np.nansum(np.array(before_l, dtype=float)))
        self.changes.append(Change(rule, column, series, period_labels(times), len(before_l), before_l, after_l,
                                   round(total, 6), reason, extra))

    def record_rows(self, rule: str, series: str, times: Iterable[Any], reason: str,
                    total_change: dict[str, float], **extra: Any) -> None:
        """Record a row-level change (rows dropped, merged or inserted) with its effect on additive totals."""
        labels = period_labels(times)
        changed = {k: round(float(v), 6) for k, v in total_change.items() if abs(v) > 1e-9}
        self.changes.append(Change(rule, "*", series, labels, len(labels), [], [], 0.0, reason,
                                   {"total_change_by_column": changed, **extra}))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def summary_by_rule(self) -> dict[str, dict[str, Any]]:
        """Per rule: entries, rows affected and the change of each column's total."""
        out: dict[str, dict[str, Any]] = {}
        for change in self.changes:
            entry = out.setdefault(change.rule, {"entries": 0, "rows": 0, "total_change_by_column": {}})
            entry["entries"] += 1
            entry["rows"] += change.rows
            by_col = entry["total_change_by_column"]
            deltas = change.extra.get("total_change_by_column") if change.column == "*" else {
                change.column: change.total_change}
            for col, delta in (deltas or {}).items():
                by_col[col] = round(by_col.get(col, 0.0) + delta, 6)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [asdict(c) for c in self.changes], "warnings": list(self.warnings),
                "by_rule": self.summary_by_rule()}
