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
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from mmm_meridian.config.modeling import RollingSplitsConfig
from mmm_meridian.models.jobs import FitJob, Split, make_splits, run_in_subprocess

log = logging.getLogger(__name__)


def run_split(job: FitJob, split: Split, out_dir: Path, env: dict[str, str], timeout_s: float) -> dict:
    """Fit one split in a fresh Python process; returns its diagnostics."""
    split_job = replace(job, window=(split.train_start, split.horizon_end), holdout_weeks=split.n_horizon_weeks,
                        predictions=True, save_model=False, revenue_figures=False,
                        label=f"train split {split.index}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "split.json").write_text(json.dumps(asdict(split), indent=2) + "\n", encoding="utf-8")
    return run_in_subprocess(split_job, out_dir, env, timeout_s,
                                 f"rolling split {split.index} ({split.train_start}..{split.horizon_end})")


def run_rolling(job: FitJob, weeks: list[pd.Timestamp], config: RollingSplitsConfig, root: Path,
                env: dict[str, str], timeout_s: float) -> pd.DataFrame:
    """Fit every split one after the other (each in its own process); returns the per-split summary table."""
    splits = make_splits(weeks, config)
    log.info("train: %d rolling split(s) of %d weeks + %d-week horizon, each fitted in its own process",
             len(splits), config.window_weeks, config.horizon_weeks)
    rows = []
    for split in splits:
        log.info("train: split %d: fit %s..%s, predict %s..%s", split.index, split.train_start, split.train_end,
                 split.horizon_start, split.horizon_end)
        diagnostics = run_split(job, split, root / str(split.index), env, timeout_s)
        if not diagnostics["converged"]:
            log.warning("train: split %d did not converge (%s)", split.index, "; ".join(diagnostics["failures"]))
        rows.append({**asdict(split), "converged": diagnostics["converged"], "max_rhat": diagnostics["max_rhat"],
                     "min_ess": diagnostics["min_ess"], "sampling_seconds": diagnostics.get("sampling_seconds")})
    summary = pd.DataFrame(rows)
    summary.to_csv(root / "summary.csv", index=False)
    return summary
