"""Calibration with lift tests on simulated data: the same datasets fitted without and with their experiments.

The simulator runs lift tests on its own truth (two channels, eight weeks each, the ROI of the window's spend measured
with standard error ``--roi-se``); each dataset is fitted twice by the pipeline's defaults, each fit in its own
process: ``uncalibrated`` (the tests ignored) and ``calibrated`` (``calibration.experiments``: Meridian's ROI prior over
the tests' weeks, or the PyMC engine's lift-test likelihood). Reported per variant, for the tested channels and the
others: coverage of the true whole-period ROI by the 90 % interval, the interval's width relative to the truth and the
absolute relative error of the posterior-mean ROI. Usage::

    PYTHONPATH=. python benchmarks/calibration.py --preset default --seeds 1 2 3 [--backend pymc]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from benchmarks.recovery import QUICK, fit_one, study_arguments  # noqa: E402
from mmm_meridian.simulate import ExperimentSpec  # noqa: E402
from mmm_meridian.simulate.example import experiment_window  # noqa: E402
from mmm_meridian.simulate.spec import SimulationSpec  # noqa: E402

TESTED = ("meta_instagram", "tiktok")
VARIANTS = ("uncalibrated", "calibrated")


def lift_tests(roi_se: float) -> tuple[ExperimentSpec, ...]:
    """Eight-week national tests of the tested channels, a quarter and three fifths into the simulated period."""
    windows = (experiment_window(SimulationSpec.start, 39, 8), experiment_window(SimulationSpec.start, 94, 8))
    return tuple(ExperimentSpec(channel, start, end, roi_se=roi_se)
                 for channel, (start, end) in zip(TESTED, windows, strict=True))


def summarise(channels: pd.DataFrame) -> pd.DataFrame:
    """Per (kind, tested?, variant): coverage, mean relative interval width, median / max abs. relative error."""
    channels = channels.assign(tested=channels["channel"].isin(TESTED),
                               rel_width_90=(channels["roi_hi_90"] - channels["roi_lo_90"]) / channels["true_roi"])
    return channels.groupby(["kind", "tested", "variant"]).agg(
        coverage_90=("covered", "mean"), mean_rel_width_90=("rel_width_90", "mean"),
        median_abs_rel_error=("abs_rel_error", "median"), max_abs_rel_error=("abs_rel_error", "max"),
        channels=("covered", "size")).reset_index()


def run_calibration(seeds: list[int], kinds: list[str], preset: str, backend: str = "jax", roi_se: float = 0.25,
                    extra: list[str] | None = None) -> pd.DataFrame:
    """Every (kind, seed) fitted without and with its lift tests, one fit at a time; the per-channel ROI table with
    the truth (``covered``, ``abs_rel_error``) and the variant."""
    tests = lift_tests(roi_se)
    frames = []
    with tempfile.TemporaryDirectory(prefix="mmm-calibration-") as tmp:
        for kind in kinds:
            for seed in seeds:
                for variant in VARIANTS:
                    frames.append(fit_one(kind, seed, variant, preset, backend, Path(tmp), extra or [],
                                          experiments=tests, calibrate=variant == "calibrated"))
    channels = pd.concat(frames, ignore_index=True)
    channels["covered"] = channels["covered"].astype(bool)
    return channels


def main() -> int:
    parser = study_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]), "default")
    parser.add_argument("--backend", default="jax", choices=["jax", "pymc"])
    parser.add_argument("--roi-se", type=float, default=0.25)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.quick:
        args.seeds, args.models, args.preset = args.seeds[:1], ["national"], "fast"
    channels = run_calibration(args.seeds, args.models, args.preset, args.backend, args.roi_se,
                               QUICK if args.quick else [])
    pd.set_option("display.width", 160)
    print(channels[["kind", "seed", "variant", "channel", "true_roi", "roi_mean", "roi_lo_90", "roi_hi_90",
                    "covered", "max_rhat", "divergences"]].round(3).to_string(index=False))
    summary = summarise(channels)
    print(summary.round(3).to_string(index=False))
    path = save("calibration_backend_" + args.backend,
                {"preset": args.preset, "seeds": args.seeds, "models": args.models, "roi_se": args.roi_se,
                 "tested": list(TESTED), "quick": args.quick, "summary": summary.to_dict(orient="records"),
                 "channels": channels.assign(covered=channels["covered"].astype(int)).to_dict(orient="records")})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
