"""`simrepro impact`: the papers a change reaches, from the same dependency lists as dvc.yaml."""

import pytest

from simrepro.repro import catalog, impact, paths, pipeline


def stages_listing(dep):
    return {s for s in catalog.slugs() if paths.notebook_file(s).exists() and dep in pipeline.stage(s)["deps"]}


def test_a_kernel_reaches_exactly_the_stages_that_list_it():
    reached = impact.impact(["src/simrepro/kernels/topk.py"])
    assert set(reached) == stages_listing("src/simrepro/kernels/topk.py") != set()
    assert all(why == ["src/simrepro/kernels/topk.py"] for why in reached.values())


def test_a_folder_reaches_every_stage_with_a_dep_inside_it_and_the_machinery_reaches_all():
    kernels = impact.impact(["src/simrepro/kernels"])
    assert set(kernels) >= set(impact.impact(["src/simrepro/kernels/ssim.py"]))
    everyone = {s for s in catalog.slugs() if paths.notebook_file(s).exists()}
    assert set(impact.impact(["src/simrepro/repro/verdicts.py"])) == everyone
    assert set(impact.impact(["params.yaml"])) == everyone


def test_a_notebook_reaches_only_its_paper():
    assert list(impact.impact(["notebooks/vendi_score.ipynb"])) == ["vendi_score"]


def test_the_kernel_table_lists_every_kernel_module():
    table = impact.kernel_table()
    assert "src/simrepro/kernels/pairwise.py" in table
    assert set(table["src/simrepro/kernels/ssim.py"]) == stages_listing("src/simrepro/kernels/ssim.py")


def test_a_path_outside_the_repository_or_missing_is_a_clear_error(tmp_path):
    with pytest.raises(catalog.CatalogError, match="does not exist"):
        impact.impact(["src/simrepro/kernels/nope.py"])
    with pytest.raises(catalog.CatalogError, match="not inside the repository"):
        impact.impact([str(tmp_path)])
