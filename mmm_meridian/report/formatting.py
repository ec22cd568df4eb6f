"""Numbers as an executive reads them: money with a currency label and thousands separators, shares, ratios."""

from __future__ import annotations

import math
from typing import Any


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def money(value: Any, currency: str, decimals: int = 0) -> str:
    """``GBP 1,234,567`` (``n/a`` for missing values); negative amounts keep their sign in front."""
    if not is_number(value):
        return "n/a"
    shown = round(abs(float(value)), decimals)
    sign = "-" if value < 0 and shown > 0 else ""  # an amount that rounds to zero is shown as 0, never -0
    return f"{sign}{currency} {shown:,.{decimals}f}".strip()


def money_short(value: Any, currency: str) -> str:
    """``GBP 1.23m`` / ``GBP 456k``: for chart annotations and dense tables."""
    if not is_number(value):
        return "n/a"
    v = abs(float(value))
    sign = "-" if value < 0 else ""
    for size, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if v >= size:
            return f"{sign}{currency} {v / size:,.2f}{suffix}".strip()
    return f"{sign}{currency} {v:,.0f}".strip()


def pct(value: Any, decimals: int = 1, signed: bool = False) -> str:
    """A percentage given in percent units (12.3 -> ``12.3 %``)."""
    if not is_number(value):
        return "n/a"
    value = round(float(value), decimals) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0 (no "-0.0 %")
    return f"{value:+.{decimals}f} %" if signed else f"{value:.{decimals}f} %"


def share(value: Any, decimals: int = 1) -> str:
    """A fraction as a percentage (0.123 -> ``12.3 %``)."""
    return pct(float(value) * 100.0, decimals) if is_number(value) else "n/a"


def ratio(value: Any, decimals: int = 2) -> str:
    return f"{float(value):.{decimals}f}" if is_number(value) else "n/a"


def interval(lo: Any, hi: Any, decimals: int = 2) -> str:
    return f"{ratio(lo, decimals)} to {ratio(hi, decimals)}"


def label(name: Any) -> str:
    """``meta_facebook`` -> ``Meta Facebook`` (channel and component names in charts and tables)."""
    text = str(name).replace("_", " ").strip()
    return " ".join(w if w.isupper() else w.capitalize() for w in text.split())
