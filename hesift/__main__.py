"""``python -m hesift``: the command line."""

import sys

from hesift.cli import main

sys.exit(main())
