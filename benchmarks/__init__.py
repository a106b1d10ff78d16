"""Benchmarks for labelmap: asv suite (bench_*.py) and the whole-process comparison with dcmqi / highdicom (compare.py)."""
