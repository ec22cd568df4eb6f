"""A small fitted Meridian model with known truth, produced by the real pipeline stages, cached.

Simulated national data (3 channels, 80 weeks, seed 3) is written as a CSV in the Conjura schema, read by the
``local_csv`` connector with the demo's column mapping (``conf/data/demo.yaml``), and taken through
``run_pipeline(cfg, ["ingest", "validate", "transform", "features", "train"])`` with a tiny sampler (overrides).
So ``train/model.binpb`` and every stage's manifest are exactly what the stages write for :func:`fixture_config`.
The last ``HOLDOUT_WEEKS`` weeks are held out of the fit (Meridian's holdout), so evaluate can score them without a
refit. Fitting takes about a minute on 2 cores, so the folder is built once and kept in pytest's cache, keyed by
:func:`cache_key`: the resolved config (machine-specific paths left out), every file of the package's code and
config, this module, the simulation spec and the versions of the libraries that fit the model. Any change to one of
them builds a new folder.

Layout of ``<cache>/<key>/`` (the config's ``paths.root``): ``data/simulated.csv`` (what ingest reads),
``truth/`` (the simulated truth), ``artifacts/<project>/<stage>/`` (the stages' artifacts and manifests),
``key.json`` (the key's inputs) and ``.complete`` (written last: a folder without it is a crashed build, rebuilt).
Several builds can be cached at once (sessions on other code versions); those unused for a day are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import mmm_meridian
from mmm_meridian import frame as cols
from mmm_meridian.config import MMMConfig, load_config
from mmm_meridian.config.loader import to_plain
from mmm_meridian.simulate import DEFAULT_CHANNELS, SimulatedDataset, SimulationSpec, simulate

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(mmm_meridian.__file__).resolve().parent
HOLDOUT_WEEKS = 8
STAGES = ("ingest", "validate", "transform", "features", "train")
DATA_FILE = "data/simulated.csv"
SPEC = SimulationSpec(n_weeks=80, series=(("brand_a", "GB"),), series_scale=(1.0,), channels=DEFAULT_CHANNELS[:3],
                      seed=3)
SAMPLER = {"n_chains": 2, "n_adapt": 60, "n_burnin": 60, "n_keep": 60, "seed": 7, "n_prior_draws": 0,
           "max_tree_depth": 8}
_DROPPED = ("meta_facebook", "meta_instagram", "tiktok")
OVERRIDES = [
    # The demo's mapping (data=demo, the default) read from the simulated CSV instead of the embedded demo.
    "ingest.connector_priority=[local_csv]", f"ingest.local_csv.path=${{paths.root}}/{DATA_FILE}",
    *(f"~{m}.{c}" for m in ("data.channel_map", "data.impressions_map", "data.clicks_map",
                            "data.platform_reported_map", "features.adstock.platform_overrides",
                            "model.priors.roi_bounds") for c in _DROPPED),
    f"model.holdout_weeks={HOLDOUT_WEEKS}", "features.seasonality.holidays.enabled=false",
    *(f"training.sampler.{name}={value}" for name, value in SAMPLER.items()),
    # 60 draws give a posterior the gates may refuse: judged, only warned about (convergence: training=fast's
    # on_failure_override; plausibility: here).
    "complexity.plausibility.on_failure=warn",
]
# Config keys that name places on this machine: left out of the cache key (where a build lives is not what it is).
MACHINE_SPECIFIC = ("paths", "ingest.local_csv.path", "runtime.compilation_cache_dir")
VERSIONED = ("google-meridian", "jax", "jaxlib", "tensorflow", "tfp-nightly", "numpy", "pandas")
_KEY_ROOT = Path("/fixture-root")  # any root: the key leaves the paths out
KEY_FILE = "key.json"
_COMPLETE = ".complete"
_MAX_IDLE_S = 24 * 3600  # other builds unused this long are removed
_LOADED: dict[Path, FittedFixture] = {}  # cache_dir -> the fixture this process uses


@dataclass(frozen=True)
class FittedFixture:
    """The stages' artifact folders (``root`` = ``paths.artifacts``) plus the simulated truth."""

    root: Path
    dataset: SimulatedDataset = field(repr=False)
    home: Path | None = None  # the config's paths.root (None: a folder laid out by hand)

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    @property
    def model_path(self) -> Path:
        return self.root / "train" / "model.binpb"

    def config(self, *overrides: str) -> MMMConfig:
        """The config the fixture was built with (its own folders), plus ``overrides``."""
        if self.home is None:
            raise ValueError("this fixture was not built by the stages: it has no config")
        return fixture_config(self.home, *overrides)


def fixture_config(tmp_path: Path, *overrides: str) -> MMMConfig:
    """The config the fixture was built with (3 channels, tiny sampler), ``paths.root`` = ``tmp_path``."""
    return load_config([f"paths.root={tmp_path}", "tracking.enabled=false", "training=fast", *OVERRIDES,
                        *overrides])


def clean_table(dataset: SimulatedDataset) -> pd.DataFrame:
    """The canonical weekly table (:mod:`mmm_meridian.frame`) of the single simulated series."""
    weekly = dataset.weekly
    frame = pd.DataFrame({cols.TIME: pd.to_datetime(weekly["week_start"]), cols.GEO: cols.NATIONAL,
                          cols.REVENUE: weekly["all_purchases_original_price"].astype(float)})
    for channel in dataset.truth["channels"]:
        for column in (cols.spend(channel), cols.impressions(channel), cols.clicks(channel),
                       cols.platform_revenue(channel)):
            frame[column] = weekly[column].astype(float)
    frame[cols.PROMO] = weekly["promo_flag"].astype(float)
    frame["avg_price"] = weekly["avg_price"].astype(float)
    return frame.sort_values(cols.TIME).reset_index(drop=True)


def portable_config(cfg: MMMConfig) -> dict[str, Any]:
    """The resolved config (``to_plain``) without the keys in :data:`MACHINE_SPECIFIC`."""
    plain = to_plain(cfg)
    for dotted in MACHINE_SPECIFIC:
        *parents, leaf = dotted.split(".")
        node = plain
        for part in parents:
            node = node[part]
        del node[leaf]
    return plain


def code_files() -> list[Path]:
    """Every file of the package's code and config, and this module (the build procedure)."""
    files = [*PACKAGE.rglob("*.py"), *(PACKAGE / "conf").rglob("*.yaml"), Path(__file__).resolve()]
    return sorted(set(files))


def code_digest(files: Iterable[Path] | None = None) -> str:
    """SHA-256 over each file's path (relative to the repository when inside it) and content."""
    digest = hashlib.sha256()
    for file in code_files() if files is None else files:
        name = file.relative_to(REPO) if file.is_relative_to(REPO) else file
        digest.update(f"{name}\0{file.stat().st_size}\0".encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def key_inputs(cfg: MMMConfig | None = None) -> dict[str, Any]:
    """What the cache key is made of (``cfg``: the fixture's config by default)."""
    cfg = cfg if cfg is not None else fixture_config(_KEY_ROOT)
    return {"config": portable_config(cfg), "code": code_digest(), "simulation": SPEC.to_dict(),
            "stages": list(STAGES), "data_file": DATA_FILE, "versions": library_versions()}


def key_of(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cache_key(cfg: MMMConfig | None = None) -> str:
    return key_of(key_inputs(cfg))


def build(home: Path) -> None:
    """Simulate into ``home`` and run the stages up to train with :func:`fixture_config` (``paths.root=home``)."""
    from mmm_meridian.artifacts import ArtifactStore
    from mmm_meridian.pipeline import run_pipeline

    dataset = simulate(SPEC)
    cfg = fixture_config(home)
    data = Path(cfg.ingest.local_csv.path)
    data.parent.mkdir(parents=True, exist_ok=True)
    dataset.daily.to_csv(data, index=False, date_format="%Y-%m-%d")
    dataset.save(home / "truth")
    run_pipeline(cfg, STAGES, resume=False, store=ArtifactStore(cfg.paths.artifacts))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (another pytest process building the same fixture waits for it)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(cache_dir: Path, current: Path) -> None:
    """Drop builds (other code versions, or the old layout) unused for a day; a day-old session may still read one."""
    cutoff = time.time() - _MAX_IDLE_S
    for old in cache_dir.iterdir():
        used = old / _COMPLETE if (old / _COMPLETE).exists() else old
        if old.is_dir() and old != current and used.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
            (cache_dir / f"{old.name}.lock").unlink(missing_ok=True)


def fitted_fixture(cache_dir: Path) -> FittedFixture:
    """The fitted fixture under ``cache_dir/<key>``, built by the stages when missing or half-built.

    ``<key>/key.json`` holds what the key was computed from (diff two of them to see why a build was made). The key
    is computed once per process and ``cache_dir``: every test of a session (the optimize, evaluate and report
    conftests each hold a session fixture) sees the same build, even when the code is edited while it runs.
    """
    cache_dir = cache_dir.resolve()
    if cache_dir in _LOADED:
        return _LOADED[cache_dir]
    cache_dir.mkdir(parents=True, exist_ok=True)
    inputs = key_inputs()
    home = cache_dir / key_of(inputs)
    with _locked(cache_dir / f"{home.name}.lock"):
        marker = home / _COMPLETE
        if not marker.is_file():
            shutil.rmtree(home, ignore_errors=True)  # a crashed build
            build(home)
            (home / KEY_FILE).write_text(json.dumps(inputs, indent=1, sort_keys=True, default=str) + "\n",
                                         encoding="utf-8")
            marker.write_text(json.dumps({"built": time.time(), "pid": os.getpid()}), encoding="utf-8")
            _prune(cache_dir, home)
        else:
            marker.touch()  # recently used: kept by _prune
    cfg = fixture_config(home)
    _LOADED[cache_dir] = FittedFixture(Path(cfg.paths.artifacts), SimulatedDataset.load(home / "truth"), home)
    return _LOADED[cache_dir]
