"""``python -m benchmarks [suite...] [--quick] [--json out.json] [--plots DIR]``."""

from benchmarks.runner import main

if __name__ == "__main__":  # spawned worker processes (Dask, multiprocessing) import this too
    raise SystemExit(main())
