"""Tidy tables from the evaluate, validate and transform reports (whose JSON layouts nest freely).

The readers look for what they need by name rather than by exact position, so a report that nests metrics per
strategy and split, or keeps each metric as ``{value, threshold, passed}``, reads the same.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mmm_meridian.report.formatting import is_number

METRICS = {"mape", "wmape", "r2", "r_squared", "coverage", "rmse", "mae", "smape", "nrmse"}
_SCOPE_KEYS = ("strategy", "split", "name", "period", "scope")
_SKIP = {"digital", "business"}  # their own tables
_NOT_SCOPES = {"thresholds", "threshold", "passed", "pass_fail"}  # read as a metric's threshold / verdict


def _passed(node: dict[str, Any], metric: str) -> Any:
    for key in (f"{metric}_passed", f"{metric}_pass", f"{metric}_ok"):
        if isinstance(node.get(key), bool):
            return node[key]
    nested = node.get("passed", node.get("pass_fail"))
    if isinstance(nested, dict) and isinstance(nested.get(metric), bool):
        return nested[metric]
    return None


def _threshold(node: dict[str, Any], metric: str) -> Any:
    if is_number(node.get(f"{metric}_threshold")):
        return node[f"{metric}_threshold"]
    nested = node.get("thresholds", node.get("threshold"))
    if isinstance(nested, dict) and is_number(nested.get(metric)):
        return nested[metric]
    return None


def _caveat(node: dict[str, Any], inherited: str) -> str:
    """Words that must stay next to the metrics under ``node``: its fit did not converge (evaluate writes
    ``status`` and ``convergence`` beside a strategy's or a split's metrics)."""
    status = node.get("status")
    if isinstance(status, str) and "not converged" in status:
        return status
    record = node.get("convergence")
    if isinstance(record, dict) and record.get("converged") is False:
        return "refit not converged"
    if node.get("converged") is False:
        return "refit not converged"
    return inherited


def _walk(node: Any, path: list[str], rows: list[dict[str, Any]], caveat: str = "") -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            tag = next((str(item[k]) for k in _SCOPE_KEYS if isinstance(item, dict) and k in item), str(i))
            _walk(item, [*path, tag], rows, caveat)
        return
    if not isinstance(node, dict):
        return
    caveat = _caveat(node, caveat)
    for key, value in node.items():
        name = str(key).lower()
        if name in METRICS and is_number(value):
            rows.append({"scope": "/".join(path) or "overall", "metric": name, "value": float(value),
                         "threshold": _threshold(node, name), "passed": _passed(node, name), "caveat": caveat})
        elif name in METRICS and isinstance(value, dict) and is_number(value.get("value")):
            passed = value.get("passed", value.get("pass"))
            rows.append({"scope": "/".join(path) or "overall", "metric": name, "value": float(value["value"]),
                         "threshold": value.get("threshold"), "passed": passed if isinstance(passed, bool) else None,
                         "caveat": caveat})
        elif isinstance(value, (dict, list)) and not _SKIP.intersection(name.split("_")) and name not in _NOT_SCOPES \
                and name != "convergence":
            _walk(value, [*path, str(key)], rows, caveat)


def metric_rows(metrics: dict[str, Any] | None) -> pd.DataFrame:
    """Every accuracy / calibration metric in ``evaluate/metrics.json``: ``scope, metric, value, threshold, passed,
    caveat`` (``caveat``: e.g. "refit not converged" when the fit behind the figure failed its convergence gate)."""
    rows: list[dict[str, Any]] = []
    if metrics:
        _walk(metrics, [], rows)
    frame = pd.DataFrame(rows, columns=["scope", "metric", "value", "threshold", "passed", "caveat"])
    frame["caveat"] = frame["caveat"].fillna("")
    return frame.drop_duplicates(["scope", "metric"]).reset_index(drop=True)


R2_WEAK = 0.5  # an R-squared below this is called weak in words even when evaluation.metrics.r2_threshold is unset


def verdict(metric: str, value: float, threshold: Any, passed: Any, caveat: str = "", interval: Any = None) -> str:
    """The figure's verdict in words, for the deck's Result column: what failed and what it means.

    A figure from a fit that did not converge is never a clean pass: the caveat comes first.
    """
    metric = metric.lower()
    words = ""
    if passed is False:
        if metric in ("mape", "wmape", "smape"):
            words = f"FAILS: error {100 * value:.1f} % is above the {100 * float(threshold):.0f} % limit"
        elif metric == "coverage":
            level = f"{100 * float(interval):.0f} % " if is_number(interval) else ""
            words = (f"FAILS: only {100 * value:.0f} % of actual weeks fall inside the {level}interval (target "
                     f"{100 * float(threshold):.0f} %): the model is surer than it should be")
        elif metric in ("r2", "r_squared"):
            words = (f"FAILS: explains {max(100 * value, 0):.0f} % of the week-to-week variation, below "
                     f"{float(threshold):.2f}")
        else:
            words = f"FAILS its limit ({threshold})"
    elif passed is True:
        words = "pass"
    elif metric in ("r2", "r_squared") and is_number(value) and value < R2_WEAK:
        words = (f"weak: explains only {max(100 * value, 0):.0f} % of the week-to-week variation (no threshold "
                 "set: evaluation.metrics.r2_threshold)")
    else:
        words = "not judged (no threshold set)"
    if caveat:
        return f"{caveat.upper()}: not a clean score; {words}"
    return words


def refit_convergence(metrics: dict[str, Any] | None) -> pd.DataFrame:
    """The convergence of each fit behind evaluate's scores: ``fit, source, converged, max_rhat, min_ess, failures,
    sampler`` (one row per strategy, one per rolling split; ``sampler`` in words)."""
    rows = []

    def add(name: str, record: Any) -> None:
        if isinstance(record, dict) and isinstance(record.get("converged"), bool):
            rows.append({"fit": name, "source": record.get("source", ""), "converged": record["converged"],
                         "max_rhat": record.get("max_rhat"), "min_ess": record.get("min_ess"),
                         "failures": "; ".join(record.get("failures") or []),
                         "sampler": record.get("sampler") or "not recorded"})

    for strategy, doc in ((metrics or {}).get("strategies") or {}).items():
        if not isinstance(doc, dict):
            continue
        add(strategy, doc.get("convergence"))
        for i, split in enumerate(doc.get("splits") or []):
            if isinstance(split, dict):
                add(f"{strategy} split {split.get('index', i)}", split.get("convergence"))
    return pd.DataFrame(rows, columns=["fit", "source", "converged", "max_rhat", "min_ess", "failures", "sampler"])


def _records(node: Any, key_name: str) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [r for r in node if isinstance(r, dict)]
    if isinstance(node, dict):
        inner = next((node[k] for k in ("channels", "checks", "per_channel", "results") if k in node), None)
        if inner is not None:
            return _records(inner, key_name)
        if all(isinstance(v, dict) for v in node.values()):
            return [{key_name: k, **v} for k, v in node.items()]
        return [{key_name: k, "value": v} for k, v in node.items() if not isinstance(v, (dict, list))]
    return []


def _find(node: Any, word: str) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if word in str(key).lower():
                return value
        for value in node.values():
            found = _find(value, word)
            if found is not None:
                return found
    return None


def digital_checks(metrics: dict[str, Any] | None) -> pd.DataFrame:
    """Model vs platform-reported revenue per channel (whatever columns evaluate wrote), or an empty table."""
    found = _find(metrics or {}, "digital")
    return pd.DataFrame(_records(found, "channel")) if found is not None else pd.DataFrame()


def business_checks(metrics: dict[str, Any] | None) -> pd.DataFrame:
    """The business-logic checks (ROI within bounds, negative baseline, media share), or an empty table."""
    found = _find(metrics or {}, "business")
    return pd.DataFrame(_records(found, "check")) if found is not None else pd.DataFrame()


def validation_checks(report: dict[str, Any] | None) -> pd.DataFrame:
    """``validate/validation_report.json`` checks: ``name, status, severity, value, threshold, message``."""
    checks = (report or {}).get("checks", [])
    frame = pd.DataFrame([c for c in checks if isinstance(c, dict)])
    for col in ("name", "status", "severity", "value", "threshold", "message"):
        if col not in frame.columns:
            frame[col] = None
    return frame[["name", "status", "severity", "value", "threshold", "message"]]


def cleaning_actions(log: dict[str, Any] | None) -> pd.DataFrame:
    """Per cleaning rule: entries, rows affected and the columns whose totals moved (from ``by_rule`` or changes)."""
    log = log or {}
    by_rule = log.get("by_rule")
    if not isinstance(by_rule, dict):
        by_rule = {}
        for change in log.get("changes", []):
            if not isinstance(change, dict):
                continue
            entry = by_rule.setdefault(str(change.get("rule", "unknown")),
                                       {"entries": 0, "rows": 0, "total_change_by_column": {}})
            entry["entries"] += 1
            entry["rows"] += int(change.get("rows", change.get("rows_affected", 0)) or 0)
            column = change.get("column")
            if column and column != "*" and is_number(change.get("total_change")):
                moved = entry["total_change_by_column"]
                moved[column] = moved.get(column, 0.0) + float(change["total_change"])
    rows = []
    for rule, info in by_rule.items():
        moved = info.get("total_change_by_column", {}) or {}
        rows.append({"rule": rule, "entries": int(info.get("entries", 0)), "rows": int(info.get("rows", 0)),
                     "columns": ", ".join(sorted(moved)) or "-"})
    return pd.DataFrame(rows, columns=["rule", "entries", "rows", "columns"])
