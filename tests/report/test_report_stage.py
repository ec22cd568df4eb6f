"""The report stage on synthetic upstream artifacts: the deck's numbers, omitted sections, the dashboard tables."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore, StageWriter
from mmm_meridian.errors import MissingArtifactError
from mmm_meridian.models.meridian import ENGINE as meridian_engine
from mmm_meridian.report import stage
from mmm_meridian.report.formatting import money
from tests.report import fixtures as fx

pypdf = pytest.importorskip("pypdf")


def pdf_text(path: Path) -> str:
    reader = pypdf.PdfReader(str(path))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand in for the Meridian engine: the stage gets posterior summaries from the fixtures."""
    monkeypatch.setattr(meridian_engine, "load", lambda path: object())
    monkeypatch.setattr(meridian_engine, "thin", lambda mmm, max_draws, key: (400, 400))
    monkeypatch.setattr(meridian_engine, "model_outputs",
                        lambda mmm, kinds, with_curves=True: fx.fake_model_outputs())

    def html(mmm: object, folder: Path, filename: str) -> Path:
        (folder / "model_summary.html").write_text("<html></html>", encoding="utf-8")
        return folder / "model_summary.html"

    monkeypatch.setattr(meridian_engine, "write_model_summary", html)


def run_report(cfg: object, tmp_path: Path, folders: dict[str, Path] | None = None, out_name: str = "report",
               **kwargs: object) -> tuple[dict, Path, dict[str, Path]]:
    """Run the report stage on fake artifacts (written here unless ``folders`` are given), into ``tmp_path/out_name``."""
    folders = folders if folders is not None else fx.write_artifacts(tmp_path / "artifacts", **kwargs)
    out = tmp_path / out_name
    out.mkdir()
    ctx = SimpleNamespace(cfg=cfg, inputs=folders, out=StageWriter("report", out),
                          store=ArtifactStore(tmp_path / "artifacts"), log=logging.getLogger("test"),
                          extra_manifest={}, early=None)
    return stage.run(ctx), out, folders


def test_deck_numbers_match_roi_and_allocation(cfg, tmp_path, fake_model) -> None:
    summary, out, folders = run_report(cfg, tmp_path, model_file=True)
    text = pdf_text(out / stage.DECK_FILE)
    roi = pd.read_csv(folders["train"] / "roi.csv")
    allocation = pd.read_csv(folders["optimize"] / "allocation.csv")
    for r in roi.itertuples():
        assert f"{r.roi_mean:.2f}" in text
        assert f"{r.roi_lo_90:.2f} to {r.roi_hi_90:.2f}" in text, r.channel
        assert money(r.spend, "GBP") in text
        assert money(r.incremental_revenue, "GBP") in text
    for r in allocation.itertuples():
        assert money(r.current_spend, "GBP") in text
        assert money(r.recommended_spend, "GBP") in text, r.channel
        assert f"{r.change_pct:+.1f} %" in text
    lift = json.loads((folders["optimize"] / "summary.json").read_text())["expected_lift"]["mean"]
    assert money(lift, "GBP") in text
    clean = pd.read_parquet(folders["transform"] / "clean.parquet")
    assert money(clean["revenue"].sum(), "GBP") in text
    assert summary["media_share"] == pytest.approx(roi["incremental_revenue"].sum() / clean["revenue"].sum())
    for heading in ("Summary", "What drives revenue", "Return on investment by channel", "Response curves",
                    "Budget recommendations", "Scenarios", "Appendix A: model quality", "Appendix B: data quality",
                    "Caveats and notes"):
        assert heading in text
    assert "Validation score 0.86" in text and "outliers.winsorize" in text
    assert "Creative fatigue" in text  # optimize's business note reaches the caveats
    assert (out / "model_summary.html").is_file() and (out / "optimization_summary.html").is_file()
    assert summary["sections_left_out"] == 0


def test_absent_inputs_are_left_out_with_a_note(cfg, tmp_path) -> None:
    summary, out, _ = run_report(cfg, tmp_path, stages=("ingest", "validate", "transform", "features", "train"))
    text = pdf_text(out / stage.DECK_FILE)
    assert "optimize/allocation.csv is missing" in text
    assert "evaluate/metrics.json is missing" in text
    assert "train/model.binpb is missing" in text
    assert "Recommended spend" not in text  # no allocation table is faked
    assert "Marginal ROI needs the trained model" in text
    assert summary["sections_left_out"] >= 5
    schema = json.loads((out / "dashboard" / "schema.json").read_text())
    written = {t["table"] for t in schema["tables"]}
    assert {"attribution", "roi"} <= written
    assert not written & {"allocation", "scenarios", "weekly_contributions", "recommendations", "model_fit"}
    assert not (out / "optimization_recommendations.csv").exists()


def test_dashboard_tables_match_their_schema(cfg, tmp_path, fake_model) -> None:
    _, out, folders = run_report(cfg, tmp_path, model_file=True)
    folder = out / "dashboard"
    schema = json.loads((folder / "schema.json").read_text())
    assert {t["table"] for t in schema["tables"]} == {"weekly_contributions", "attribution", "roi", "response_curves",
                                                      "allocation", "recommendations", "scenarios", "metrics",
                                                      "model_fit"}
    markdown = (folder / "SCHEMA.md").read_text()
    for table in schema["tables"]:
        csv = pd.read_csv(folder / f"{table['table']}.csv")
        parquet = pd.read_parquet(folder / f"{table['table']}.parquet")
        names = [c["name"] for c in table["columns"]]
        assert list(csv.columns) == names == list(parquet.columns)
        assert len(csv) == len(parquet) == table["rows"]
        assert f"## {table['table']}" in markdown
        assert all(c["description"] for c in table["columns"])
    attribution = pd.read_parquet(folder / "attribution.parquet")
    assert attribution["spend_share"].sum() == pytest.approx(1.0)
    assert attribution["contribution_share"].sum() == pytest.approx(1.0)
    weekly = pd.read_parquet(folder / "weekly_contributions.parquet")
    assert weekly.groupby("time")["share_of_week"].sum().to_numpy() == pytest.approx(1.0)
    media = weekly[weekly["component_type"] == "media"].groupby("component")["revenue"].sum()
    roi = pd.read_csv(folders["train"] / "roi.csv").set_index("channel")
    assert media.sort_index().to_numpy() == pytest.approx(roi["incremental_revenue"].sort_index().to_numpy())
    recs = pd.read_csv(out / "optimization_recommendations.csv")
    assert set(recs.loc[recs["change_pct"] > 5, "action"]) == {"increase"}
    assert set(recs.loc[recs["change_pct"] < -5, "action"]) == {"decrease"}
    assert recs["spend_change"].sum() == pytest.approx(0.0, abs=1e-6)  # fixed budget: moves net out
    metrics = pd.read_parquet(folder / "metrics.parquet")
    assert len(metrics) == 6  # 4 temporal holdout metrics + MAPE of 2 rolling splits
    failing = metrics[metrics["passed"].eq(False)]
    assert list(failing["scope"]) == ["rolling_origin/splits/1"]


def test_report_refuses_without_roi_table(cfg, tmp_path) -> None:
    with pytest.raises(MissingArtifactError, match="roi.csv"):
        run_report(cfg, tmp_path, stages=("ingest", "validate"))


def test_configured_currency_wins_and_flags_switch_outputs_off(make_cfg, tmp_path) -> None:
    cfg = make_cfg("reports.currency=EUR", "reports.executive_deck=false", "reports.dashboard_exports=false")
    summary, out, _ = run_report(cfg, tmp_path)
    assert summary["currency"] == "EUR"
    assert not (out / stage.DECK_FILE).exists() and not (out / "dashboard").exists()
    assert (out / "attribution_report.csv").is_file()
