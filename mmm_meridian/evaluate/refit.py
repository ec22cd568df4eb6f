"""Holdout refits for the evaluate stage, each in its own Python process (Meridian leaks memory across fits).

Jobs reuse the train stage's :class:`mmm_meridian.train.fit.FitJob` (same inputs, priors, sampler and runtime as
the model under evaluation) plus what to hold out; :mod:`mmm_meridian.evaluate.meridian_eval` runs them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian.errors import UserError
from mmm_meridian.train.fit import FitJob
from mmm_meridian.train.runtime import RuntimePlan, child_env


@dataclasses.dataclass
class RefitResult:
    predictions: pd.DataFrame
    roi: pd.DataFrame
    diagnostics: dict[str, Any]  # the refit's diagnostics.json (R-hat, ESS, converged: train.diagnostics)


def refit_job(base: FitJob, label: str, *, holdout_weeks: int = 0, window: tuple[str, str] | None = None,
              geo_holdout: dict[str, Any] | None = None, interval: float = 0.8) -> dict[str, Any]:
    """A JSON-able refit job: ``base`` with the holdout (and window) of one validation strategy."""
    fit = dataclasses.replace(base, holdout_weeks=holdout_weeks, window=window, save_model=False, predictions=False,
                              label=label)
    return {"fit": dataclasses.asdict(fit), "geo_holdout": geo_holdout, "interval": interval}


def run_refit(job: dict[str, Any], out_dir: Path, plan: RuntimePlan, timeout_s: float) -> RefitResult:
    """Run one refit job in a fresh process and read its outputs.

    Raises:
        UserError: the refit failed or ran past ``timeout_s`` (a UserError in the child keeps its message and fix).
    """
    label = job["fit"]["label"]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mmm-eval-") as tmp:
        job_path = Path(tmp) / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        command = [sys.executable, "-m", "mmm_meridian.evaluate.meridian_eval", str(job_path), str(out_dir)]
        try:
            finished = subprocess.run(command, env=child_env(plan), timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise UserError(f"{label} did not finish within {timeout_s:.0f} s", where=str(out_dir),
                            fix="raise training.split_timeout_s, use a lighter sampler preset or disable the "
                                "strategy under evaluation.validation_strategies") from exc
    if finished.returncode != 0:
        error = out_dir / "error.json"
        detail = json.loads(error.read_text()) if error.is_file() else {"what": f"exit status {finished.returncode}"}
        raise UserError(f"{label} failed: {detail.get('what', '')[-800:]}", where=detail.get("where") or str(out_dir),
                        fix=detail.get("fix") or "see the log above")
    return RefitResult(pd.read_parquet(out_dir / "predictions.parquet"), pd.read_csv(out_dir / "roi.csv"),
                       json.loads((out_dir / "diagnostics.json").read_text(encoding="utf-8")))


def train_split_results(splits_dir: Path) -> list[dict[str, Any]] | None:
    """The train stage's rolling-split results (``train/splits/<i>/``), or None when it wrote none.

    Train's ``predictions.csv`` carries the 90 % interval of EXPECTED revenue (no observation noise), so its
    coverage is reported under ``coverage_expected_90`` and not judged against the predictive threshold.
    """
    if not (splits_dir / "summary.csv").is_file():
        return None
    results = []
    for row in pd.read_csv(splits_dir / "summary.csv").itertuples():
        folder = splits_dir / str(row.index)
        predictions = pd.read_csv(folder / "predictions.csv").rename(
            columns={"predicted_lo_90": "predicted_lo", "predicted_hi_90": "predicted_hi"})
        results.append({"split": json.loads((folder / "split.json").read_text()), "predictions": predictions,
                        "roi": pd.read_csv(folder / "roi.csv"), "source": "train", "interval_kind": "expected_90",
                        "diagnostics": json.loads((folder / "diagnostics.json").read_text(encoding="utf-8"))})
    return results
