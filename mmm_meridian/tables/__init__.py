"""Helpers on the canonical tables (see :mod:`mmm_meridian.frame`) that more than one stage needs.

A stage may import only the core, the engine interface and shared helpers such as these, never another stage's module.
What ingest, validate and transform all need lives here, so that validate reports exactly what transform will repair
and transform aggregates to weeks exactly as ingest does:

- :mod:`~mmm_meridian.tables.columns`: which user column the config maps to which canonical column;
- :mod:`~mmm_meridian.tables.weekly`: the input's frequency, the week a date falls in, the weekly aggregation;
- :mod:`~mmm_meridian.tables.duplicates`: rows sharing a (geo, date), classified as exact, split or conflicting;
- :mod:`~mmm_meridian.tables.gaps`: runs of periods without a KPI, and how they are described;
- :mod:`~mmm_meridian.tables.promo`: which rows fall in a promotion week;
- :mod:`~mmm_meridian.tables.standardized`: the standardized rows ingest writes and validate and transform read.
"""
