"""Shared benchmark helpers: machine description, timing a Python snippet in a fresh subprocess with its peak
memory, alternating repetitions, fitting growth exponents, and writing machine-readable results.

Every measurement runs in its own process: Meridian's memory grows across fits in one process (Meridian issue 534),
and a fresh process is what a user's `mmm train` pays for (imports included).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Cores, memory, GPU and package versions of this machine."""
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    gpu = "none"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            gpu = out.stdout.strip().replace("\n", ", ")
    except (OSError, subprocess.SubprocessError):
        pass
    versions = {}
    for package in ("google-meridian", "jax", "tensorflow", "tfp-nightly", "numpy", "mmm-meridian"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "memory_gb": round(mem_gb, 1),
            "gpu": gpu, "python": platform.python_version(), "versions": versions,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


@dataclass
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float
    output: dict[str, Any] = field(default_factory=dict)


_FOOTER = """
import json as _json, resource as _resource
_peak = max(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss, _resource.getrusage(_resource.RUSAGE_CHILDREN).ru_maxrss)
print(_json.dumps({**globals().get("result", {}), "_peak_rss_mb": _peak / 1024}))
"""


def run_python(label: str, code: str, *, env: dict[str, str] | None = None, timeout: int = 3600,
               cwd: Path | None = None) -> Measurement:
    """Run ``code`` in a fresh interpreter; wall time, peak RSS (the process and its children) and the ``result``
    dict the code leaves behind."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(textwrap.dedent(code) + _FOOTER)
        script = handle.name
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, cwd=cwd)
    finally:
        os.unlink(script)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    output = json.loads(lines[-1]) if lines else {}
    return Measurement(label, seconds, float(output.pop("_peak_rss_mb", float("nan"))), output)


def alternate(cases: dict[str, str], repeats: int, **kwargs: Any) -> dict[str, list[Measurement]]:
    """Run each case ``repeats`` times, interleaved (A B A B ...) so drift in machine load hits all cases alike."""
    results: dict[str, list[Measurement]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, code in cases.items():
            results[name].append(run_python(name, code, **kwargs))
    return results


def growth_exponent(sizes: list[float], values: list[float]) -> float:
    """Slope of log(value) vs log(size): 1 means linear growth."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__")
                               else str(o)) + "\n")
    return path


def median(values: list[float]) -> float:
    return float(np.median(values))


# --- Added for the benchmark scripts: timing a command-line program, and the demo's features artifacts. ---

BENCH_DIR = Path(__file__).resolve().parent
MMM = str(Path(sys.executable).with_name("mmm"))
BASE_OVERRIDES = ["tracking.enabled=false"]


def run_command(label: str, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: int = 3600, check: bool = True) -> Measurement:
    """Run a command-line program from a fresh wrapper interpreter: the command's own wall time (the wrapper's start
    is not counted), the peak RSS of the command's process tree's largest process, its exit status and the last
    lines of its stderr."""
    code = f"""
    import subprocess, time
    _started = time.perf_counter()
    _proc = subprocess.run({argv!r}, capture_output=True, text=True)
    result = {{"seconds": time.perf_counter() - _started, "returncode": _proc.returncode,
              "stdout_tail": _proc.stdout[-2000:], "stderr_tail": _proc.stderr[-3000:]}}
    """
    measured = run_python(label, code, env=env, timeout=timeout, cwd=cwd)
    measured.seconds = float(measured.output.pop("seconds"))
    if check and measured.output["returncode"] != 0:
        raise RuntimeError(f"{label}: {' '.join(argv)} failed ({measured.output['returncode']}):\n"
                           f"{measured.output['stderr_tail']}")
    return measured


def mmm_command(stage: str, root: Path, *overrides: str) -> list[str]:
    """``mmm <stage> tracking.enabled=false paths.root=<root> <overrides>`` (a ``-m`` override goes first)."""
    multirun = [o for o in overrides if o == "-m"]
    rest = [o for o in overrides if o != "-m"]
    return [MMM, stage, *multirun, *BASE_OVERRIDES, f"paths.root={root}", *rest]


def features_dir(root: Path, *overrides: str) -> Path:
    """The demo's ``features`` artifacts under ``root`` (ingest to features run once; reused when present)."""
    subprocess.run(mmm_command("features", root, "runtime.upstream_policy=rebuild", *overrides), check=True,
                   capture_output=True, text=True)
    found = sorted(Path(root).glob("artifacts/*/features/model_inputs.parquet"))
    if not found:
        raise RuntimeError(f"`mmm features` wrote no features/model_inputs.parquet under {root}")
    return found[0].parent


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table of ``rows`` (floats with 3 significant decimals)."""
    def fmt(value: Any) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    cells = [[fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)
