"""Benchmark cases, one module per operator family or pipeline (see bench/harness.py)."""
