from tests.transform.messy_data import clean_daily, demo_cfg, messy  # noqa: F401  (fixtures)
