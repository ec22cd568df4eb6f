"""Hydra multirun: ``mmm <stage> -m key=a,b`` / ``python -m mmm_meridian -m stage=<stage> key=a,b``.

Each sweep job runs in its own artifacts folder (``<sweep dir>/<job>/artifacts``, or ``DIR/<job>`` when the command
line sets ``paths.artifacts=DIR``), seeded with the base project's up-to-date upstream artifacts so only what the
swept keys change is recomputed. Each job writes ``job_result.json``;
at the end :class:`SweepSummaryCallback` collects them into ``sweep_summary.csv`` comparing overrides and key
metrics. The job function is kept thin because the joblib launcher pickles it with this module's globals.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.config
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mmm_meridian.config.loader import conf_dir
from mmm_meridian.config.root import register_configs
from mmm_meridian.errors import EXIT_OK, EXIT_UNEXPECTED, EXIT_USER_ERROR, ConfigError, UserError

log = logging.getLogger(__name__)
JOB_RESULT = "job_result.json"
SUMMARY_CSV = "sweep_summary.csv"


def _seed_from_base(cfg: Any, base: Path, job_store: Any) -> list[str]:
    """Copy the base project's stage folders that are up to date for this job's config into the job folder."""
    from mmm_meridian.artifacts import ArtifactStore
    from mmm_meridian.config.loader import to_plain
    from mmm_meridian.pipeline import STAGES, is_up_to_date

    base_store = ArtifactStore(base)
    plain = to_plain(cfg)
    copied: list[str] = []
    for stage in STAGES:
        if base_store.manifest(stage) is not None and is_up_to_date(cfg, stage, base_store, plain):
            shutil.copytree(base_store.stage_dir(stage), job_store.stage_dir(stage), dirs_exist_ok=True)
            copied.append(stage)
    return copied


def _flat_summary(manifests: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for stage, manifest in manifests.items():
        summary = (manifest.extra or {}).get("summary", {}) if manifest is not None else {}
        for key, value in summary.items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                row[f"{stage}.{key}"] = value
            elif isinstance(value, dict):
                for sub, sub_value in value.items():
                    if isinstance(sub_value, (int, float, str, bool)):
                        row[f"{stage}.{key}.{sub}"] = sub_value
    return row


def run_job(cfg: DictConfig) -> int:
    """One sweep job: validate, run in the job's own artifacts folder, record the outcome."""
    from mmm_meridian import api
    from mmm_meridian.artifacts import ArtifactStore, dumps
    from mmm_meridian.config.infra import UpstreamPolicy
    from mmm_meridian.config.loader import to_typed

    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = list(hydra_cfg.overrides.task)
    result: dict[str, Any] = {"job": hydra_cfg.job.num, "overrides": overrides, "status": "ok", "error": None}
    status = EXIT_OK
    try:
        typed = to_typed(cfg)
        base = Path(typed.paths.artifacts)
        # Jobs run in parallel: a folder shared by all of them would leave all but one refused by its lock.
        job_root = base / str(hydra_cfg.job.num) if _sets(overrides, "paths.artifacts") else job_dir / "artifacts"
        typed.paths.artifacts = str(job_root)
        if not _sets(overrides, "paths.logs"):
            typed.paths.logs = str(job_root / "logs")
        typed.runtime.upstream_policy = UpstreamPolicy.rebuild
        store = ArtifactStore(typed.paths.artifacts)
        result["artifacts"] = str(store.root)
        with store.lock(typed.runtime.lock_timeout_s):
            result["reused_from_base"] = _seed_from_base(typed, base, store) if base != store.root else []
        stage = typed.stage.value
        manifests = api.run(typed) if stage == "run" else {stage: api.run_stage(typed, stage)}
        result["metrics"] = _flat_summary(manifests)
    except UserError as exc:
        status = EXIT_USER_ERROR
        result.update(status="failed", error=exc.one_line())
        print(exc.one_line(), file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - one failed job must not hide the others' results
        status = EXIT_UNEXPECTED
        result.update(status="crashed", error=f"{type(exc).__name__}: {exc}")
        log.exception("sweep job %s crashed", hydra_cfg.job.num)
    (job_dir / JOB_RESULT).write_text(dumps(result) + "\n", encoding="utf-8")
    return status


def _sets(overrides: Sequence[str], key: str) -> bool:
    """True when a command-line override sets ``key`` (``key=``, ``+key=``, ``++key=``)."""
    return any(o.lstrip("+").startswith(f"{key}=") for o in overrides)


def write_sweep_summary(sweep_dir: Path) -> Path | None:
    """Collect every job's ``job_result.json`` under ``sweep_dir`` into ``sweep_summary.csv``."""
    import pandas as pd

    rows = []
    for path in sorted(sweep_dir.glob(f"*/{JOB_RESULT}"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit()
                       else 0):
        result = json.loads(path.read_text(encoding="utf-8"))
        row = {"job": result["job"], "overrides": " ".join(result["overrides"]), "status": result["status"],
               "error": result.get("error") or ""}
        row.update(result.get("metrics") or {})
        rows.append(row)
    if not rows:
        return None
    table = pd.DataFrame(rows)
    out = sweep_dir / SUMMARY_CSV
    table.to_csv(out, index=False)
    with pd.option_context("display.width", 160, "display.max_columns", 12):
        print(f"\nSweep summary ({out}):\n{table.to_string(index=False, max_colwidth=60)}")
    return out


class SweepSummaryCallback(Callback):
    """Hydra callback: writes the sweep summary table when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        _LAST_SWEEP_DIRS.append(sweep_dir)
        write_sweep_summary(sweep_dir)


_LAST_SWEEP_DIRS: list[Path] = []  # filled by the callback in the launching process, whatever the launcher
_JOB_EXIT = {"ok": EXIT_OK, "failed": EXIT_USER_ERROR, "crashed": EXIT_UNEXPECTED}


def sweep_status(sweep_dir: Path) -> int:
    """The worst exit status over a sweep's jobs (jobs may have run in other processes, e.g. joblib workers)."""
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sweep_dir.glob(f"*/{JOB_RESULT}")]
    if not results:
        return EXIT_UNEXPECTED
    return max(_JOB_EXIT.get(r.get("status"), EXIT_UNEXPECTED) for r in results)


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def hydra_main(cfg: DictConfig) -> int:
    return run_job(cfg)


def _first_sweep_values(overrides: Sequence[str]) -> list[str]:
    """The overrides with each sweep (``k=a,b``) replaced by its first value: a config for the launching process."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    plain: list[str] = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.key_or_group.startswith("hydra"):
            continue
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()))
            plain.append(f"{override.get_key_element()}={first}")
        else:
            plain.append(override.input_line or "")
    return plain


@contextlib.contextmanager
def callers_logging_kept() -> Iterator[None]:
    """Run Hydra in this process without closing or replacing the caller's logging.

    Hydra sets up its own and its jobs' logging with :mod:`logging.config`, which closes every handler in the process
    first (``logging.config._clearExistingHandlers``): a notebook's or a service's file and queue handlers, a test
    runner's capture. For the call's length, handlers that existed before it are dropped from the configuration but
    left open; the root logger's handlers and level are put back afterwards.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    callers = {id(ref) for ref in logging._handlerList}  # type: ignore[attr-defined]
    clear_existing = logging.config._clearExistingHandlers  # type: ignore[attr-defined]

    def clear_all_but_the_callers() -> None:
        refs = logging._handlerList[:]  # type: ignore[attr-defined]  # weak references, oldest first
        logging._handlers.clear()  # type: ignore[attr-defined]
        logging.shutdown([ref for ref in refs if id(ref) not in callers])
        logging._handlerList[:] = [ref for ref in refs if id(ref) in callers]  # type: ignore[attr-defined]

    logging.config._clearExistingHandlers = clear_all_but_the_callers  # type: ignore[attr-defined]
    try:
        yield
    finally:
        logging.config._clearExistingHandlers = clear_existing  # type: ignore[attr-defined]
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def launch_multirun(overrides: Sequence[str], config_dir: str | None) -> int:
    """Run a Hydra multirun over ``overrides``; exit 0 when every job succeeded, else the worst job status."""
    from mmm_meridian.config.loader import load_config
    from mmm_meridian.tracking import PARENT_ENV, end_sweep_parent, start_sweep_parent

    register_configs()
    _LAST_SWEEP_DIRS.clear()
    try:
        launcher_cfg = load_config(_first_sweep_values(overrides), config_dir)
        # The experiment and the sweep's parent run are created here, once, before jobs start in parallel.
        parent = start_sweep_parent(launcher_cfg, list(overrides))  # checks the tracking store (UserError: exit 2)
    except UserError as exc:
        print(exc.one_line(), file=sys.stderr)
        return EXIT_USER_ERROR
    if parent:
        os.environ[PARENT_ENV] = parent
    argv = [sys.argv[0] or "mmm"]
    if config_dir:
        argv += ["--config-dir", str(Path(config_dir).resolve())]
    argv += ["-m", *overrides]
    saved = sys.argv
    sys.argv = argv
    status: int | None = None  # stays None when interrupted (Ctrl-C, SIGTERM): the parent run is closed as KILLED
    try:
        with callers_logging_kept():
            hydra_main()
        status = sweep_status(_LAST_SWEEP_DIRS[-1]) if _LAST_SWEEP_DIRS else EXIT_UNEXPECTED
    except SystemExit as exc:  # Hydra exits on composition errors (bad overrides)
        status = EXIT_USER_ERROR if exc.code not in (0, None) else EXIT_OK
    finally:
        sys.argv = saved
        os.environ.pop(PARENT_ENV, None)
        end_sweep_parent(launcher_cfg, parent,
                         "KILLED" if status is None else "FINISHED" if status == EXIT_OK else "FAILED")
    return status


def hydra_inspect(flags: Sequence[str], overrides: Sequence[str], config_dir: str | None) -> int:
    """Hand Hydra's inspection flags (``--cfg``, ``--info``, ``--resolve``, ``--package``, ``--hydra-help``) with the
    overrides to Hydra's own main: it prints what was asked and runs no job. Returns the exit status.

    Raises:
        ConfigError: ``config_dir`` is not a folder, or Hydra cannot compose the overrides.
    """
    register_configs()
    argv = [sys.argv[0] or "mmm"]
    if config_dir:
        folder = Path(config_dir).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"--config-dir {config_dir!r} is not a folder", where="command line",
                              fix="point --config-dir at a folder holding e.g. data/<name>.yaml")
        argv += ["--config-dir", str(folder)]
    if "--hydra-help" in flags:
        overrides = []  # Hydra's help about itself composes Hydra's config alone, where `stage=` is no key
    saved = sys.argv
    # --info prints at DEBUG through Hydra's module logger: a run earlier in this process may have disabled it
    # (Hydra's job logging config) or set the "hydra" logger to INFO (mmm_meridian.logs), and it would print nothing.
    hydra_logger, info_logger = logging.getLogger("hydra"), logging.getLogger("hydra._internal.hydra")
    saved_hydra = (hydra_logger.level, info_logger.disabled)
    hydra_logger.setLevel(logging.NOTSET)
    info_logger.disabled = False
    sys.argv = [*argv, *flags, *overrides]
    try:
        with callers_logging_kept():  # Hydra configures logging for the job it would run (--info does)
            hydra_main()
    except SystemExit as exc:  # --hydra-help exits 0; Hydra exits 1 on a composition error (already printed)
        return EXIT_OK if exc.code in (0, None) else EXIT_USER_ERROR
    except HydraException as exc:  # raised outside Hydra's own error reporting (--info on a bad override)
        raise ConfigError(f"invalid configuration: {' '.join(str(exc).split())}", where="overrides",
                          fix="check the key names and values against `mmm <stage> --help` and conf/") from exc
    finally:
        sys.argv = saved
        hydra_logger.setLevel(saved_hydra[0])
        info_logger.disabled = saved_hydra[1]
    return EXIT_OK
