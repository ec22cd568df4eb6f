"""VALIDATE (guide stage 2): data-quality checks, a weighted score and the gate that stops bad data."""

from mmm_meridian.validate.checks import ALL_CHECKS, Check, Status
from mmm_meridian.validate.report import build_report, render_summary, run_checks

__all__ = ["ALL_CHECKS", "Check", "Status", "build_report", "render_summary", "run_checks"]
