"""Only safe loaders in the package: no pickle, no full ``yaml.load``, no ``eval`` / ``exec``, no shell strings.

A syntax-tree scan of every module of ``mmm_meridian`` (comments and docstrings cannot trigger it). Models are saved
through Meridian's protobuf serialization (``meridian.schema.serde``), never its deprecated pickle-based
``save_mmm`` / ``load_mmm``.
"""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

import pytest

PACKAGE = Path(str(resources.files("mmm_meridian")))
UNSAFE_CALLS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "cPickle.load", "dill.load", "dill.loads", "joblib.load",
    "cloudpickle.load", "cloudpickle.loads", "marshal.load", "marshal.loads", "shelve.open", "torch.load",
    "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "pd.read_pickle", "pandas.read_pickle",
    "eval", "exec", "os.system", "load_mmm", "save_mmm", "model.load_mmm", "model.save_mmm",
}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "yaml.SafeLoader", "yaml.CSafeLoader"}


def _name(node: ast.AST) -> str:
    """Dotted name of a call target (``a.b.c``), or '' when it is not a plain name chain."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def unsafe_calls(source: str, filename: str = "<string>") -> list[str]:
    """Every unsafe call in ``source``, as 'file:line: what'."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.module in ("pickle", "dill", "cloudpickle", "marshal"):
            found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        keywords = {k.arg: k.value for k in node.keywords}
        if name in UNSAFE_CALLS or name.endswith((".load_mmm", ".save_mmm")):
            found.append(f"{filename}:{node.lineno}: {name}(...)")
        elif name == "yaml.load":
            loader = keywords.get("Loader") or (node.args[1] if len(node.args) > 1 else None)
            if loader is None or _name(loader) not in SAFE_YAML_LOADERS:
                found.append(f"{filename}:{node.lineno}: yaml.load without SafeLoader")
        elif name.endswith("np.load") or name == "numpy.load":
            flag = keywords.get("allow_pickle")
            if isinstance(flag, ast.Constant) and flag.value is True:
                found.append(f"{filename}:{node.lineno}: {name}(allow_pickle=True)")
        elif name.startswith("subprocess.") and isinstance(keywords.get("shell"), ast.Constant) \
                and keywords["shell"].value is True:
            found.append(f"{filename}:{node.lineno}: {name}(shell=True)")
    return found


@pytest.mark.parametrize("snippet", [
    "import pickle\npickle.load(open('m.pkl', 'rb'))",
    "import yaml\nyaml.load(text)",
    "import yaml\nyaml.load(text, Loader=yaml.FullLoader)",
    "import yaml\nyaml.unsafe_load(text)",
    "eval(user_text)",
    "import numpy as np\nnp.load('a.npy', allow_pickle=True)",
    "import pandas as pd\npd.read_pickle('x')",
    "from meridian.model import model\nmodel.load_mmm('m.pkl')",
    "import subprocess\nsubprocess.run(cmd, shell=True)",
])
def test_the_scan_finds_unsafe_calls(snippet: str) -> None:
    assert unsafe_calls(snippet)


@pytest.mark.parametrize("snippet", [
    "import yaml\nyaml.safe_load(text)",
    "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
    "import numpy as np\nnp.load('a.npy')",
    "# pickle.load(f) in a comment\n'''eval(x) in a docstring'''",
])
def test_the_scan_accepts_safe_calls(snippet: str) -> None:
    assert unsafe_calls(snippet) == []


def test_no_module_of_the_package_uses_an_unsafe_loader() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20, f"the package was not found at {PACKAGE}"
    found = [hit for path in modules
             for hit in unsafe_calls(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))]
    assert found == [], "unsafe loaders / eval in the package:\n" + "\n".join(found)
