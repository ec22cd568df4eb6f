"""The second opinion (model.second_opinion): the side-by-side ROI table and the deck's page and dashboard table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.models.compare import compare_roi
from mmm_meridian.report import stage
from tests.report import fixtures as fx
from tests.report.test_report_stage import fake_model as fake_model  # the fixture, shared
from tests.report.test_report_stage import pdf_text, run_report


def pymc_roi(main: pd.DataFrame) -> pd.DataFrame:
    """The main ROI table moved: the first channel's interval far above the main one's, the others shifted a little."""
    other = main.copy()
    other.loc[0, ["roi_mean", "roi_lo_90", "roi_hi_90"]] = main.loc[0, "roi_hi_90"] * np.array([3.0, 2.0, 4.0])
    other.loc[1:, ["roi_mean", "roi_lo_90", "roi_hi_90"]] *= 1.1
    return other


def test_compare_roi_flags_channels_whose_intervals_do_not_overlap():
    main = fx.roi_table()
    table = compare_roi(main, pymc_roi(main), "meridian", "pymc")
    assert list(table["channel"]) == list(main["channel"])
    assert table.loc[0, "intervals_overlap"] == False  # noqa: E712 - numpy bool
    assert table.loc[1:, "intervals_overlap"].all()
    assert table["roi_ratio"].iloc[1:].tolist() == pytest.approx([1.1] * (len(main) - 1))
    assert table.loc[0, "pymc_roi_lo_90"] == pytest.approx(2.0 * main.loc[0, "roi_hi_90"])
    touching = main.copy()
    touching["roi_lo_90"] = main["roi_hi_90"]  # intervals sharing one end point still overlap
    assert compare_roi(main, touching, "meridian", "pymc")["intervals_overlap"].all()


@pytest.mark.usefixtures("fake_model")
def test_the_deck_and_dashboard_show_both_engines(cfg, tmp_path):
    folders = fx.write_artifacts(tmp_path / "artifacts", model_file=True)
    main = pd.read_csv(folders["train"] / "roi.csv")
    compare_roi(main, pymc_roi(main), "meridian", "pymc").to_csv(folders["train"] / "second_opinion.csv",
                                                                  index=False)
    metrics = json.loads((folders["evaluate"] / "metrics.json").read_text())
    metrics["strategies"] = {"temporal_holdout": {"weeks": 13, "holdout": {"mape": 0.061, "coverage": 0.85}}}
    metrics["second_opinion"] = {"engine": "pymc", "weeks": 13, "holdout": {"mape": 0.083, "coverage": 0.77}}
    (folders["evaluate"] / "metrics.json").write_text(json.dumps(metrics))
    _, out, _ = run_report(cfg, tmp_path, folders=folders)
    text = pdf_text(out / stage.DECK_FILE)
    assert "Second opinion: two engines, same data" in text
    assert "DISAGREE" in text and text.count("agree") >= len(main)
    first = fx.roi_table()["channel"][0]
    assert f"They disagree on {stage.label(first)}" in text
    assert "Meridian MAPE 6.1 %" in text and "PyMC-Marketing MAPE 8.3 %" in text and "coverage 77.0 %" in text
    exported = pd.read_csv(out / "dashboard" / "second_opinion.csv")
    assert list(exported["intervals_overlap"]) == [False] + [True] * (len(main) - 1)


@pytest.mark.usefixtures("fake_model")
def test_without_a_second_opinion_there_is_no_page(cfg, tmp_path):
    _, out, _ = run_report(cfg, tmp_path, model_file=True)
    assert "Second opinion" not in pdf_text(out / stage.DECK_FILE)
    assert not (out / "dashboard" / "second_opinion.csv").exists()
