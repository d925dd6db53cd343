"""Portico's benchmarks: each one measures Portico and its baseline in the same run, interleaved, and
reports medians and the ratio (see docs/BENCHMARKS.md). Run them all with ``./bench/run``."""
