"""Both engines through the whole pipeline (issue "Model engines"), with tiny samplers: the PyMC engine writes the
same contract as Meridian, a second opinion puts both engines' ROIs side by side, and a sweep over
``model.backend`` holds both ROI sets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.api import run
from mmm_meridian.errors import ConfigError
from mmm_meridian.models.base import ROI_COLUMNS
from mmm_meridian.optimize.allocate import allocation_table
from mmm_meridian.pipeline import STAGES
from tests.test_end_to_end import CONTRACT, TINY

pypdf = pytest.importorskip("pypdf")


def deck_text(path: Path) -> str:
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pypdf.PdfReader(str(path)).pages))


def test_pymc_engine_runs_every_stage_with_meridians_contract(make_cfg):
    # The fit holds out evaluate's 13 weeks: evaluate scores the train model (no refit).
    cfg = make_cfg(*TINY, "model.backend=pymc", "model.holdout_weeks=13")
    manifests = run(cfg)
    assert list(manifests) == list(STAGES)
    root = Path(cfg.paths.artifacts)
    for name in [n.replace("train/model.binpb", "train/model.nc") for n in CONTRACT]:
        assert (root / name).is_file(), name
    assert not (root / "train/model.binpb").exists()
    diagnostics = json.loads((root / "train/diagnostics.json").read_text())
    assert diagnostics["engine"] == "pymc" and diagnostics["versions"]["pymc-marketing"] == "0.19.2"

    roi = pd.read_csv(root / "train/roi.csv")
    assert tuple(roi.columns) == ROI_COLUMNS and len(roi) == 6
    assert (roi["roi_lo_90"] < roi["roi_mean"]).all() and (roi["roi_mean"] < roi["roi_hi_90"]).all()
    # The allocation has the Meridian engine's columns (the same engine-neutral table builder) ...
    allocation = pd.read_csv(root / "optimize/allocation.csv")
    one = np.ones((1, 6))
    expected = list(allocation_table(list(roi["channel"]), one[0], one[0], one, one, one[0], one[0], 0.9).columns)
    assert list(allocation.columns) == expected + ["scale", "extrapolation"]
    # ... and keeps the budget and every share bound (5-40 %), with PyMC-Marketing's optimizer.
    budget = allocation["current_spend"].sum()
    assert allocation["recommended_spend"].sum() == pytest.approx(budget, rel=1e-3)
    shares = allocation["recommended_spend"] / budget
    assert shares.between(0.05 - 1e-4, 0.40 + 1e-4).all()
    metrics = json.loads((root / "evaluate/metrics.json").read_text())
    held = metrics["strategies"]["temporal_holdout"]
    assert held["source"] == "train model" and held["holdout"]["n"] == 13 and 0 <= held["holdout"]["mape"] < 1

    text = deck_text(root / "report/executive_deck.pdf")
    assert "PyMC-Marketing 0.19.2" in text and "numpyro NUTS" in text
    assert "Second opinion" not in text  # off unless model.second_opinion asks (tests/test_end_to_end.py)


@pytest.mark.slow  # about 3 minutes: two whole fits through Hydra's multirun; each engine's stages run in the suite
def test_a_sweep_over_the_engines_holds_both_roi_sets(tmp_path):
    # Hydra's multirun with fits: each job fits in its own folder, and the sweep table compares their ROIs.
    command = [sys.executable, "-m", "mmm_meridian", "stage=train", "-m", "model.backend=meridian,pymc",
               f"paths.root={tmp_path}", "tracking.enabled=false", "training=fast", *TINY,
               "training.sampler.n_chains=1", "training.sampler.n_keep=20", "complexity.plausibility.on_failure=warn",
               f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv")
    for job, model_file in enumerate(["model.binpb", "model.nc"]):  # each engine's fit in its job's own folder
        assert (tmp_path / "sweep" / str(job) / "artifacts" / "train" / model_file).is_file()
    assert list(summary["status"]) == ["ok", "ok"]
    assert [o.split("model.backend=")[1].split()[0] for o in summary["overrides"]] == ["meridian", "pymc"]
    assert summary["train.engine"].tolist() == ["meridian", "pymc"]
    roi_columns = [c for c in summary.columns if c.startswith("train.roi_mean.")]
    assert len(roi_columns) == 6 and summary[roi_columns].notna().all().all()
    meridian_roi, pymc_roi = (summary.loc[job, roi_columns].to_numpy(float) for job in (0, 1))
    assert not np.allclose(meridian_roi, pymc_roi)  # two fits, not one copied


def test_engine_settings_are_checked_at_start_up(make_cfg):
    with pytest.raises(ConfigError, match="nuts_sampler=pymc applies to the PyMC engine only"):
        make_cfg("training.sampler.nuts_sampler=pymc")
    assert make_cfg("model.backend=pymc", "training.sampler.nuts_sampler=pymc").training.sampler.nuts_sampler.value \
        == "pymc"
    with pytest.raises(ConfigError, match="is the engine that already fits the model"):
        make_cfg("model.backend=pymc", "model.second_opinion=pymc")
    with pytest.raises(ConfigError):
        make_cfg("model.backend=stan")
    assert metadata.version("pymc-marketing") == "0.19.2"
