"""Benchmarks against peers, run as modules: ``python -m benchmarks.topk``; results in benchmarks/results/."""
