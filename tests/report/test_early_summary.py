"""`mmm run` writes the model summary page in its own process beside optimize (report ``prestart``) and the report
stage takes it over; a failed or foreign early page falls back to writing it in the stage."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmm_meridian.models.jobs import SubprocessSummary
from mmm_meridian.report import stage
from tests.optimize.fixtures import fixture_config


def _prestart(cfg, fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int = 2):
    monkeypatch.setattr("mmm_meridian.models.jobs.os.cpu_count", lambda: cores)
    scratch = tmp_path / f"scratch-{cores}"
    scratch.mkdir(exist_ok=True)
    return stage.prestart(cfg, {"train": fitted.stage_dir("train")}, scratch, logging.getLogger("test.report"))


def test_the_page_starts_once_train_is_done_unless_switched_off(fitted, tmp_path, monkeypatch):
    early = _prestart(fixture_config(tmp_path), fitted, tmp_path, monkeypatch)
    try:
        assert isinstance(early, SubprocessSummary) and early.process.poll() is None
        assert early.model_file == fitted.stage_dir("train") / "model.binpb"
        # The report's draws (reports.max_posterior_draws) and file name, in the scratch folder.
        assert early.process.args[-3:] == ["2000", str(tmp_path / "scratch-2"), stage.MODEL_SUMMARY_FILE]
    finally:
        early.stop()
    for overrides in (["reports.meridian_html=false"], ["runtime.overlap_stages=false"], ["model.backend=pymc"]):
        assert _prestart(fixture_config(tmp_path, *overrides), fitted, tmp_path, monkeypatch) is None, overrides
    assert _prestart(fixture_config(tmp_path), fitted, tmp_path, monkeypatch, cores=1) is None


class Engine:
    """Writes the page in the stage (the fallback), recording that it did."""

    def __init__(self) -> None:
        self.calls = 0

    def write_model_summary(self, mmm, folder: Path, filename: str) -> Path:
        self.calls += 1
        (folder / filename).write_text("written in the stage")
        return folder / filename


def _early(tmp_path: Path, model_file: Path, code: str, page: str | None) -> SubprocessSummary:
    """A SubprocessSummary whose process runs ``code`` and whose page holds ``page`` (None: no page)."""
    early = SubprocessSummary.__new__(SubprocessSummary)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    early.model_file, early.page = model_file, scratch / stage.MODEL_SUMMARY_FILE
    if page is not None:
        early.page.write_text(page)
    early.process = subprocess.Popen([sys.executable, "-c", code])
    return early


def _ctx(tmp_path: Path, early) -> SimpleNamespace:
    out = tmp_path / "report"
    out.mkdir(exist_ok=True)
    return SimpleNamespace(early=early, log=logging.getLogger("test.report"),
                           out=SimpleNamespace(dir=out, path=lambda name: out / name))


@pytest.mark.parametrize("code, page, model, expected, stage_calls", [
    ("pass", "written beside optimize", "model.binpb", "written beside optimize", 0),  # taken over
    ("pass", None, "model.binpb", None, 0),  # the engine wrote none and logged why: not written again
    ("raise SystemExit(1)", None, "model.binpb", "written in the stage", 1),  # its process failed
    ("pass", "written beside optimize", "other.binpb", "written in the stage", 1),  # another model's page
])
def test_the_stage_takes_the_early_page_over_or_writes_its_own(tmp_path, code, page, model, expected, stage_calls):
    engine, model_file = Engine(), tmp_path / "model.binpb"
    ctx = _ctx(tmp_path, _early(tmp_path, tmp_path / model, code, page))
    written = stage.write_model_summary(ctx, engine, None, model_file)
    assert engine.calls == stage_calls
    if expected is None:
        assert written is None and not (ctx.out.dir / stage.MODEL_SUMMARY_FILE).exists()
    else:
        assert written == ctx.out.dir / stage.MODEL_SUMMARY_FILE and written.read_text() == expected


@pytest.mark.slow  # two processes importing Meridian (37 s); every `mmm run` with the page on goes this way too
def test_the_worker_writes_no_page_for_a_fit_without_prior_draws_and_fails_on_a_missing_model(fitted, tmp_path):
    command = [sys.executable, "-m", "mmm_meridian.models.worker", "model-summary", "meridian"]
    done = subprocess.run([*command, str(fitted.stage_dir("train") / "model.binpb"), "40", str(tmp_path), "page.html"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "training.sampler.n_prior_draws" in done.stderr  # Meridian's page needs a prior
    assert not (tmp_path / "page.html").exists()
    missing = subprocess.run([*command, str(tmp_path / "none.binpb"), "all", str(tmp_path), "page.html"],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "none.binpb" in missing.stderr
