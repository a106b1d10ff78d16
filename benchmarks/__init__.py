"""Benchmarks for labelmap: the asv suite (bench_*.py) and the whole-process comparison (compare.py)."""
