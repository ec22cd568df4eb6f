"""Holdout refits answer to the main fit's convergence gate; excluded (placeholder-KPI) weeks are never scored.

The evaluate stage runs on synthetic prediction tables and diagnostics (no Meridian fit): the refit is replaced by a
stand-in returning what a refit process writes (``predictions.parquet``, ``roi.csv``, ``diagnostics.json``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore, StageWriter
from mmm_meridian.evaluate import convergence, stage
from mmm_meridian.evaluate.metrics import mark_excluded, score, scored_in_sample
from mmm_meridian.evaluate.refit import RefitResult
from mmm_meridian.models.diagnostics import Diagnostics, ParameterDiagnostics
from mmm_meridian.pipeline import StageContext

WEEKS = pd.date_range("2024-01-01", periods=30, freq="7D").strftime("%Y-%m-%d").tolist()
HELD = 6
EXCLUDED = WEEKS[5:9]  # four weeks with a placeholder KPI, inside the fitted part


def diagnostics(min_ess: float, max_rhat: float = 1.01) -> dict[str, Any]:
    thresholds = {"max_rhat": 1.1, "min_ess": 400.0, "max_divergences_pct": 1.0, "on_failure": "fail"}
    failures = [f"min ESS {min_ess:.0f} < 400"] if min_ess < 400 else []
    return Diagnostics(max_rhat=max_rhat, min_ess=min_ess, divergences=0, n_draws=200, n_chains=2,
                       converged=not failures, failures=failures,
                       parameters=[ParameterDiagnostics("mu_t", max_rhat, min_ess, 30)],
                       thresholds=thresholds).to_dict()


def predictions() -> pd.DataFrame:
    """Actual 100 every week; predicted 90 (10 % off) on fitted weeks, 80 (20 % off) on held-out weeks; the
    placeholder weeks' 'actual' is 1000 (an invented number the in-sample score must not see)."""
    actual = np.full(len(WEEKS), 100.0)
    actual[5:9] = 1000.0
    predicted = np.r_[np.full(len(WEEKS) - HELD, 90.0), np.full(HELD, 80.0)]
    return pd.DataFrame({"geo": "national_geo", "time": WEEKS, "actual": actual, "predicted_mean": predicted,
                         "predicted_lo": predicted - 15, "predicted_hi": predicted + 15,
                         "holdout": [False] * (len(WEEKS) - HELD) + [True] * HELD})


class FakeEvaluator(stage.Evaluator):
    """The stage's Evaluator without a saved model: the train model does not hold out the scored weeks,
    so the temporal strategy refits, and the refit returns ``predictions()`` with the given diagnostics."""

    refit_diagnostics: dict[str, Any] = {}

    def __init__(self, ctx: Any) -> None:
        self.ctx, self.cfg, self.ev = ctx, ctx.cfg, ctx.cfg.evaluation
        self.engine = SimpleNamespace(holdout_mask=lambda mmm: np.zeros((1, len(WEEKS)), bool))
        self.mmm, self.plan, self._base = None, None, None
        self.summary = SimpleNamespace(geos=["national_geo"], times=WEEKS)
        self.blocking = list(self.ev.metrics.blocking)
        self.checks = []
        self.policy = convergence.on_failure(ctx.cfg)
        self.excluded_weeks = {"national": EXCLUDED}
        self.experiments = []  # no lift tests: no calibration check

    _early = None

    def load(self) -> None:  # no saved model
        pass

    def start_temporal_refit(self) -> None:  # the stand-in refit answers at once, when temporal() asks
        pass

    def refit(self, name: str, **kwargs: Any) -> RefitResult:
        return RefitResult(predictions(), pd.DataFrame({"channel": ["tv"], "roi_mean": [1.0]}),
                           self.refit_diagnostics)


def run(make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, min_ess: float, *overrides: str):
    cfg = make_cfg(f"evaluation.validation_strategies.temporal_holdout.weeks={HELD}",
                   "evaluation.digital_checks.enabled=false", "evaluation.business_checks.enabled=false", *overrides)
    FakeEvaluator.refit_diagnostics = diagnostics(min_ess)
    monkeypatch.setattr(stage, "Evaluator", FakeEvaluator)
    out = tmp_path / "evaluate"
    out.mkdir(parents=True)
    ctx = StageContext(cfg, "evaluate", ArtifactStore(cfg.paths.artifacts), StageWriter("evaluate", out), {},
                       logging.getLogger("test.evaluate"))
    return ctx, out


def test_unconverged_refit_is_marked_next_to_its_metrics_when_the_gate_warns(make_cfg, tmp_path, monkeypatch):
    ctx, out = run(make_cfg, tmp_path, monkeypatch, 95.0)  # training=fast: on_failure_override=warn
    stage.run(ctx)
    doc = json.loads((out / "metrics.json").read_text())
    temporal = doc["strategies"]["temporal_holdout"]
    assert temporal["status"] == "refit not converged"
    assert temporal["convergence"]["converged"] is False
    assert temporal["convergence"]["min_ess"] == 95.0 and temporal["convergence"]["max_rhat"] == pytest.approx(1.01)
    assert temporal["convergence"]["failures"] == ["min ESS 95 < 400"]
    assert temporal["convergence"]["on_failure"] == "warn"
    # The holdout MAPE (20 %) is reported, with its threshold and verdict beside it, and the caveat on its check.
    assert temporal["holdout"]["mape"] == pytest.approx(0.2)
    assert temporal["holdout"]["thresholds"]["mape"] == 0.15 and temporal["holdout"]["passed"]["mape"] is False
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["mape"]["caveat"] == "refit not converged"
    assert checks["mape"]["detail"].startswith("REFIT NOT CONVERGED")
    assert checks["refit_convergence"]["passed"] is False and checks["refit_convergence"]["blocking"] is False
    assert "min ESS 95 < 400" in checks["refit_convergence"]["detail"]
    assert "refit_convergence" in doc["failed"] and doc["passed"] is False


def test_unconverged_refit_stops_the_stage_when_the_gate_fails(make_cfg, tmp_path, monkeypatch):
    ctx, out = run(make_cfg, tmp_path, monkeypatch, 95.0, "training.on_failure_override=null")
    with pytest.raises(stage.EvaluationGateError, match="holdout refit.*did not converge.*min ESS 95 < 400") as err:
        stage.run(ctx)
    assert "complexity.identifiability.on_failure=warn" in err.value.fix
    doc = json.loads((out / "metrics.json").read_text())  # written before stopping, for the user to read
    assert doc["strategies"]["temporal_holdout"]["status"] == "refit not converged"
    assert doc["blocking_failed"] == ["refit_convergence"]


def refit_job_sampler(make_cfg, tmp_path, monkeypatch, *overrides: str) -> tuple[dict, dict]:
    """The sampler of the job the real ``Evaluator.refit_job`` builds for the refit process, and training.sampler's."""
    from mmm_meridian.models.jobs import FitJob, sampler_values

    ctx, _ = run(make_cfg, tmp_path, monkeypatch, 812.0, *overrides)
    evaluator = FakeEvaluator(ctx)
    evaluator.engine = SimpleNamespace(name="meridian", child_env=lambda plan: {})
    evaluator.plan = SimpleNamespace(to_dict=lambda: {})
    training = sampler_values(ctx.cfg)
    evaluator._base = FitJob("model_inputs.parquet", "feature_spec.json", training, {}, {})
    job = super(FakeEvaluator, evaluator).refit_job("temporal_holdout", holdout_weeks=HELD)  # the real one
    assert job.holdout_weeks == HELD
    return job.sampler, training


def test_refits_cap_the_production_sampler_at_the_default_presets_counts(make_cfg, tmp_path, monkeypatch):
    sampler, training = refit_job_sampler(make_cfg, tmp_path, monkeypatch, "training=production")
    assert (training["n_chains"], training["n_adapt"], training["n_burnin"]) == (10, 2000, 500)
    assert sampler == {**training, "n_chains": 4, "n_adapt": 500, "n_burnin": 500, "n_keep": 1000}


def test_refit_caps_lower_only_what_is_above_them(make_cfg, tmp_path, monkeypatch):
    # training=fast (2 x 200+100+200) is under the default caps: the refit samples as the main fit does
    sampler, training = refit_job_sampler(make_cfg, tmp_path, monkeypatch)
    assert sampler == training
    sampler, training = refit_job_sampler(make_cfg, tmp_path / "b", monkeypatch, "evaluation.refit_sampler.max_keep=50",
                                          "evaluation.refit_sampler.max_chains=null")
    assert sampler == {**training, "n_keep": 50}
    sampler, training = refit_job_sampler(make_cfg, tmp_path / "c", monkeypatch, "training=production",
                                          "evaluation.refit_sampler.max_chains=null",
                                          "evaluation.refit_sampler.max_adapt=null")
    assert sampler == {**training, "n_keep": 1000} and sampler["n_chains"] == 10 and sampler["n_adapt"] == 2000


def test_refit_sampler_caps_must_be_positive(make_cfg):
    from mmm_meridian.errors import ConfigError

    with pytest.raises(ConfigError, match="evaluation.refit_sampler.max_keep"):
        make_cfg("evaluation.refit_sampler.max_keep=0")


def test_the_record_names_the_sampler_that_scored_the_holdout(make_cfg, tmp_path, monkeypatch):
    ctx, out = run(make_cfg, tmp_path, monkeypatch, 812.0)
    FakeEvaluator.refit_diagnostics = {**diagnostics(812.0), "sampler": {"n_chains": 4, "n_adapt": 500,
                                                                          "n_burnin": 200, "n_keep": 500, "seed": 1}}
    stage.run(ctx)
    record = json.loads((out / "metrics.json").read_text())["strategies"]["temporal_holdout"]["convergence"]
    assert record["sampler"] == "4 chains x 500 kept draws (500 adaptation, 200 burn-in)"


class SecondOpinionEvaluator(FakeEvaluator):
    """Records the keyword arguments of each refit (the second opinion's scoring job)."""

    calls: list[dict[str, Any]] = []

    def refit(self, name: str, **kwargs: Any) -> RefitResult:
        self.calls.append(kwargs)
        return super().refit(name, **kwargs)


@pytest.mark.parametrize(("train_held", "saved", "scores_saved"), [(HELD, True, True), (HELD, False, False),
                                                                    (HELD + 1, True, False), (0, True, False)])
def test_the_second_opinion_scores_trains_fit_when_it_held_out_the_same_weeks(make_cfg, tmp_path, monkeypatch,
                                                                                train_held, saved, scores_saved):
    # model.holdout_weeks = the temporal holdout's weeks: train's second-opinion fit already forecasts them, so
    # evaluate scores that fit (no sampling) instead of refitting the other engine.
    ctx, _ = run(make_cfg, tmp_path, monkeypatch, 812.0, "model.second_opinion=pymc")
    folder = tmp_path / "train" / "second_opinion"
    folder.mkdir(parents=True)
    if saved:
        (folder / "model.nc").write_bytes(b"saved fit")
    ctx.inputs["train"] = tmp_path / "train"
    evaluator = SecondOpinionEvaluator(ctx)
    evaluator.spec_holdout_weeks = train_held
    SecondOpinionEvaluator.calls = []
    doc = evaluator.second_opinion()
    [call] = SecondOpinionEvaluator.calls
    assert call["holdout_weeks"] == HELD and call["engine"].name == "pymc"
    assert call.get("saved_model") == (folder / "model.nc" if scores_saved else None)
    assert doc["convergence"]["source"] == ("train second opinion" if scores_saved else "refit")
    assert doc["weeks"] == HELD and doc["holdout"]["mape"] == pytest.approx(0.2)


def test_scoring_a_saved_fit_refuses_one_with_another_holdout_or_without_its_diagnostics(tmp_path):
    from mmm_meridian.errors import MissingArtifactError
    from mmm_meridian.models.jobs import FitJob, run_job

    (tmp_path / "model.nc").write_bytes(b"saved fit")
    job = FitJob("model_inputs.parquet", "feature_spec.json", {"seed": 1}, {}, {}, engine="pymc", holdout_weeks=HELD,
                 predictive_interval=0.9, saved_model=str(tmp_path / "model.nc"))
    with pytest.raises(MissingArtifactError, match="diagnostics.json or roi.csv cannot be read"):
        run_job(job, tmp_path / "out")
    (tmp_path / "diagnostics.json").write_text(json.dumps({**diagnostics(812.0), "holdout_weeks": HELD - 1}))
    pd.DataFrame({"channel": ["tv"], "roi_mean": [1.0]}).to_csv(tmp_path / "roi.csv", index=False)
    with pytest.raises(ValueError, match=f"holds out {HELD - 1} week\\(s\\), the job scores {HELD}"):
        run_job(job, tmp_path / "out")
    assert not (tmp_path / "out").exists()


class EarlyEvaluator(FakeEvaluator):
    """Train's model holds out no weeks, so the temporal refit is certainly needed: the real
    ``start_temporal_refit`` starts it (a stand-in that records when it is started, collected or stopped)."""

    events: list[str] = []
    fail_to_load = False
    spec_holdout_weeks = 0
    start_temporal_refit = stage.Evaluator.start_temporal_refit

    def load(self) -> None:
        self.events.append("loaded")
        if self.fail_to_load:
            raise RuntimeError("the model file is unreadable")

    def refit(self, name: str, wait: bool = True, **kwargs: Any) -> Any:
        events = self.events
        events.append(f"started {name} wait={wait} weeks={kwargs['holdout_weeks']}")
        result = RefitResult(predictions(), pd.DataFrame({"channel": ["tv"], "roi_mean": [1.0]}), diagnostics(812.0))

        class Pending:
            def result(self, into: Path | None = None) -> RefitResult:
                events.append("collected")
                return result

            def stop(self) -> None:
                events.append("stopped")

        return Pending()


def early_context(make_cfg, tmp_path, monkeypatch):
    ctx, out = run(make_cfg, tmp_path, monkeypatch, 812.0)
    monkeypatch.setattr(stage, "Evaluator", EarlyEvaluator)
    (tmp_path / "features").mkdir()
    pd.DataFrame({"time": WEEKS}).to_parquet(tmp_path / "features" / "model_inputs.parquet")
    (tmp_path / "features" / "feature_spec.json").write_text(json.dumps({"holdout_weeks": 0}))
    ctx.input_path = lambda stage_name, name: tmp_path / stage_name / name
    EarlyEvaluator.events = []
    return ctx, out


def test_the_temporal_refit_samples_while_the_model_loads(make_cfg, tmp_path, monkeypatch):
    ctx, out = early_context(make_cfg, tmp_path, monkeypatch)
    stage.run(ctx)
    assert EarlyEvaluator.events == [f"started temporal_holdout wait=False weeks={HELD}", "loaded", "collected"]
    temporal = json.loads((out / "metrics.json").read_text())["strategies"]["temporal_holdout"]
    assert temporal["source"] == "refit" and temporal["holdout"]["mape"] == pytest.approx(0.2)


def test_an_early_refit_is_stopped_when_the_stage_fails_before_collecting_it(make_cfg, tmp_path, monkeypatch):
    ctx, _ = early_context(make_cfg, tmp_path, monkeypatch)
    monkeypatch.setattr(EarlyEvaluator, "fail_to_load", True)
    with pytest.raises(RuntimeError, match="unreadable"):
        stage.run(ctx)
    assert EarlyEvaluator.events[-2:] == ["loaded", "stopped"] and "collected" not in EarlyEvaluator.events


def test_converged_refit_is_recorded_without_a_caveat(make_cfg, tmp_path, monkeypatch):
    ctx, out = run(make_cfg, tmp_path, monkeypatch, 812.0, "training.on_failure_override=null")
    stage.run(ctx)
    doc = json.loads((out / "metrics.json").read_text())
    temporal = doc["strategies"]["temporal_holdout"]
    assert "status" not in temporal
    assert temporal["convergence"] == {**temporal["convergence"], "converged": True, "min_ess": 812.0,
                                       "on_failure": "fail", "failures": []}
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["refit_convergence"]["passed"] is True and checks["mape"]["caveat"] == ""


def test_in_sample_score_leaves_the_placeholder_weeks_out(make_cfg, tmp_path, monkeypatch):
    ctx, out = run(make_cfg, tmp_path, monkeypatch, 812.0)
    stage.run(ctx)
    doc = json.loads((out / "metrics.json").read_text())
    fitted = doc["strategies"]["temporal_holdout"]["in_sample"]
    # 30 weeks - 6 held out - 4 placeholder weeks = 20 real weeks, each 10 % off; the placeholders (actual 1000)
    # would have made the MAPE (16 x 0.1 + 4 x 0.91) / 20 = 0.262 and the coverage 16 / 20.
    assert fitted["n"] == 20
    assert fitted["mape"] == pytest.approx(0.1)
    assert fitted["coverage"] == pytest.approx(1.0)
    table = pd.read_csv(out / "holdout_predictions.csv")
    assert table.loc[table["excluded"], "time"].tolist() == EXCLUDED


def test_mark_excluded_matches_geo_and_week_and_never_scores_a_placeholder_as_holdout():
    frame = pd.DataFrame({"geo": ["a", "a", "b", "b"], "time": ["2024-01-01", "2024-01-08"] * 2,
                          "actual": [1.0, 2.0, 3.0, 4.0], "predicted_mean": [1.0, 1.0, 3.0, 3.0],
                          "predicted_lo": 0.0, "predicted_hi": 10.0, "holdout": [False, True, False, True]})
    marked = mark_excluded(frame, {"b": ["2024-01-08"]})
    assert marked["excluded"].tolist() == [False, False, False, True]
    assert marked["holdout"].tolist() == [False, True, False, False]
    assert scored_in_sample(marked).tolist() == [True, False, True, False]
    assert score(marked, marked["holdout"])["n"] == 1
    # One geo (Meridian renames the national geo): matched on the week alone.
    national = mark_excluded(frame[frame["geo"] == "a"].assign(geo="national_geo"), {"national": ["2024-01-01"]})
    assert national["excluded"].tolist() == [True, False]


def test_forecast_refit_puts_no_trend_knot_inside_the_held_out_weeks():
    from mmm_meridian.models.meridian.adapter import fitted_knots

    # The demo: 7 knots over 156 weeks (Meridian: 0, 25, ..., 155); 13 held out -> 7 knots over weeks 0..142.
    assert fitted_knots(7, 156, 13, True) == [0, 23, 47, 71, 94, 118, 142]
    assert fitted_knots(7, 156, 0, True) == 7  # nothing held out: the model's own knots
    assert fitted_knots(1, 156, 13, True) == 1  # one knot is a constant level, nothing to extrapolate
    assert fitted_knots(None, 20, 5, True) is None  # national default: one knot
    assert fitted_knots(None, 20, 5, False) == list(range(15))  # geo default, one knot per fitted week
    assert fitted_knots([0, 10, 19], 20, 5, False) == [0, 10, 14]
    assert fitted_knots([0, 23, 47, 71, 94, 118, 142], 156, 13, True) == [0, 23, 47, 71, 94, 118, 142]  # idempotent


def test_train_with_held_out_weeks_puts_no_trend_knot_inside_them(make_cfg):
    """model.holdout_weeks in train (scored by evaluate without a refit) gets the same knot placement."""
    from mmm_meridian.features.stage import build_features
    from mmm_meridian.models.meridian import adapter
    from mmm_meridian.simulate import load_demo
    from tests.features.helpers import clean_table

    inputs, spec = build_features(clean_table(load_demo(), territories=["GB"]), make_cfg())
    assert spec.knots == 7
    assert list(adapter.build_model(inputs, spec, holdout_weeks=13).knot_info.knot_locations) == [
        0, 23, 47, 71, 94, 118, 142]
    assert list(adapter.build_model(inputs, spec).knot_info.knot_locations) == [0, 25, 51, 77, 103, 129, 155]
