"""Sweep throughput: Hydra multirun of ``mmm train`` over adstock settings, sequential vs joblib-parallel.

The base project's features are built once; each sweep job then rebuilds its features (the swept key) and fits in
its own artifacts folder (see ``mmm_meridian/app.py``). Cases, alternated: Hydra's basic launcher (one job after the
other), ``hydra/launcher=joblib_2`` (two jobs at a time, ``mmm_meridian/conf/hydra/launcher/joblib_2.yaml``) and, in
the full run, ``joblib_2`` with ``runtime.threads=1`` (one core per fit instead of two fits competing for both).

    python benchmarks/sweep_throughput.py           # fast preset, 4 decays, 2 alternating repeats
    python benchmarks/sweep_throughput.py --quick   # tiny draws, 2 decays, 1 repeat: checks the script only
    python benchmarks/sweep_throughput.py --cold-then-warm   # joblib_2 with an empty, then a warm compilation cache

Every sweep shares the root's JAX compilation cache (``runtime.compilation_cache_dir``, under ``paths.cache``): the
first sweep of a run fills it. ``--cold-then-warm`` times a joblib_2 sweep without a cache (the same
run's baseline), one on an empty cache, then joblib_2 and the basic launcher on the warm cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import common

DECAYS = ["0.3", "0.5", "0.7", "0.9"]
QUICK_SAMPLER = {"n_chains": 2, "n_adapt": 10, "n_burnin": 10, "n_keep": 10, "n_prior_draws": 10}


def cases(full: bool) -> dict[str, list[str]]:
    found = {"sequential": [], "joblib_2": ["hydra/launcher=joblib_2"]}
    if full:
        found["joblib_2_threads_1"] = ["hydra/launcher=joblib_2", "runtime.threads=1"]
    return found


def run_sweep(root: Path, name: str, extra: list[str], decays: list[str], training: list[str],
              sweep_dir: Path) -> dict[str, Any]:
    argv = common.mmm_command("train", root, "-m", *training, *extra, f"hydra.sweep.dir={sweep_dir}",
                              f"features.adstock.decay={','.join(decays)}")
    measured = common.run_command(name, argv, timeout=4 * 3600, check=False)
    jobs = [json.loads(p.read_text()) for p in sweep_dir.glob("*/job_result.json")]
    ok = sum(1 for j in jobs if j.get("status", j.get("exit_status")) in ("ok", "success", 0))
    return {"seconds": measured.seconds, "peak_rss_mb": measured.peak_rss_mb,
            "returncode": measured.output["returncode"], "jobs": len(jobs), "jobs_ok": ok,
            "stderr_tail": measured.output["stderr_tail"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny draws, 2 settings, 1 repeat")
    parser.add_argument("--repeats", type=int, help="repeats of each case (default 2, 1 with --quick)")
    parser.add_argument("--preset", default="fast", help="training preset (default fast)")
    parser.add_argument("--cold-then-warm", action="store_true",
                        help="one joblib_2 sweep on an empty compilation cache, then each case once on the warm one")
    args = parser.parse_args(argv)
    if args.cold_then_warm:
        return cold_then_warm(args.preset)
    repeats = args.repeats or (1 if args.quick else 2)
    decays = DECAYS[:2] if args.quick else DECAYS
    training = [f"training={args.preset}"]
    if args.quick:
        training += [f"training.sampler.{k}={v}" for k, v in QUICK_SAMPLER.items()]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases(not args.quick)}
    with tempfile.TemporaryDirectory(prefix="mmm-bench-sweep-") as tmp:
        root = Path(tmp)
        common.features_dir(root, *training)
        for i in range(repeats):
            names = list(runs) if i % 2 == 0 else list(reversed(runs))
            for name in names:
                row = run_sweep(root, name, cases(not args.quick)[name], decays, training,
                                root / "sweeps" / f"{name}_{i}")
                runs[name].append(row)
                print(f"  repeat {i + 1}/{repeats} {name}: {row['seconds']:.1f} s, {row['jobs_ok']}/{len(decays)} "
                      f"jobs ok, exit {row['returncode']}", flush=True)
                if row["returncode"] != 0:
                    print("    " + "\n    ".join(row["stderr_tail"].strip().splitlines()[-15:]))
    sequential = common.median([r["seconds"] for r in runs["sequential"]])
    rows = [{"case": name, "median_seconds": common.median([r["seconds"] for r in rs]),
             "seconds_per_job": common.median([r["seconds"] for r in rs]) / len(decays),
             "speedup_vs_sequential": sequential / common.median([r["seconds"] for r in rs]),
             "all_jobs_ok": all(r["jobs_ok"] == len(decays) for r in rs)} for name, rs in runs.items()]
    print(f"\nmmm train -m features.adstock.decay={','.join(decays)} ({' '.join(training)}), "
          f"{repeats} repeat(s), {common.machine()['cores']} cores:")
    print(common.table(rows, ["case", "median_seconds", "seconds_per_job", "speedup_vs_sequential", "all_jobs_ok"]))
    path = common.save("sweep_throughput", {"quick": args.quick, "decays": decays, "training": training,
                                            "repeats": repeats, "runs": runs, "summary": rows})
    print(f"\nsaved {path}")
    return 0


def cold_then_warm(preset: str) -> int:
    training = [f"training={preset}"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmm-bench-sweep-") as tmp:
        root = Path(tmp)
        common.features_dir(root, *training)
        for name, extra in [("joblib_2, no cache", ["hydra/launcher=joblib_2", "runtime.compilation_cache_dir=null"]),
                            ("joblib_2, empty cache", ["hydra/launcher=joblib_2"]),
                            ("joblib_2, warm cache", ["hydra/launcher=joblib_2"]),
                            ("sequential, warm cache", [])]:
            row = run_sweep(root, name, extra, DECAYS, training, root / "sweeps" / name.replace(", ", "_"))
            rows.append({"case": name, "seconds": row["seconds"], "jobs_ok": row["jobs_ok"],
                         "vs_no_cache": rows[0]["seconds"] / row["seconds"] if rows else 1.0,
                         "vs_138_s": 138.3 / row["seconds"]})
            print(f"  {name}: {row['seconds']:.1f} s, {row['jobs_ok']}/{len(DECAYS)} jobs ok", flush=True)
    print(common.table(rows, ["case", "seconds", "jobs_ok", "vs_no_cache", "vs_138_s"]))
    common.save("sweep_cache", {"decays": DECAYS, "training": training, "rows": rows,
                                "reference": "138.3 s: joblib_2 before the compilation cache (2026-11-25)"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
