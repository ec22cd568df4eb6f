"""Switches set by their dotted config names change an outcome: what is logged where (``mmm_meridian.logs``), the
report's cover page (``project.*``) and the marginal-ROI target the optimize stage hands Meridian.

(The report and optimize cases live here because their own test folders belong to other work in progress.)
"""

from __future__ import annotations

import logging
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
    from mmm_meridian.optimize import meridian_optimizer as mo
    from mmm_meridian.optimize.constraints import to_meridian
    from mmm_meridian.optimize.stage import main_request

    calls: list[dict] = []

    class FakeBudgetOptimizer:  # records what Meridian's optimiser is asked for
        def __init__(self, mmm):
            pass

        def optimize(self, **kwargs):
            calls.append(kwargs)
            spend = np.full(6, 100.0)
            data = type("Data", (dict,), {"attrs": {}})({"spend": spend})
            return SimpleNamespace(optimized_data=data, optimization_grid=SimpleNamespace(spend_step_size=1.0))

    monkeypatch.setattr(mo.meridian_optimizer, "BudgetOptimizer", FakeBudgetOptimizer)
    historical = np.array([100.0, 200.0, 300.0, 250.0, 150.0, 120.0])
    targets = {}
    for target in ("1.0", "1.5"):
        cfg = make_cfg("optimization.objective=profit", "optimization.margin=0.5",
                       f"optimization.target_mroi={target}")
        request = main_request(cfg.optimization, cfg.channels, historical)
        assert request.fixed_budget is False
        targets[target] = request.target_mroi
        mo.optimize(None, to_meridian(request.bounds, historical), budget=None, fixed_budget=False,
                    target_mroi=request.target_mroi)
    # Profit per unit of spend is margin x revenue - 1: Meridian's revenue mROI target is target_mroi / margin.
    assert targets == {"1.0": pytest.approx(2.0), "1.5": pytest.approx(3.0)}
    assert [c["target_mroi"] for c in calls] == [pytest.approx(2.0), pytest.approx(3.0)]
    assert all(c["fixed_budget"] is False and "budget" not in c for c in calls)
