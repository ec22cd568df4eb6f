"""Fan-out over series: fit every brand / territory selected by ``data.keys`` as parallel jobs, then one summary.

``mmm fanout <stage> [--keys k1,k2] [--only key=v1,v2] [overrides]`` lists the series in the data source (the
combinations of the fanned-out keys that exist, within the ``data.series`` filter of the other keys), runs one Hydra
multirun job per series through :func:`mmm_meridian.app.launch_multirun` (so ``hydra/launcher=joblib_2`` runs them
two at a time, ``hydra/launcher=slurm_cpu`` on a cluster) and writes, in the sweep folder:

- ``fanout_summary.csv``: one row per series with its status, every stage's summary metrics, ``roi.<channel>`` from
  ``train/roi.csv`` and ``recommended.<channel>`` from ``optimize/allocation.csv`` when those stages ran;
- ``fanout_roi.csv`` / ``fanout_allocation.csv``: those tables stacked, with the series' key columns in front.

The tables are also logged to the sweep's MLflow parent run (tag ``mmm.fanout``), under which every job's runs nest.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import EXIT_OK, EXIT_UNEXPECTED, EXIT_USER_ERROR, ConfigError, DataError, UserError

log = logging.getLogger(__name__)
SUMMARY_CSV = "fanout_summary.csv"
# Per-job tables stacked across series: (stage, file, output name, value columns tried for the wide summary, prefix).
STACKED = (
    ("train", "roi.csv", "fanout_roi.csv", ("roi", "roi_mean", "mean"), "roi"),
    ("optimize", "allocation.csv", "fanout_allocation.csv",
     ("recommended_spend", "optimal_spend", "optimized_spend", "spend"), "recommended"),
)
_STATUS_CODES = {"ok": EXIT_OK, "failed": EXIT_USER_ERROR, "crashed": EXIT_UNEXPECTED}


@dataclass
class FanOutResult:
    """What a fan-out produced: the sweep folder, the series it ran and the aggregated table."""

    sweep_dir: Path
    series: list[dict[str, str]]
    summary: pd.DataFrame
    summary_path: Path
    status: int  # 0 when every series succeeded, else the worst job's exit status


def fanout_keys(cfg: MMMConfig, keys: Sequence[str] | None = None) -> list[str]:
    """The keys to fan out over: ``keys`` when given (each must be in ``data.keys``), else the non-geo ``data.keys``."""
    declared = list(cfg.data.keys)
    if keys is None:
        chosen = [k for k in declared if k != cfg.data.geo_col]
    else:
        chosen = list(keys)
        unknown = [k for k in chosen if k not in declared]
        if unknown:
            raise ConfigError(f"cannot fan out over {unknown}: not in data.keys={declared}", where="--keys",
                              fix=f"choose keys from {declared} or add the column to data.keys")
        if cfg.data.geo_col in chosen:
            raise ConfigError(f"{cfg.data.geo_col!r} is the geo column of a geo model and is modelled jointly",
                              where="--keys", fix="fan out over the other keys, or unset data.geo_col")
    if not chosen:
        raise ConfigError("there is nothing to fan out over: data.keys names no series column",
                          where="config key data.keys", fix="set data.keys to the brand / territory columns")
    return chosen


def _as_strings(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def list_series(cfg: MMMConfig, keys: Sequence[str] | None = None,
                only: Mapping[str, Sequence[str]] | None = None, frame: pd.DataFrame | None = None
                ) -> list[dict[str, str]]:
    """The series a fan-out runs: combinations of the fanned-out keys present in the data source.

    Args:
        cfg: the base configuration; ``data.series`` still filters the keys that are not fanned out, while the
            fanned-out keys' own ``data.series`` values are replaced by the fan-out.
        keys: the keys to fan out over (default: the non-geo ``data.keys``).
        only: restrict fanned-out keys to these values, e.g. ``{"territory_name": ["GB", "US"]}``.
        frame: the raw table; loaded with the configured connectors (as ingest does) when omitted.

    Raises:
        ConfigError: a key is not in ``data.keys``. DataError: a key column is missing or nothing is selected.
    """
    chosen = fanout_keys(cfg, keys)
    if frame is None:
        from mmm_meridian.ingest.connectors import load_with_fallback

        frame = load_with_fallback(cfg)[0].frame
    missing = [k for k in chosen if k not in frame.columns]
    if missing:
        raise DataError(f"the data has no column {missing} to fan out over", where="config key data.keys",
                        fix=f"map data.keys to columns of the data, e.g. one of {sorted(frame.columns)[:8]}")
    mask = pd.Series(True, index=frame.index)
    filters = {k: _as_strings(v) for k, v in cfg.data.series.items() if k not in chosen}
    filters.update({k: _as_strings(v) for k, v in (only or {}).items()})
    for key, allowed in filters.items():
        if allowed is not None and key in frame.columns:
            mask &= frame[key].astype(str).isin(allowed)
    combos = frame.loc[mask, chosen].astype(str).drop_duplicates().sort_values(chosen)
    if combos.empty:
        raise DataError(f"no series left to fan out over after the filters {filters}", where="data.series / --only",
                        fix="loosen the filters; values present: "
                        + str({k: sorted(frame[k].astype(str).unique())[:8] for k in chosen}))
    return [dict(zip(chosen, row, strict=True)) for row in combos.itertuples(index=False)]


def _quote(value: Any) -> str:
    """A value in Hydra's override grammar (strings always quoted, so '007' and 'a,b' survive)."""
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_quote(v) for v in value) + "]"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def series_overrides(cfg: MMMConfig, series: Sequence[Mapping[str, str]]) -> list[str]:
    """One sweep override that gives each job one series: ``data.series.<key>=a,b`` for one key, else dicts."""
    keys = list(series[0])
    if len(keys) == 1:
        key = keys[0]
        prefix = "" if key in cfg.data.series else "++"  # a new entry of the data.series mapping
        return [f"{prefix}data.series.{key}=" + ",".join(_quote(s[key]) for s in series)]
    kept = {k: v for k, v in cfg.data.series.items() if k not in keys}
    choices = []
    for one in series:
        entries = {**kept, **one}
        choices.append("{" + ",".join(f"{k}:{_quote(v)}" for k, v in entries.items()) + "}")
    return ["data.series=" + ",".join(choices)]


def _job_series(job_dir: Path, keys: Sequence[str]) -> dict[str, str]:
    """The series a job ran, read from the config Hydra saved for it (robust to job numbering)."""
    saved = job_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        return {}
    series = (yaml.safe_load(saved.read_text(encoding="utf-8")).get("data") or {}).get("series") or {}
    return {k: str(series.get(k)) for k in keys}


def _read_table(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path) if path.is_file() else None
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def _wide(table: pd.DataFrame, value_columns: Sequence[str], prefix: str) -> dict[str, Any]:
    """``{prefix.<channel>: value}`` from a per-channel table, using the first value column present."""
    column = next((c for c in value_columns if c in table.columns), None)
    if column is None or "channel" not in table.columns:
        return {}
    return {f"{prefix}.{ch}": value for ch, value in zip(table["channel"], table[column], strict=True)}


def aggregate(sweep_dir: Path, keys: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """Build and write the fan-out tables from the jobs under ``sweep_dir``; returns (summary, worst status)."""
    from mmm_meridian.app import JOB_RESULT

    job_dirs = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    rows: list[dict[str, Any]] = []
    stacked: dict[str, list[pd.DataFrame]] = {name: [] for _, _, name, _, _ in STACKED}
    worst = EXIT_OK
    for job_dir in job_dirs:
        series = _job_series(job_dir, keys)
        result_path = job_dir / JOB_RESULT
        if result_path.is_file():
            result = json.loads(result_path.read_text(encoding="utf-8"))
        else:  # the job's process died before it could record anything (killed, out of memory)
            result = {"status": "crashed", "error": "the job left no job_result.json (killed or out of memory?)"}
        worst = max(worst, _STATUS_CODES.get(result.get("status", "crashed"), EXIT_UNEXPECTED))
        row: dict[str, Any] = {**series, "job": int(job_dir.name), "status": result.get("status", "crashed"),
                               "error": result.get("error") or "", "artifacts": result.get("artifacts", "")}
        row.update(result.get("metrics") or {})
        artifacts = Path(result.get("artifacts") or job_dir / "artifacts")
        for stage, file_name, out_name, value_columns, prefix in STACKED:
            table = _read_table(artifacts / stage / file_name)
            if table is None:
                continue
            row.update(_wide(table, value_columns, prefix))
            stacked[out_name].append(table.assign(**series)[[*series, *table.columns]])
        rows.append(row)
    summary = pd.DataFrame(rows)
    summary.to_csv(sweep_dir / SUMMARY_CSV, index=False)
    for out_name, tables in stacked.items():
        if tables:
            pd.concat(tables, ignore_index=True).to_csv(sweep_dir / out_name, index=False)
    return summary, worst


def fan_out(overrides: Sequence[str] = (), *, stage: str = "run", keys: Sequence[str] | None = None,
            only: Mapping[str, Sequence[str]] | None = None, config_dir: str | None = None) -> FanOutResult:
    """Run ``stage`` once per series as a Hydra multirun and aggregate the results.

    Args:
        overrides: the base overrides (may choose a launcher, e.g. ``hydra/launcher=joblib_2``).
        stage: the stage each job runs (``run`` for the whole pipeline).
        keys: the keys to fan out over (default: the non-geo ``data.keys``).
        only: restrict fanned-out keys to these values.
        config_dir: an extra config folder, as ``mmm --config-dir``.

    Raises:
        UserError: the base configuration is invalid or selects no series.
    """
    from mmm_meridian.app import launch_multirun
    from mmm_meridian.config.loader import load_config

    base = [o for o in overrides if not o.startswith("stage=")]
    cfg = load_config(base, config_dir)
    series = list_series(cfg, keys, only)
    sweep_override = next((o for o in base if o.startswith("hydra.sweep.dir=")), None)
    if sweep_override is None:
        sweep_dir = Path(cfg.paths.artifacts).resolve() / "fanout" / time.strftime("%Y-%m-%d_%H-%M-%S")
        base.append(f"hydra.sweep.dir={_quote(str(sweep_dir))}")
    else:
        sweep_dir = Path(sweep_override.split("=", 1)[1].strip("'\"")).resolve()
    print(f"fan-out: {len(series)} series of {stage} -> {sweep_dir}", file=sys.stderr)
    launch_multirun([*base, *series_overrides(cfg, series), f"stage={stage}"], config_dir)
    if not sweep_dir.is_dir():
        raise ConfigError("the fan-out's multirun did not start (see the error above)", where="overrides",
                          fix="check the overrides with `mmm <stage> --show-config ...`")
    summary, status = aggregate(sweep_dir, list(series[0]))
    log_to_parent_run(cfg, sweep_dir, summary)
    return FanOutResult(sweep_dir, series, summary, sweep_dir / SUMMARY_CSV, status)


def log_to_parent_run(cfg: MMMConfig, sweep_dir: Path, summary: pd.DataFrame) -> str | None:
    """Attach the fan-out tables to the sweep's MLflow parent run (which launch_multirun created); returns its id.

    The run is found by the sweep folder named in its ``mmm.overrides`` tag. Tracking problems are logged, never
    raised: the fan-out's own results are already on disk.
    """
    if not cfg.tracking.enabled:
        return None
    try:
        from mlflow.tracking import MlflowClient

        from mmm_meridian.tracking import tracking_uri

        client = MlflowClient(tracking_uri=tracking_uri(cfg))
        experiment = client.get_experiment_by_name(cfg.tracking.experiment_name)
        if experiment is None:
            return None
        runs = client.search_runs([experiment.experiment_id], filter_string="tags.`mmm.kind` = 'sweep'",
                                  max_results=100, order_by=["attributes.start_time DESC"])
        run = next((r for r in runs if str(sweep_dir) in r.data.tags.get("mmm.overrides", "")), None)
        if run is None:
            log.warning("fan-out: no MLflow sweep run found for %s; the tables stay on disk only", sweep_dir)
            return None
        run_id = str(run.info.run_id)
        client.set_tag(run_id, "mmm.fanout", "true")
        client.log_metric(run_id, "fanout.series", float(len(summary)))
        client.log_metric(run_id, "fanout.ok", float((summary["status"] == "ok").sum()))
        for path in sorted(sweep_dir.glob("fanout_*.csv")):
            client.log_artifact(run_id, str(path), artifact_path="fanout")
        return run_id
    except Exception as exc:  # noqa: BLE001 - tracking must not fail a finished fan-out
        log.warning("fan-out: could not log the summary to MLflow: %s: %s", type(exc).__name__, exc)
        return None


FANOUT_USAGE = ("usage: mmm fanout <stage> [--keys k1,k2] [--only key=v1,v2]... [--config-dir DIR] [key=value ...]\n"
                "  Runs <stage> once per series selected by data.keys (parallel with hydra/launcher=joblib_2) and\n"
                "  writes fanout_summary.csv (status, metrics, ROI and recommendations per series) in the sweep dir.")


def fanout_main(argv: Sequence[str]) -> int:
    """``mmm fanout <stage> ...``: parse the options, fan out, print the summary; returns the exit status."""
    items = list(argv)
    if not items or items[0] in ("-h", "--help"):
        print(FANOUT_USAGE)
        return EXIT_OK if items else EXIT_USER_ERROR
    stage, items = items[0], items[1:]
    from mmm_meridian.pipeline import STAGES

    if stage not in [*STAGES, "run"]:
        print(f"error: fanout: unknown stage {stage!r}; choose from {', '.join([*STAGES, 'run'])}", file=sys.stderr)
        return EXIT_USER_ERROR
    keys: list[str] | None = None
    only: dict[str, list[str]] = {}
    config_dir: str | None = None
    overrides: list[str] = []
    while items:
        item = items.pop(0)
        if item in ("--keys", "--only", "--config-dir") and not items:
            print(f"error: fanout: {item} needs a value\n{FANOUT_USAGE}", file=sys.stderr)
            return EXIT_USER_ERROR
        if item == "--keys":
            keys = [k for k in items.pop(0).split(",") if k]
        elif item == "--only":
            key, _, values = items.pop(0).partition("=")
            only[key] = [v for v in values.split(",") if v]
        elif item == "--config-dir":
            config_dir = items.pop(0)
        elif item.startswith("-"):
            print(f"error: fanout: unknown option {item!r}\n{FANOUT_USAGE}", file=sys.stderr)
            return EXIT_USER_ERROR
        else:
            overrides.append(item)
    try:
        result = fan_out(overrides, stage=stage, keys=keys, only=only or None, config_dir=config_dir)
    except UserError as exc:
        exc.stage = exc.stage or "fanout"
        print(exc.one_line(), file=sys.stderr)
        return EXIT_USER_ERROR
    columns = [c for c in result.summary.columns if c not in ("artifacts", "error")][:10]
    print(f"\nFan-out summary ({result.summary_path}):\n{result.summary[columns].to_string(index=False)}")
    return result.status
