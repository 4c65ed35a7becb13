"""``python -m hesift.cli``."""

from hesift.cli import console_main

console_main()
