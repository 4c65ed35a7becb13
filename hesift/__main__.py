"""``python -m hesift``: the command line."""

from hesift.cli import console_main

console_main()
