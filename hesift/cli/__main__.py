"""``python -m hesift.cli``."""

import sys

from hesift.cli import main

sys.exit(main())
