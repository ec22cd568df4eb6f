"""Walk-forward rolling splits: refit on moving windows and predict the weeks after each, one subprocess per fit.

Split i fits the ``window_weeks`` weeks starting at week ``start_i`` and holds out the next ``horizon_weeks``
(Meridian's holdout: their revenue is left out of the likelihood but the model predicts them). Starts step by
``step_weeks``; the most recent ``max_splits`` splits are kept, the last one ending at the last week of data. Each fit
runs in its own process because Meridian's memory grows across fits in one process (Meridian issue 534).

Outputs per split under ``train/splits/<i>/``: ``split.json`` (the weeks), ``diagnostics.json``, ``roi.csv`` and
``predictions.csv`` (per geo and week: actual, predicted mean / median / 90 % interval, ``holdout`` flag);
``train/splits/summary.csv`` has one row per split.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from mmm_meridian.config.modeling import RollingSplitsConfig
from mmm_meridian.errors import DataError, UserError
from mmm_meridian.train.fit import FitJob
from mmm_meridian.train.runtime import RuntimePlan, child_env

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    index: int
    train_start: str
    train_end: str
    horizon_start: str
    horizon_end: str
    n_train_weeks: int
    n_horizon_weeks: int


def make_splits(weeks: list[pd.Timestamp], config: RollingSplitsConfig) -> list[Split]:
    """The walk-forward splits over ``weeks`` (sorted week starts).

    Raises:
        DataError: the data is shorter than one window plus its horizon.
    """
    n, window, horizon = len(weeks), config.window_weeks, config.horizon_weeks
    if window + horizon > n:
        raise DataError(f"rolling splits need window_weeks + horizon_weeks = {window + horizon} weeks, the data has {n}",
                        where="config key training.rolling_splits",
                        fix="lower training.rolling_splits.window_weeks / horizon_weeks or disable rolling splits")
    last_start = n - window - horizon
    starts = list(range(last_start, -1, -config.step_weeks))[: config.max_splits][::-1]
    fmt = lambda i: pd.Timestamp(weeks[i]).strftime("%Y-%m-%d")  # noqa: E731
    return [Split(i, fmt(s), fmt(s + window - 1), fmt(s + window), fmt(s + window + horizon - 1), window, horizon)
            for i, s in enumerate(starts)]


def run_job_in_subprocess(job: FitJob, out_dir: Path, plan: RuntimePlan, timeout_s: float, what: str) -> dict:
    """Run ``job`` in a fresh Python process (see :mod:`mmm_meridian.train.worker`); returns its diagnostics.

    Raises:
        UserError: the fit failed or timed out (a UserError raised in the child keeps its message and fix).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mmm-fit-") as tmp:
        job_path = job.write(Path(tmp) / "job.json")
        command = [sys.executable, "-m", "mmm_meridian.train.worker", str(job_path), str(out_dir)]
        try:
            finished = subprocess.run(command, env=child_env(plan), timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise UserError(f"{what} did not finish within {timeout_s:.0f} s", where=str(out_dir),
                            fix="raise training.split_timeout_s or use a lighter sampler preset") from exc
    error = out_dir / "error.json"
    if finished.returncode != 0:
        detail = json.loads(error.read_text()) if error.is_file() else {"what": f"exit status {finished.returncode}"}
        error.unlink(missing_ok=True)
        raise UserError(f"{what} failed: {detail.get('what', '')[-800:]}", where=detail.get("where") or str(out_dir),
                        fix=detail.get("fix") or "see the log above")
    return json.loads((out_dir / "diagnostics.json").read_text(encoding="utf-8"))


def run_split(job: FitJob, split: Split, out_dir: Path, plan: RuntimePlan, timeout_s: float) -> dict:
    """Fit one split in a fresh Python process; returns its diagnostics."""
    split_job = replace(job, window=(split.train_start, split.horizon_end), holdout_weeks=split.n_horizon_weeks,
                        predictions=True, save_model=False, revenue_figures=False,
                        label=f"train split {split.index}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "split.json").write_text(json.dumps(asdict(split), indent=2) + "\n", encoding="utf-8")
    return run_job_in_subprocess(split_job, out_dir, plan, timeout_s,
                                 f"rolling split {split.index} ({split.train_start}..{split.horizon_end})")


def run_rolling(job: FitJob, weeks: list[pd.Timestamp], config: RollingSplitsConfig, root: Path, plan: RuntimePlan,
                timeout_s: float) -> pd.DataFrame:
    """Fit every split one after the other (each in its own process); returns the per-split summary table."""
    splits = make_splits(weeks, config)
    log.info("train: %d rolling split(s) of %d weeks + %d-week horizon, each fitted in its own process",
             len(splits), config.window_weeks, config.horizon_weeks)
    rows = []
    for split in splits:
        log.info("train: split %d: fit %s..%s, predict %s..%s", split.index, split.train_start, split.train_end,
                 split.horizon_start, split.horizon_end)
        diagnostics = run_split(job, split, root / str(split.index), plan, timeout_s)
        if not diagnostics["converged"]:
            log.warning("train: split %d did not converge (%s)", split.index, "; ".join(diagnostics["failures"]))
        rows.append({**asdict(split), "converged": diagnostics["converged"], "max_rhat": diagnostics["max_rhat"],
                     "min_ess": diagnostics["min_ess"], "sampling_seconds": diagnostics.get("sampling_seconds")})
    summary = pd.DataFrame(rows)
    summary.to_csv(root / "summary.csv", index=False)
    return summary
