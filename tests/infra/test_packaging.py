"""Packaging: the wheel (what the Docker image installs) ships every config and demo-data file, and the lock file
``constraints.txt`` pins every dependency and is used by the README's install, ``.ci/run`` and Dockerfile.gpu.

The wheel is built offline from the venv's setuptools (``--no-build-isolation --no-index``), from a copy of exactly
what the Docker build context holds, so the repository tree gets no ``build/`` folder.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mmm_meridian"
CONTEXT = ("pyproject.toml", "setup.cfg", "constraints.txt", "mmm_meridian")  # Dockerfile.gpu's build context
README_INSTALL = 'pip install -q -c constraints.txt -e ".[dev]"'


def _copy_context(dest: Path) -> Path:
    for name in CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(source, dest / name)
    return dest


def _shipped_data_files() -> list[str]:
    """Every file under mmm_meridian/conf and mmm_meridian/data, as wheel paths (compiled caches aside)."""
    files = [p for folder in ("conf", "data") for p in (PACKAGE / folder).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return sorted(p.relative_to(ROOT).as_posix() for p in files)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = _copy_context(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheels")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                             "--no-index", "-q", "-w", str(out)], cwd=src, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    wheels = list(out.glob("mmm_meridian-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_ships_every_config_and_demo_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _shipped_data_files()
    # The files the launcher configs and the demo need, named so that an empty listing cannot pass.
    for required in ("mmm_meridian/conf/config.yaml", "mmm_meridian/conf/hydra/launcher/joblib_2.yaml",
                     "mmm_meridian/conf/hydra/launcher/slurm_gpu.yaml", "mmm_meridian/data/demo_daily.csv.gz",
                     "mmm_meridian/data/demo_truth.json"):
        assert required in expected
    missing = [name for name in expected if name not in names]
    assert missing == [], f"left out of the wheel: {missing}"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_installed_wheel_composes_a_launcher_config_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """``hydra/launcher=joblib_2`` composes from the unpacked wheel alone (no source checkout on sys.path)."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import mmm_meridian; from hydra import compose, initialize_config_dir; "
            "from mmm_meridian.config.loader import conf_dir; from mmm_meridian.config.root import register_configs; "
            "register_configs(); initialize_config_dir(config_dir=str(conf_dir()), version_base='1.3'); "
            "cfg = compose('config', overrides=['hydra/launcher=joblib_2'], return_hydra_config=True); "
            "print(mmm_meridian.__file__); print(cfg.hydra.launcher.n_jobs)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    location, n_jobs = result.stdout.split()
    assert Path(location).is_relative_to(site)
    assert n_jobs == "2"


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"constraints.txt: {line!r} is not an exact pin name==version"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = match.group(2)
    return pins


def test_constraints_file_says_how_it_was_made() -> None:
    header = (ROOT / "constraints.txt").read_text().split("\n\n", 1)[0]
    assert "pip freeze --exclude-editable" in header and "Regenerate" in header


def test_constraints_pin_every_dependency_within_pyproject_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    requirements = [Requirement(dep) for dep in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]
    assert len(requirements) > 20
    unpinned = [str(req) for req in requirements if canonicalize_name(req.name) not in pins]
    assert unpinned == []
    outside = [f"{req} (pinned {pins[canonicalize_name(req.name)]})" for req in requirements
               if not req.specifier.contains(pins[canonicalize_name(req.name)], prereleases=True)]
    assert outside == []
    assert canonicalize_name(project["name"]) not in pins  # the package itself is installed from the checkout


def test_constraints_and_pyproject_resolve_together(tmp_path: Path) -> None:
    """pip's resolver accepts ``-c constraints.txt ".[dev]"`` offline (against this venv, installed from it)."""
    src = _copy_context(tmp_path)
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation",
                             "-c", "constraints.txt", ".[dev]"], cwd=src, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, ("pip cannot resolve pyproject.toml with constraints.txt (or this venv was not "
                                    "installed with it):\n" + result.stderr[-3000:])
    would = re.findall(r"Would install (.*)", result.stdout)
    assert [w.split() for w in would] == [["mmm-meridian-0.1.0"]], result.stdout[-2000:]


def _quick_start_install() -> str:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick, flags=re.S)
    assert blocks, "the quick start has no bash block"
    return blocks[0].strip()


def test_readme_ci_and_dockerfile_install_with_the_constraints() -> None:
    command = _quick_start_install()
    assert README_INSTALL in command
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert command in ci_lines, "`.ci/run` must install with the README's quick-start command, word for word"
    docker_runs = re.sub(r"\\\n", " ", (ROOT / "Dockerfile.gpu").read_text())
    installs = [part.strip() for part in docker_runs.split("&&") if '".[gpu]"' in part]
    assert installs, "Dockerfile.gpu installs no .[gpu]"
    for install in installs:
        words = shlex.split(install.removeprefix("RUN "))
        assert words[:2] == ["pip", "install"]
        assert words[words.index("-c") + 1] == "constraints.txt", install
    copies = [line.split()[1:-1] for line in docker_runs.splitlines() if line.startswith("COPY ")]
    assert any("constraints.txt" in sources for sources in copies)
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "!constraints.txt" in ignore
