"""``python -m mmm_meridian stage=<name> [-m] [overrides]``."""

import sys

from mmm_meridian.cli import module_main

if __name__ == "__main__":
    sys.exit(module_main())
