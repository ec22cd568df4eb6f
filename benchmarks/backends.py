"""Meridian's backends on the same fit: JAX float32, JAX float64 and TensorFlow (float32).

Each case fits the demo's features (same data, priors, sampler, seed) with ``bare_meridian.fit`` in a fresh process
(Meridian fixes its backend on first import), alternating cases. Reports wall and sampling seconds, effective samples
per second (bulk ESS from ArviZ, min and median over every posterior parameter element, divided by the sampling
seconds) and peak memory; names the fastest and checks it against the project's default (``runtime.backend``,
``runtime.precision``).

    python benchmarks/backends.py            # fast preset (2 chains x 200/100/200), 2 alternating repeats
    python benchmarks/backends.py --quick    # tiny draws, 1 repeat: checks the script only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import common
from overhead import sampler_settings

CASES = {"jax_float32": ("jax", "float32"), "jax_float64": ("jax", "float64"),
         "tensorflow_float32": ("tensorflow", "float32")}


def fit_code(features: Path, sampler: dict[str, int], backend: str, precision: str) -> str:
    """A snippet for :func:`common.run_python`: one bare Meridian fit leaving its figures in ``result``."""
    kwargs = {k: v for k, v in sampler.items()}
    return f"""
    import sys
    sys.path.insert(0, {str(common.BENCH_DIR)!r})
    from bare_meridian import fit
    result = fit({str(features / 'model_inputs.parquet')!r}, {str(features / 'feature_spec.json')!r},
                 backend={backend!r}, precision={precision!r}, **{kwargs!r})
    result.pop("roi_mean", None)
    """


def measure(features: Path, sampler: dict[str, int], repeats: int) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CASES}
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    for i in range(repeats):
        names = list(CASES) if i % 2 == 0 else list(reversed(CASES))
        for name in names:
            backend, precision = CASES[name]
            measured = common.run_python(name, fit_code(features, sampler, backend, precision), env=env)
            row = {"wall_seconds": measured.seconds, "peak_rss_mb": measured.peak_rss_mb, **measured.output}
            row["min_ess_per_s"] = row["min_ess"] / row["sampling_seconds"]
            row["median_ess_per_s"] = row["median_ess"] / row["sampling_seconds"]
            runs[name].append(row)
            print(f"  repeat {i + 1}/{repeats} {name}: {measured.seconds:.1f} s wall, sampling "
                  f"{row['sampling_seconds']:.1f} s, min ESS {row['min_ess']:.0f}, peak {measured.peak_rss_mb:.0f} MB",
                  flush=True)
    return runs


def summarise(runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    keys = ["wall_seconds", "sampling_seconds", "min_ess", "median_ess", "min_ess_per_s", "median_ess_per_s",
            "max_rhat", "peak_rss_mb"]
    return [{"case": name, **{k: common.median([r[k] for r in rows]) for k in keys}} for name, rows in runs.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny draws, 1 repeat: checks the script only")
    parser.add_argument("--repeats", type=int, help="repeats of each case (default 2, 1 with --quick)")
    parser.add_argument("--preset", default="fast", help="training preset whose sampler is used (default fast)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 2)
    sampler, default_runtime = sampler_settings(args.preset, args.quick)
    with tempfile.TemporaryDirectory(prefix="mmm-bench-backends-") as tmp:
        features = common.features_dir(Path(tmp))
        runs = measure(features, sampler, repeats)
    rows = summarise(runs)
    print(f"\nBackends on the demo, training={args.preset} sampler {sampler}, {repeats} repeat(s), medians:")
    print(common.table(rows, ["case", "wall_seconds", "sampling_seconds", "min_ess", "median_ess", "min_ess_per_s",
                              "median_ess_per_s", "max_rhat", "peak_rss_mb"]))
    by_time = min(rows, key=lambda r: r["wall_seconds"])["case"]
    by_ess = max(rows, key=lambda r: r["min_ess_per_s"])["case"]
    default = f"{default_runtime['backend']}_{default_runtime['precision']}"
    print(f"fastest wall time: {by_time}; most effective samples per second (min ESS): {by_ess}; "
          f"project default (runtime.backend/precision): {default}")
    if by_ess != default:
        print(f"NOTE: the project default {default} is not the measured best ({by_ess}); change "
              "mmm_meridian/config/infra.py RuntimeConfig if this holds on a quiet machine with the full run")
    path = common.save("backends", {"quick": args.quick, "preset": args.preset, "sampler": sampler,
                                    "repeats": repeats, "runs": runs, "summary": rows, "fastest_wall": by_time,
                                    "best_ess_per_s": by_ess, "project_default": default})
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
