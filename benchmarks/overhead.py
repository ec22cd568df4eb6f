"""Overhead of the pipeline over bare Meridian.

(a) ``mmm train`` (the CLI, a fresh process each time) vs (b) ``benchmarks/bare_meridian.py`` doing the same fit
(same features files, priors, ModelSpec, sampler settings, seed and backend) in a fresh process, alternating A B B A
... Reports medians, the ratio (target: A within 10 % of B), where the time goes, and whether both fits agree.

(c) ``mmm run`` with the production sampler from scratch: each stage's ``manifest.json`` seconds vs the sampling
seconds, i.e. the non-sampling share of the whole run (target: under 10 % of a production run).

    python benchmarks/overhead.py            # fast preset for (a)/(b) x 3 repeats, production preset for (c)
    python benchmarks/overhead.py --quick    # tiny draws, 2 repeats, fast preset for (c): checks the script only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import common

STAGE_ORDER = ["ingest", "validate", "transform", "features", "train", "optimize", "evaluate", "report"]
QUICK_SAMPLER = {"n_chains": 2, "n_adapt": 10, "n_burnin": 10, "n_keep": 10, "n_prior_draws": 10}


def sampler_settings(preset: str, quick: bool) -> tuple[dict[str, int], dict[str, str]]:
    """The sampler of ``training=<preset>`` (tiny draws with ``quick``) and the runtime backend / precision."""
    from mmm_meridian.config import load_config

    cfg = load_config([f"training={preset}"])
    # The draw counts and seed (Meridian samples with its own NUTS: nuts_sampler is the PyMC engine's choice)
    sampler = {k: int(v) for k, v in vars(cfg.training.sampler).items() if k != "nuts_sampler"}
    if quick:
        sampler.update(QUICK_SAMPLER)
    return sampler, {"backend": cfg.runtime.backend.value, "precision": cfg.runtime.precision.value}


def sampler_overrides(preset: str, sampler: dict[str, int]) -> list[str]:
    return [f"training={preset}", *(f"training.sampler.{k}={v}" for k, v in sampler.items())]


def bare_command(features: Path, sampler: dict[str, int], runtime: dict[str, str], out: Path) -> list[str]:
    return [sys.executable, str(common.BENCH_DIR / "bare_meridian.py"), "--inputs",
            str(features / "model_inputs.parquet"), "--spec", str(features / "feature_spec.json"),
            "--chains", str(sampler["n_chains"]), "--adapt", str(sampler["n_adapt"]),
            "--burnin", str(sampler["n_burnin"]), "--keep", str(sampler["n_keep"]), "--seed", str(sampler["seed"]),
            "--prior-draws", str(sampler["n_prior_draws"]), "--max-tree-depth", str(sampler["max_tree_depth"]),
            "--backend", runtime["backend"], "--precision", runtime["precision"], "--out", str(out)]


def read_diagnostics(path: Path) -> dict[str, Any]:
    """The train stage's ``diagnostics.json`` (timings are top-level keys; older files nested them in ``extra``)."""
    data = json.loads(path.read_text())
    return {**data, **data.get("extra", {})}


def last_json(text: str) -> dict[str, Any]:
    lines = [line for line in text.strip().splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def compare_train(root: Path, preset: str, repeats: int, quick: bool) -> dict[str, Any]:
    """(a) vs (b): alternating fresh-process runs of ``mmm train`` and the bare script."""
    features = common.features_dir(root)
    sampler, runtime = sampler_settings(preset, quick)
    train_cmd = common.mmm_command("train", root, *sampler_overrides(preset, sampler))
    bare_cmd = bare_command(features, sampler, runtime, root / "bare_out")
    runs: dict[str, list[dict[str, Any]]] = {"mmm_train": [], "bare_meridian": []}
    for i in range(repeats):
        order = ["mmm_train", "bare_meridian"] if i % 2 == 0 else ["bare_meridian", "mmm_train"]
        for name in order:
            if name == "mmm_train":
                measured = common.run_command(name, train_cmd)
                detail = read_diagnostics(features.parent / "train" / "diagnostics.json")
                roi = dict(zip(*_roi_columns(features.parent / "train" / "roi.csv"), strict=True))
            else:
                measured = common.run_command(name, bare_cmd)
                detail = last_json(measured.output["stdout_tail"])
                roi = detail.get("roi_mean", {})
            runs[name].append({"seconds": measured.seconds, "peak_rss_mb": measured.peak_rss_mb,
                               "sampling_seconds": detail.get("sampling_seconds"),
                               "prior_seconds": detail.get("prior_seconds"), "roi_mean": roi, "detail": detail})
            print(f"  repeat {i + 1}/{repeats} {name}: {measured.seconds:.1f} s "
                  f"(sampling {detail.get('sampling_seconds', float('nan')):.1f} s), "
                  f"peak {measured.peak_rss_mb:.0f} MB", flush=True)
    summary: dict[str, Any] = {}
    for name, rows in runs.items():
        wall = common.median([r["seconds"] for r in rows])
        sampling = common.median([r["sampling_seconds"] + r["prior_seconds"] for r in rows])
        summary[name] = {"median_seconds": wall, "median_sampling_seconds": sampling,
                         "sampling_share": sampling / wall, "median_peak_rss_mb":
                             common.median([r["peak_rss_mb"] for r in rows])}
    a, b = summary["mmm_train"], summary["bare_meridian"]
    roi_a, roi_b = runs["mmm_train"][-1]["roi_mean"], runs["bare_meridian"][-1]["roi_mean"]
    roi_gap = max((abs(roi_a[c] - roi_b[c]) / max(abs(roi_b[c]), 1e-9) for c in roi_b), default=float("nan"))
    return {"preset": preset, "sampler": sampler, "runtime": runtime, "repeats": repeats, "runs": runs,
            "summary": summary, "ratio": a["median_seconds"] / b["median_seconds"],
            "overhead_seconds": a["median_seconds"] - b["median_seconds"], "max_roi_relative_gap": roi_gap,
            "target_ratio": 1.10}


def _roi_columns(path: Path) -> tuple[list[str], list[float]]:
    import pandas as pd

    frame = pd.read_csv(path)
    return frame["channel"].tolist(), frame["roi_mean"].round(4).tolist()


def whole_run(root: Path, preset: str, quick: bool) -> dict[str, Any]:
    """(c): ``mmm run`` from scratch; per-stage seconds from the manifests vs the sampling seconds."""
    sampler, _ = sampler_settings(preset, quick=False)
    overrides = [f"training={preset}"]
    if quick:
        overrides += [f"training.sampler.{k}={v}" for k, v in QUICK_SAMPLER.items()]
    measured = common.run_command("mmm run", common.mmm_command("run", root, *overrides), timeout=4 * 3600,
                                  check=False)
    stages: dict[str, float] = {}
    for name in STAGE_ORDER:
        found = sorted(root.glob(f"artifacts/*/{name}/manifest.json"))
        if found:
            stages[name] = float(json.loads(found[0].read_text())["timings"]["seconds"])
    diagnostics = sorted(root.glob("artifacts/*/train/diagnostics.json"))
    train_sampling = 0.0
    if diagnostics:
        extra = read_diagnostics(diagnostics[0])
        train_sampling = float(extra.get("sampling_seconds", 0.0)) + float(extra.get("prior_seconds", 0.0))
    wall = measured.seconds
    # The evaluate stage refits the model (temporal holdout) in subprocesses; Meridian's sampling time there is not
    # recorded separately, so the whole stage counts as model fitting, next to the train stage's sampling.
    evaluate_refits = any(root.glob("artifacts/*/evaluate/refits"))
    fitting = train_sampling + (stages.get("evaluate", 0.0) if evaluate_refits else 0.0)
    other_stages = sum(s for n, s in stages.items() if n not in ("train", "evaluate"))
    return {"preset": preset, "quick_sampler": QUICK_SAMPLER if quick else None, "wall_seconds": wall,
            "returncode": measured.output["returncode"], "stderr_tail": measured.output["stderr_tail"][-600:],
            "peak_rss_mb": measured.peak_rss_mb, "stage_seconds": stages, "train_sampling_seconds": train_sampling,
            "evaluate_refits": evaluate_refits, "non_sampling_share": (wall - fitting) / wall,
            "other_stages_share": other_stages / wall, "target_share": 0.10}


def report(ab: dict[str, Any] | None, run: dict[str, Any] | None) -> None:
    if ab:
        print(f"\n(a) mmm train vs (b) bare Meridian, training={ab['preset']} sampler {ab['sampler']}, "
              f"{ab['runtime']['backend']}/{ab['runtime']['precision']}, {ab['repeats']} alternating repeats:")
        rows = [{"case": name, **{k: v for k, v in s.items()}} for name, s in ab["summary"].items()]
        print(common.table(rows, ["case", "median_seconds", "median_sampling_seconds", "sampling_share",
                                  "median_peak_rss_mb"]))
        verdict = "within" if ab["ratio"] <= ab["target_ratio"] else "OUTSIDE"
        print(f"ratio mmm/bare = {ab['ratio']:.3f} ({ab['overhead_seconds']:+.1f} s), {verdict} the 10 % target; "
              f"largest relative ROI-mean gap between the two fits: {ab['max_roi_relative_gap']:.2%}")
    if run:
        print(f"\n(c) mmm run training={run['preset']}"
              f"{' with tiny draws (--quick: not a production run)' if run['quick_sampler'] else ''}: "
              f"{run['wall_seconds']:.1f} s wall, exit status {run['returncode']}")
        if run["returncode"] != 0:
            print(f"  mmm run failed: {run['stderr_tail'].strip().splitlines()[-1:]}")
        rows = [{"stage": n, "seconds": s, "share": s / run["wall_seconds"]} for n, s in run["stage_seconds"].items()]
        rows.append({"stage": "train: prior + posterior sampling", "seconds": run["train_sampling_seconds"],
                     "share": run["train_sampling_seconds"] / run["wall_seconds"]})
        print(common.table(rows, ["stage", "seconds", "share"]))
        verdict = "under" if run["non_sampling_share"] < run["target_share"] else "ABOVE"
        print(f"non-sampling share of the run = {run['non_sampling_share']:.1%} ({verdict} the 10 % target; "
              f"evaluate refits counted as fitting: {run['evaluate_refits']}); stages other than train/evaluate: "
              f"{run['other_stages_share']:.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny draws and 2 repeats: checks the script only")
    parser.add_argument("--repeats", type=int, help="repeats of each case (default 3, 2 with --quick)")
    parser.add_argument("--preset", default="fast", help="training preset for (a)/(b) (default fast)")
    parser.add_argument("--run-preset", help="training preset for (c) (default production, fast with --quick)")
    parser.add_argument("--skip", choices=["ab", "run"], action="append", default=[], help="skip a part")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 3)
    run_preset = args.run_preset or ("fast" if args.quick else "production")
    with tempfile.TemporaryDirectory(prefix="mmm-bench-overhead-") as tmp:
        ab = None if "ab" in args.skip else compare_train(Path(tmp) / "ab", args.preset, repeats, args.quick)
        run = None if "run" in args.skip else whole_run(Path(tmp) / "run", run_preset, args.quick)
    report(ab, run)
    # (a)/(b) and (c) take minutes vs an hour: each part keeps its own file so running one does not erase the other.
    name = "overhead_run" if ab is None else "overhead"
    path = common.save(name, {"quick": args.quick, "train_vs_bare": ab, "mmm_run": run})
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
