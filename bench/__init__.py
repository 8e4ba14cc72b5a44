"""Benchmarks (run as scripts; see bench/README.md). Not part of the package."""
