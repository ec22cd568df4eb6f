"""MLflow tracking: a parent run per invocation, a nested run per stage, sweeps as runs under one parent."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mmm_meridian.api import run_stage
from mmm_meridian.tracking import flatten, numeric_metrics


def _runs(uri: str):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(search_all_experiments=True)


def test_stage_run_is_nested_with_params_metrics_and_artifacts(make_cfg, tmp_path):
    uri = f"sqlite:///{tmp_path}/track.db"
    cfg = make_cfg("tracking.enabled=true", f"tracking.uri={uri}", "project.name=tracked")
    run_stage(cfg, "ingest")
    runs = _runs(uri)
    assert sorted(runs["tags.mmm.kind"]) == ["pipeline", "stage"]
    parent = runs[runs["tags.mmm.kind"] == "pipeline"].iloc[0]
    child = runs[runs["tags.mmm.kind"] == "stage"].iloc[0]
    assert child["tags.mlflow.parentRunId"] == parent["run_id"]
    assert child["tags.mmm.stage"] == "ingest" and child["status"] == "FINISHED"
    assert child["params.data.date_col"] == "date_day"
    assert child["metrics.weeks"] == 156 and child["metrics.geos"] == 1
    assert child["tags.mmm.data_fingerprint"].startswith("demo-")
    assert parent["params.training.preset"] == "fast"
    client = MlflowClient(uri)
    names = {a.path for a in client.list_artifacts(child["run_id"], "ingest")}
    assert {"ingest/weekly.parquet", "ingest/ingest_summary.json", "ingest/manifest.json"} <= names
    assert "ingest/raw.parquet" not in names  # raw user data is referenced by hash, not copied
    assert client.list_artifacts(parent["run_id"], "logs")
    assert client.get_experiment(child["experiment_id"]).name == "tracked"
    # A sqlite tracking.uri keeps its artifacts beside its file, not under the current folder's ./mlruns.
    assert (tmp_path / "artifacts").is_dir()
    assert client.get_experiment(child["experiment_id"]).artifact_location == (tmp_path / "artifacts").as_uri()


def test_tracking_disabled_writes_no_store(make_cfg, tmp_path):
    run_stage(make_cfg("tracking.enabled=false"), "ingest")
    assert not (tmp_path / "mlruns").exists() and not list(tmp_path.glob("*.db"))


def test_sweep_jobs_are_runs_under_one_sweep_parent(tmp_path):
    uri = f"sqlite:///{tmp_path}/sweep.db"
    result = subprocess.run([sys.executable, "-c", "import sys; from mmm_meridian.cli import main; sys.exit(main())",
                             "ingest", "-m", f"paths.root={tmp_path}", f"tracking.uri={uri}",
                             "data.series.territory_name=GB,US"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    runs = _runs(uri)
    sweep = runs[runs["tags.mmm.kind"] == "sweep"]
    assert len(sweep) == 1 and sweep.iloc[0]["status"] == "FINISHED"
    jobs = runs[runs["tags.mmm.kind"] == "pipeline"]
    assert len(jobs) == 2 and set(jobs["tags.mlflow.parentRunId"]) == {sweep.iloc[0]["run_id"]}
    assert sorted(jobs["params.data.series.territory_name"]) == ["GB", "US"]


def test_flatten_and_numeric_metrics():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}}) == {"a.b": 1, "a.c.d": "x"}
    metrics = numeric_metrics({"score": 0.9, "ok": True, "name": "x", "nested": {"n": 3}, "bad": float("nan")})
    assert metrics == {"score": 0.9, "ok": 1.0, "nested.n": 3.0}
    with pytest.raises(AttributeError):
        flatten(None)  # type: ignore[arg-type]
