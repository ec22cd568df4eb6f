"""`mmm run`'s early work: a later stage's ``prestart`` hook runs once the stages it reads are done, its handle reaches
the stage as ``ctx.early``, and it is stopped, its scratch folder removed, however the run ends."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from mmm_meridian import pipeline
from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.errors import UserError
from mmm_meridian.pipeline import StageSpec, run_pipeline


class Handle:
    def __init__(self, scratch: Path) -> None:
        self.scratch, self.stopped = scratch, 0
        (scratch / "work.txt").write_text("started")

    def stop(self) -> None:
        self.stopped += 1


@pytest.fixture
def fake_stages(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Three stages a -> b -> c; c's hook needs a. ``events`` records what happened in order."""
    events: list[Any] = []
    record: dict[str, Any] = {"events": events, "fail_in": None, "handles": []}

    def module(name: str, hook: bool) -> types.ModuleType:
        mod = types.ModuleType(f"fake_stage_{name}")
        mod.READS = ()  # type: ignore[attr-defined]

        def run(ctx: Any) -> dict[str, Any]:
            events.append(("run", name, ctx.early))
            if name == "c" and ctx.early is not None:
                events.append(("c sees", (ctx.early.scratch / "work.txt").read_text()))
            if record["fail_in"] == name:
                raise UserError(f"{name} failed", where=name, fix="none")
            ctx.out.write_text("out.txt", name)
            return {}

        mod.run = run  # type: ignore[attr-defined]
        if hook:
            def prestart(cfg: Any, inputs: dict[str, Path], scratch: Path, log: Any) -> Handle:
                events.append(("prestart", name, sorted(inputs)))
                handle = Handle(scratch)
                record["handles"].append(handle)
                return handle

            mod.prestart = prestart  # type: ignore[attr-defined]
            mod.PRESTART_NEEDS = ("a",)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
        return mod

    stages = {name: StageSpec(name, name, requires, "", ("out.txt",), module(name, name == "c").__name__)
              for name, requires in (("a", ()), ("b", ("a",)), ("c", ("b",)))}
    monkeypatch.setattr(pipeline, "STAGES", stages)
    return record


def _scratch_folders(store: ArtifactStore) -> list[str]:
    return [p.name for p in store.root.iterdir() if p.name.startswith(".staging-")]


def test_the_hook_starts_once_its_inputs_are_done_and_the_stage_gets_its_handle(fake_stages, cfg):
    store = ArtifactStore(cfg.paths.artifacts)
    run_pipeline(cfg, ["a", "b", "c"], store=store)
    events = fake_stages["events"]
    [handle] = fake_stages["handles"]
    # The hook ran right after a (its need), before b; c received what it started, with the scratch folder's work.
    assert [e[:2] for e in events] == [("run", "a"), ("prestart", "c"), ("run", "b"), ("run", "c"), ("c sees",
                                                                                                     "started")]
    assert events[1][2] == ["a"] and events[3][2] is handle
    assert handle.stopped >= 1 and not handle.scratch.exists() and _scratch_folders(store) == []

    # A second run skips every stage (up to date): the hook starts nothing.
    run_pipeline(cfg, ["a", "b", "c"], store=store)
    assert len(fake_stages["handles"]) == 1


def test_a_failure_before_the_stage_stops_the_early_work_and_removes_its_folder(fake_stages, cfg):
    store = ArtifactStore(cfg.paths.artifacts)
    fake_stages["fail_in"] = "b"
    with pytest.raises(UserError, match="b failed"):
        run_pipeline(cfg, ["a", "b", "c"], store=store)
    [handle] = fake_stages["handles"]
    assert handle.stopped == 1 and not handle.scratch.exists() and _scratch_folders(store) == []
    assert ("run", "c") not in [e[:2] for e in fake_stages["events"]]


def test_one_stage_alone_gets_no_early_work(fake_stages, cfg):
    store = ArtifactStore(cfg.paths.artifacts)
    run_pipeline(cfg, ["a"], store=store)
    run_pipeline(cfg, ["b"], store=store)
    run_pipeline(cfg, ["c"], store=store)
    assert fake_stages["handles"] == [] and ("run", "c", None) in fake_stages["events"]
