"""`mmm <stage> -m hydra/launcher=joblib_2 ...` end to end: jobs run in joblib worker processes, two at a time, and
the sweep summary and exit status still reflect every job (a failed job makes the sweep exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd


def test_joblib_sweep_of_ingest_runs_two_at_a_time_and_reports_every_job(tmp_path: Path) -> None:
    mmm = Path(sys.executable).parent / "mmm"
    result = subprocess.run(
        [str(mmm), "ingest", "-m", "hydra/launcher=joblib_2", "data.series.territory_name=GB,XX",
         f"paths.root={tmp_path}", "tracking.enabled=false"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert "Joblib.Parallel(n_jobs=2," in output
    assert result.returncode == 2, output[-3000:]  # XX selects no rows: a user error in one job
    (summary_path,) = (tmp_path / "artifacts" / "mmm_demo" / "sweeps").glob("*/sweep_summary.csv")
    summary = pd.read_csv(summary_path).sort_values("job")
    assert summary["status"].tolist() == ["ok", "failed"]
    assert "selects no rows" in summary["error"].iloc[1]
    assert summary["ingest.weeks"].iloc[0] == 156
    # the job wrote its own artifacts folder inside the sweep folder
    assert (summary_path.parent / "0" / "artifacts" / "ingest" / "weekly.parquet").is_file()
