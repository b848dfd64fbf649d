"""Offline datasets (materialised into ``data/`` from registry packages) and seeded synthetic generators.

Each asset module registers a builder with :func:`simrepro.data._store.asset` and exposes a typed loader
(``load_mnist_5k()``, ``load_movielens_100k()``, …). Import loaders from their module."""

from simrepro.data._store import AssetMissing, asset_dir, build, discover, load_array

__all__ = ["AssetMissing", "asset_dir", "build", "discover", "load_array"]
