"""Walls between the pipeline's parts (issue "Model engines"): each engine library is imported in one package only,
and no stage imports another stage's modules (what several stages need lives in the core, ``mmm_meridian.tables``
or the engine layer ``mmm_meridian.models``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mmm_meridian.pipeline import STAGES

PACKAGE = Path(__file__).resolve().parents[2] / "mmm_meridian"
# Library -> the engine packages that may import it. JAX is Meridian's backend and also what the PyMC engine's
# numpyro / blackjax samplers run on (that engine sets JAX's float64 flag around sampling and restores it).
ENGINE_LIBRARIES = {"meridian": ("meridian",), "tensorflow": ("meridian",), "jax": ("meridian", "pymc"),
                    "pymc": ("pymc",), "pymc_marketing": ("pymc",), "pytensor": ("pymc",)}


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at any depth (``from mmm_meridian import x`` counts as ``mmm_meridian.x``)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def library_imports(path: Path) -> set[str]:
    """The engine libraries a file imports (top-level name)."""
    return {module.split(".")[0] for module in imported_modules(path)} & set(ENGINE_LIBRARIES)


def test_each_engine_library_is_imported_in_its_engine_package_only():
    misplaced = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for library in library_imports(path):
            homes = [PACKAGE / "models" / engine for engine in ENGINE_LIBRARIES[library]]
            if not any(path.is_relative_to(home) for home in homes):
                misplaced.append(f"{path.relative_to(PACKAGE)} imports {library} (belongs in models/"
                                 f"{' or '.join(ENGINE_LIBRARIES[library])}/)")
    assert misplaced == []


def test_the_grep_of_the_issue_lists_only_engine_packages():
    """The issue's own check: ``grep -rlE "^\\s*(import|from) (meridian|pymc|...)\\b" mmm_meridian``."""
    pattern = re.compile(r"^\s*(import|from) (meridian|pymc|pymc_marketing|pytensor|jax|tensorflow)\b", re.M)
    hits = {path.relative_to(PACKAGE).parts[:2] for path in PACKAGE.rglob("*.py")
            if pattern.search(path.read_text(encoding="utf-8"))}
    assert hits and hits <= {("models", "meridian"), ("models", "pymc")}


def test_the_walls_test_sees_an_import_where_there_is_one(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from meridian.analysis import analyzer\n    import mmm_meridian.train.stage\n")
    assert library_imports(sample) == {"meridian"}
    assert "mmm_meridian.train.stage" in imported_modules(sample)


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_stage_imports_no_other_stage(stage):
    others = [f"mmm_meridian.{name}" for name in STAGES if name != stage]
    crossing = [f"{path.name}: {module}" for path in sorted((PACKAGE / stage).rglob("*.py"))
                for module in imported_modules(path)
                if any(module == other or module.startswith(other + ".") for other in others)]
    assert crossing == []


def test_the_engine_layer_imports_no_stage():
    stages = tuple(f"mmm_meridian.{name}" for name in STAGES)
    crossing = [f"{path.relative_to(PACKAGE)}: {module}" for path in sorted((PACKAGE / "models").rglob("*.py"))
                for module in imported_modules(path) if module.startswith(stages)]
    assert crossing == []
