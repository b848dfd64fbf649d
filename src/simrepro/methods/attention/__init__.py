"""Attention and architectures: attention read as kernel PCA."""
