"""The ``mmm`` command: ``mmm <stage> [--config-dir DIR] [-m] [overrides...]``.

Exit status: 0 on success, 2 on bad input or configuration (one line ``error: <stage>: ...`` on stderr, no
traceback unless ``logging.level=DEBUG``), 1 on an unexpected failure, 130 when interrupted (Ctrl-C, SIGINT) and 143
when terminated (SIGTERM: ``docker stop``, Kubernetes eviction, Slurm pre-emption). ``-m`` hands the overrides to
Hydra's multirun (sweeps, launchers); Hydra's inspection flags (``--cfg``, ``--info``, ...) go to Hydra's own main;
everything else goes through the library API in :mod:`mmm_meridian.api`.
"""

from __future__ import annotations

import logging
import platform
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from mmm_meridian.errors import EXIT_OK, EXIT_UNEXPECTED, EXIT_USER_ERROR, UserError
from mmm_meridian.pipeline import STAGES, implemented_stages

USAGE = ("usage: mmm <stage> [--config-dir DIR] [--show-config] [--cfg job|hydra|all [--resolve] [-p PKG]] "
         "[--info [TOPIC]] [-m|--multirun] [key=value ...]")
STAGE_NAMES = [*STAGES, "run"]
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM, what Docker, Kubernetes and Slurm report for a terminated process
CFG_TYPES = ("job", "hydra", "all")
INFO_TOPICS = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")

log = logging.getLogger(__name__)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by :func:`sigterm_raises`.

    A ``KeyboardInterrupt`` on purpose: everything that already cleans up after Ctrl-C runs unchanged (the staging
    folder is discarded, the MLflow run is closed as KILLED, ``subprocess.run`` kills a fit's child process) and no
    ``except Exception`` in a stage can swallow it.
    """


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (a no-op in other threads).

    Only the first SIGTERM raises: a second one (sent while the first is being cleaned up) is ignored so the clean-up
    finishes; whoever sent it escalates to SIGKILL when it must. The previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if received:
            return
        received.append(signum)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(stage: str, exc: KeyboardInterrupt) -> int:
    """The line and exit status of an interrupted command (Ctrl-C: 130, SIGTERM: 143)."""
    terminated = isinstance(exc, Terminated)
    what = "terminated (SIGTERM)" if terminated else "interrupted"
    # Logged as well as printed, so the run's log file (kept in <paths.artifacts>/logs) says why it ended.
    log.warning("%s: %s; the stage in progress was not committed", stage, what)
    print(f"error: {stage}: {what}; the stage in progress was not committed and earlier artifacts are unchanged; "
          "run the same command again to resume", file=sys.stderr)
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def version_text() -> str:
    """``mmm-meridian <version> (google-meridian <v>, hydra-core <v>, Python <v>)``, read from package metadata."""
    from importlib import metadata

    from mmm_meridian import __version__

    parts = []
    for dist in ("google-meridian", "hydra-core"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} not installed")
    return f"mmm-meridian {__version__} ({', '.join(parts)}, Python {platform.python_version()})"


def _overview() -> str:
    lines = [USAGE, "", "Stages (in pipeline order):"]
    for name, spec in STAGES.items():
        status = "" if spec.implemented else "  [not implemented yet]"
        lines.append(f"  {name:<10} {spec.summary}{status}")
    lines += [f"  {'run':<10} every implemented stage in order, skipping those already up to date",
              f"  {'fanout':<10} run a stage once per series selected by data.keys, in parallel, then summarise",
              "", "Examples:", "  mmm run                                # the whole pipeline on the embedded demo",
              "  mmm train training=fast runtime.backend=jax",
              "  mmm run --config-dir my_conf data=my_shop   # my_conf/data/my_shop.yaml describes your data",
              "  mmm train -m features.adstock.decay=0.5,0.7  # a Hydra multirun sweep",
              "  mmm train --cfg job training=fast           # print the composed config (Hydra's --cfg, --info)",
              "", "`mmm <stage> --help` says what a stage reads, writes and which config sections drive it;",
              "`mmm --version` prints the package, Meridian and Hydra versions."]
    return "\n".join(lines)


def _stage_help(stage: str) -> str:
    if stage == "run":
        plan = " -> ".join(implemented_stages()) or "(none)"
        return (f"{USAGE.replace('<stage>', 'run')}\n\nRuns every implemented stage in order: {plan}.\n"
                "Stages whose artifacts are up to date with the config and data are skipped "
                "(runtime.resume=false re-runs them).\nArtifacts: <paths.artifacts>/<stage>/, each with manifest.json.")
    spec = STAGES[stage]
    status = "" if spec.implemented else "\nNot implemented yet: this stage is absent from `mmm run`'s plan."
    return "\n".join([
        USAGE.replace("<stage>", stage), "", f"{stage}: {spec.summary}.{status}", "",
        f"Reads:    {spec.reads}",
        f"Writes:   {', '.join(f'<paths.artifacts>/{stage}/{w}' for w in spec.writes)}, manifest.json",
        f"Config:   {', '.join(spec.config_keys)} (plus what its upstream stages read; runtime.*, logging.*, paths.*)",
        f"Needs:    {', '.join(spec.requires) or 'nothing (first stage)'}",
        "", "Options:",
        "  --config-dir DIR   also search DIR for config groups (e.g. DIR/data/<name>.yaml, used as data=<name>)",
        "  --show-config      print the resolved configuration and exit",
        "  --cfg job|hydra|all  print the composed config as Hydra does and exit (with --resolve, -p/--package PKG)",
        "  --info [TOPIC]     Hydra's information (all, config, defaults, defaults-tree, plugins, searchpath)",
        "  -m, --multirun     run a Hydra sweep over comma-separated override values",
    ])


def _print_error(exc: BaseException, stage: str, debug: bool) -> int:
    if isinstance(exc, UserError):
        exc.stage = exc.stage or stage
        if debug:
            traceback.print_exc()
        print(exc.one_line(), file=sys.stderr)
        return EXIT_USER_ERROR
    if debug:
        traceback.print_exc()
    print(f"error: {stage}: unexpected failure: {type(exc).__name__}: {exc} "
          "(re-run with logging.level=DEBUG for the traceback; the log file is in <paths.artifacts>/logs)",
          file=sys.stderr)
    return EXIT_UNEXPECTED


def _hydra_flags_problem(flags: Sequence[str], multirun: bool, show_config: bool) -> str | None:
    """Why Hydra's inspection ``flags`` cannot run as given (Hydra itself would raise a bare ValueError), or None."""
    commands = [f for f in flags if f in ("--cfg", "-c", "--info", "-i", "--hydra-help")]
    if len(commands) > 1:
        return f"{' and '.join(commands)} cannot be combined; use one of them"
    if not commands:
        return f"{flags[0]} only goes with --cfg"
    if any(f in ("--resolve", "--package", "-p") for f in flags) and commands[0] not in ("--cfg", "-c"):
        return f"--resolve and --package only go with --cfg, not {commands[0]}"
    if multirun or show_config:
        return (f"{commands[0]} prints and runs nothing; it cannot be combined with "
                f"{'-m' if multirun else '--show-config'}")
    return None


def run_cli(stage: str, args: Sequence[str]) -> int:
    """Run ``stage`` with command-line ``args`` (options and overrides); returns the exit status."""
    config_dir: str | None = None
    show_config = False
    multirun = False
    hydra_flags: list[str] = []  # Hydra's own inspection flags, handed to Hydra's main
    overrides: list[str] = []
    items = list(args)
    while items:
        item = items.pop(0)
        if item in ("-h", "--help"):
            print(_stage_help(stage))
            return EXIT_OK
        if item == "--version":
            print(version_text())
            return EXIT_OK
        if item in ("-m", "--multirun"):
            multirun = True
        elif item in ("--cfg", "-c", "--package", "-p") or item.startswith(("--cfg=", "--package=")):
            flag, _, value = item.partition("=")
            if not value:
                if not items:
                    print(f"error: {stage}: {flag} needs a value; see `mmm {stage} --help`", file=sys.stderr)
                    return EXIT_USER_ERROR
                value = items.pop(0)
            if flag in ("--cfg", "-c") and value not in CFG_TYPES:
                print(f"error: {stage}: --cfg {value!r} is not one of {', '.join(CFG_TYPES)} (at command line); "
                      "fix: use --cfg job for the pipeline's config", file=sys.stderr)
                return EXIT_USER_ERROR
            hydra_flags += [flag, value]
        elif item in ("--info", "-i"):
            hydra_flags.append(item)
            if items and items[0] in INFO_TOPICS:
                hydra_flags.append(items.pop(0))
        elif item in ("--resolve", "--hydra-help"):
            hydra_flags.append(item)
        elif item == "--show-config":
            show_config = True
        elif item == "--config-dir" or item.startswith("--config-dir="):
            if "=" in item:
                config_dir = item.split("=", 1)[1]
            elif items:
                config_dir = items.pop(0)
            else:
                print(f"error: {stage}: --config-dir needs a folder", file=sys.stderr)
                return EXIT_USER_ERROR
        elif item.startswith("-"):
            print(f"error: {stage}: unknown option {item!r}; see `mmm {stage} --help`", file=sys.stderr)
            return EXIT_USER_ERROR
        else:
            overrides.append(item)
    overrides = [o for o in overrides if not o.startswith("stage=")] + [f"stage={stage}"]
    if hydra_flags:
        problem = _hydra_flags_problem(hydra_flags, multirun, show_config)
        if problem:
            print(f"error: {stage}: {problem} (at command line); fix: see `mmm {stage} --help`", file=sys.stderr)
            return EXIT_USER_ERROR
    debug = any(o.replace(" ", "") in ("logging.level=DEBUG",) for o in overrides)
    try:
        if multirun:
            from mmm_meridian.app import launch_multirun

            return launch_multirun(overrides, config_dir)
        from mmm_meridian import api
        from mmm_meridian.config.loader import to_yaml

        if hydra_flags:
            from mmm_meridian.app import hydra_inspect

            if any(flag in ("--cfg", "-c") for flag in hydra_flags):
                api.load_config(overrides, config_dir)  # print only a config that would run (else: one-line error)
            return hydra_inspect(hydra_flags, overrides, config_dir)
        cfg = api.load_config(overrides, config_dir)
        if show_config:
            print(to_yaml(cfg))
            return EXIT_OK
        if stage == "run":
            api.run(cfg)
        else:
            api.run_stage(cfg, stage)
    except KeyboardInterrupt as exc:
        return _interrupted(stage, exc)
    except Exception as exc:  # noqa: BLE001 - the CLI turns every failure into an exit status
        return _print_error(exc, stage, debug)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmm`` console script; SIGTERM is handled like Ctrl-C (see :func:`sigterm_raises`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_overview())
        return EXIT_OK if args else EXIT_USER_ERROR
    if args[0] in ("--version", "-V"):
        print(version_text())
        return EXIT_OK
    stage, rest = args[0], args[1:]
    if stage == "fanout":
        from mmm_meridian.fanout import fanout_main

        with sigterm_raises():
            try:
                return fanout_main(rest)
            except KeyboardInterrupt as exc:
                return _interrupted("fanout", exc)
    if stage not in STAGE_NAMES:
        print(f"error: unknown stage {stage!r}; choose from {', '.join(STAGE_NAMES)} (see `mmm --help`)",
              file=sys.stderr)
        return EXIT_USER_ERROR
    with sigterm_raises():
        return run_cli(stage, rest)


def module_main(argv: Sequence[str] | None = None) -> int:
    """``python -m mmm_meridian [stage=<name>] [-m] [--cfg job] [overrides]``: the Hydra-style spelling of ``mmm``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args) and not any(a.startswith("stage=") for a in args):
        print(_overview().replace("mmm <stage>", "python -m mmm_meridian stage=<stage>"))
        return EXIT_OK
    if "--version" in args:
        print(version_text())
        return EXIT_OK
    stage = next((a.split("=", 1)[1] for a in args if a.startswith("stage=")), "run")
    if stage not in STAGE_NAMES:
        print(f"error: unknown stage {stage!r}; choose from {', '.join(STAGE_NAMES)}", file=sys.stderr)
        return EXIT_USER_ERROR
    with sigterm_raises():
        return run_cli(stage, [a for a in args if not a.startswith("stage=")])


if __name__ == "__main__":
    sys.exit(main())
