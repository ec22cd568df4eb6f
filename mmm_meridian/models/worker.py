"""Subprocess entry point for one fit: ``python -m mmm_meridian.models.worker <job.json> <out_dir>``; and for an
engine's model summary page: ``python -m mmm_meridian.models.worker model-summary <engine> <model file> <max draws |
all> <folder> <file name>`` (the report's page, written beside optimize in ``mmm run``).

The parent sets the runtime environment (backend, precision, device, threads) before starting it, so Meridian is
imported fresh with those settings. Exit status 0 on success, 2 on a UserError (message in ``error.json``), 1 on
anything else.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

from mmm_meridian.errors import EXIT_UNEXPECTED, EXIT_USER_ERROR, UserError


def model_summary(argv: list[str]) -> int:
    """Load a saved model, keep at most ``max draws`` posterior draws (as the report does) and write the engine's
    model summary page; exit status 0 also when the engine writes none (it logs why), 1 on an error."""
    from mmm_meridian import models

    name, model_file, max_draws, folder, filename = argv
    try:
        engine = models.engine(name)
        model = engine.load(Path(model_file))
        engine.thin(model, None if max_draws == "all" else int(max_draws), key="reports")
        engine.write_model_summary(model, Path(folder), filename)
    except Exception:  # noqa: BLE001 - the parent writes the page itself then, and reports what fails there
        traceback.print_exc()
        return EXIT_UNEXPECTED
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if argv[:1] == ["model-summary"]:
        return model_summary(argv[1:])
    from mmm_meridian.models.jobs import FitJob, run_job

    job_path, out_dir = Path(argv[0]), Path(argv[1])
    try:
        run_job(FitJob.read(job_path), out_dir)
    except UserError as exc:
        (out_dir / "error.json").write_text(json.dumps({"type": type(exc).__name__, "what": exc.what,
                                                        "where": exc.where, "fix": exc.fix}), encoding="utf-8")
        logging.getLogger(__name__).error("%s", exc.message)
        return EXIT_USER_ERROR
    except Exception:  # noqa: BLE001 - reported to the parent through error.json and the exit status
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "error.json").write_text(json.dumps({"type": "unexpected", "what": traceback.format_exc()}),
                                            encoding="utf-8")
        traceback.print_exc()
        return EXIT_UNEXPECTED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
