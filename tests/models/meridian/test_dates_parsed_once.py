"""Meridian parses each date string once per process (``adapter.parse_each_date_once``) with its own answers."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import xarray as xr

from mmm_meridian.models.meridian import adapter

tc, tensors = adapter.time_coordinates, adapter.meridian_tensors


def test_the_remembered_answers_are_meridians_own():
    own_date, own_label = tc.normalize_date.meridians, tensors.normalize_date_str.meridians
    labels = ["2024-01-01", np.str_("2024-02-05"), "2024-03-04T00:00:00", b"2024-01-01", datetime.date(2024, 1, 1),
              np.datetime64("2024-01-08"), xr.DataArray("2024-01-15"), xr.DataArray(np.datetime64("2024-01-22"))]
    for value in labels + labels:  # the second pass answers strings from memory
        assert tensors.normalize_date_str(value) == own_label(value)
    for value in ["2024-01-01", datetime.datetime(2024, 1, 1, 5), np.datetime64("2024-01-08"), "2024-01-01"]:
        assert tc.normalize_date(value) == own_date(value)
    for normalize in (tc.normalize_date, own_date):  # a bad string still raises Meridian's error, every time
        for _ in range(2):
            with pytest.raises(ValueError, match="does not match format"):
                normalize("01/02/2024")


def test_a_date_string_is_parsed_once_however_often_meridian_asks():
    before = tensors.normalize_date_str.cache_info()
    for _ in range(500):
        assert tensors.normalize_date_str("1999-12-27") == "1999-12-27"
    after = tensors.normalize_date_str.cache_info()
    assert after.misses - before.misses == 1 and after.hits - before.hits == 499
    adapter.parse_each_date_once()  # a second call does not wrap the wrappers
    assert tc.normalize_date.meridians.__module__ == "meridian.data.time_coordinates"
