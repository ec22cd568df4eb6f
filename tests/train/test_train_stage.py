"""The train stage with tiny draws: JAX in process, TensorFlow in a subprocess, outputs, save/reload, the gate, and a
refused fit kept in quarantine then accepted without resampling (one fit for all: ``gated_fit``)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.artifacts import file_sha256
from mmm_meridian.pipeline import run_stage
from mmm_meridian.train import quarantine

ROI_COLUMNS = ["channel", "spend", "incremental_revenue", "roi_mean", "roi_median", "roi_lo_90", "roi_hi_90"]


@pytest.fixture(scope="module")
def jax_fit(gated_fit):
    """The session's tiny JAX fit (refused by the strict gate, then accepted from quarantine: conftest.py)."""
    return gated_fit.cfg, gated_fit.store, gated_fit.manifest


def test_jax_fit_writes_model_diagnostics_and_roi(jax_fit):
    cfg, store, manifest = jax_fit
    folder = store.stage_dir("train")
    assert {"model.binpb", "diagnostics.json", "roi.csv"} <= set(manifest.outputs)
    diagnostics = json.loads((folder / "diagnostics.json").read_text())
    for key in ("max_rhat", "min_ess", "divergences", "converged", "parameters", "sampling_seconds", "backend",
                "device", "failures"):
        assert key in diagnostics
    assert diagnostics["backend"] == "jax" and diagnostics["device"] == "cpu"
    assert diagnostics["n_chains"] == 2 and diagnostics["n_draws"] == 20
    assert {p["name"] for p in diagnostics["parameters"]} >= {"roi_m", "alpha_m", "ec_m", "sigma"}
    assert not diagnostics["converged"]  # 20 draws cannot reach min_ess=400: the fast preset only warns
    roi = pd.read_csv(folder / "roi.csv")
    assert list(roi.columns) == ROI_COLUMNS and list(roi["channel"]) == cfg.channels
    assert (roi["roi_lo_90"] <= roi["roi_median"]).all() and (roi["roi_median"] <= roi["roi_hi_90"]).all()
    assert np.allclose(roi["incremental_revenue"] / roi["spend"], roi["roi_mean"], rtol=0.05)


def test_saved_model_reloads_with_identical_roi(jax_fit):
    from mmm_meridian.models.meridian import adapter as meridian_adapter

    _, store, _ = jax_fit
    folder = store.stage_dir("train")
    model = meridian_adapter.load_model(folder / "model.binpb")
    # float32 posterior: the reloaded model's ROI equals the saved table up to float32 rounding of the reductions
    # (which can differ when this process loaded Meridian with other settings than the fit's).
    pd.testing.assert_frame_equal(meridian_adapter.roi_table(model), pd.read_csv(folder / "roi.csv"),
                                  check_exact=False, rtol=1e-5)


def test_a_fit_without_prior_draws_saves_no_prior_and_skips_meridians_summary_page(jax_fit, tmp_path, caplog):
    """TINY draws no prior (training.sampler.n_prior_draws=0): nothing of it is saved, and the report's Meridian page,
    which charts prior against posterior, is skipped with the reason and the fix instead of a library error."""
    from mmm_meridian.models.meridian import adapter as meridian_adapter
    from mmm_meridian.models.meridian import outputs

    cfg, store, _ = jax_fit
    assert cfg.training.sampler.n_prior_draws == 0
    model = meridian_adapter.load_model(store.stage_dir("train") / "model.binpb")
    assert "prior" not in model.inference_data.groups() and "posterior" in model.inference_data.groups()
    with caplog.at_level(logging.WARNING):
        assert outputs.write_model_summary(model, tmp_path, "model_summary.html") is None
    assert not (tmp_path / "model_summary.html").exists()
    assert "no prior draws (training.sampler.n_prior_draws=0)" in caplog.text
    assert "set training.sampler.n_prior_draws to 1 or more" in caplog.text


@pytest.mark.slow  # about 2 minutes: TensorFlow is Meridian's deprecated backend (JAX is the default, fitted above)
def test_tensorflow_backend_fits_in_a_subprocess(tiny_project):
    cfg, store = tiny_project("tf", "runtime.backend=tensorflow")
    run_stage(cfg, "train", store)
    diagnostics = json.loads((store.stage_dir("train") / "diagnostics.json").read_text())
    assert diagnostics["backend"] == "tensorflow"
    roi = pd.read_csv(store.stage_dir("train") / "roi.csv")
    assert list(roi.columns) == ROI_COLUMNS and np.isfinite(roi["roi_mean"]).all()


def test_strict_gate_fails_the_stage_with_advice(gated_fit):
    message = gated_fit.refused.one_line()
    assert "did not converge" in message and "min ESS" in message and "training=production" in message
    assert gated_fit.refused.stage == "train" and gated_fit.left_after_refusal["manifest"] is None


def test_a_refused_fit_is_quarantined_then_promoted_by_on_failure_warn(gated_fit):
    refused, left = gated_fit.refused, gated_fit.left_after_refusal
    assert "did not converge" in refused.what
    assert "train.quarantine" in refused.fix and "on_failure=warn" in refused.fix
    assert left["manifest"] is None and not left["train_folder"]
    assert {"model.binpb", "diagnostics.json", "roi.csv", "quarantine.json"} <= left["held_files"]
    assert left["record"]["reason"] == refused.what

    # Accepted with only the accept switch changed: promoted, not resampled.
    assert gated_fit.manifest.extra["summary"]["promoted_from_quarantine"] is True
    folder = gated_fit.store.stage_dir("train")
    assert file_sha256(folder / "model.binpb") == left["model_digest"]
    diagnostics = json.loads((folder / "diagnostics.json").read_text())
    assert diagnostics["accepted_below_gate"] is True and diagnostics["converged"] is False
    assert not quarantine.folder(folder).exists()
