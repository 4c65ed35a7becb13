"""Benchmarks for hepaillier_core and hesift: ``python -m benchmarks --help``.

Suites: core (per-op throughput vs phe and SecretFlow HEU), conv (packed vs
unpacked vs phe filters), sift and gallery (modules ``sift_*`` /
``gallery_*``), scaling (image size, key size, workers; PNG plots).
pytest-benchmark versions of the hot paths: ``pytest benchmarks/ --benchmark-only``.
"""
