"""Record which config keys a stage actually reads, to check them against what its artifacts are keyed on.

Every config section is a dataclass; while :func:`trace_stage_reads` is active, attribute reads on the dataclasses of
the live config tree are recorded as dotted keys (``runtime.chain_batch_size``). Reading a mapping such as
``data.channel_map`` records the mapping's key; ``dataclasses.asdict`` of a section records each of its fields.
Only reads inside a stage's ``run(ctx)`` are recorded (the pipeline's own hashing reads everything).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmm_meridian import pipeline
from mmm_meridian.config import data, decisions, infra, modeling, quality, root


def _config_classes() -> set[type]:
    """Every dataclass defined in the config package (the sections and their sub-sections)."""
    return {obj for module in (data, decisions, infra, modeling, quality, root) for obj in vars(module).values()
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__}


def _paths(obj: Any, prefix: str, out: dict[int, str]) -> None:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out[id(obj)] = prefix
        for f in dataclasses.fields(obj):
            _paths(object.__getattribute__(obj, f.name), f"{prefix}.{f.name}" if prefix else f.name, out)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if dataclasses.is_dataclass(value):
                _paths(value, f"{prefix}.{key}", out)


@contextmanager
def trace_stage_reads() -> Iterator[dict[str, set[str]]]:
    """Within the block, every stage run through :mod:`mmm_meridian.pipeline` records the config keys it reads.

    Yields ``{stage: {dotted keys}}``, filled as stages run.
    """
    reads: dict[str, set[str]] = defaultdict(set)
    current: dict[str, Any] = {"stage": None, "paths": {}}
    classes = _config_classes()
    field_names = {cls: {f.name for f in dataclasses.fields(cls)} for cls in classes}

    def traced(self: Any, name: str) -> Any:
        value = object.__getattribute__(self, name)
        stage = current["stage"]
        if stage is not None and name in field_names.get(type(self), ()) and type(value) not in classes:
            path = current["paths"].get(id(self))
            if path is not None:
                reads[stage].add(f"{path}.{name}" if path else name)
        return value

    original_runner = pipeline.StageSpec.runner
    original_structured = OmegaConf.structured

    def structured(*args: Any, **kwargs: Any) -> Any:
        # Converting the whole config (to hash it or record it) is not a stage reading a key.
        previous = current["stage"]
        current["stage"] = None
        try:
            return original_structured(*args, **kwargs)
        finally:
            current["stage"] = previous

    def as_stage(name: str, cfg: Any, call: Any) -> Any:
        paths: dict[int, str] = {}
        _paths(cfg, "", paths)
        previous = dict(current)
        current.update(stage=name, paths=paths)
        try:
            return call()
        finally:
            current.update(previous)

    def runner(spec: pipeline.StageSpec) -> Any:
        run = original_runner(spec)
        return lambda ctx: as_stage(spec.name, ctx.cfg, lambda: run(ctx))

    def traced_hook(name: str, hook: Any) -> Any:
        def prestart(cfg: Any, *args: Any) -> Any:
            return as_stage(name, cfg, lambda: hook(cfg, *args))
        return prestart

    # A stage's early work in `mmm run` (its module's ``prestart`` hook) reads config as the stage.
    hooks = {}
    for spec in pipeline.STAGES.values():
        module = importlib.import_module(spec.module) if spec.module else None
        if module is not None and hasattr(module, "prestart"):
            hooks[module] = module.prestart
            module.prestart = traced_hook(spec.name, module.prestart)

    saved = {cls: cls.__dict__.get("__getattribute__") for cls in classes}
    pipeline.StageSpec.runner = runner  # type: ignore[method-assign]
    OmegaConf.structured = structured  # type: ignore[method-assign]
    for cls in classes:
        cls.__getattribute__ = traced  # type: ignore[method-assign]
    try:
        yield reads
    finally:
        pipeline.StageSpec.runner = original_runner  # type: ignore[method-assign]
        for module, hook in hooks.items():
            module.prestart = hook
        OmegaConf.structured = original_structured  # type: ignore[method-assign]
        for cls, method in saved.items():
            if method is None:
                del cls.__getattribute__
            else:
                cls.__getattribute__ = method  # type: ignore[method-assign]


def unhashed_reads(stage: str, keys: set[str]) -> list[str]:
    """The keys ``stage`` read that neither its artifacts' config hash nor the declared exemptions cover."""
    covered = [*pipeline.hashed_keys(stage), *pipeline.NOT_HASHED]
    return sorted(k for k in keys if not any(k == c or k.startswith(f"{c}.") for c in covered))


def config_leaves(node: Any, prefix: str = "") -> list[str]:
    """Every leaf key of a config (a dataclass tree); a mapping of plain values (``data.channel_map``) is one leaf,
    a mapping of sections (``optimization.scenario_presets``) is walked into."""
    leaves: list[str] = []
    if dataclasses.is_dataclass(node):
        items = [(f.name, object.__getattribute__(node, f.name)) for f in dataclasses.fields(node)]
    else:
        items = list(node.items())
    for key, value in items:
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if dataclasses.is_dataclass(value) or (isinstance(value, dict) and value
                                               and all(dataclasses.is_dataclass(v) for v in value.values())):
            leaves += config_leaves(value, dotted)
        else:
            leaves.append(dotted)
    return leaves


def unexercised_keys(cfg: Any, reads: dict[str, set[str]], tests_dir: Path) -> list[str]:
    """Config keys that no stage read on the run traced in ``reads`` and that no test names by their dotted key.

    A key in neither place is a switch nobody has seen change anything: give it a test that sets it by name and
    asserts what changes (``tests/<stage>/test_switches.py``), or remove it.
    """
    read = set().union(*reads.values()) if reads else set()
    own = Path(__file__).resolve()
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(tests_dir.rglob("*.py")) if p.resolve() != own)
    return [key for key in config_leaves(cfg)
            if not any(key == r or key.startswith(f"{r}.") or r.startswith(f"{key}.") for r in read)
            and key not in text]
