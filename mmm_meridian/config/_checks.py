"""Small validators shared by the config dataclasses; each raises ConfigError naming the key and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mmm_meridian.errors import ConfigError


def check_range(key: str, value: float | None, lo: float | None = None, hi: float | None = None,
                *, lo_open: bool = False, hi_open: bool = False) -> None:
    """Fail when ``value`` lies outside [lo, hi] (bounds optional, open when asked)."""
    if value is None:
        return
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        allowed = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise ConfigError(f"{key}={value!r} is out of range; allowed {allowed}", where=f"config key {key}",
                          fix=f"set {key} to a value in {allowed}")


def check_positive_int(key: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{key}={value!r} must be a positive integer", where=f"config key {key}",
                          fix=f"set {key} to 1 or more")


def check_pair(key: str, pair: Iterable[float] | None, lo: float | None = None) -> None:
    """A [low, high] pair with low < high (and low >= lo when given)."""
    if pair is None:
        return
    values = list(pair)
    if len(values) != 2 or values[0] >= values[1] or (lo is not None and values[0] < lo):
        floor = f" and low >= {lo}" if lo is not None else ""
        raise ConfigError(f"{key}={values!r} must be a [low, high] pair with low < high{floor}",
                          where=f"config key {key}", fix=f"write {key}: [low, high]")


def check_known_channels(key: str, mapping: Mapping[str, Any] | Iterable[str], channels: Iterable[str]) -> None:
    """Per-channel settings must name channels that ``data.channel_map`` defines."""
    known = sorted(channels)
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise ConfigError(f"{key} names unknown channel(s) {unknown}", where=f"config key {key}",
                          fix=f"use channels from data.channel_map: {known}")
