"""Benchmarks (run as modules, e.g. ``python -m bench.transitions_bench``); they print figures."""
