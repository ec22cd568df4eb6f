"""The deck and dashboard for calibration and Meridian's media vocabulary, on stubbed upstream artifacts.

Lift tests (``evaluate/calibration.csv``, written here by evaluate's own :func:`calibration.compare` on stub engine
figures), a non-media treatment and an organic medium in the decomposition, a reach-and-frequency channel's optimal
frequency and a conversions KPI: each must reach the deck as a number a reader can check, and none of them may
change a deck that lacks them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.evaluate import calibration
from mmm_meridian.feature_spec import ExperimentInput
from mmm_meridian.models.base import NON_MEDIA_TREATMENT, OPTIMAL_FREQUENCY_COLUMNS, ORGANIC, ModelOutputs
from mmm_meridian.models.meridian import ENGINE as meridian_engine
from mmm_meridian.report import sections, stage
from mmm_meridian.report.formatting import money, money_short, share
from tests.report import fixtures as fx
from tests.report.test_report_stage import fake_model as fake_model  # the fixture, shared
from tests.report.test_report_stage import pdf_text, run_report

CURRENCY = "GBP"  # the fixtures' ingest/raw.parquet currency_code
EXPERIMENTS = [
    # Google Search, national: measured 1.2 +- 1.645 x 0.4 = [0.54, 1.86]; the model says 2.0: disagrees.
    ExperimentInput(row=1, channel="google_search", start="2023-03-06", end="2023-03-27", geo=None, roi=1.2,
                    roi_se=0.4, measured="roi", spend=50_000.0),
    # Meta Facebook in geo north: measured 2.5 +- 0.8225 = [1.68, 3.32]; the model says 2.3: agrees.
    ExperimentInput(row=2, channel="meta_facebook", start="2023-06-05", end="2023-06-12", geo="north", roi=2.5,
                    roi_se=0.5, measured="roi", spend=20_000.0),
]
MODEL_ROI = {1: (2.0, 1.6, 2.5), 2: (2.3, 1.9, 2.8)}
PROMO = 4_000.0  # promo's revenue each week (a non-media treatment)
NEWSLETTER = 1_500.0  # the newsletter's revenue each week (organic media)
FREQUENCY = pd.DataFrame([["meta_facebook", 3.4, 2.1, 1.8, 1.5]], columns=list(OPTIMAL_FREQUENCY_COLUMNS))
REVENUE_PER_CONVERSION = 25.0


def calibration_table() -> pd.DataFrame:
    """What evaluate writes for ``EXPERIMENTS`` when the engine's experiment ROI is ``MODEL_ROI``."""
    model = pd.DataFrame([{"row": e.row, "channel": e.channel, "spend": e.spend,
                           "model_incremental_revenue": e.spend * MODEL_ROI[e.row][0],
                           "model_roi_mean": MODEL_ROI[e.row][0], "model_roi_median": MODEL_ROI[e.row][0],
                           "model_roi_lo_90": MODEL_ROI[e.row][1], "model_roi_hi_90": MODEL_ROI[e.row][2]}
                          for e in EXPERIMENTS])
    return calibration.compare(EXPERIMENTS, model)


def vocabulary_outputs() -> ModelOutputs:
    """The fixtures' model outputs plus a non-media treatment (promo), an organic medium (newsletter) and one
    reach-and-frequency channel's optimal frequency; expected revenue grows by what the two bring each week."""
    outputs = fx.fake_model_outputs()
    weeks = fx.WEEKS
    extra = pd.DataFrame({"time": np.r_[weeks, weeks], "component": ["promo"] * len(weeks) + ["newsletter"] * len(weeks),
                          "component_type": [NON_MEDIA_TREATMENT] * len(weeks) + [ORGANIC] * len(weeks),
                          "revenue": np.r_[np.full(len(weeks), PROMO), np.full(len(weeks), NEWSLETTER)]})
    outputs.decomposition = pd.concat([outputs.decomposition, extra], ignore_index=True)
    for column in ("expected", "expected_lo_90", "expected_hi_90"):
        outputs.fit[column] = outputs.fit[column] + PROMO + NEWSLETTER
    outputs.optimal_frequency = FREQUENCY.copy()
    return outputs


@pytest.fixture
def vocabulary_model(fake_model: None, monkeypatch: pytest.MonkeyPatch) -> ModelOutputs:
    """The engine stand-in of the report tests, answering with :func:`vocabulary_outputs`."""
    outputs = vocabulary_outputs()
    monkeypatch.setattr(meridian_engine, "model_outputs", lambda mmm, kinds, with_curves=True: outputs)
    return outputs


def vocabulary_artifacts(root: Path) -> dict[str, Path]:
    """The fixtures' artifacts with lift tests and a conversions KPI (the clean table counts conversions)."""
    folders = fx.write_artifacts(root, model_file=True)
    calibration_table().to_csv(folders["evaluate"] / calibration.CALIBRATION_FILE, index=False)
    spec = json.loads((folders["features"] / "feature_spec.json").read_text())
    (folders["features"] / "feature_spec.json").write_text(json.dumps({**spec, "kpi_type": "conversions"}))
    clean = pd.read_parquet(folders["transform"] / "clean.parquet")
    clean["revenue"] = clean["revenue"] / REVENUE_PER_CONVERSION
    clean["revenue_per_kpi"] = REVENUE_PER_CONVERSION
    clean.to_parquet(folders["transform"] / "clean.parquet")
    return folders


def test_the_deck_shows_experiments_treatments_organic_media_frequency_and_the_kpi(cfg, tmp_path, vocabulary_model):
    folders = vocabulary_artifacts(tmp_path / "artifacts")
    _, out, _ = run_report(cfg, tmp_path, folders=folders)
    text = pdf_text(out / stage.DECK_FILE)
    # Model vs experiments: the message, the table's figures and verdicts, the chart.
    assert "Model vs experiments" in text
    assert ("The model agrees with 1 of 2 lift tests; Google Search's test (2023-03-06 to 2023-03-27) says an ROI "
            "of 1.20, the model 2.00.") in text
    assert "2023-03-06 to 2023-03-27 (4 weeks)" in text and "2023-06-05 to 2023-06-12 (2 weeks)" in text
    for figure in ("0.54 to 1.86", "1.60 to 2.50", "1.68 to 3.32", "DISAGREES", "agrees", "all geos", "north"):
        assert figure in text
    assert (out / "charts" / "calibration.png").is_file()
    assert "The model disagrees with 1 of 2 lift test(s) (Google Search)" in text  # and a caveat says so
    # The non-media treatment and the organic medium, each with its revenue over the period as a number.
    expected = float(vocabulary_model.decomposition["revenue"].sum())
    promo, newsletter = PROMO * len(fx.WEEKS), NEWSLETTER * len(fx.WEEKS)
    assert (f"Promo brought {money_short(promo, CURRENCY)} of revenue over the period "
            f"({share(promo / expected)} of modelled revenue).") in text
    assert (f"Newsletter (organic media, no spend) brought {money_short(newsletter, CURRENCY)} of revenue over the "
            f"period ({share(newsletter / expected)} of modelled revenue).") in text
    assert "Promo (non-media treatment)" in text and money(promo, CURRENCY) in text
    # The reach-and-frequency channel's optimal frequency.
    assert "Reach and frequency: how often to show the ads" in text
    assert ("Meta Facebook reached people 2.1 times a week on average (ROI 1.50); at 3.4 times a week the same "
            "budget would return 1.80 per 1 GBP.") in text
    # A conversions KPI: the cover says how revenue is made, and the total is conversions x revenue per conversion.
    assert "revenue = conversions x revenue per conversion" in text
    clean = pd.read_parquet(folders["transform"] / "clean.parquet")
    assert money(float((clean["revenue"] * REVENUE_PER_CONVERSION).sum()), CURRENCY) in text


def test_the_dashboard_exports_the_new_tables_with_their_numbers(cfg, tmp_path, vocabulary_model):
    _, out, _ = run_report(cfg, tmp_path, folders=vocabulary_artifacts(tmp_path / "artifacts"))
    dashboard = out / "dashboard"
    causes = pd.read_csv(dashboard / "organic_and_treatments.csv").set_index("component")
    expected = float(vocabulary_model.decomposition["revenue"].sum())
    assert causes.loc["promo", "component_type"] == NON_MEDIA_TREATMENT
    assert causes.loc["promo", "revenue"] == pytest.approx(PROMO * len(fx.WEEKS))
    assert causes.loc["newsletter", "share_of_modelled_revenue"] == pytest.approx(
        NEWSLETTER * len(fx.WEEKS) / expected)
    weekly = pd.read_csv(dashboard / "weekly_contributions.csv")
    assert weekly.loc[weekly["component"] == "promo", "revenue"].sum() == pytest.approx(PROMO * len(fx.WEEKS))
    assert pd.read_csv(dashboard / "calibration.csv")["inside"].tolist() == [False, True]
    assert pd.read_csv(dashboard / "optimal_frequency.csv").loc[0, "optimal_frequency"] == 3.4
    schema = json.loads((dashboard / "schema.json").read_text())
    assert {"organic_and_treatments", "calibration", "optimal_frequency"} <= {t["table"] for t in schema["tables"]}


def test_without_the_vocabulary_the_deck_and_dashboard_have_none_of_it(cfg, tmp_path, fake_model):
    _, out, _ = run_report(cfg, tmp_path, model_file=True)
    text = pdf_text(out / stage.DECK_FILE)
    for absent in ("Model vs experiments", "lift test", "Reach and frequency", "non-media treatment",
                   "organic media", "conversions x revenue per conversion"):
        assert absent not in text
    for table in ("organic_and_treatments", "calibration", "optimal_frequency"):
        assert not (out / "dashboard" / f"{table}.csv").exists()
    assert not (out / "charts" / "calibration.png").exists()


def test_the_experiments_sentence_when_the_model_agrees_with_every_test():
    table = calibration_table().assign(inside=True)
    assert sections.experiments_sentence(table).startswith("The model agrees with all 2 lift tests: over each test's "
                                                           "weeks and geo, its ROI lies inside the range the test "
                                                           "measured.")
    assert sections.experiments_sentence(table.head(1)).startswith("The model agrees with the lift test:")
    read_back = table.assign(inside=["False", "True"])  # flags as strings, as a CSV may hold them
    assert sections.experiments_sentence(read_back).startswith("The model agrees with 1 of 2 lift tests;")


def test_a_treatment_that_lowered_revenue_reads_as_such():
    causes = pd.DataFrame({"component": ["price"], "component_type": [NON_MEDIA_TREATMENT], "revenue": [-120_000.0],
                           "share_of_modelled_revenue": [-0.03], "weekly_swing": [900.0]})
    assert sections.cause_sentences(causes, CURRENCY) == [
        "Price lowered revenue by GBP 120.00k over the period (3.0 % of modelled revenue)."]
