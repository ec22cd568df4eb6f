"""A whole ``mmm run`` on the embedded demo: each stage's share, with a cold and a warm JAX compilation cache.

Three runs, one after another, nothing else running:
1. cold: a fresh root and an empty compilation cache;
2. warm: another fresh root (every stage runs again) sharing the cache run 1 filled;
3. optimize only: run 2's root again after a change to ``optimization.*``: train and evaluate are up to date and
   skipped, optimize and report (which reads optimize) run.

For each: wall seconds of the process, each stage's seconds (manifests), train's sampling seconds (prior draws
included), and the share of the run that is not the main fit's sampling.

    python benchmarks/whole_run.py                   # default preset (4 chains x 1,000 kept)
    python benchmarks/whole_run.py --preset fast
    python benchmarks/whole_run.py --quick           # tiny draws: checks the script only
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import common

STAGES = ["ingest", "validate", "transform", "features", "train", "optimize", "evaluate", "report"]
QUICK = ["training.sampler.n_chains=2", "training.sampler.n_adapt=10", "training.sampler.n_burnin=10",
         "training.sampler.n_keep=10", "training.sampler.n_prior_draws=10",
         "complexity.identifiability.on_failure=warn", "complexity.plausibility.on_failure=warn"]
OPTIMIZE_CHANGE = "optimization.gtol=0.002"


def one_run(label: str, root: Path, cache: Path, overrides: list[str]) -> dict[str, Any]:
    """``mmm run`` under ``root`` with the shared compilation cache; the stages that ran and their seconds."""
    before = {name: _created(root, name) for name in STAGES}
    measured = common.run_command(label, common.mmm_command("run", root, f"runtime.compilation_cache_dir={cache}",
                                                            *overrides), timeout=4 * 3600, check=False)
    stages = {name: _seconds(root, name) for name in STAGES if _created(root, name) != before[name]}
    sampling = 0.0
    if "train" in stages:
        diagnostics = json.loads(next(root.glob("artifacts/*/train/diagnostics.json")).read_text())
        sampling = float(diagnostics.get("sampling_seconds", 0.0)) + float(diagnostics.get("prior_seconds", 0.0))
    wall = measured.seconds
    return {"run": label, "returncode": measured.output["returncode"], "wall_seconds": wall,
            "stage_seconds": stages, "train_sampling_seconds": sampling,
            "not_sampling_share": (wall - sampling) / wall if wall else None,
            "stderr_tail": measured.output["stderr_tail"][-400:]}


def _manifest(root: Path, stage: str) -> dict[str, Any] | None:
    found = sorted(root.glob(f"artifacts/*/{stage}/manifest.json"))
    return json.loads(found[0].read_text()) if found else None


def _created(root: Path, stage: str) -> str | None:
    manifest = _manifest(root, stage)
    return manifest["created_at"] + str(manifest["timings"]["started"]) if manifest else None


def _seconds(root: Path, stage: str) -> float:
    manifest = _manifest(root, stage)
    return float(manifest["timings"]["seconds"]) if manifest else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    overrides = [f"training={args.preset}", *(QUICK if args.quick else [])]
    with tempfile.TemporaryDirectory(prefix="mmm_whole_run_") as tmp:
        base = Path(tmp)
        cache = base / "jax_cache"
        runs = [one_run("cold", base / "cold", cache, overrides),
                one_run("warm", base / "warm", cache, overrides)]
        runs.append(one_run("optimize only", base / "warm", cache, [*overrides, OPTIMIZE_CHANGE]))
    rows = [{"run": r["run"], "exit": r["returncode"], "wall_s": r["wall_seconds"],
             "train_sampling_s": r["train_sampling_seconds"], "not_sampling_share": r["not_sampling_share"],
             **{f"{s}_s": r["stage_seconds"].get(s, "-") for s in STAGES}} for r in runs]
    print(f"mmm run on the demo, training={args.preset}{' (quick draws)' if args.quick else ''}:")
    print(common.table(rows, ["run", "exit", "wall_s", "train_sampling_s", "not_sampling_share",
                              *(f"{s}_s" for s in STAGES)]))
    cold, warm, again = runs
    print(f"warm / cold wall: {warm['wall_seconds'] / cold['wall_seconds']:.2f}; optimize-only rerun / cold wall: "
          f"{again['wall_seconds'] / cold['wall_seconds']:.2f}")
    path = common.save("whole_run", {"machine": common.machine(), "preset": args.preset, "quick": args.quick,
                                     "runs": runs})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
