"""Render (and optionally submit) Kubernetes Jobs that run one mmm_meridian stage in the GPU image.

One Job per sweep point: comma-separated override values expand as in Hydra's basic sweeper
(``features.adstock.decay=0.3,0.5`` -> two Jobs), and ``--fanout`` adds one point per series selected by
``data.keys`` (as ``mmm fanout``). Each point of a multi-Job submission gets its own artifacts folder
``<paths.artifacts>/sweeps/<submission>/<n>/artifacts`` and rebuilds its upstream stages there, like a local multirun
job. The Job spec comes from ``scripts/k8s/job.yaml.tmpl`` and the ``profiles.k8s.*`` config (image, namespace,
resources, volume claims), which the overrides can change.

Examples::

    python scripts/k8s_submit.py train profiles.k8s.resources.gpu=1 runtime.device=gpu     # print the manifest
    python scripts/k8s_submit.py train features.adstock.decay=0.3,0.5,0.7 -o jobs.yaml     # 3 Jobs to a file
    python scripts/k8s_submit.py run --fanout --keys territory_name --submit               # kubectl apply -f -

MLFLOW_TRACKING_URI from the submitting shell is copied into the Jobs (or pass ``--env`` / profiles.k8s.env_secret).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any

import yaml

from mmm_meridian.config.loader import load_config
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import EXIT_OK, EXIT_USER_ERROR, ConfigError, UserError

TEMPLATE = Path(__file__).resolve().parent / "k8s" / "job.yaml.tmpl"
FORWARDED_ENV = ("MLFLOW_TRACKING_URI",)


def expand_sweep(overrides: Sequence[str]) -> list[list[str]]:
    """Every sweep point's override list: Hydra's grammar and cartesian product, as its basic sweeper does.

    Overrides that are not sweeps pass through as written (Hydra would re-escape them); a later override of the
    same key replaces an earlier one.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise ConfigError(f"cannot parse the overrides: {exc}", where="command line",
                          fix="write overrides as key=value, sweeps as key=a,b") from exc
    choices: dict[str, list[str]] = {}
    for text, override in zip(overrides, parsed, strict=True):
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [text]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise ConfigError(f"{text!r} is a range or interval sweep, which has no fixed list of Jobs",
                              where="command line", fix="list the values: key=a,b,c")
    return [list(point) for point in itertools.product(*choices.values())]


def job_name(stage: str, point: Sequence[str], submission: str, index: int | None) -> str:
    """A DNS-1123 Job name: ``mmm-<stage>-<submission>[-<n>]``, unique per point and submission."""
    digest = hashlib.sha1(" ".join(point).encode()).hexdigest()[:6]
    suffix = f"-{index}" if index is not None else ""
    name = re.sub(r"[^a-z0-9-]", "-", f"mmm-{stage}-{submission}-{digest}{suffix}".lower())
    return name[:63].strip("-")


def _drop_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_nulls(v) for k, v in node.items() if v is not None and v != [] and v != {}}
    if isinstance(node, list):
        return [_drop_nulls(v) for v in node]
    return node


def render_job(cfg: MMMConfig, stage: str, point: Sequence[str], *, name: str, labels: Mapping[str, str],
               env: Mapping[str, str], template: Path = TEMPLATE) -> dict[str, Any]:
    """One Job manifest (as a dict) running ``stage`` with the overrides ``point`` under ``profile=k8s``."""
    k8s = cfg.profiles.k8s
    res = k8s.resources
    limits: dict[str, Any] = {"memory": res.memory}
    if res.gpu:
        limits[res.gpu_resource] = res.gpu
    values = {
        "name": name, "namespace": k8s.namespace, "labels": dict(labels), "image": k8s.image,
        "image_pull_policy": k8s.image_pull_policy, "service_account": k8s.service_account,
        "backoff_limit": k8s.backoff_limit, "ttl_seconds_after_finished": k8s.ttl_seconds_after_finished,
        "active_deadline_seconds": k8s.active_deadline_seconds, "node_selector": dict(k8s.node_selector),
        "args": ["profile=k8s", f"stage={stage}", *point],
        "env": [{"name": key, "value": value} for key, value in sorted(env.items())],
        "env_from": [{"secretRef": {"name": k8s.env_secret}}] if k8s.env_secret else None,
        "resources": {"requests": {"cpu": res.cpu, "memory": res.memory}, "limits": limits},
        "data_dir": k8s.data_dir, "root": k8s.root, "data_claim": k8s.data_claim,
        "artifacts_claim": k8s.artifacts_claim,
    }
    # JSON is valid YAML: every value lands as one well-quoted scalar or flow collection, so overrides holding
    # quotes, colons or braces cannot change the manifest's structure.
    text = Template(template.read_text(encoding="utf-8")).substitute({k: json.dumps(v) for k, v in values.items()})
    return _drop_nulls(yaml.safe_load(text))


def render(stage: str, overrides: Sequence[str], *, fanout: bool = False, keys: Sequence[str] | None = None,
           only: Mapping[str, Sequence[str]] | None = None, extra_env: Mapping[str, str] | None = None,
           config_dir: str | None = None, submission: str | None = None) -> list[dict[str, Any]]:
    """Job manifests for ``stage``: one per sweep point (and per series with ``fanout``).

    Raises:
        ConfigError: the overrides do not compose under ``profile=k8s`` (checked for every point).
    """
    from mmm_meridian.pipeline import STAGES

    if stage not in [*STAGES, "run"]:
        raise ConfigError(f"unknown stage {stage!r}", where="k8s_submit.py <stage>",
                          fix=f"choose from {', '.join([*STAGES, 'run'])}")
    points = expand_sweep([o for o in overrides if not o.startswith(("stage=", "profile="))])
    if fanout:
        from mmm_meridian.fanout import list_series, series_overrides

        cfg = load_config(["profile=k8s", *points[0]], config_dir)
        series = list_series(cfg, keys, only)
        per_series = expand_sweep(series_overrides(cfg, series))
        points = [[*point, *one] for point in points for one in per_series]
    submission = submission or time.strftime("%Y%m%d-%H%M%S")
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env.update(extra_env or {})
    jobs = []
    for index, point in enumerate(points):
        cfg = load_config(["profile=k8s", *point], config_dir)  # fail here, not in the cluster
        args = list(point)
        if len(points) > 1:  # parallel Jobs must not share an artifacts folder (its lock would refuse them)
            args += [f"paths.artifacts={cfg.paths.artifacts}/sweeps/k8s-{submission}/{index}/artifacts",
                     "runtime.upstream_policy=rebuild"]
        labels = {"app.kubernetes.io/name": "mmm-meridian", "mmm-meridian/stage": stage,
                  "mmm-meridian/submission": f"k8s-{submission}", "mmm-meridian/point": str(index)}
        name = job_name(stage, args, submission, index if len(points) > 1 else None)
        jobs.append(render_job(cfg, stage, args, name=name, labels=labels, env=env))
    return jobs


def to_yaml(jobs: Sequence[Mapping[str, Any]]) -> str:
    """The manifests as one multi-document YAML stream (what ``kubectl apply -f -`` reads)."""
    return yaml.safe_dump_all(list(jobs), sort_keys=False, default_flow_style=False)


def submit(manifest: str, kubectl: str = "kubectl") -> int:
    """``kubectl apply -f -`` the manifest; returns kubectl's exit status.

    Raises:
        UserError: kubectl is not installed.
    """
    binary = shutil.which(kubectl)
    if binary is None:
        raise UserError(f"{kubectl!r} is not on PATH, so the Jobs cannot be submitted", where="--submit",
                        fix="install kubectl and configure its context, or write the manifest with -o jobs.yaml "
                        "and apply it where kubectl works")
    return subprocess.run([binary, "apply", "-f", "-"], input=manifest, text=True, check=False).returncode


def _parse_pairs(items: Sequence[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{option} {item!r} is not KEY=VALUE", where=option, fix=f"write {option} NAME=value")
        pairs[key] = value
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", help="the stage each Job runs (ingest ... report, or run)")
    parser.add_argument("overrides", nargs="*", help="config overrides; key=a,b makes one Job per value")
    parser.add_argument("--fanout", action="store_true", help="one Job per series selected by data.keys")
    parser.add_argument("--keys", help="with --fanout: comma-separated keys to fan out over (default: data.keys)")
    parser.add_argument("--only", action="append", default=[], help="with --fanout: KEY=v1,v2 restricts a key")
    parser.add_argument("--env", action="append", default=[], help="NAME=value added to each Job's environment")
    parser.add_argument("--config-dir", help="an extra config folder, as `mmm --config-dir`")
    parser.add_argument("-o", "--output", help="write the manifest to this file instead of printing it")
    parser.add_argument("--submit", action="store_true", help="kubectl apply -f - the rendered Jobs")
    args = parser.parse_intermixed_args(argv)
    try:
        only = {k: v.split(",") for k, v in _parse_pairs(args.only, "--only").items()}
        jobs = render(args.stage, args.overrides, fanout=args.fanout,
                      keys=args.keys.split(",") if args.keys else None, only=only or None,
                      extra_env=_parse_pairs(args.env, "--env"), config_dir=args.config_dir)
        manifest = to_yaml(jobs)
        if args.output:
            Path(args.output).write_text(manifest, encoding="utf-8")
            print(f"wrote {len(jobs)} Job(s) to {args.output}", file=sys.stderr)
        elif not args.submit:
            print(manifest, end="")
        if args.submit:
            return submit(manifest)
    except UserError as exc:
        exc.stage = exc.stage or "k8s_submit"
        print(exc.one_line(), file=sys.stderr)
        return EXIT_USER_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
