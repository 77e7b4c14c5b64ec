"""``python -m mlm_explorer ...``: see :mod:`mlm_explorer.cli`."""

import sys

from mlm_explorer.cli import main

if __name__ == "__main__":
    sys.exit(main())
