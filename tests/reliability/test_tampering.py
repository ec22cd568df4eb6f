"""A stage refuses upstream artifacts changed by hand or made from another config, and names the stage to re-run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.config import load_config
from mmm_meridian.config.loader import to_plain
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import MissingArtifactError
from mmm_meridian.pipeline import check_upstream, run_stage
from tests.reliability.corpus import CASE_DATA, base_frame, write_data_config, write_frame
from tests.reliability.helpers import artifacts, assert_no_artifacts_from, assert_refused, describe, run_mmm


def _config(root: Path, conf: Path) -> MMMConfig:
    return load_config([f"data={CASE_DATA}", f"paths.root={root}", "tracking.enabled=false"], config_dir=conf)


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    """A project whose ingest stage ran on the base file (in-process: only the refusals need the CLI)."""
    conf = write_data_config(tmp_path / "conf", write_frame(base_frame(), tmp_path / "data.csv"))
    run_stage(_config(tmp_path, conf), "ingest")
    return conf


def _edit_weekly(root: Path) -> Path:
    path = artifacts(root) / "ingest" / "weekly.parquet"
    weekly = pd.read_parquet(path)
    weekly.loc[3, "revenue"] *= 2  # a "small fix" by hand
    weekly.to_parquet(path, index=False)
    return path


def _daily_revenue_of_week(root: Path, row: int) -> float:
    """The raw daily revenue of the weekly row ``row`` (GB rows of the base file), summed by hand."""
    weekly = pd.read_parquet(artifacts(root) / "ingest" / "weekly.parquet")
    start = weekly.loc[row, "time"]
    daily = base_frame()
    gb = daily[(daily["territory_name"] == "GB") & (daily["date_day"] >= start)
               & (daily["date_day"] < start + pd.Timedelta(days=7))]
    return float(gb["all_purchases_original_price"].sum())


def test_validate_refuses_a_hand_edited_weekly_table(tmp_path: Path, ingested: Path) -> None:
    _edit_weekly(tmp_path)
    proc = run_mmm("validate", tmp_path, ingested)
    assert_refused(proc, [["ingest/weekly.parquet was changed"], ["re-run `mmm ingest`"]])
    assert_no_artifacts_from(tmp_path, "validate")


def test_validate_refuses_ingest_artifacts_made_from_another_data_config(tmp_path: Path, ingested: Path) -> None:
    proc = run_mmm("validate", tmp_path, ingested, "data.min_days_per_week=6")
    line = assert_refused(proc, [["another config"], ["data.min_days_per_week (7 -> 6)"], ["mmm ingest"]])
    assert "the ingest artifacts" in line
    assert_no_artifacts_from(tmp_path, "validate")


def test_rebuild_policy_replaces_hand_edited_upstream(tmp_path: Path, ingested: Path) -> None:
    edited = _edit_weekly(tmp_path)
    proc = run_mmm("validate", tmp_path, ingested, "runtime.upstream_policy=rebuild")
    assert proc.returncode == 0, describe(proc)
    store = ArtifactStore(artifacts(tmp_path))
    store.verify_outputs("ingest", store.manifest("ingest"))  # ingest was re-run: the file matches again
    weekly = pd.read_parquet(edited)
    assert weekly.loc[3, "revenue"] == pytest.approx(_daily_revenue_of_week(tmp_path, 3))
    assert (artifacts(tmp_path) / "validate" / "manifest.json").is_file()


def test_check_upstream_names_deleted_and_unreadable_files(tmp_path: Path, ingested: Path) -> None:
    cfg = _config(tmp_path, ingested)
    store = ArtifactStore(cfg.paths.artifacts)
    (store.stage_dir("ingest") / "raw.parquet").unlink()
    with pytest.raises(MissingArtifactError, match=r"ingest/raw.parquet is missing .*") as missing:
        check_upstream(cfg, "validate", store, to_plain(cfg))
    assert "re-run `mmm ingest`" in missing.value.one_line()
    (store.stage_dir("ingest") / "manifest.json").write_text("{ truncated", encoding="utf-8")
    with pytest.raises(MissingArtifactError, match="manifest of stage ingest is unreadable") as unreadable:
        check_upstream(cfg, "validate", store, to_plain(cfg))
    assert "re-run `mmm ingest`" in unreadable.value.one_line()
