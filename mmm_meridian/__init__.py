"""mmm_meridian: a production marketing-mix-modeling pipeline on Google Meridian.

Notebook use::

    from mmm_meridian import api
    cfg = api.load_config(["data=demo", "training=fast"])
    api.run(cfg)                     # every implemented stage, resuming where artifacts are up to date
    api.run_stage(cfg, "ingest")     # one stage
"""

__version__ = "0.1.0"
