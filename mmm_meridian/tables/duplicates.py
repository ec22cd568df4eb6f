"""Rows sharing a (geo, date): exact copies, split rows that add up, and conflicting versions of one record.

Classification (used by validate to report and by transform to repair):

- ``exact``: the rows are identical in every column -> the copies are dropped (the data double-counted them).
- ``split``: the rows differ in (nearly) every non-zero additive value, as partial rows do (one per campaign or
  export batch) -> additive columns are summed, the others combined by their rule.
- ``conflicting``: the rows repeat most of their non-zero additive values but disagree on some, as two versions of one
  record do -> resolved by ``enhanced_cleaning.duplicates.conflicting`` and reported.

Which columns are additive and how the others combine (:func:`additive_columns`, :func:`non_additive_rules`) is
decided here too, so that validate refuses a bad rule exactly as transform would.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import ConfigError

KEY = [F.GEO, F.TIME]
_RULES = {"mean", "max", "min", "first", "last", "sum"}


def additive_columns(std: pd.DataFrame, cfg: MMMConfig) -> list[str]:
    """The configured additive columns (default: revenue, spend, impressions, clicks, platform revenue)."""
    configured = list(cfg.enhanced_cleaning.duplicates.additive_columns)
    if not configured:
        return F.additive_columns(list(cfg.data.channel_map), list(std.columns), cfg.data.organic_map)
    unknown = [c for c in configured if c not in std.columns]
    if unknown:
        raise ConfigError(f"enhanced_cleaning.duplicates.additive_columns names {unknown}, not in the data",
                          where="config key enhanced_cleaning.duplicates.additive_columns",
                          fix=f"use canonical column names from {sorted(c for c in std.columns if c not in KEY)}")
    return configured


RULES_KEY = "enhanced_cleaning.duplicates.non_additive_rules"


def non_additive_rules(std: pd.DataFrame, cfg: MMMConfig, additive: list[str]) -> dict[str, str]:
    """Rule per non-additive column: configured, else promo -> max, everything else -> mean.

    Raises:
        ConfigError: a configured rule is unknown, or names a column that is not a non-additive column of the data
            (a typo, or an additive column, which is always summed).
    """
    rules: dict[str, str] = {}
    for col in std.columns:
        if col in KEY or col in additive:
            continue
        rules[col] = "max" if col == F.PROMO else "mean"
    known = sorted(rules)
    for col, rule in cfg.enhanced_cleaning.duplicates.non_additive_rules.items():
        if rule not in _RULES:
            raise ConfigError(f"{RULES_KEY}.{col}={rule!r} is not a rule", where=f"config key {RULES_KEY}",
                              fix=f"choose from {sorted(_RULES)}")
        if col in additive:
            raise ConfigError(f"{RULES_KEY} names {col!r}, an additive column (summed across duplicate rows)",
                              where=f"config key {RULES_KEY}.{col}",
                              fix=f"remove {col} from {RULES_KEY}, or leave it out of "
                                  f"enhanced_cleaning.duplicates.additive_columns; non-additive columns: {known}")
        if col not in rules:
            raise ConfigError(f"{RULES_KEY} names unknown column {col!r}", where=f"config key {RULES_KEY}.{col}",
                              fix=f"use a non-additive column of the data (canonical names): {known}")
        rules[col] = rule
    return rules


def _group_kind(rows: pd.DataFrame, additive: list[str]) -> str:
    distinct = rows.drop_duplicates()
    if len(distinct) == 1:
        return "exact"
    values = distinct[additive].to_numpy(dtype=float)
    nonzero = np.nan_to_num(np.abs(values)).max(axis=0) > 0
    if not nonzero.any():
        return "conflicting"
    same = np.all(values[:, nonzero] == values[0, nonzero], axis=0)
    return "conflicting" if same.mean() >= 0.5 else "split"


def classify_duplicates(std: pd.DataFrame, additive: list[str]) -> pd.DataFrame:
    """One row per duplicated (geo, time): ``geo, time, rows, kind`` (exact / split / conflicting)."""
    dup = std[std.duplicated(KEY, keep=False)]
    records = [(geo, time, len(rows), _group_kind(rows, additive)) for (geo, time), rows in dup.groupby(KEY)]
    return pd.DataFrame(records, columns=[F.GEO, F.TIME, "rows", "kind"])
