"""Duplicates: one row per (geo, date), each resolution logged.

The rows sharing a (geo, date) are classified by :func:`mmm_meridian.tables.duplicates.classify_duplicates` (the
classification validate reports): ``exact`` copies are dropped, ``split`` rows summed (additive columns) or combined
by their rule (the others), ``conflicting`` versions of one record resolved by
``enhanced_cleaning.duplicates.conflicting``.
"""

from __future__ import annotations

import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.quality import ConflictPolicy
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import DataError
from mmm_meridian.tables.duplicates import KEY, additive_columns, classify_duplicates, non_additive_rules
from mmm_meridian.transform.cleaning_log import CleaningLog


def resolve_duplicates(std: pd.DataFrame, cfg: MMMConfig, log: CleaningLog) -> pd.DataFrame:
    """One row per (geo, time), each resolution recorded in ``log``."""
    additive = additive_columns(std, cfg)
    rules = non_additive_rules(std, cfg, additive)  # refuses a bad rule even when the data has no duplicates
    groups = classify_duplicates(std, additive)
    if groups.empty:
        return std
    policy = cfg.enhanced_cleaning.duplicates.conflicting
    conflicting = groups[groups["kind"] == "conflicting"]
    if policy == ConflictPolicy.fail and len(conflicting):
        first = conflicting.iloc[0]
        raise DataError(f"{len(conflicting)} (series, date) keys have conflicting rows, e.g. {first[F.GEO]} "
                        f"{pd.Timestamp(first[F.TIME]).date()}", where="the input rows",
                        fix="fix the export, or set enhanced_cleaning.duplicates.conflicting to keep_first, "
                            "keep_last, mean or aggregate")
    kinds = groups.set_index(KEY)["kind"]
    is_dup = std.set_index(KEY).index.isin(kinds.index)
    keep, resolved = std[~is_dup], []
    for (geo, time), rows in std[is_dup].groupby(KEY, sort=False):
        kind = kinds.loc[(geo, time)]
        before = rows[additive].sum(min_count=1)
        if kind == "exact" or (kind == "conflicting" and policy == ConflictPolicy.keep_first):
            row = rows.iloc[[0]]
        elif kind == "conflicting" and policy == ConflictPolicy.keep_last:
            row = rows.iloc[[-1]]
        elif kind == "conflicting" and policy == ConflictPolicy.mean:
            row = rows.iloc[[0]].copy()
            row[additive] = rows[additive].mean().to_numpy()
        else:  # split rows, or conflicting rows treated as split (aggregate)
            row = rows.iloc[[0]].copy()
            row[additive] = rows[additive].sum(min_count=1).to_numpy()
            for col, rule in rules.items():
                row[col] = getattr(rows[col], rule)()
        delta = (row[additive].sum(min_count=1).fillna(0) - before.fillna(0)).to_dict()
        reason = {"exact": "identical copies of one row: extra copies dropped",
                  "split": "partial rows of one period: additive columns summed, others by their rule",
                  "conflicting": f"different versions of one record: resolved by policy {policy.value}"}[kind]
        differing = [c for c in rows.columns if c not in KEY and rows[c].nunique(dropna=False) > 1]
        log.record_rows(f"duplicates.{kind}", str(geo), [time], reason, delta, rows_in=len(rows),
                        differing_columns=differing,
                        versions={c: rows[c].tolist() for c in differing} if kind == "conflicting" else {})
        resolved.append(row)
    out = pd.concat([keep, *resolved]).sort_values(KEY, kind="stable").reset_index(drop=True)
    return out
