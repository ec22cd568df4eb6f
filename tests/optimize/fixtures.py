"""A small fitted Meridian model with known truth, built through the real features and train code, cached.

Simulated national data (3 channels, 80 weeks, seed 3) -> canonical clean table -> ``build_features`` -> train's
``run_job`` with a tiny sampler -> ``train/model.binpb`` loaded exactly as the optimize / evaluate stages load it.
The last ``HOLDOUT_WEEKS`` weeks are held out of the fit (Meridian's holdout), so evaluate can score them without a
refit. Fitting takes about a minute on 2 cores, so the folder is built once per session and kept in pytest's cache
(keyed by the fixture's settings and the sources it depends on) for later sessions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.config import MMMConfig, load_config
from mmm_meridian.simulate import DEFAULT_CHANNELS, SimulatedDataset, SimulationSpec, simulate

REPO = Path(__file__).resolve().parents[2]
HOLDOUT_WEEKS = 8
SPEC = SimulationSpec(n_weeks=80, series=(("brand_a", "GB"),), series_scale=(1.0,), channels=DEFAULT_CHANNELS[:3],
                      seed=3)
SAMPLER = {"n_chains": 2, "n_adapt": 60, "n_burnin": 60, "n_keep": 60, "seed": 7, "n_prior_draws": 60,
           "max_tree_depth": 8}
_DROPPED = ("meta_facebook", "meta_instagram", "tiktok")
OVERRIDES = [f"~{m}.{c}" for m in ("data.channel_map", "data.impressions_map", "data.clicks_map",
                                   "data.platform_reported_map", "features.adstock.platform_overrides",
                                   "model.priors.roi_bounds") for c in _DROPPED] + [f"model.holdout_weeks={HOLDOUT_WEEKS}", "features.seasonality.holidays.enabled=false"]
_SOURCES = ["mmm_meridian/simulate", "mmm_meridian/features", "mmm_meridian/train/fit.py",
            "mmm_meridian/train/meridian_adapter.py", "tests/optimize/fixtures.py"]


@dataclass(frozen=True)
class FittedFixture:
    """Artifact folders laid out like ``paths.artifacts`` plus the simulated truth."""

    root: Path
    dataset: SimulatedDataset

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    @property
    def model_path(self) -> Path:
        return self.root / "train" / "model.binpb"


def fixture_config(tmp_path: Path, *overrides: str) -> MMMConfig:
    """The config the fixture was built with (3 channels), artifacts under ``tmp_path``."""
    return load_config([f"paths.root={tmp_path}", "tracking.enabled=false", "training=fast", *OVERRIDES,
                        *overrides])


def clean_table(dataset: SimulatedDataset) -> pd.DataFrame:
    """The canonical weekly table (:mod:`mmm_meridian.frame`) of the single simulated series."""
    weekly = dataset.weekly
    frame = pd.DataFrame({cols.TIME: pd.to_datetime(weekly["week_start"]), cols.GEO: cols.NATIONAL,
                          cols.REVENUE: weekly["all_purchases_original_price"].astype(float)})
    for channel in dataset.truth["channels"]:
        for column in (cols.spend(channel), cols.impressions(channel), cols.clicks(channel),
                       cols.platform_revenue(channel)):
            frame[column] = weekly[column].astype(float)
    frame[cols.PROMO] = weekly["promo_flag"].astype(float)
    frame["avg_price"] = weekly["avg_price"].astype(float)
    return frame.sort_values(cols.TIME).reset_index(drop=True)


def cache_key() -> str:
    digest = hashlib.sha256(json.dumps([SPEC.to_dict(), SAMPLER, OVERRIDES, HOLDOUT_WEEKS,
                                        metadata.version("google-meridian")], sort_keys=True).encode())
    for source in _SOURCES:
        path = REPO / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def build(root: Path) -> None:
    """Simulate, build features and fit into ``root`` (transform/, features/, train/, truth/)."""
    from mmm_meridian.features.spec import INPUTS_FILE, SPEC_FILE
    from mmm_meridian.features.stage import build_features
    from mmm_meridian.train import runtime
    from mmm_meridian.train.fit import FitJob, run_job

    dataset = simulate(SPEC)
    cfg = fixture_config(root)
    clean = clean_table(dataset)
    for stage in ("transform", "features", "train", "truth"):
        (root / stage).mkdir(parents=True, exist_ok=True)
    clean.to_parquet(root / "transform" / "clean.parquet", index=False)
    inputs, spec = build_features(clean, cfg)
    inputs.to_parquet(root / "features" / INPUTS_FILE, index=False)
    (root / "features" / SPEC_FILE).write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")
    plan = runtime.plan(cfg.runtime)
    if runtime.matches_loaded(plan):
        runtime.apply(plan)
    thresholds = {**dataclasses.asdict(cfg.complexity.identifiability), "on_failure": "warn"}
    job = FitJob(inputs_path=str(root / "features" / INPUTS_FILE), spec_path=str(root / "features" / SPEC_FILE),
                 sampler=dict(SAMPLER), thresholds=thresholds, runtime=plan.to_dict(), holdout_weeks=HOLDOUT_WEEKS,
                 progress_every_s=600.0, label="fixture")
    run_job(job, root / "train")
    dataset.save(root / "truth")


def fitted_fixture(cache_dir: Path) -> FittedFixture:
    """The fitted fixture under ``cache_dir/<key>``, built when missing (atomically, so a crash leaves no half)."""
    target = cache_dir / cache_key()
    if not (target / "train" / "model.binpb").is_file():
        staging = cache_dir / f".building-{target.name}"
        shutil.rmtree(staging, ignore_errors=True)
        build(staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return FittedFixture(target, SimulatedDataset.load(target / "truth"))
