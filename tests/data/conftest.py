"""Shared fixture of the asset tests: a module's ``ASSET`` built once into a temporary data store."""

import pytest

from simrepro.data import _store


@pytest.fixture(scope="module")
def store(request, tmp_path_factory):
    """The data root holding ``request.module.ASSET``, freshly built; ``SIMREPRO_DATA`` points at it meanwhile."""
    root = tmp_path_factory.mktemp("store") / "data"
    mp = pytest.MonkeyPatch()
    mp.setenv("SIMREPRO_DATA", str(root))
    _store.build(request.module.ASSET)
    yield root
    mp.undo()
