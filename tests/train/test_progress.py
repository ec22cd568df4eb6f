"""Progress messages while Meridian samples (it has no progress callback): elapsed time and a rough time left."""

from __future__ import annotations

import logging
import time

import pytest

from mmm_meridian.models.jobs import _Heartbeat, estimate_seconds

FAST = {"n_chains": 2, "n_adapt": 200, "n_burnin": 100, "n_keep": 200}
PRODUCTION = {"n_chains": 10, "n_adapt": 2000, "n_burnin": 500, "n_keep": 1000}


def test_estimate_grows_with_draws_chains_geos_and_weeks_but_not_proportionally():
    base = estimate_seconds(PRODUCTION, 1, 156)
    assert estimate_seconds({**PRODUCTION, "n_keep": 2000}, 1, 156) > base
    assert estimate_seconds({**PRODUCTION, "n_chains": 20}, 1, 156) > base
    assert estimate_seconds(PRODUCTION, 4, 156) > estimate_seconds(PRODUCTION, 1, 260) > base
    # Measured on 2 cores (benchmarks/RESULTS.md): fast preset 36 s, production national about 110 s, production
    # with 4 geos about 500 s. A model proportional to chains x iterations said 30 minutes for the second.
    assert 25 < estimate_seconds(FAST, 1, 156) < 75
    assert 60 < base < 240
    assert 250 < estimate_seconds(PRODUCTION, 4, 156) < 1000


def test_heartbeat_logs_elapsed_and_time_left_then_stops(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mmm_meridian.models.jobs")
    with _Heartbeat("national fit", every_s=0.05, estimate_s=0.12):
        time.sleep(0.3)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("national fit: sampling, 0 s elapsed, about 0 s left") for m in messages)
    assert any(m.endswith("taking longer than estimated") for m in messages)
    count = len(caplog.records)
    time.sleep(0.15)
    assert len(caplog.records) == count  # stopped with the block


def test_only_a_saved_model_draws_the_prior():
    """Prior draws serve the saved model's prior-vs-posterior pages; a refit or rolling split (save_model=False)
    skips them, and Meridian's adapter then never calls sample_prior."""
    from mmm_meridian.models.jobs import FitJob, sampler_settings
    from mmm_meridian.models.meridian import adapter

    sampler = {**FAST, "seed": 1, "n_prior_draws": 500, "max_tree_depth": 10, "nuts_sampler": "numpyro"}
    main = FitJob("model_inputs.parquet", "feature_spec.json", sampler, {}, {})
    assert sampler_settings(main).n_prior_draws == 500
    refit = FitJob("model_inputs.parquet", "feature_spec.json", sampler, {}, {}, save_model=False)
    assert sampler_settings(refit).n_prior_draws == 0

    calls = []

    class Model:
        def sample_prior(self, n, seed):
            calls.append(("prior", n))

        def sample_posterior(self, **kwargs):
            calls.append(("posterior", kwargs["n_keep"]))

    timings = adapter.sample(Model(), n_chains=2, n_adapt=1, n_burnin=1, n_keep=3, seed=1, n_prior_draws=0)
    assert calls == [("posterior", 3)] and timings["prior_seconds"] < 0.01
    adapter.sample(Model(), n_chains=2, n_adapt=1, n_burnin=1, n_keep=3, seed=1, n_prior_draws=7)
    assert calls[1:] == [("prior", 7), ("posterior", 3)]
