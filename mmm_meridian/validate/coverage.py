"""Coverage and frequency checks (``validation.coverage_frequency``): enough weeks, no holes, one clean calendar."""

from __future__ import annotations

import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.validate.checks import Check, Status

GROUP = "coverage_frequency"


def _dates(std: pd.DataFrame) -> dict[str, pd.DatetimeIndex]:
    return {str(geo): pd.DatetimeIndex(sorted(rows[F.TIME].unique())) for geo, rows in std.groupby(F.GEO)}


def _weeks(weekly: pd.DataFrame) -> dict[str, int]:
    return {str(g): int(n) for g, n in weekly.groupby(F.GEO)[F.TIME].nunique().items()}


def week_checks(weekly: pd.DataFrame, cfg: MMMConfig) -> list[Check]:
    cf = cfg.validation.coverage_frequency
    weeks = _weeks(weekly)
    shortest = min(weeks.values())
    geo = min(weeks, key=weeks.get)
    where = f" ({geo})" if len(weeks) > 1 else ""
    return [
        Check("min_weeks", GROUP, Status.passed if shortest >= cf.min_weeks_required else Status.fail, shortest,
              cf.min_weeks_required,
              f"{shortest} weeks of data{where}" + ("" if shortest >= cf.min_weeks_required else
                                                    f": the model needs at least {cf.min_weeks_required} weeks to "
                                                    "separate media effects from seasonality"),
              {"weeks_per_series": weeks}),
        Check("preferred_weeks", GROUP, Status.passed if shortest >= cf.preferred_weeks else Status.warn, shortest,
              cf.preferred_weeks,
              f"{shortest} weeks" + (" cover two or more years" if shortest >= cf.preferred_weeks else
                                     f", fewer than the {cf.preferred_weeks} recommended to see yearly patterns twice")),
    ]


def missing_periods(std: pd.DataFrame, cfg: MMMConfig, frequency: str) -> Check:
    """Weeks with no rows (weekly data) or with missing days (daily data: the week's totals come out short)."""
    step = pd.Timedelta(days=1 if frequency == "daily" else 7)
    holes: dict[str, list[str]] = {}
    total_weeks = 0
    for geo, dates in _dates(std).items():
        grid = pd.date_range(dates.min(), dates.max(), freq=step)
        if not dates.isin(grid).all():
            continue  # off-grid dates are reported by irregular_dates
        absent = grid.difference(dates)
        if frequency == "daily":
            weeks = sorted({(d - pd.Timedelta(days=d.weekday())).date() for d in absent})
            total_weeks += len({(d - pd.Timedelta(days=d.weekday())) for d in grid})
        else:
            weeks = sorted(d.date() for d in absent)
            total_weeks += len(grid)
        if weeks:
            holes[geo] = [str(w) for w in weeks]
    n_missing = sum(len(v) for v in holes.values())
    pct = round(100.0 * n_missing / max(total_weeks, 1), 3)
    limit = cfg.validation.coverage_frequency.max_missing_weeks_pct
    status = Status.passed if n_missing == 0 else Status.warn if pct <= limit else Status.fail
    listed = "; ".join(f"{g}: {', '.join(w[:5])}{' ...' if len(w) > 5 else ''}" for g, w in holes.items())
    unit = "weeks with missing days" if frequency == "daily" else "missing weeks"
    message = "no missing periods" if not n_missing else (
        f"{n_missing} {unit} ({pct:g}% of the period): {listed}; transform will fill them from the neighbouring "
        "periods, but investigate platform or export outages")
    return Check("missing_periods", GROUP, status, pct, limit, message, {"missing_weeks": holes})


def calendar_checks(std: pd.DataFrame, cfg: MMMConfig, frequency: str, today: pd.Timestamp) -> list[Check]:
    """Irregular dates, mixed daily/weekly rows and dates in the future."""
    irregular: dict[str, list[str]] = {}
    mixed: dict[str, int] = {}
    for geo, dates in _dates(std).items():
        steps = pd.Series(dates[1:] - dates[:-1]).dt.days
        if frequency == "weekly":
            weekday = pd.Series(dates.weekday).mode().iloc[0]
            off = [str(d.date()) for d in dates if d.weekday() != weekday]
            if off:
                irregular[geo] = off
            if (steps < 7).sum():
                mixed[geo] = int((steps < 7).sum())
        else:
            weekly_run = steps.eq(7).astype(int).groupby(steps.ne(7).cumsum()).cumsum().max()
            if weekly_run >= 4:
                mixed[geo] = int(steps.eq(7).sum())
    n_off = sum(len(v) for v in irregular.values())
    future = std.loc[std[F.TIME] > today, F.TIME]
    allow = cfg.validation.coverage_frequency.allow_future_dates
    return [
        Check("irregular_dates", GROUP, Status.warn if n_off else Status.passed, n_off, 0,
              "dates follow a regular calendar" if not n_off else
              f"{n_off} weekly date(s) fall on another weekday than the rest, e.g. {next(iter(irregular.values()))[:3]}"
              "; align the weeks (e.g. all Mondays) so each week is counted once", {"off_grid_dates": irregular}),
        Check("mixed_frequencies", GROUP, Status.fail if mixed else Status.passed, sum(mixed.values()), 0,
              f"one {frequency} frequency throughout" if not mixed else
              f"the data mixes daily and weekly rows in {sorted(mixed)}: weekly totals would be wrong; export one "
              "frequency", {"series": mixed}),
        Check("future_dates", GROUP, Status.fail if len(future) and not allow else Status.passed, int(len(future)),
              str(today.date()),
              "no dates in the future" if not len(future) else
              f"{len(future)} row(s) dated after today (latest {future.max().date()})"
              + ("; allowed by allow_future_dates" if allow else ": remove forecasts or placeholders from the export "
                 "(or set validation.coverage_frequency.allow_future_dates=true)")),
    ]
