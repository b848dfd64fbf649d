"""simrepro: reproducible replications of similarity-matrix papers.

Layers (imports run one way): ``kernels`` (similarity kernels) ← ``metrics`` ← ``methods`` (the papers'
methods); ``data`` and ``models`` stand alone; ``repro`` is the replication machinery (catalog, params,
results, verdicts, runner, site) and imports no paper method.
"""

__version__ = "0.1.0"
