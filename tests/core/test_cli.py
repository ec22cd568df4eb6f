"""The `mmm` command and `python -m mmm_meridian`: help, exit codes, one-line errors, resume, multirun."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from mmm_meridian.cli import main


def _mmm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from mmm_meridian.cli import main; sys.exit(main())",
                           *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_stages_and_stage_help_says_reads_writes_config(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for stage in ("ingest", "validate", "transform", "features", "train", "optimize", "evaluate", "report", "run"):
        assert f"  {stage}" in out
    assert main(["ingest", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Reads:" in out and "raw.parquet" in out and "Config:   data, ingest" in out


def test_unknown_stage_and_option_exit_2(capsys):
    assert main(["trian"]) == 2
    assert "unknown stage 'trian'" in capsys.readouterr().err
    assert main(["ingest", "--frobnicate"]) == 2


def test_bad_override_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = _mmm("ingest", "features.adstock.decay=1.5", f"paths.root={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: ingest: features.adstock.decay=1.5 is out of range")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "artifacts").exists()


def test_ingest_then_run_resumes_and_stage_without_upstream_says_what_to_run(tmp_path):
    root = f"paths.root={tmp_path}"
    first = _mmm("ingest", root, "tracking.enabled=false", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    weekly = pd.read_parquet(tmp_path / "artifacts/mmm_demo/ingest/weekly.parquet")
    assert len(weekly) == 156
    again = _mmm("ingest", root, "tracking.enabled=false", "runtime.resume=true", cwd=tmp_path)
    assert again.returncode == 0
    summary = json.loads((tmp_path / "artifacts/mmm_demo/ingest/ingest_summary.json").read_text())
    assert summary["success_criteria"]["min_weeks_covered"] is True
    other = tmp_path / "other"
    missing = _mmm("validate", f"paths.root={other}", "tracking.enabled=false", cwd=tmp_path)
    assert missing.returncode == 2
    assert "run `mmm ingest` first" in missing.stderr or "not implemented yet" in missing.stderr


def test_python_dash_m_spelling(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mmm_meridian", "stage=ingest", f"paths.root={tmp_path}",
                             "tracking.enabled=false"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "artifacts/mmm_demo/ingest/manifest.json").is_file()


def test_multirun_sweep_runs_each_job_in_its_own_folder_and_writes_summary(tmp_path):
    result = _mmm("ingest", "-m", f"paths.root={tmp_path}", "tracking.enabled=false",
                  "data.series.territory_name=GB,US", cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    summaries = list((tmp_path / "artifacts/mmm_demo/sweeps").glob("*/sweep_summary.csv"))
    assert len(summaries) == 1
    table = pd.read_csv(summaries[0])
    assert list(table["status"]) == ["ok", "ok"]
    assert table["overrides"].str.contains("territory_name=GB").iloc[0]
    assert (table["ingest.weeks"] == 156).all()
    jobs = sorted(p for p in summaries[0].parent.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    for job in jobs:
        assert (job / "artifacts/ingest/weekly.parquet").is_file()
