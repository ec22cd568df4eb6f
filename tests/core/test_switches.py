"""Switches set by their dotted config names change an outcome: what is logged where (``mmm_meridian.logs``), the
report's cover page (``project.*``) and CSV files (``reports.*``), the marginal-ROI target the optimize stage hands
Meridian, and the MLflow experiment and model that tracking writes (``tracking.*``).

(The report and optimize cases live here because their own test folders belong to other work in progress.)
"""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from reportlab.platypus import Paragraph, Table

from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.logs import _HANDLER_TAG, setup_logging


@pytest.fixture
def restore_logging():
    """setup_logging rewires the root logger: put the handlers and levels back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("mmm_meridian", "hydra", "py.warnings")}
    yield
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)
    logging.captureWarnings(False)


def _log_through(cfg, log_file):
    returned = setup_logging(cfg, log_file=log_file)
    logging.getLogger("mmm_meridian.switch_test").info("hello %s", "world")
    for handler in logging.getLogger().handlers:
        handler.flush()
    return returned


def test_logging_to_file_writes_the_run_log_or_not(make_cfg, tmp_path, restore_logging):
    on_file = tmp_path / "on" / "run.log"
    off_file = tmp_path / "off" / "run.log"
    assert _log_through(make_cfg("logging.to_file=true"), on_file) == on_file
    assert "hello world" in on_file.read_text(encoding="utf-8")
    assert _log_through(make_cfg("logging.to_file=false"), off_file) is None
    assert not off_file.exists() and not off_file.parent.exists()


def test_console_log_follows_the_current_stderr_after_the_old_one_is_closed(make_cfg, tmp_path, restore_logging,
                                                                           monkeypatch):
    # Test runners and notebooks swap sys.stderr and close the old one: records must reach the new one, and no
    # "--- Logging error --- I/O operation on closed file" may be printed.
    import io

    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging(make_cfg("logging.to_file=false"))
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("mmm_meridian.switch_test").info("after the swap")
    assert second.getvalue().splitlines()[-1].endswith("after the swap")
    assert "Logging error" not in second.getvalue()


def test_logging_format_is_the_log_line_layout(make_cfg, tmp_path, restore_logging, capsys):
    lines = {}
    for name, fmt in (("pipes", "A|%(levelname)s|%(message)s"), ("named", "B %(name)s: %(message)s")):
        log_file = tmp_path / name / "run.log"
        _log_through(make_cfg(f"logging.format='{fmt}'", "logging.to_file=true"), log_file)
        lines[name] = log_file.read_text(encoding="utf-8").splitlines()
    assert lines["pipes"] == ["A|INFO|hello world"]
    assert lines["named"] == ["B mmm_meridian.switch_test: hello world"]
    console = capsys.readouterr().err.splitlines()  # the console handler uses the same format
    assert console == ["A|INFO|hello world", "B mmm_meridian.switch_test: hello world"]


def _plain_texts(story) -> list[str]:
    out: list[str] = []
    for flowable in story:
        if isinstance(flowable, Paragraph):
            out.append(flowable.getPlainText())
        elif isinstance(flowable, Table):
            out += _plain_texts([cell for row in flowable._cellvalues for cell in row])
    return out


def _cover_page(cfg) -> tuple[dict[str, str], list[str]]:
    from mmm_meridian.report.deck import Deck
    from mmm_meridian.report.sections import cover
    from mmm_meridian.report.sources import ReportInputs
    from mmm_meridian.report.stage import cover_facts

    ctx = SimpleNamespace(cfg=cfg, store=ArtifactStore(cfg.paths.artifacts))
    inputs = ReportInputs(roi=pd.DataFrame({"channel": cfg.channels}),
                          feature_spec={"time_start": "2022-01-03", "time_end": "2024-12-30", "n_weeks": 157})
    facts = cover_facts(ctx, inputs)
    deck = Deck(title="t", footer="f")
    cover(deck, SimpleNamespace(cover=facts, inputs=inputs))
    return facts, _plain_texts(deck.story)


def test_project_description_data_version_and_owner_are_on_the_report_cover(make_cfg):
    plain, plain_page = _cover_page(make_cfg("project.description='Marketing mix model'",
                                             "project.data_version=unversioned", "project.owner=''"))
    named, named_page = _cover_page(make_cfg("project.description='Q3 push: EU shops'",
                                             "project.data_version=snapshot-2024-06-30", "project.owner='Ana Ruiz'"))
    assert (plain["description"], plain["data_version"], plain["owner"]) == ("Marketing mix model", "unversioned", "")
    assert (named["description"], named["data_version"], named["owner"]) == (
        "Q3 push: EU shops", "snapshot-2024-06-30", "Ana Ruiz")
    # On the page: the subtitle, the "Data version" row and an "Owner" row only when an owner is set.
    assert plain_page[1] == "Marketing mix model" and named_page[1] == "Q3 push: EU shops"
    assert "unversioned" in plain_page and "snapshot-2024-06-30" in named_page
    assert "Owner" not in plain_page
    assert named_page[named_page.index("Owner") + 1] == "Ana Ruiz"


def test_target_mroi_is_the_marginal_roi_meridian_spends_down_to(make_cfg, monkeypatch):
    from mmm_meridian.models.meridian import optimizer as mo
    from mmm_meridian.optimize.constraints import to_meridian
    from mmm_meridian.optimize.stage import main_request

    calls: list[dict] = []

    class FakeBudgetOptimizer:  # records what Meridian's optimiser is asked for
        def __init__(self, mmm):
            pass

        def optimize(self, **kwargs):
            calls.append(kwargs)
            spend = np.full(6, 100.0)
            outcome = SimpleNamespace(sel=lambda metric: np.zeros(6))
            data = type("Data", (dict,), {"attrs": {}})({"spend": spend, "incremental_outcome": outcome})
            return SimpleNamespace(optimized_data=data, optimization_grid=SimpleNamespace(spend_step_size=1.0, optimal_frequency=None))

    monkeypatch.setattr(mo.meridian_optimizer, "BudgetOptimizer", FakeBudgetOptimizer)
    historical = np.array([100.0, 200.0, 300.0, 250.0, 150.0, 120.0])
    targets = {}
    for target in ("1.0", "1.5"):
        cfg = make_cfg("optimization.objective=profit", "optimization.margin=0.5",
                       f"optimization.target_mroi={target}")
        request = main_request(cfg.optimization, cfg.channels, historical)
        assert request.fixed_budget is False
        targets[target] = request.target_mroi
        constraints = to_meridian(request.bounds, historical)
        mo.optimize(None, pct_of_spend=constraints.pct_of_spend, lower=constraints.spend_constraint_lower,
                    upper=constraints.spend_constraint_upper, budget=None, fixed_budget=False,
                    target_mroi=request.target_mroi)
    # Profit per unit of spend is margin x revenue - 1: Meridian's revenue mROI target is target_mroi / margin.
    assert targets == {"1.0": pytest.approx(2.0), "1.5": pytest.approx(3.0)}
    assert [c["target_mroi"] for c in calls] == [pytest.approx(2.0), pytest.approx(3.0)]
    assert all(c["fixed_budget"] is False and "budget" not in c for c in calls)


# -- reports.attribution_report / reports.optimization_recommendations: the report stage's CSV files -------------

def _report_files(make_cfg, tmp_path, name: str, *overrides: str):
    from mmm_meridian.artifacts import StageWriter
    from mmm_meridian.report import stage
    from tests.report import fixtures as fx

    cfg = make_cfg("reports.executive_deck=false", "reports.dashboard_exports=false", "reports.meridian_html=false",
                   *overrides)
    folders = fx.write_artifacts(tmp_path / name / "artifacts")
    out = tmp_path / name / "report"
    out.mkdir()
    ctx = SimpleNamespace(cfg=cfg, inputs=folders, out=StageWriter("report", out),
                          store=ArtifactStore(tmp_path / name / "artifacts"), log=logging.getLogger("test"),
                          extra_manifest={})
    stage.run(ctx)
    return out, fx


def test_reports_attribution_report_writes_the_channel_attribution_csv_or_not(make_cfg, tmp_path):
    on, fx = _report_files(make_cfg, tmp_path, "on", "reports.attribution_report=true")
    off, _ = _report_files(make_cfg, tmp_path, "off", "reports.attribution_report=false")
    table = pd.read_csv(on / "attribution_report.csv")
    roi = fx.roi_table().set_index("channel")
    # Sorted by incremental revenue; each channel's share of all media revenue.
    assert table["channel"].tolist() == roi["incremental_revenue"].sort_values(ascending=False).index.tolist()
    shares = table.set_index("channel")["contribution_share"]
    assert shares["google_search"] == pytest.approx(roi.loc["google_search", "incremental_revenue"]
                                                    / roi["incremental_revenue"].sum())
    assert not (off / "attribution_report.csv").exists()
    assert (off / "optimization_recommendations.csv").is_file()  # only the switched file goes


def test_reports_optimization_recommendations_writes_the_per_channel_actions_or_not(make_cfg, tmp_path):
    on, fx = _report_files(make_cfg, tmp_path, "on", "reports.optimization_recommendations=true")
    off, _ = _report_files(make_cfg, tmp_path, "off", "reports.optimization_recommendations=false")
    table = pd.read_csv(on / "optimization_recommendations.csv").set_index("channel")
    allocation = fx.allocation_table().set_index("channel")
    assert table["recommended_spend"].to_numpy() == pytest.approx(allocation["recommended_spend"].to_numpy())
    # The fixture shifts search +25 % (before renormalising the budget) and instagram -25 %.
    assert table.loc["google_search", "action"] == "increase"
    assert table.loc["meta_instagram", "action"] == "decrease"
    assert not (off / "optimization_recommendations.csv").exists()
    assert (off / "attribution_report.csv").is_file()


# -- tracking.*: the experiment and the logged / registered model (a recording stand-in for MlflowClient) -------

class _RecordingClient:
    """The MlflowClient calls the tracker makes, recorded; experiments and runs live in dicts."""

    def __init__(self):
        self.experiments: dict[str, str] = {}
        self.artifacts: list[tuple[str, str]] = []

    def get_experiment_by_name(self, name):
        return SimpleNamespace(experiment_id=self.experiments[name]) if name in self.experiments else None

    def create_experiment(self, name, artifact_location=None):
        self.experiments[name] = str(len(self.experiments) + 1)
        return self.experiments[name]

    def create_run(self, experiment_id, run_name=None, tags=None, start_time=None):
        return SimpleNamespace(info=SimpleNamespace(run_id=f"run-{run_name}"))

    def log_batch(self, run_id, params=(), metrics=()):
        pass

    def log_artifact(self, run_id, path, artifact_path=None):
        self.artifacts.append((run_id, artifact_path))

    def set_tag(self, run_id, key, value):
        pass

    def set_terminated(self, run_id, status=None, end_time=None):
        pass


def test_tracking_experiment_name_is_the_experiment_runs_are_logged_to(make_cfg):
    from mmm_meridian.tracking import ensure_experiment

    client = _RecordingClient()
    first = ensure_experiment(client, make_cfg("tracking.experiment_name=shop_eu"))
    second = ensure_experiment(client, make_cfg("tracking.experiment_name=shop_us"))
    again = ensure_experiment(client, make_cfg("tracking.experiment_name=shop_eu"))
    assert client.experiments == {"shop_eu": "1", "shop_us": "2"}
    assert (first, second, again) == ("1", "2", "1")
    # Unset, it is the project's name.
    assert make_cfg("project.name=acme").tracking.experiment_name == "acme"


def _log_train_stage(make_cfg, tmp_path, monkeypatch, *overrides: str) -> list[tuple]:
    """Log a committed train folder through the Tracker; returns the calls of ``log_spend_plan_model``."""
    from mmm_meridian.artifacts import Manifest
    from mmm_meridian.models.meridian import pyfunc
    from mmm_meridian.tracking import Tracker

    calls: list[tuple] = []
    monkeypatch.setattr(pyfunc, "log_spend_plan_model",
                        lambda run_id, uri, model_path, name: calls.append((run_id, uri, model_path.name, name)))
    stage_dir = tmp_path / "train"
    stage_dir.mkdir(exist_ok=True)
    (stage_dir / "model.binpb").write_bytes(b"model")
    (stage_dir / "manifest.json").write_text("{}", encoding="utf-8")
    tracker = Tracker(make_cfg(*overrides))  # tracking.enabled=false (make_cfg): no store is opened ...
    tracker.active, tracker.client, tracker.uri, tracker.experiment_id = True, _RecordingClient(), "sqlite:///x", "1"
    manifest = Manifest("train", "hash", {}, {}, {}, {}, {"started": 0.0, "finished": 1.0}, "now")
    assert tracker.log_stage("train", manifest, stage_dir) == "run-train"  # ... and this one logs to the stand-in
    return calls


def test_tracking_log_model_logs_the_spend_plan_model_or_not(make_cfg, tmp_path, monkeypatch):
    assert _log_train_stage(make_cfg, tmp_path, monkeypatch, "tracking.log_model=true") == [
        ("run-train", "sqlite:///x", "model.binpb", None)]
    assert _log_train_stage(make_cfg, tmp_path, monkeypatch, "tracking.log_model=false") == []


def test_tracking_register_model_and_registered_model_name_name_the_registry_entry(make_cfg, tmp_path, monkeypatch):
    registered = _log_train_stage(make_cfg, tmp_path, monkeypatch, "tracking.register_model=true",
                                  "tracking.registered_model_name=shop_spend_model")
    renamed = _log_train_stage(make_cfg, tmp_path, monkeypatch, "tracking.register_model=true",
                               "tracking.registered_model_name=other_model")
    unregistered = _log_train_stage(make_cfg, tmp_path, monkeypatch, "tracking.register_model=false",
                                    "tracking.registered_model_name=shop_spend_model")
    assert [call[3] for call in registered + renamed + unregistered] == ["shop_spend_model", "other_model", None]
    # Unset, the registered name is the project's name.
    assert make_cfg("project.name=acme").tracking.registered_model_name == "acme"
