"""The embedded demo dataset shipped in ``mmm_meridian/data`` (regenerate with :func:`write_demo_files`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mmm_meridian.errors import DataError
from mmm_meridian.simulate.dataset import DAILY_FILE, TRUTH_FILE, SimulatedDataset
from mmm_meridian.simulate.simulator import simulate
from mmm_meridian.simulate.spec import SimulationSpec

DEMO_SEED = 20240501


def demo_spec() -> SimulationSpec:
    """The spec of the embedded demo: 2 brands x 2 territories, 156 weeks from 2022-01-03, six channels."""
    return SimulationSpec(seed=DEMO_SEED)


def write_demo_files(out_dir: str | Path) -> tuple[Path, Path]:
    """Regenerates the demo files (byte-identical on every run) into ``out_dir``.

    Args:
        out_dir: folder to write ``demo_daily.csv.gz`` and ``demo_truth.json`` into; created if missing.

    Returns:
        The paths of the daily CSV and the truth JSON.
    """
    return simulate(demo_spec()).save(out_dir)


def load_demo() -> SimulatedDataset:
    """Loads the embedded demo data and truth from the installed package (``mmm_meridian/data``).

    Raises:
        DataError: when the package was installed without its data files.
    """
    folder = resources.files("mmm_meridian.data")
    try:
        daily = folder.joinpath(DAILY_FILE).read_bytes()
        truth = folder.joinpath(TRUTH_FILE).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError("the embedded demo files are missing", where="mmm_meridian/data",
                        fix="reinstall the package with its package data, or run "
                            "mmm_meridian.simulate.write_demo_files('mmm_meridian/data')") from exc
    return SimulatedDataset.from_bytes(daily, truth)
