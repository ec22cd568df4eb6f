"""Clean-table fixtures built from the simulator (until the transform stage's output is used directly)."""

from __future__ import annotations

import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.simulate import SimulatedDataset


def clean_table(dataset: SimulatedDataset, organisation: str = "brand_a", territories: list[str] | None = None,
                n_weeks: int | None = None) -> pd.DataFrame:
    """The canonical weekly table (see mmm_meridian.frame) for one brand: national when one territory is kept."""
    weekly = dataset.weekly
    weekly = weekly[weekly["organisation_id"] == organisation]
    if territories is not None:
        weekly = weekly[weekly["territory_name"].isin(territories)]
    geo_model = weekly["territory_name"].nunique() > 1
    channels = list(dataset.truth["channels"])
    frame = pd.DataFrame({
        cols.TIME: pd.to_datetime(weekly["week_start"]),
        cols.GEO: weekly["territory_name"] if geo_model else cols.NATIONAL,
        cols.REVENUE: weekly["all_purchases_original_price"].astype(float),
    })
    for channel in channels:
        for column in (cols.spend(channel), cols.impressions(channel), cols.clicks(channel),
                       cols.platform_revenue(channel)):
            frame[column] = weekly[column].astype(float)
    frame[cols.PROMO] = weekly["promo_flag"].astype(float)
    frame["avg_price"] = weekly["avg_price"].astype(float)
    frame = frame.sort_values([cols.GEO, cols.TIME]).reset_index(drop=True)
    if n_weeks is not None:
        keep = sorted(frame[cols.TIME].unique())[:n_weeks]
        frame = frame[frame[cols.TIME].isin(keep)].reset_index(drop=True)
    return frame


def commit_transform(cfg, store, clean: pd.DataFrame, cleaning_log: dict | None = None) -> None:
    """Commit ``clean`` (and ``cleaning_log``, default: no changes) as the transform stage's artifacts, with an
    empty ingest stage (no lift tests), so features/train can run on it through run_stage."""
    _commit(cfg, store, "ingest", {})
    _commit(cfg, store, "transform", {"clean.parquet": clean,
                                      "cleaning_log.json": cleaning_log if cleaning_log is not None else {"changes": []}})


def _commit(cfg, store, stage: str, files: dict) -> None:
    import time

    from mmm_meridian.artifacts import Manifest
    from mmm_meridian.pipeline import config_hash, stage_config, versions

    values = stage_config(cfg, stage)
    with store.writing(stage) as writer:
        for name, content in files.items():
            if name.endswith(".parquet"):
                writer.write_parquet(name, content)
            else:
                writer.write_json(name, content)
        now = time.time()
        manifest = Manifest(stage=stage, config_hash=config_hash(values), config=values, inputs={}, outputs={},
                            versions=versions(), timings={"started": now, "finished": now, "seconds": 0.0},
                            created_at="test")
        store.commit(writer, manifest)
