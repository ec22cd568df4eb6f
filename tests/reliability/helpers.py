"""Run the real ``mmm`` command in a subprocess and check what a user sees when it refuses."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from mmm_meridian.pipeline import STAGES
from tests.reliability.corpus import CASE_DATA, MMM

PROJECT = "mmm_demo"  # the default project.name: artifacts land in <paths.root>/artifacts/mmm_demo


def cli_env() -> dict[str, str]:
    """The test's environment, with proxies bypassed for the local fake servers and no colour codes."""
    env = dict(os.environ)
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "NO_COLOR": "1"})
    return env


def mmm_args(stage: str, root: Path, conf_dir: Path | None = None, *overrides: str) -> list[str]:
    """``mmm <stage> [--config-dir conf] [data=case] paths.root=<root> overrides...``, MLflow tracking off."""
    args = [MMM, stage]
    if conf_dir is not None:
        args += ["--config-dir", str(conf_dir), f"data={CASE_DATA}"]
    return [*args, f"paths.root={root}", "tracking.enabled=false", *overrides]


def run_mmm(stage: str, root: Path, conf_dir: Path | None = None, *overrides: str,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mmm_args(stage, root, conf_dir, *overrides), cwd=root, env=cli_env(), text=True,
                          capture_output=True, timeout=timeout, check=False)


def artifacts(root: Path) -> Path:
    return root / "artifacts" / PROJECT


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"


def assert_refused(proc: subprocess.CompletedProcess[str], expect: Sequence[Sequence[str]] = ()) -> str:
    """Exit status 2, exactly one ``error:`` line (what, where, fix) that holds a word of each group, no traceback."""
    assert proc.returncode == 2, describe(proc)
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, describe(proc)
    line = lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout, describe(proc)
    assert "(at " in line and "; fix: " in line, f"the message lacks where / how to fix: {line}"
    lowered = line.lower()
    for group in expect:
        assert any(word.lower() in lowered for word in group), f"none of {list(group)} in: {line}"
    return line


def later_stages(stage: str) -> list[str]:
    """``stage`` and every stage after it in pipeline order."""
    names = list(STAGES)
    return names[names.index(stage):]


def assert_no_artifacts_from(root: Path, stage: str) -> None:
    """No folder of ``stage`` or a later stage, and no staging folder left behind."""
    folder = artifacts(root)
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    written = [name for name in later_stages(stage) if name in present]
    assert not written, f"artifacts written although {stage} refused: {written}"
    assert not [name for name in present if name.startswith((".staging-", ".old-"))], present


def stage_implemented(stage: str) -> bool:
    return STAGES[stage].implemented
