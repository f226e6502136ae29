"""Helpers for the demo, benchmarks and tests: a virtual X desktop and a scripted workload.

Not used by the recorder or the server; it lives in the package so ``make demo``, ``bench/``
and ``tests/`` share one implementation.
"""
