"""Benchmarks: `make bench`. Each prints a table of ratios to a baseline from the same run."""
