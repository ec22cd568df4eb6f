"""Typed configuration (Hydra Structured Configs) and its loading."""

from mmm_meridian.config.loader import config_from_dict, load_config, to_yaml
from mmm_meridian.config.root import MMMConfig, StageName, register_configs

__all__ = ["MMMConfig", "StageName", "config_from_dict", "load_config", "register_configs", "to_yaml"]
