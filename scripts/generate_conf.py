"""Write conf/<section>/default.yaml from the typed schema, so the YAML defaults never drift from the dataclasses.

Run after changing a dataclass default: ``python scripts/generate_conf.py``. ``tests/config/test_conf_tree.py`` fails
when a file is out of date. Hand-written groups (data/, training/ presets other than default, profile/) are untouched.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from omegaconf import OmegaConf

from mmm_meridian.config.root import MMMConfig

# Sections set by other groups rather than a default.yaml of their own.
NOT_GENERATED = {"stage", "profile", "data"}
HEADER = ("# Generated from mmm_meridian/config ({module}.{cls}) by scripts/generate_conf.py: edit the dataclass,\n"
          "# then re-run the script. Override keys on the command line, e.g. `mmm run {section}.<key>=<value>`.\n")


def render_sections() -> dict[str, str]:
    """Section name -> YAML text of its defaults."""
    out: dict[str, str] = {}
    for f in fields(MMMConfig):
        if f.name in NOT_GENERATED:
            continue
        value = f.default_factory()  # type: ignore[misc]
        cls = type(value)
        header = HEADER.format(module=cls.__module__, cls=cls.__name__, section=f.name)
        out[f.name] = header + OmegaConf.to_yaml(OmegaConf.structured(value))
    return out


def main(conf: Path) -> int:
    for section, text in render_sections().items():
        path = conf / section / "default.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent.parent / "mmm_meridian" / "conf"))
