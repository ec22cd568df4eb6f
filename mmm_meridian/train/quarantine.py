"""A refused fit is kept, not thrown away: the quarantine beside the train stage's folder.

A fit that fails the convergence or the plausibility gate with ``on_failure: fail`` stops the run (exit 2), but its
sampling may have cost minutes on a laptop or an hour on a GPU batch job. Its files (model, diagnostics, ROI table,
plausibility verdict) are moved to ``<paths.artifacts>/train.quarantine/`` with ``quarantine.json`` saying why and
what it was fitted from. No downstream stage reads that folder. Re-running train with the failed gate's
``on_failure=warn`` and nothing else changed (same upstream features, same config apart from the ``on_failure``
switches) promotes the quarantined fit without resampling; the gates then warn, ``diagnostics.json`` and
``plausibility.json`` record ``accepted_below_gate``, and the deck says so on its first page.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from mmm_meridian.artifacts import dumps

log = logging.getLogger(__name__)
FOLDER = "train.quarantine"
RECORD = "quarantine.json"
# The switches that decide what happens to a refused fit, not what is fitted: a change to them keeps the fit valid.
ACCEPT_SWITCHES = (("complexity", "identifiability", "on_failure"), ("complexity", "plausibility", "on_failure"),
                   ("training", "on_failure_override"))


def fit_key(stage_values: dict[str, Any], upstream_digest: str) -> str:
    """What a fit depends on: the train stage's config values without the accept switches, and its input digest."""
    from mmm_meridian.pipeline import config_hash

    values = copy.deepcopy(stage_values)
    for path in ACCEPT_SWITCHES:
        node = values
        for part in path[:-1]:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return config_hash({"config": values, "features": upstream_digest})


def folder(train_dir: Path) -> Path:
    """The quarantine folder of the train stage whose artifacts live in ``train_dir``."""
    return train_dir.parent / FOLDER


def keep(staging: Path, train_dir: Path, key: str, reason: str) -> Path:
    """Move a refused fit's files from the stage's ``staging`` folder to the quarantine (replacing an older one)."""
    target = folder(train_dir)
    building = target.parent / f".{FOLDER}.building"
    shutil.rmtree(building, ignore_errors=True)
    shutil.copytree(staging, building)
    (building / RECORD).write_text(dumps({"key": key, "reason": reason,
                                          "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n",
                                   encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    log.warning("train: the refused fit is kept in %s (no stage reads it); to accept it without resampling, re-run "
                "train with the failed gate's on_failure=warn and nothing else changed", target)
    return target


def matching(train_dir: Path, key: str) -> Path | None:
    """The quarantine folder when it holds a fit made from exactly this config and input (else None)."""
    target = folder(train_dir)
    record = target / RECORD
    if not record.is_file():
        return None
    try:
        stored = json.loads(record.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    return target if stored.get("key") == key else None


def promote(source: Path, staging: Path) -> None:
    """Copy a quarantined fit into the stage's staging folder (the quarantine stays until the commit succeeds)."""
    for item in source.iterdir():
        if item.name == RECORD:
            continue
        destination = staging / item.name
        if item.is_dir():
            shutil.copytree(item, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(item, destination)
    log.warning("train: promoting the quarantined fit from %s without resampling (accepted below the gate)", source)


def discard(train_dir: Path) -> None:
    """Remove the quarantine (after a fit was committed: a newer fit supersedes it)."""
    shutil.rmtree(folder(train_dir), ignore_errors=True)
