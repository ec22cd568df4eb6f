"""validate and transform as pipeline stages: artifacts, the gate's failure report, and the example datasets."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from mmm_meridian import frame as F
from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.config import load_config
from mmm_meridian.errors import ConfigError, DataError, MissingArtifactError
from mmm_meridian.ingest.standardize import standardize
from mmm_meridian.pipeline import run_stage
from mmm_meridian.simulate import make_messy
from mmm_meridian.tables.standardized import read_standardized

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
EXAMPLES = {
    "robyn": "robyn_demo/dt_simulated_weekly.csv",
    "conjura_apparel": "conjura_figshare/prismmmm_apparel_weekly.csv",
    "meridian_national": "meridian_simulated/national_all_channels.csv",
    "meridian_geo": "meridian_simulated/geo_all_channels.csv",
    "meridian_national_rf": "meridian_simulated/national_media_rf.csv",
    "pymc_example": "pymc_marketing/mmm_example.csv",
    "pymc_roas": "pymc_marketing/mmm_roas_data.csv",
}


def _csv_cfg(tmp_path: Path, frame: pd.DataFrame, *overrides: str):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return load_config([f"paths.root={tmp_path}", "tracking.enabled=false", "ingest.connector_priority=[local_csv]",
                        f"ingest.local_csv.path={path}", *overrides])


def _run(cfg, *stages: str) -> ArtifactStore:
    store = ArtifactStore(cfg.paths.artifacts)
    for stage in stages:
        run_stage(cfg, stage, store)
    return store


def test_a_duplicates_rule_for_an_unknown_column_stops_before_anything_is_written(tmp_path, clean_daily):
    cfg = _csv_cfg(tmp_path, clean_daily)
    store = _run(cfg, "ingest")
    bad = _csv_cfg(tmp_path, clean_daily, "++enhanced_cleaning.duplicates.non_additive_rules.avg_prize=max")
    with pytest.raises(ConfigError) as info:
        run_stage(bad, "validate", store)
    line = info.value.one_line()
    assert "non_additive_rules names unknown column 'avg_prize'" in line and "'avg_price'" in line
    assert not store.stage_dir("validate").exists() and store.manifest("validate") is None
    # Transform cannot start from a validation made under another cleaning rule (validate is keyed on
    # enhanced_cleaning), so the bad rule never reaches it through the pipeline; its own check is in test_cleaning_rules.
    run_stage(cfg, "validate", store)
    with pytest.raises(MissingArtifactError, match="non_additive_rules.avg_prize"):
        run_stage(bad, "transform", store)
    assert not (Path(cfg.paths.artifacts) / "transform").exists()


def test_messy_csv_through_ingest_validate_transform(tmp_path, clean_daily):
    defects = ["split_duplicates", "exact_duplicates", "paused_nan", "outage_gap", "missing_weeks",
               "revenue_spike_non_promo"]
    messy = make_messy(clean_daily, defects, seed=5)
    cfg = _csv_cfg(tmp_path, messy.data)
    store = _run(cfg, "ingest", "validate", "transform")
    report = json.loads((store.stage_dir("validate") / "validation_report.json").read_text())
    assert report["passed"] and 0.8 <= report["score"] <= 1
    clean = pd.read_parquet(store.stage_dir("transform") / "clean.parquet")
    assert len(clean) == 104 and not clean.drop(columns=[F.TIME, F.GEO]).isna().any().any()
    log = json.loads((store.stage_dir("transform") / "cleaning_log.json").read_text())
    assert {"duplicates.split", "duplicates.exact", "missing.pause_zero", "missing.outage_interpolate",
            "missing.period_inserted", "outliers.contextual_winsorization"} <= set(log["by_rule"])
    change = log["changes"][0]
    assert {"rule", "column", "series", "periods", "rows", "before", "after", "total_change"} <= set(change)


def test_ingest_standardizes_once_for_validate_and_transform(tmp_path, clean_daily):
    messy = make_messy(clean_daily, ["split_duplicates", "missing_weeks"], seed=5)
    cfg = _csv_cfg(tmp_path, messy.data)
    store = _run(cfg, "ingest")
    raw = pd.read_parquet(store.stage_dir("ingest") / "raw.parquet")
    std = pd.read_parquet(store.stage_dir("ingest") / "standardized.parquet")
    pd.testing.assert_frame_equal(std, standardize(raw, cfg))
    assert "currency_code" in raw  # the raw rows keep the user's own columns (the report's currency label reads them)
    for name in ("validate", "transform"):
        assert "ingest/standardized.parquet" in (REPO / "mmm_meridian" / name / "stage.py").read_text(), name


def test_ingest_artifacts_without_the_standardized_rows_ask_for_ingest_again(tmp_path):
    ctx = SimpleNamespace(stage="validate", input_path=lambda stage, name: tmp_path / stage / name)
    with pytest.raises(MissingArtifactError, match=r"ingest/standardized.parquet is missing") as caught:
        read_standardized(ctx)
    assert caught.value.fix == "re-run `mmm ingest`" and caught.value.stage == "validate"


def test_failing_gate_stops_with_a_readable_report(tmp_path, clean_daily):
    short = clean_daily[clean_daily["date_day"] < pd.Timestamp("2022-07-04")]
    cfg = _csv_cfg(tmp_path, short)
    store = _run(cfg, "ingest")
    with pytest.raises(DataError, match="min_weeks") as caught:
        run_stage(cfg, "validate", store)
    failed = Path(cfg.paths.artifacts) / "validate_failed_report.json"
    assert str(failed) in caught.value.one_line()
    report = json.loads(failed.read_text())
    assert report["passed"] is False and report["critical_failures"] == ["min_weeks"]
    assert store.manifest("validate") is None
    with pytest.raises(MissingArtifactError, match="validate"):  # transform refuses data that failed the gate
        run_stage(cfg, "transform", store)

    overridden = _csv_cfg(tmp_path, short, "validation.override_gate=true")
    run_stage(overridden, "validate", store)
    report = json.loads((store.stage_dir("validate") / "validation_report.json").read_text())
    assert report["passed"] is False and report["gate_overridden"] is True
    assert not failed.exists()


def _example_cfg(tmp_path: Path, name: str, *overrides: str):
    if not (SHARED / EXAMPLES[name]).is_file():
        pytest.skip(f"{SHARED / EXAMPLES[name]} not available")
    return load_config([f"data={name}", f"paths.root={tmp_path}", "tracking.enabled=false",
                        f"ingest.local_csv.path={SHARED / EXAMPLES[name]}", *overrides],
                       config_dir=REPO / "examples" / "conf")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "meridian_geo" else n
                                  for n in EXAMPLES])
def test_example_datasets_pass_and_clean(tmp_path, name):
    cfg = _example_cfg(tmp_path, name)
    assert cfg.ingest.local_csv.path  # the example file names its CSV relative to the repository root
    store = _run(cfg, "ingest", "validate", "transform")
    report = json.loads((store.stage_dir("validate") / "validation_report.json").read_text())
    assert report["passed"], report["failing_checks"]
    clean = pd.read_parquet(store.stage_dir("transform") / "clean.parquet")
    weekly = pd.read_parquet(store.stage_dir("ingest") / "weekly.parquet")
    assert len(clean) == len(weekly) and not clean.drop(columns=[F.TIME, F.GEO]).isna().any().any()
    spend = [F.spend(ch) for ch in cfg.data.channel_map]
    pd.testing.assert_series_equal(clean[spend].sum(), weekly[spend].sum())  # only the KPI is capped by default


def test_example_relative_paths_point_at_shared_data():
    for name, relative in EXAMPLES.items():
        text = (REPO / "examples" / "conf" / "data" / f"{name}.yaml").read_text()
        assert f"../shared/data/{relative}" in text or name == "meridian_geo" and relative in text


def test_example_failing_the_gate_lists_the_failing_checks(tmp_path):
    cfg = _example_cfg(tmp_path, "pymc_roas", "validation.coverage_frequency.min_weeks_required=150",
                       "validation.coverage_frequency.preferred_weeks=150")
    store = _run(cfg, "ingest")
    with pytest.raises(DataError, match=r"data validation failed: .*min_weeks \(131 weeks"):
        run_stage(cfg, "validate", store)


def test_the_readme_shows_each_example_data_file_as_it_is():
    readme = (REPO / "README.md").read_text()
    for path in sorted((REPO / "examples" / "conf" / "data").glob("*.yaml")):
        block = f"<code>examples/conf/data/{path.name}</code></summary>\n\n```yaml\n{path.read_text()}```"
        assert block in readme, f"README's copy of {path.name} differs from the file"
