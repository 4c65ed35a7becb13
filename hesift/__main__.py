"""``python -m hesift``: the command line."""

from hesift.cli import console_main

if __name__ == "__main__":  # spawned worker processes import this module: do not re-run the CLI
    console_main()
