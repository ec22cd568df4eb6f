"""Tracking that cannot hang or fail a run: start-up check, best-effort logging after commit, per-job stores."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mmm_meridian import api
from mmm_meridian.config import load_config
from mmm_meridian.errors import ConfigError, UserError
from mmm_meridian.tracking import (
    DIGEST_TAG,
    PARENT_STORE_ENV,
    Tracker,
    manifest_digest,
    parallel_launcher,
    resolve_store,
)

CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens on the discard port: connections are refused at once
CLI = "import sys; from mmm_meridian.cli import main; sys.exit(main())"


def _mmm(*args: str, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def _tracking_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "mmm_meridian.tracking" and r.levelno == logging.WARNING]


def _stage_runs(uri: str, stage: str):
    runs = MlflowClient(uri).search_runs(
        [e.experiment_id for e in MlflowClient(uri).search_experiments()],
        filter_string=f"tags.`mmm.kind` = 'stage' and tags.`mmm.stage` = '{stage}'")
    return list(runs)


# -- 1. the start-up check --------------------------------------------------------------------------------------
@pytest.mark.timeout(100)  # MLflow's own retries would wait over two minutes
def test_unreachable_server_stops_at_start_up_with_exit_2_when_required(tmp_path):
    started = time.monotonic()
    done = _mmm("ingest", f"paths.root={tmp_path}", f"tracking.uri={CLOSED_PORT}", "tracking.required=true",
                cwd=tmp_path, timeout=90)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == (
        "error: ingest: the MLflow tracking store http://127.0.0.1:9 does not answer within 3 s (connection refused) "
        "(at config key tracking.uri); fix: start the server or correct tracking.uri (or its credentials); "
        "tracking.required=false runs untracked with a warning instead, tracking.enabled=false turns tracking off")
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    assert not (tmp_path / "artifacts" / "mmm_demo" / "ingest").exists()  # stopped before any work
    assert time.monotonic() - started < 60


@pytest.mark.timeout(100)
def test_unreachable_sweep_server_stops_the_sweep_with_exit_2_when_required(tmp_path):
    done = _mmm("ingest", "-m", f"paths.root={tmp_path}", f"tracking.uri={CLOSED_PORT}", "tracking.required=true",
                "data.series.territory_name=GB,US", cwd=tmp_path, timeout=90)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        "error: the MLflow tracking store http://127.0.0.1:9 does not answer within 3 s (connection refused)")
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(150)
def test_unreachable_sweep_server_is_checked_once_and_the_jobs_run_untracked(tmp_path):
    done = _mmm("ingest", "-m", f"paths.root={tmp_path}", f"tracking.uri={CLOSED_PORT}",
                "data.series.territory_name=GB,US", cwd=tmp_path, timeout=140)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("does not answer within 3 s (connection refused)") == 1
    assert done.stderr.count("tracking: off for this sweep job") == 2
    assert len(list(tmp_path.rglob("ingest/weekly.parquet"))) == 2


@pytest.mark.timeout(100)
def test_unreachable_server_runs_untracked_with_one_warning_by_default(make_cfg, caplog):
    cfg = make_cfg("tracking.enabled=true", f"tracking.uri={CLOSED_PORT}", "tracking.connect_timeout_s=2")
    assert cfg.tracking.required is False
    started = time.monotonic()
    manifest = api.run_stage(cfg, "ingest")
    assert time.monotonic() - started < 60
    assert manifest.extra["summary"]["weeks"] == 156
    warnings = _tracking_warnings(caplog)
    assert len(warnings) == 1
    assert warnings[0].startswith("tracking: the MLflow tracking store http://127.0.0.1:9 does not answer within "
                                  "2 s (connection refused); this command runs UNTRACKED")


def test_connect_timeout_must_be_a_whole_number_of_seconds_from_1(tmp_path):
    with pytest.raises(ConfigError, match=r"tracking.connect_timeout_s=0 is out of range; allowed \[1, 600\]"):
        load_config([f"paths.root={tmp_path}", "tracking.connect_timeout_s=0"])


def test_k8s_profile_requires_tracking_and_local_does_not(tmp_path):
    assert load_config([f"paths.root={tmp_path}", "profile=k8s"]).tracking.required is True
    assert load_config([f"paths.root={tmp_path}"]).tracking.required is False


# -- 2. best-effort logging after the commit, caught up on resume ------------------------------------------------
def test_logging_failure_after_commit_warns_and_the_next_command_logs_the_stage(make_cfg, tmp_path, caplog,
                                                                               monkeypatch):
    uri = f"sqlite:///{tmp_path}/track.db"
    cfg = make_cfg("tracking.enabled=true", f"tracking.uri={uri}")

    def server_down(*args, **kwargs):
        raise MlflowException("API request to http://mlflow:5000/... failed: [Errno 111] Connection refused")

    monkeypatch.setattr(MlflowClient, "log_artifact", server_down)
    manifest = api.run_stage(cfg, "ingest")  # today: the failure ends the command with exit status 1
    warnings = _tracking_warnings(caplog)
    assert len(warnings) == 1
    assert warnings[0].startswith("tracking: could not log stage ingest in MLflow store")
    assert "(connection refused)" in warnings[0]
    stage_dir = Path(cfg.paths.artifacts) / "ingest"
    assert (stage_dir / "weekly.parquet").is_file()
    [failed] = _stage_runs(uri, "ingest")
    assert failed.info.status == "FAILED" and DIGEST_TAG not in failed.data.tags

    monkeypatch.undo()
    caplog.clear()
    api.run(cfg, ["ingest"])  # resumes: ingest is up to date and skipped, but it has no MLflow run yet
    assert api.store_for(cfg).manifest("ingest").created_at == manifest.created_at  # not re-run
    runs = _stage_runs(uri, "ingest")
    assert len(runs) == 2
    [late] = [r for r in runs if r.info.run_id != failed.info.run_id]
    assert late.info.status == "FINISHED"
    assert late.data.tags[DIGEST_TAG] == manifest_digest(stage_dir)
    assert late.data.tags["mmm.logged_late"] == "true"
    assert late.data.metrics["weeks"] == 156
    names = {a.path for a in MlflowClient(uri).list_artifacts(late.info.run_id, "ingest")}
    assert "ingest/weekly.parquet" in names
    assert _tracking_warnings(caplog) == []

    api.run(cfg, ["ingest"])  # logged now: a third command adds no run
    assert len(_stage_runs(uri, "ingest")) == 2


def test_a_stage_edited_after_commit_is_not_logged_late(make_cfg, tmp_path):
    uri = f"sqlite:///{tmp_path}/track.db"
    api.run_stage(make_cfg(), "ingest")  # tracking off
    summary = Path(make_cfg().paths.artifacts) / "ingest" / "ingest_summary.json"
    summary.write_text(summary.read_text() + " ")
    tracker = Tracker(make_cfg("tracking.enabled=true", f"tracking.uri={uri}"))
    assert tracker.log_untracked_stages() == []
    assert _stage_runs(uri, "ingest") == []


# -- 3. no sqlite file shared by concurrent jobs -------------------------------------------------------------------
def test_k8s_job_without_server_logs_to_a_store_of_its_own(make_cfg, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = make_cfg("profile=k8s", f"paths.root={tmp_path}", "tracking.enabled=true")
    api.run_stage(cfg, "ingest")
    own = Path(cfg.paths.artifacts) / "mlruns" / "mlflow.db"
    assert own.is_file()
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()  # the file every Job on the volume would share
    assert len(_stage_runs(f"sqlite:///{own}", "ingest")) == 1
    warnings = _tracking_warnings(caplog)
    assert len(warnings) == 1 and warnings[0].startswith("tracking: Kubernetes Jobs (profile=k8s)")
    assert str(own) in warnings[0]


def test_explicit_sqlite_uri_is_refused_where_jobs_run_at_the_same_time(make_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/shared.db"
    with pytest.raises(UserError, match=r"tracking.uri=sqlite:///.*shared.db is one sqlite file, which Kubernetes "
                                        r"Jobs \(profile=k8s\) sharing one volume would write at the same time"):
        Tracker(make_cfg("profile=k8s", f"paths.root={tmp_path}", "tracking.enabled=true", f"tracking.uri={uri}"))
    cfg = make_cfg("tracking.enabled=true", f"tracking.uri={uri}")
    with pytest.raises(ConfigError, match="the parallel jobs of hydra/launcher=joblib_2 would write"):
        resolve_store(cfg, parallel_launcher(["hydra/launcher=joblib_2", "x=1,2"]), launching=True)
    assert resolve_store(cfg, None).uri == uri  # one sequential process: the user's file is used as given
    server = make_cfg("tracking.enabled=true", "tracking.uri=http://mlflow:5000")
    assert resolve_store(server, "JoblibLauncher").uri == "http://mlflow:5000"


def test_parallel_launcher_is_read_from_overrides():
    assert parallel_launcher(["hydra/launcher=joblib_2", "a=1,2"]) == "hydra/launcher=joblib_2"
    assert parallel_launcher(["hydra/launcher=basic", "a=1,2"]) is None
    assert parallel_launcher(["a=1,2"]) is None


def test_parallel_sweep_jobs_log_to_stores_of_their_own(tmp_path, monkeypatch):
    monkeypatch.delenv(PARENT_STORE_ENV, raising=False)
    done = _mmm("ingest", "-m", "hydra/launcher=joblib_2", f"paths.root={tmp_path}",
                "data.series.territory_name=GB,US", cwd=tmp_path, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "each job logs to a store of its own" in done.stderr
    shared = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    mlflow.set_tracking_uri(shared)
    runs = mlflow.search_runs(search_all_experiments=True)
    assert list(runs["tags.mmm.kind"]) == ["sweep"]  # the launching process alone writes the shared file
    sweep_id = runs.iloc[0]["run_id"]
    assert runs.iloc[0]["tags.mmm.job_stores"] == "own"
    stores = sorted(p for p in tmp_path.rglob("mlflow.db") if p != tmp_path / "mlruns" / "mlflow.db")
    assert len(stores) == 2
    territories = []
    for store in stores:
        mlflow.set_tracking_uri(f"sqlite:///{store}")
        job_runs = mlflow.search_runs(search_all_experiments=True)
        assert sorted(job_runs["tags.mmm.kind"]) == ["pipeline", "stage"]
        pipeline = job_runs[job_runs["tags.mmm.kind"] == "pipeline"].iloc[0]
        assert pipeline["tags.mmm.sweep_run_id"] == sweep_id
        territories.append(pipeline["params.data.series.territory_name"])
    assert sorted(territories) == ["GB", "US"]


@pytest.mark.parametrize(("raised", "status"), [(KeyboardInterrupt, "KILLED"), (RuntimeError, "FAILED")])
def test_a_command_stopped_from_outside_is_killed_not_failed(make_cfg, tmp_path, raised, status):
    cfg = make_cfg("tracking.enabled=true", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db")
    tracker = Tracker(cfg)
    with pytest.raises(raised), tracker.pipeline_run("run", {}, {}) as run_id:
        raise raised()
    assert MlflowClient(cfg.tracking.uri).get_run(run_id).info.status == status
