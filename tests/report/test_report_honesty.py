"""The deck says in words when a figure fails its threshold or comes from an unconverged refit; placeholder-KPI weeks
(kpi_long_gaps=exclude) are never shown or counted as revenue."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.report import quality
from tests.report import fixtures as fx
from tests.report.test_report_stage import fake_model, pdf_text, run_report  # noqa: F401 (fixture)


def unconverged_metrics() -> dict:
    """What evaluate writes for a temporal refit that failed its convergence gate under on_failure=warn."""
    record = {"source": "refit", "converged": False, "max_rhat": 1.029, "min_ess": 95.0, "divergences": 0,
              "failures": ["min ESS 95 < 400"], "worst": "mu_t (R-hat 1.020, ESS 100)",
              "thresholds": {"max_rhat": 1.1, "min_ess": 400.0, "max_divergences_pct": 1.0}, "on_failure": "warn",
              "sampler": "2 chains x 200 kept draws (200 adaptation, 100 burn-in)"}
    holdout = {"n": 13, "mape": 0.0589, "wmape": 0.0601, "r2": 0.14, "coverage": 0.4615,
               "thresholds": {"mape": 0.15, "coverage": 0.8}, "passed": {"mape": True, "coverage": False}}
    in_sample = {"n": 143, "mape": 0.0277, "wmape": 0.0278, "r2": 0.898, "coverage": 0.867,
                 "thresholds": {"mape": 0.15, "coverage": 0.8}, "passed": {"mape": True, "coverage": True}}
    return {"interval": 0.8, "strategies": {"temporal_holdout": {
        "weeks": 13, "source": "refit", "status": "refit not converged", "holdout": holdout, "in_sample": in_sample,
        "convergence": record}}, "checks": [], "passed": False}


def test_metric_rows_carry_thresholds_verdicts_and_the_refit_caveat():
    rows = quality.metric_rows(unconverged_metrics()).set_index(["scope", "metric"])
    coverage = rows.loc[("strategies/temporal_holdout/holdout", "coverage")]
    assert coverage["threshold"] == 0.8
    assert bool(coverage["passed"]) is False and coverage["passed"] is not None
    assert coverage["caveat"] == "refit not converged"
    assert rows.loc[("strategies/temporal_holdout/in_sample", "mape"), "caveat"] == "refit not converged"
    fits = quality.refit_convergence(unconverged_metrics())
    assert fits.to_dict("records") == [{"fit": "temporal_holdout", "source": "refit", "converged": False,
                                        "max_rhat": 1.029, "min_ess": 95.0, "failures": "min ESS 95 < 400",
                                        "sampler": "2 chains x 200 kept draws (200 adaptation, 100 burn-in)"}]


def test_verdict_words():
    assert quality.verdict("coverage", 0.4615, 0.8, False, "", 0.8) == (
        "FAILS: only 46 % of actual weeks fall inside the 80 % interval (target 80 %): the model is surer than it "
        "should be")
    assert quality.verdict("mape", 0.21, 0.15, False) == "FAILS: error 21.0 % is above the 15 % limit"
    assert quality.verdict("mape", 0.05, 0.15, True, "refit not converged") == (
        "REFIT NOT CONVERGED: not a clean score; pass")
    assert quality.verdict("r2", 0.14, None, None).startswith("weak: explains only 14 % of the week-to-week")
    assert quality.verdict("r2", 0.9, None, None) == "not judged (no threshold set)"
    assert quality.verdict("r2", 0.1, 0.3, False) == "FAILS: explains 10 % of the week-to-week variation, below 0.30"


@pytest.mark.usefixtures("fake_model")
def test_deck_says_in_words_that_a_figure_fails_and_that_its_refit_did_not_converge(cfg, tmp_path):
    _, _, folders = run_report(cfg, tmp_path, model_file=True)
    (folders["evaluate"] / "metrics.json").write_text(json.dumps(unconverged_metrics()), encoding="utf-8")
    _, out, _ = run_report_again(cfg, tmp_path, folders)
    text = pdf_text(out / "executive_deck.pdf")
    assert "REFIT NOT CONVERGED: not a clean score; FAILS: only 46 % of actual weeks fall inside the 80 % interval" \
        in text
    assert "NOT CONVERGED (min ESS 95 < 400): its scores above are not a clean measure of accuracy" in text
    # which sampler scored the holdout (evaluation.refit_sampler over training.sampler)
    assert "2 chains x 200 kept draws (200" in " ".join(text.split())
    assert "weak: explains only 14 % of the week-to-week variation" in text
    assert "come from a fit that did not converge (min ESS 95 < 400)" in text  # the caveats page
    # the summary's caveat says which figure failed in words, not as a metrics.json path
    assert ("Accuracy below target: forecast of held-out weeks (Temporal Holdout): 46 % of weeks inside the interval "
            "(target 80 %). Budget moves rest on a model that misses these targets") in text
    assert "strategies/temporal_holdout" not in text


def run_report_again(cfg, tmp_path, folders):
    return run_report(cfg, tmp_path, folders=folders, out_name="report2")


@pytest.mark.usefixtures("fake_model")
def test_placeholder_weeks_are_a_gap_in_the_fit_and_left_out_of_total_revenue(cfg, tmp_path):
    summary, out, folders = run_report(cfg, tmp_path, model_file=True)
    clean = pd.read_parquet(folders["transform"] / "clean.parquet")
    excluded = pd.to_datetime(clean["time"]).dt.strftime("%Y-%m-%d").iloc[20:31].tolist()  # 11 weeks
    spec = json.loads((folders["features"] / "feature_spec.json").read_text())
    spec["excluded_weeks"] = {"national": excluded}
    (folders["features"] / "feature_spec.json").write_text(json.dumps(spec), encoding="utf-8")
    summary2, out2, _ = run_report_again(cfg, tmp_path, folders)

    real = clean["revenue"].drop(index=range(20, 31)).sum()
    assert summary2["total_revenue"] == pytest.approx(real, rel=1e-12)
    assert summary["total_revenue"] - summary2["total_revenue"] == pytest.approx(clean["revenue"].iloc[20:31].sum(),
                                                                                 rel=1e-9)
    fit = pd.read_csv(out2 / "dashboard" / "model_fit.csv")
    flagged = fit["kpi_excluded"].to_numpy(dtype=bool)
    assert pd.to_datetime(fit.loc[flagged, "time"]).dt.strftime("%Y-%m-%d").tolist() == excluded
    assert fit.loc[flagged, "actual"].isna().all() and fit.loc[~flagged, "actual"].notna().all()
    expected_model = fx.fake_model_outputs().fit
    assert np.allclose(fit.loc[~flagged, "actual"], expected_model["actual"].to_numpy()[~flagged])
    text = pdf_text(out2 / "executive_deck.pdf")
    assert "11 week(s) have no real revenue" in text
    media = float(pd.read_csv(folders["train"] / "roi.csv")["incremental_revenue"].sum())
    assert math.isclose(summary2["media_share"], media / real, rel_tol=1e-9)


@pytest.mark.usefixtures("fake_model")
def test_deck_says_the_risk_analysis_was_off_instead_of_printing_empty_intervals(cfg, tmp_path):
    _, _, folders = run_report(cfg, tmp_path, model_file=True)
    path = folders["optimize"] / "summary.json"
    summary = json.loads(path.read_text())
    summary["expected_lift"] = {k: v for k, v in summary["expected_lift"].items() if k not in ("lo", "hi")}
    summary.pop("prob_beats_current")
    summary["sensitivity"] = {"enabled": False, "n_draws": 0}
    path.write_text(json.dumps(summary), encoding="utf-8")
    scenarios = pd.read_csv(folders["optimize"] / "scenarios.csv")
    scenarios.drop(columns=["lift_lo", "lift_hi", "prob_beats_current_mix", "expected_incremental_revenue_lo",
                            "expected_incremental_revenue_hi"]).to_csv(folders["optimize"] / "scenarios.csv",
                                                                       index=False)
    _, out, _ = run_report_again(cfg, tmp_path, folders)
    text = pdf_text(out / "executive_deck.pdf")
    assert "n/a to n/a" not in text
    assert "the risk analysis was off (optimization.sensitivity.enabled=false)" in text
    assert "not computed" in text  # the scenarios' chance column


def test_total_revenue_leaves_out_only_the_geo_whose_week_is_a_placeholder():
    from types import SimpleNamespace

    from mmm_meridian.report.stage import total_revenue

    clean = pd.DataFrame({"time": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-08"]),
                          "geo": ["GB", "US", "GB", "US"], "revenue": [1.0, 10.0, 100.0, 1000.0]})
    inputs = SimpleNamespace(clean=clean, feature_spec={"excluded_weeks": {"GB": ["2024-01-08"]}})
    assert total_revenue(inputs, None) == 1011.0  # GB's placeholder week out, US's revenue that week kept
    assert total_revenue(SimpleNamespace(clean=clean, feature_spec={}), None) == 1111.0
