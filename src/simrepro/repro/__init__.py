"""The replication machinery: catalog, parameters, runs and verdicts, the runner, the scoreboard.

Notebooks use two calls: ``run = repro.start(slug, profile=..., seed=..., device=...)`` and
``run.record(metrics)``. It imports no paper method."""

from simrepro.repro.catalog import CatalogError, paper, papers
from simrepro.repro.record import Run, RunError, start
from simrepro.repro.verdicts import MetricError

__all__ = ["CatalogError", "MetricError", "Run", "RunError", "paper", "papers", "start"]
