"""Holdout refits for the evaluate stage, each in its own Python process (Meridian leaks memory across fits).

Jobs are the main fit's :class:`mmm_meridian.models.jobs.FitJob` (same engine, inputs, priors, sampler and runtime
as the model under evaluation) plus what to hold out.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian.models.jobs import FitJob, SubprocessFit


@dataclasses.dataclass
class RefitResult:
    predictions: pd.DataFrame
    roi: pd.DataFrame
    diagnostics: dict[str, Any]  # the refit's diagnostics.json (R-hat, ESS, converged: models.diagnostics)


def refit_job(base: FitJob, label: str, *, holdout_weeks: int = 0, window: tuple[str, str] | None = None,
              geo_holdout: dict[str, Any] | None = None, interval: float = 0.8,
              saved_model: Path | None = None) -> FitJob:
    """``base`` (the main fit's job) with the holdout (and window) of one validation strategy; the refit writes
    its posterior predictive table with ``interval`` (``saved_model``: scores that fit, saved with the same holdout,
    instead of sampling)."""
    return dataclasses.replace(base, holdout_weeks=holdout_weeks, window=window, save_model=False,
                               predictions=False, revenue_figures=False, predictive_interval=interval,
                               geo_holdout=geo_holdout, saved_model=str(saved_model) if saved_model else None,
                               label=label)


class PendingRefit:
    """One refit job sampling in its own process (:class:`mmm_meridian.models.jobs.SubprocessFit`) from construction
    on; :meth:`result` collects it."""

    def __init__(self, job: FitJob, out_dir: Path, env: dict[str, str], timeout_s: float) -> None:
        self.job, self.timeout_s = job, timeout_s
        self.fit = SubprocessFit(job, out_dir, env, job.label)

    def result(self, into: Path | None = None) -> RefitResult:
        """Wait for the refit and read its outputs, copied first ``into`` another folder when one is given (a
        refit started in a scratch folder before its stage ran).

        Raises:
            UserError: the refit failed or ran past ``timeout_s`` from its start (a UserError in the child keeps its
                message and fix).
        """
        diagnostics = self.fit.wait(self.timeout_s)
        out_dir = self.fit.out_dir
        if into is not None and into.resolve() != out_dir.resolve():
            shutil.copytree(out_dir, into, dirs_exist_ok=True)
            out_dir = into
        return RefitResult(pd.read_parquet(out_dir / "predictions.parquet"), pd.read_csv(out_dir / "roi.csv"),
                           diagnostics)

    def stop(self) -> None:
        self.fit.stop()


def run_refit(job: FitJob, out_dir: Path, env: dict[str, str], timeout_s: float) -> RefitResult:
    """Run one refit job in a fresh process and read its outputs (see :meth:`PendingRefit.result`)."""
    return PendingRefit(job, out_dir, env, timeout_s).result()


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
