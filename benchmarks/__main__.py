"""``python -m benchmarks [suite...] [--quick] [--json out.json] [--plots DIR]``."""

from benchmarks.runner import main

raise SystemExit(main())
