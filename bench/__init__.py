"""Benchmarks. Not tests: they print measured figures side by side and exit 0 whether targets are met or not.

`make bench` runs bench.backbone (see its docstring for what it measures and how).
"""
