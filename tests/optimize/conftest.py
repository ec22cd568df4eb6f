"""The fitted-model fixture shared by the optimize and evaluate tests (built once, cached across sessions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.optimize.fixtures import FittedFixture, fitted_fixture


@pytest.fixture(scope="session")
def fitted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> FittedFixture:
    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    folder = Path(cache.mkdir("mmm_meridian_fitted_model")) if cache is not None else \
        tmp_path_factory.mktemp("fitted_model")
    return fitted_fixture(folder)
