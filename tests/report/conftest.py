"""Reuse the optimize tests' fitted-model fixture (one fit per session, cached across sessions)."""

from tests.optimize.conftest import fitted  # noqa: F401
