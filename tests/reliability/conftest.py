"""Markers of the reliability tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "corpus_case(name): the test reads the result of that corpus case")
