"""`mmm run` end to end on the embedded demo with a tiny sampler: every stage's contract files, a deck whose
numbers match train/roi.csv and optimize/allocation.csv, an MLflow run tree with the metrics and artifacts, and
every config key a stage read covered by its artifacts' config hash."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mmm_meridian.api import run
from mmm_meridian.pipeline import STAGES
from mmm_meridian.report.formatting import money
from tests.core.config_reads import trace_stage_reads, unexercised_keys, unhashed_reads

pypdf = pytest.importorskip("pypdf")

TINY = ["training.sampler.n_chains=2", "training.sampler.n_adapt=40", "training.sampler.n_burnin=20",
        "training.sampler.n_keep=40", "training.sampler.n_prior_draws=0", "optimization.sensitivity.n_draws=40",
        "optimization.meridian_html=false", "reports.meridian_html=false"]
CONTRACT = ["ingest/raw.parquet", "validate/validation_report.json", "transform/clean.parquet",
            "transform/cleaning_log.json", "features/feature_spec.json", "train/model.binpb", "train/diagnostics.json",
            "train/roi.csv", "optimize/allocation.csv", "optimize/scenarios.csv", "evaluate/metrics.json",
            "report/executive_deck.pdf", "report/dashboard/roi.csv"]


def test_demo_pipeline_contract_deck_and_tracking(make_cfg, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    # With a second opinion from the PyMC engine (issue "Model engines"): fitted beside Meridian in train, its own
    # holdout forecast scored in evaluate, both side by side in the deck.
    # The fit holds out the 13 weeks evaluate scores, so evaluate scores the train model, and train's second-opinion
    # fit, instead of refitting either engine (tests/evaluate cover the refits; CI's demo run refits Meridian).
    cfg = make_cfg("tracking.enabled=true", f"tracking.uri={uri}", *TINY, "model.second_opinion=pymc",
                   "model.holdout_weeks=13")
    with trace_stage_reads() as reads:
        manifests = run(cfg)
    assert list(manifests) == list(STAGES)
    # Every config key a stage read is one its artifacts are keyed on (or exempt, pipeline.NOT_HASHED), so a resumed
    # run never keeps artifacts made under another value of it.
    assert sorted(reads) == sorted(STAGES)
    assert {stage: unhashed_reads(stage, keys) for stage, keys in reads.items()} == {s: [] for s in STAGES}
    # Every config key either did something in this run or has a test that sets it by name (no silent switches).
    assert unexercised_keys(cfg, reads, Path(__file__).parent) == []
    root = Path(cfg.paths.artifacts)
    for name in CONTRACT:
        assert (root / name).is_file(), name

    text = " ".join(page.extract_text() for page in pypdf.PdfReader(str(root / "report/executive_deck.pdf")).pages)
    text = re.sub(r"\s+", " ", text)
    roi = pd.read_csv(root / "train/roi.csv")
    allocation = pd.read_csv(root / "optimize/allocation.csv")
    assert len(roi) == len(allocation) == 6
    for r in roi.itertuples():
        assert f"{r.roi_lo_90:.2f} to {r.roi_hi_90:.2f}" in text, r.channel
        assert money(r.spend, "GBP") in text, r.channel
    for r in allocation.itertuples():
        assert money(r.recommended_spend, "GBP") in text, r.channel
    # The recommendation keeps the budget and every channel within 5-40 % of it (Meridian's grid step aside).
    budget = allocation["current_spend"].sum()
    assert allocation["recommended_spend"].sum() == pytest.approx(budget, rel=0.01)
    shares = allocation["recommended_spend"] / budget
    assert shares.between(0.05 - 0.002, 0.40 + 0.002).all()

    # The second opinion: PyMC-Marketing on the same inputs, side by side with Meridian's ROIs, its holdout scored.
    table = pd.read_csv(root / "train/second_opinion.csv")
    assert list(table["channel"]) == list(roi["channel"])
    assert table["meridian_roi_mean"].tolist() == pytest.approx(roi["roi_mean"].tolist())
    other = pd.read_csv(root / "train/second_opinion/roi.csv")
    assert table["pymc_roi_mean"].tolist() == pytest.approx(other["roi_mean"].tolist())
    apart = ~((table["pymc_roi_lo_90"] <= table["meridian_roi_hi_90"])
              & (table["meridian_roi_lo_90"] <= table["pymc_roi_hi_90"]))
    assert table["intervals_overlap"].tolist() == (~apart).tolist()
    assert json.loads((root / "train/second_opinion/diagnostics.json").read_text())["engine"] == "pymc"
    metrics = json.loads((root / "evaluate/metrics.json").read_text())
    assert metrics["strategies"]["temporal_holdout"]["source"] == "train model"
    assert metrics["second_opinion"]["engine"] == "pymc" and 0 <= metrics["second_opinion"]["holdout"]["mape"] < 1
    # Train's second-opinion fit held out the same 13 weeks: evaluate scored it, sampling nothing new.
    assert metrics["second_opinion"]["convergence"]["source"] == "train second opinion"
    assert json.loads((root / "evaluate/refits/second_opinion_pymc/diagnostics.json").read_text()) == \
        json.loads((root / "train/second_opinion/diagnostics.json").read_text())
    assert "Forecast of the last 13 weeks, each engine fitted without them" in text
    assert (root / "evaluate/holdout_predictions_pymc.csv").is_file()
    assert "Second opinion: two engines, same data" in text and "PyMC-Marketing 90 % interval" in text
    assert (root / "report/dashboard/second_opinion.csv").is_file()

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(search_all_experiments=True)
    parent = runs[runs["tags.mmm.kind"] == "pipeline"]
    stages = runs[runs["tags.mmm.kind"] == "stage"].set_index("tags.mmm.stage")
    assert len(parent) == 1 and sorted(stages.index) == sorted(STAGES)
    assert (stages["tags.mlflow.parentRunId"] == parent["run_id"].iloc[0]).all()
    for stage, metric in [("validate", "score"), ("train", "max_rhat"), ("train", "sampling_seconds"),
                          ("optimize", "lift"), ("evaluate", "strategies.temporal_holdout.holdout.mape"), ("evaluate", "mape")]:
        column = f"metrics.{metric}"
        assert column in stages.columns and pd.notna(stages.loc[stage, column]), (stage, metric)
    client = MlflowClient(uri)
    train_files = {a.path for a in client.list_artifacts(stages.loc["train", "run_id"], "train")}
    assert {"train/model.binpb", "train/roi.csv", "train/diagnostics.json"} <= train_files
    assert client.list_artifacts(stages.loc["train", "run_id"], "spend_plan_model") or \
        mlflow.search_logged_models(experiment_ids=[stages.loc["train", "experiment_id"]]).shape[0] == 1
    report_files = {a.path for a in client.list_artifacts(stages.loc["report", "run_id"], "report")}
    assert "report/executive_deck.pdf" in report_files
