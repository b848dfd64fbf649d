"""Recommendation: evaluation protocols and metrics, baseline recommenders."""
