"""The PyMC engine's interface, runtime and model building (no sampling here)."""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmm_meridian import models
from mmm_meridian.config.infra import Device, RuntimeConfig
from mmm_meridian.errors import ConfigError, DataError
from mmm_meridian.models import base
from mmm_meridian.models.base import GeoHoldout, SamplerSettings
from mmm_meridian.models.pymc import ENGINE, MEDIA_PARAMETERS, build, fit, runtime


def _protocol_methods() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(base.Engine).items()
            if inspect.isfunction(member) and not name.startswith("_")}


def test_engine_implements_every_method_of_the_interface() -> None:
    assert ENGINE.name == "pymc" and ENGINE.model_file == "model.nc"
    assert isinstance(ENGINE.media_parameters, frozenset) and "roi" in ENGINE.media_parameters
    for name, signature in _protocol_methods().items():
        method = getattr(ENGINE, name, None)
        assert callable(method), name
        ours = inspect.signature(method)
        assert list(ours.parameters) == [p for p in signature.parameters if p != "self"], name
    assert models.engine("pymc") is ENGINE


def test_importing_the_engine_loads_no_model_library() -> None:
    code = ("import sys; from mmm_meridian import models; models.engine('pymc'); "
            "print(sorted(m for m in ('pymc', 'pymc_marketing', 'pytensor', 'jax', 'numpyro') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_pages_grid_and_mlflow_model_are_not_offered(tmp_path: Path) -> None:
    assert ENGINE.write_optimizer_html(None, tmp_path, "x.html") is False  # type: ignore[arg-type]
    assert ENGINE.write_model_summary(None, tmp_path, "x.html") is None
    assert ENGINE.log_spend_plan_model("run", "file:/tmp", tmp_path / "model.nc", None) is None
    assert ENGINE.shared_grid(None, np.ones(2), np.ones(2), 2.0, 1e-4) is None


def test_another_engines_model_is_refused() -> None:
    with pytest.raises(TypeError, match="PyMC engine"):
        ENGINE.roi_table(object())


def test_runtime_plan_sets_threads_caches_and_cpu(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "jax"
    plan = ENGINE.plan(RuntimeConfig(threads=3, compilation_cache_dir=str(cache)))
    assert (plan.engine, plan.backend, plan.precision, plan.device, plan.threads) == \
        ("pymc", "pytensor", "float64", "cpu", 3)
    assert plan.env["OMP_NUM_THREADS"] == "3" and plan.env[runtime.CORES_ENV] == "3"
    assert "--xla_force_host_platform_device_count=3" in plan.env["XLA_FLAGS"]
    assert plan.env["JAX_COMPILATION_CACHE_DIR"] == str(cache.resolve())
    assert plan.env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"  # numpyro's small programs are kept too
    assert f"compiledir={(tmp_path / 'cache' / 'pytensor').resolve()}" in plan.env["PYTENSOR_FLAGS"]
    assert (tmp_path / "cache" / "pytensor").is_dir()
    env = ENGINE.child_env(plan)
    assert env["PYTENSOR_FLAGS"] == plan.env["PYTENSOR_FLAGS"] and "PATH" in env
    assert ENGINE.plan(RuntimeConfig(compilation_cache_dir=None)).env.get("PYTENSOR_FLAGS") is None


def test_runtime_refuses_a_gpu_unless_falling_back() -> None:
    with pytest.raises(ConfigError, match="runtime.device=gpu"):
        ENGINE.plan(RuntimeConfig(device=Device.gpu, compilation_cache_dir=None))
    plan = ENGINE.plan(RuntimeConfig(device=Device.gpu, gpu_fallback_to_cpu=True, compilation_cache_dir=None))
    assert plan.device == "cpu"


def test_versions_and_loaded_runtime() -> None:
    versions = ENGINE.versions()
    assert versions["pymc-marketing"] == "0.19.2" and "pymc" in versions and "pytensor" in versions
    assert ENGINE.loaded_runtime() == {"backend": "pytensor", "precision": "float64", "device": "cpu"}


@pytest.mark.parametrize("name", ["nutpie", "blackjax"])
def test_a_sampler_that_is_not_installed_is_a_config_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fit.importlib.util, "find_spec", lambda module: None)
    with pytest.raises(ConfigError) as error:
        fit.check_sampler(name)
    assert error.value.where == "config key training.sampler.nuts_sampler" and f"pip install {name}" in error.value.fix
    with pytest.raises(ConfigError, match="not a NUTS sampler"):
        fit.check_sampler("metropolis")


def test_sampler_settings_become_pm_sample_arguments() -> None:
    settings = SamplerSettings(n_chains=3, n_adapt=20, n_burnin=30, n_keep=40, seed=5, max_tree_depth=7,
                               nuts_sampler="numpyro")
    kwargs = fit._sampler_kwargs(settings)
    assert (kwargs["tune"], kwargs["draws"], kwargs["chains"], kwargs["random_seed"]) == (50, 40, 3, 5)
    assert kwargs["nuts_sampler_kwargs"] == {"nuts_kwargs": {"max_tree_depth": 7}}
    pymc_kwargs = fit._sampler_kwargs(dataclasses.replace(settings, nuts_sampler="pymc"))
    assert pymc_kwargs["nuts"] == {"max_treedepth": 7} and 1 <= pymc_kwargs["cores"] <= 3
    assert fit._sampler_kwargs(dataclasses.replace(settings, nuts_sampler="nutpie"))["nuts_sampler_kwargs"] == \
        {"maxdepth": 7}


def test_large_panels_sample_their_chains_vectorized(make_inputs, make_spec, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parallel (pmap) chains grow memory while they sample (a 40-geo fit was killed at 24 GB): above
    MAX_PARALLEL_CHAIN_CELLS week x geo x channel cells the chains run vectorized, below it in parallel."""
    inputs = make_inputs(("A", "B"))
    model = ENGINE.build(inputs, make_spec(inputs))
    coords = model.mmm.model.coords
    cells = len(coords["date"]) * len(coords["geo"]) * len(coords["channel"])
    passed: list[dict] = []
    monkeypatch.setattr(model.mmm, "fit", lambda X, y, **kwargs: passed.append(kwargs))
    monkeypatch.setattr(fit, "finish", lambda model: None)
    settings = SamplerSettings(n_chains=2, n_adapt=10, n_burnin=0, n_keep=10, seed=1, nuts_sampler="numpyro")
    methods = {}
    for limit in (cells, cells - 1):
        monkeypatch.setattr(fit, "MAX_PARALLEL_CHAIN_CELLS", limit)
        methods[limit] = fit.chain_method(model)
        fit.sample(model, settings)
        assert passed[-1]["nuts_sampler_kwargs"]["chain_method"] == methods[limit]
    assert methods == {cells: "parallel", cells - 1: "vectorized"}
    fit.sample(model, dataclasses.replace(settings, nuts_sampler="pymc"))  # PyMC's own NUTS has no chain method
    assert "chain_method" not in passed[-1].get("nuts_sampler_kwargs", {})


def test_jax_samplers_get_a_host_device_per_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "jax", raising=False)  # JAX not started yet in this (pretend) process
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_x --xla_force_host_platform_device_count=2")
    fit._host_devices("pymc", 4)  # PyMC's own sampler runs chains in processes: nothing to do
    assert os.environ["XLA_FLAGS"].endswith("=2")
    fit._host_devices("numpyro", 4)
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_x --xla_force_host_platform_device_count=4"
    fit._host_devices("numpyro", 3)  # never fewer than the plan's
    assert os.environ["XLA_FLAGS"].endswith("=4")


def test_knot_positions_follow_meridian_on_the_fitted_weeks() -> None:
    assert build.knot_positions(None, 60, geo_model=False) == []
    assert build.knot_positions(1, 60, geo_model=False) == []
    assert build.knot_positions(3, 54, geo_model=False) == [0, 26, 53]  # none inside a 6-week holdout
    assert len(build.knot_positions(None, 60, geo_model=True)) == math.ceil(59 / 8) + 1
    assert build.knot_positions([0, 10, 70], 60, geo_model=False) == [0, 10, 59]
    basis = build.knot_columns([0, 26, 53], 60)
    assert basis.shape == (60, 2)
    assert np.allclose(basis[53:], [0.0, 1.0])  # flat after the last knot: a forecast keeps the last level
    assert np.isclose(basis[13, 0], 0.5) and np.all(basis.sum(axis=1) <= 1.0 + 1e-12)


def test_build_maps_the_spec_onto_pymc_marketing(make_inputs, make_spec) -> None:
    inputs = make_inputs()
    spec = make_spec(inputs, knots=3, holdout_weeks=6)
    model = ENGINE.build(inputs, spec, holdout_weeks=6)
    mmm, record = model.mmm, model.record
    assert record.channels == ["tv", "search"] and record.l_max == spec.max_lag + 1
    assert record.controls == ["sin_1", "price", "trend_knot_1", "trend_knot_2"]
    assert record.control_kinds == {"trend_knot_1": "trend", "trend_knot_2": "trend"}
    assert record.holdout[-6:].all() and not record.holdout[:-6].any() and not record.excluded.any()
    assert mmm.yearly_seasonality is None and mmm.dims == ()
    assert mmm.adstock.l_max == 5 and mmm.adstock.normalize
    assert np.allclose(mmm.model_config["adstock_alpha"].parameters["alpha"], [5.0, 3.0])
    media = np.stack([inputs["tv__media"].to_numpy(), inputs["search__media"].to_numpy()], axis=1)[:, None, :]
    ratio = build.half_saturation_ratio(media)
    assert np.allclose(mmm.model_config["saturation_lam"].parameters["mu"], math.log(0.8) + np.log(ratio))
    free = {v.name for v in mmm.model.free_RVs}
    assert {"roi", "adstock_alpha", "saturation_lam"} <= free and "saturation_alpha" not in free
    assert "saturation_alpha" in {v.name for v in mmm.model.deterministics}
    assert mmm.model["y"].eval().shape == (54,)  # the held-out weeks are not observed
    X = mmm.X
    assert np.allclose(X[["sin_1", "price"]].mean(), 0.0) and np.allclose(X[["sin_1", "price"]].std(ddof=0), 1.0)


def test_geo_holdout_and_excluded_weeks_are_left_out(make_inputs, make_spec) -> None:
    inputs = make_inputs(("A", "B"))
    spec = make_spec(inputs, knots=2, excluded={"B": ["2022-01-17"], "C": ["2022-01-17"]})
    model = ENGINE.build(inputs, spec, holdout_weeks=4, geo_holdout=GeoHoldout(("A",), "2022-02-07"))
    record = model.record
    assert record.geos == ["A", "B"] and record.geo_model and model.mmm.dims == ("geo",)
    assert record.holdout[5:, 0].all() and not record.holdout[:5, 0].any() and not record.holdout[:, 1].any()
    assert record.excluded[2, 1] and record.excluded.sum() == 1
    assert model.mmm.model["y"].eval().shape == (2 * 60 - 55 - 1,)
    free = {v.name for v in model.mmm.model.free_RVs}
    assert {"media_geo_effect", "gamma_control_mu"} <= free and "gamma_control_sigma" not in free
    with pytest.raises(DataError, match="geo holdout"):
        ENGINE.build(inputs, spec, geo_holdout=GeoHoldout(("Z",), "2022-02-07"))


def test_default_priors_give_pymc_marketings_own_model(make_inputs, make_spec) -> None:
    inputs = make_inputs()
    model = ENGINE.build(inputs, make_spec(inputs), default_priors=True)
    free = {v.name for v in model.mmm.model.free_RVs}
    assert "saturation_alpha" in free and "roi" not in free
    assert not any(c.startswith(build.KNOT_PREFIX) for c in model.record.controls)


@pytest.mark.parametrize("case", ["missing column", "no spend", "name clash", "missing row", "missing week"])
def test_unusable_inputs_are_data_errors(case: str, make_inputs, make_spec) -> None:
    inputs = make_inputs(("A", "B") if case == "missing row" else ("national",))
    spec = make_spec(inputs)
    if case == "missing column":
        inputs = inputs.drop(columns=["price"])
    elif case == "no spend":
        inputs["search__spend"] = 0.0
    elif case == "name clash":
        spec.controls[1] = dataclasses.replace(spec.controls[1], name="tv")
        inputs["tv"] = inputs["price"]
    elif case == "missing row":
        inputs = inputs.iloc[1:]  # geo A lacks the first week
    else:
        inputs = inputs.drop(index=10)
    with pytest.raises(DataError) as error:
        ENGINE.build(inputs, spec)
    assert error.value.where.startswith("features/")


def test_media_parameters_name_posterior_variables() -> None:
    assert MEDIA_PARAMETERS >= {"roi", "adstock_alpha", "saturation_lam", "saturation_alpha"}
