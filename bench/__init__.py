"""Benchmarks: programs that print tables and write BENCHMARKS.md (never tests)."""
