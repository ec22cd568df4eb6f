"""The ``mmm`` command: ``mmm <stage> [--config-dir DIR] [-m] [overrides...]``.

Exit status: 0 on success, 2 on bad input or configuration (one line ``error: <stage>: ...`` on stderr, no
traceback unless ``logging.level=DEBUG``), 1 on an unexpected failure. ``-m`` hands the overrides to Hydra's multirun
(sweeps, launchers); everything else goes through the library API in :mod:`mmm_meridian.api`.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

from mmm_meridian.errors import EXIT_OK, EXIT_UNEXPECTED, EXIT_USER_ERROR, UserError
from mmm_meridian.pipeline import STAGES, implemented_stages

USAGE = "usage: mmm <stage> [--config-dir DIR] [--show-config] [-m|--multirun] [key=value ...]"
STAGE_NAMES = [*STAGES, "run"]


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
              "", "`mmm <stage> --help` says what a stage reads, writes and which config sections drive it."]
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
        f"Config:   {', '.join(spec.sections)} (plus runtime.*, logging.*, paths.*)",
        f"Needs:    {', '.join(spec.requires) or 'nothing (first stage)'}",
        "", "Options:",
        "  --config-dir DIR   also search DIR for config groups (e.g. DIR/data/<name>.yaml, used as data=<name>)",
        "  --show-config      print the resolved configuration and exit",
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


def run_cli(stage: str, args: Sequence[str]) -> int:
    """Run ``stage`` with command-line ``args`` (options and overrides); returns the exit status."""
    config_dir: str | None = None
    show_config = False
    multirun = False
    overrides: list[str] = []
    items = list(args)
    while items:
        item = items.pop(0)
        if item in ("-h", "--help"):
            print(_stage_help(stage))
            return EXIT_OK
        if item in ("-m", "--multirun"):
            multirun = True
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
    if multirun:
        from mmm_meridian.app import launch_multirun

        return launch_multirun(overrides, config_dir)
    debug = any(o.replace(" ", "") in ("logging.level=DEBUG",) for o in overrides)
    try:
        from mmm_meridian import api
        from mmm_meridian.config.loader import to_yaml

        cfg = api.load_config(overrides, config_dir)
        if show_config:
            print(to_yaml(cfg))
            return EXIT_OK
        if stage == "run":
            api.run(cfg)
        else:
            api.run_stage(cfg, stage)
    except KeyboardInterrupt:
        print(f"error: {stage}: interrupted; earlier artifacts are unchanged", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI turns every failure into an exit status
        return _print_error(exc, stage, debug)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmm`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_overview())
        return EXIT_OK if args else EXIT_USER_ERROR
    stage, rest = args[0], args[1:]
    if stage == "fanout":
        from mmm_meridian.fanout import fanout_main

        return fanout_main(rest)
    if stage not in STAGE_NAMES:
        print(f"error: unknown stage {stage!r}; choose from {', '.join(STAGE_NAMES)} (see `mmm --help`)",
              file=sys.stderr)
        return EXIT_USER_ERROR
    return run_cli(stage, rest)


def module_main(argv: Sequence[str] | None = None) -> int:
    """``python -m mmm_meridian [stage=<name>] [-m] [overrides]``: the Hydra-style spelling of ``mmm``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args) and not any(a.startswith("stage=") for a in args):
        print(_overview().replace("mmm <stage>", "python -m mmm_meridian stage=<stage>"))
        return EXIT_OK
    stage = next((a.split("=", 1)[1] for a in args if a.startswith("stage=")), "run")
    if stage not in STAGE_NAMES:
        print(f"error: unknown stage {stage!r}; choose from {', '.join(STAGE_NAMES)}", file=sys.stderr)
        return EXIT_USER_ERROR
    return run_cli(stage, [a for a in args if not a.startswith("stage=")])


if __name__ == "__main__":
    sys.exit(main())
