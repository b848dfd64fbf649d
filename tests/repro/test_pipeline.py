"""dvc.yaml is generated from the notebooks' imports and must be current; deps follow imports transitively."""

import nbformat

from simrepro.repro import deps, pipeline


def test_dvc_yaml_is_current_with_the_notebooks():
    assert pipeline.is_current(), "dvc.yaml is out of date: run `simrepro pipeline` and commit it"


def test_every_paper_with_a_notebook_has_a_stage_and_the_site_comes_last():
    import yaml
    stages = yaml.safe_load(pipeline.render())["stages"]
    assert list(stages)[-1] == "site"
    for slug, stage in stages.items():
        if slug == "site":
            continue
        assert stage["params"][-1] == f"papers.{slug}"
        assert f"notebooks/{slug}.ipynb" in stage["deps"] and "src/simrepro/repro" in stage["deps"]


def test_deps_follow_imports_transitively_with_parent_packages(suite):
    src = suite / "src" / "simrepro"
    (src / "methods").mkdir(exist_ok=True)
    (src / "methods" / "toy_method.py").write_text("from ..kernels import pairwise\nimport numpy\n")
    nb = nbformat.read(suite / "notebooks" / "toy_paper.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("%matplotlib inline\nfrom simrepro.methods import toy_method"))
    nbformat.write(nb, suite / "notebooks" / "toy_paper.ipynb")
    code = deps.paper_dependencies("toy_paper")["code"]
    assert "src/simrepro/methods/toy_method.py" in code
    assert "src/simrepro/kernels/pairwise.py" in code and "src/simrepro/kernels/__init__.py" in code
    assert not any("lexrank" in c for c in code), "a module the notebook cannot reach was listed"


def test_changing_an_unrelated_method_leaves_the_inputs_hash_alone(suite):
    from simrepro.repro.provenance import inputs_hash
    before = inputs_hash("toy_paper")
    (suite / "src" / "simrepro" / "methods" / "unrelated.py").write_text("X = 1\n")
    assert inputs_hash("toy_paper") == before
    (suite / "src" / "simrepro" / "repro" / "html.py").write_text(
        (suite / "src" / "simrepro" / "repro" / "html.py").read_text() + "\n# touched\n")
    assert inputs_hash("toy_paper") != before


def test_lazy_exports_resolve_and_are_followed_by_the_deps():
    import simrepro.kernels as kernels
    for name, module in kernels._EXPORTS.items():
        assert getattr(kernels, name) is getattr(__import__(module, fromlist=[name]), name)
    assert deps.lazy_exports("simrepro.kernels") == kernels._EXPORTS
    with __import__("pytest").raises(AttributeError, match="no attribute 'nope'"):
        kernels.nope
