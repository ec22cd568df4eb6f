"""Broken inputs through the real ``mmm`` command: exit status 2, one clear line, no traceback, no artifacts.

The subprocesses of every selected case are started together by a module fixture (a few at a time: the CLI's start-up
is CPU bound), and each parametrized test checks its own result, so a failure still names its case.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from tests.reliability.corpus import (
    CASES,
    REVENUE,
    REVENUE_GAP_DAYS,
    Case,
    _gb_rows,
    base_frame,
    write_data_config,
    write_frame,
)
from tests.reliability.helpers import (
    artifacts,
    assert_no_artifacts_from,
    assert_refused,
    describe,
    run_mmm,
    stage_implemented,
)

CASE_BY_NAME = {case.name: case for case in CASES}


def _command(case: Case) -> tuple[str, tuple[str, ...]]:
    """The stage to run and its overrides: a later stage rebuilds ingest first, as `mmm run` would."""
    if case.stage == "ingest":
        return "ingest", case.overrides
    return case.stage, (*case.overrides, "runtime.upstream_policy=rebuild")


def _run_case(case: Case, root: Path) -> subprocess.CompletedProcess[str]:
    root.mkdir(parents=True)
    data_path = case.build(root)
    conf_dir = write_data_config(root / "conf", data_path, data=case.data, ingest=case.ingest, extra=case.extra)
    stage, overrides = _command(case)
    return run_mmm(stage, root, conf_dir, *overrides)


@pytest.fixture(scope="module")
def corpus_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                   ) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Run every selected, runnable case concurrently; name -> (its root folder, its finished process)."""
    selected = {item.callspec.params["case"].name for item in request.session.items
                if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)}
    selected |= {m.args[0] for item in request.session.items for m in item.iter_markers("corpus_case")}
    runnable = [CASE_BY_NAME[name] for name in sorted(selected) if stage_implemented(CASE_BY_NAME[name].stage)]
    base = tmp_path_factory.mktemp("corpus")
    roots = {case.name: base / case.name for case in runnable}
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        futures = {case.name: pool.submit(_run_case, case, roots[case.name]) for case in runnable}
        return {name: (roots[name], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.bug, strict=True)]
                                                 if c.bug else []) for c in CASES])
def test_broken_input_is_refused_cleanly(case: Case, corpus_results: dict) -> None:
    if not stage_implemented(case.stage):
        pytest.skip(f"{case.stage} not implemented yet")
    root, proc = corpus_results[case.name]
    line = assert_refused(proc, case.expect)
    if case.stage != "ingest":  # ingest let it through, the expected stage refused it
        assert (artifacts(root) / "ingest" / "manifest.json").is_file(), describe(proc)
    assert line.startswith(f"error: {case.stage}:"), line
    assert_no_artifacts_from(root, case.stage)


def test_the_base_data_passes(tmp_path: Path) -> None:
    """The control: the unbroken base file passes every stage the corpus expects to refuse something."""
    data = write_frame(base_frame(), tmp_path / "data.csv")
    conf_dir = write_data_config(tmp_path / "conf", data)
    last = next((s for s in ("transform", "validate") if stage_implemented(s)), "ingest")
    proc = run_mmm(last, tmp_path, conf_dir, "runtime.upstream_policy=rebuild")
    assert proc.returncode == 0, describe(proc)
    assert (artifacts(tmp_path) / last / "manifest.json").is_file()


@pytest.mark.corpus_case("huge_file")
def test_size_cap_message_states_the_cap(corpus_results: dict) -> None:
    """A cap below 1 MB must not be reported as 'above the 0 MB cap'."""
    _, proc = corpus_results["huge_file"]
    line = assert_refused(proc)
    assert " 0 MB" not in line, line


def test_a_long_revenue_gap_can_be_kept_out_of_the_fit(tmp_path: Path) -> None:
    """The documented opt-in for the 31-week gap: its weeks are excluded from the fit, never interpolated revenue."""
    data = write_frame(_gb_rows(REVENUE, "", days=REVENUE_GAP_DAYS)(base_frame().copy()), tmp_path / "data.csv")
    conf_dir = write_data_config(tmp_path / "conf", data)
    proc = run_mmm("features", tmp_path, conf_dir, "runtime.upstream_policy=rebuild",
                   "enhanced_cleaning.missing_data.kpi_long_gaps=exclude")
    assert proc.returncode == 0, describe(proc)
    weeks = [str(d.date()) for d in pd.date_range("2022-02-07", "2022-09-05", freq="7D")]
    log = json.loads((artifacts(tmp_path) / "transform" / "cleaning_log.json").read_text())
    assert log["kpi_excluded_weeks"] == {"national": weeks}
    assert "missing.kpi_interpolate" not in log["by_rule"] and "missing.kpi_interpolate_long_gap" not in log["by_rule"]
    spec = json.loads((artifacts(tmp_path) / "features" / "feature_spec.json").read_text())
    assert spec["excluded_weeks"] == {"national": weeks}
    assert spec["holiday_calendars"]["national"]["country"] == "GB"
    validation = json.loads((artifacts(tmp_path) / "validate" / "validation_report.json").read_text())
    gap = next(c for c in validation["checks"] if c["name"] == "kpi_gaps")
    assert gap["status"] == "warn" and "kept out of the model's fit" in gap["message"]
    assert "31 week(s) kept out of the model's fit" in proc.stderr + proc.stdout
