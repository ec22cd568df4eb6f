"""The config tree: composition, guide keys, typed validation errors, profiles and the generated defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mmm_meridian.config.infra import Backend
from mmm_meridian.errors import ConfigError, NotImplementedFeatureError

REPO = Path(__file__).resolve().parents[2]

GUIDE_KEYS = [
    "project.name", "paths.artifacts", "data.channel_map", "data.keys", "data.date_col", "data.revenue_col",
    "ingest.connector_priority", "validation.coverage_frequency.min_weeks_required",
    "validation.coverage_frequency.preferred_weeks", "validation.coverage_frequency.max_missing_weeks_pct",
    "validation.identifiability.max_channel_correlation", "validation.identifiability.min_zero_spend_weeks_pct",
    "validation.value_sanity.roi_range", "validation.quality_thresholds.min_validation_score",
    "enhanced_cleaning.outliers.policy", "enhanced_cleaning.outliers.exempt_promo_periods",
    "enhanced_cleaning.outliers.winsorize_percentile", "enhanced_cleaning.missing_data",
    "enhanced_cleaning.duplicates", "features.adstock.platform_overrides", "features.saturation.channel_overrides",
    "features.seasonality", "features.baseline", "features.attribution", "features.creative_fatigue",
    "features.custom_terms", "model.priors.roi_bounds", "training.rolling_splits.window_weeks",
    "training.rolling_splits.step_weeks", "complexity.identifiability.max_rhat", "complexity.identifiability.min_ess",
    "optimization.platform_constraints.min_spend_pct", "optimization.platform_constraints.max_spend_pct",
    "optimization.objective", "optimization.scenario_presets", "evaluation.metrics.mape_threshold",
    "evaluation.metrics.coverage_threshold", "evaluation.digital_checks", "evaluation.validation_strategies",
    "reports.executive_deck", "reports.dashboard_exports", "logging.level", "runtime.backend", "tracking.enabled",
    "profiles.local", "profiles.docker", "profiles.k8s", "external_data", "privacy",
]


def _get(obj: object, dotted: str) -> object:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_key_the_guide_names_exists_with_the_guide_default(make_cfg):
    cfg = make_cfg()
    for key in GUIDE_KEYS:
        _get(cfg, key)  # AttributeError names the missing key
    assert cfg.validation.coverage_frequency.min_weeks_required == 52
    assert cfg.validation.coverage_frequency.preferred_weeks == 104
    assert cfg.validation.coverage_frequency.max_missing_weeks_pct == 2.0
    assert cfg.validation.identifiability.max_channel_correlation == 0.9
    assert cfg.validation.identifiability.min_zero_spend_weeks_pct == 10
    assert cfg.validation.quality_thresholds.min_validation_score == 0.8
    assert cfg.enhanced_cleaning.outliers.policy.value == "contextual_winsorization"
    assert cfg.enhanced_cleaning.outliers.winsorize_percentile == 99
    assert cfg.training.rolling_splits.window_weeks == 104 and cfg.training.rolling_splits.step_weeks == 13
    assert cfg.complexity.identifiability.max_rhat == 1.1 and cfg.complexity.identifiability.min_ess == 400
    assert cfg.optimization.platform_constraints.min_spend_pct == 0.05
    assert cfg.optimization.platform_constraints.max_spend_pct == 0.4
    assert cfg.evaluation.metrics.mape_threshold == 0.15 and cfg.evaluation.metrics.coverage_threshold == 0.8
    assert cfg.reports.executive_deck and cfg.reports.dashboard_exports
    assert not cfg.features.attribution.enabled and not cfg.features.creative_fatigue.enabled


def test_overrides_are_typed(make_cfg):
    cfg = make_cfg("runtime.backend=tensorflow", "training.sampler.n_keep=200", "data=demo_geo")
    assert cfg.runtime.backend is Backend.tensorflow
    assert cfg.training.sampler.n_keep == 200
    assert cfg.data.geo_col == "territory_name" and cfg.data.series["territory_name"] is None


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("features.adstock.decay=1.5", "features.adstock.decay=1.5 is out of range; allowed [0, 1)"),
        ("validation.coverage_frequency.max_missing_weeks_pct=120", "max_missing_weeks_pct=120.0 is out of range"),
        ("optimization.platform_constraints.min_spend_pct=0.5", "min_spend_pct=0.5 is above max_spend_pct=0.4"),
        ("no_such_section.key=1", "Key 'no_such_section' not in 'MMMConfig'"),
        ("runtime.backend=torch", "Invalid value 'torch', expected one of [jax, tensorflow]"),
        ("training.sampler.n_keep=many", "Value 'many' of type 'str' could not be converted to Integer"),
        ("training.sampler.n_chains=0", "training.sampler.n_chains=0 must be a positive integer"),
        ("training.sampler.n_prior_draws=-1", "training.sampler.n_prior_draws=-1 is out of range; allowed [0, inf]"),
        ("+model.priors.roi_bounds.unknown_channel=[1,2]", "model.priors.roi_bounds names unknown channel(s)"),
        ("model.priors.roi_bounds.google_search=[3,2]", "must be a [low, high] pair with low < high"),
        ("data=no_such_dataset", "Could not find 'data/no_such_dataset'"),
        ("optimization.max_posterior_draws=0", "optimization.max_posterior_draws=0 is out of range"),
    ],
)
def test_bad_config_fails_at_start_naming_key_value_and_allowed(make_cfg, override, expected):
    with pytest.raises(ConfigError) as info:
        make_cfg(override)
    assert expected in info.value.one_line()


def test_prior_draws_may_be_zero(make_cfg):
    assert make_cfg("training.sampler.n_prior_draws=0").training.sampler.n_prior_draws == 0


def test_enabling_an_unimplemented_extension_says_so(make_cfg):
    with pytest.raises(NotImplementedFeatureError, match="features.creative_fatigue is a future extension"):
        make_cfg("features.creative_fatigue.enabled=true")
    with pytest.raises(NotImplementedFeatureError, match="privacy.differential_privacy"):
        make_cfg("privacy.differential_privacy=true")


def test_user_dataset_file_in_config_dir(make_cfg, tmp_path):
    conf = tmp_path / "my_conf" / "data"
    conf.mkdir(parents=True)
    (conf / "shop.yaml").write_text(
        "# @package _global_\ningest:\n  connector_priority: [local_csv]\n  local_csv:\n    path: /x/shop.csv\n"
        "data:\n  date_col: week\n  revenue_col: sales\n  channel_map: {search: search_cost}\n"
        "optimization:\n  platform_constraints: {max_spend_pct: 1.0}\n")  # one channel takes the whole budget
    cfg = make_cfg("data=shop", config_dir=tmp_path / "my_conf")
    assert cfg.channels == ["search"]
    assert cfg.ingest.local_csv.path == "/x/shop.csv"
    assert [c.value for c in cfg.ingest.connector_priority] == ["local_csv"]


def test_paths_artifacts_override(make_cfg, tmp_path):
    cfg = make_cfg(f"paths.artifacts={tmp_path}/elsewhere")
    assert cfg.paths.artifacts == f"{tmp_path}/elsewhere"
    assert cfg.paths.logs == f"{tmp_path}/elsewhere/logs"


def test_training_presets(make_cfg):
    fast = make_cfg("training=fast").training
    production = make_cfg("training=production").training
    assert fast.preset == "fast" and production.preset == "production"
    assert production.sampler.n_chains >= 4 and production.sampler.n_adapt >= fast.sampler.n_adapt
    assert fast.sampler.n_keep < production.sampler.n_keep


def test_generated_section_files_match_the_schema():
    """conf/<section>/default.yaml are generated from the dataclasses; a stale file fails here."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from generate_conf import render_sections
    finally:
        sys.path.pop(0)
    conf = REPO / "mmm_meridian" / "conf"
    for section, text in render_sections().items():
        path = conf / section / "default.yaml"
        assert path.read_text() == text, f"{path} is stale: run python scripts/generate_conf.py"
        yaml.safe_load(text)


def test_conf_symlink_at_repo_root_points_at_package_conf():
    assert (REPO / "conf" / "config.yaml").resolve() == (REPO / "mmm_meridian" / "conf" / "config.yaml").resolve()


def test_show_config_prints_resolved_yaml(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mmm_meridian", "stage=ingest", "--show-config",
                          f"paths.root={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    shown = yaml.safe_load(out.stdout)
    assert shown["stage"] == "ingest"
    assert shown["paths"]["artifacts"] == f"{tmp_path}/artifacts/mmm_demo"
