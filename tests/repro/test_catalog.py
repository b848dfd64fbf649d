import csv
from pathlib import Path

import pytest

from simrepro.repro import catalog, paths

SHARED_TSV = Path(__file__).resolve().parents[3] / "shared" / "papers" / "catalog.tsv"


def test_catalog_lists_all_119_papers_with_unique_ids_and_slugs():
    papers = catalog.papers()
    assert len(papers) == 119
    assert [p.id for p in papers] == list(range(1, 120))
    assert len({p.slug for p in papers}) == 119
    assert all(p.tier and p.theme and p.title for p in papers)


@pytest.mark.skipif(not SHARED_TSV.exists(), reason="the shared catalog.tsv is not beside this checkout")
def test_slugs_are_the_fixed_names_of_the_shared_catalog():
    rows = list(csv.DictReader(SHARED_TSV.open(), delimiter="\t"))
    assert {int(r["id"]): r["slug"] for r in rows} == {p.id: p.slug for p in catalog.papers()}


def test_every_claims_file_is_valid_and_names_a_catalog_paper():
    slugs = set(catalog.slugs())
    for path in sorted((paths.root() / "catalog" / "claims").glob("*.yaml")):
        assert path.stem in slugs, f"{path.name} does not match a catalog slug"
        f = catalog.load_claims(path.stem)
        assert f.claims, f"{path.name} has no claims"
        assert f.summary, f"{path.name} has no summary"


def test_every_notebook_has_claims_and_no_stored_outputs():
    import nbformat
    for nb_path in sorted((paths.root() / "notebooks").glob("*.ipynb")):
        assert catalog.paper(nb_path.stem).claims, f"{nb_path.stem} has a notebook but no claims"
        nb = nbformat.read(nb_path, as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3", nb_path.name
        stored = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
        assert not stored, f"{nb_path.name} is stored with outputs in cells {stored}; clear them"


def test_unknown_slug_names_close_matches():
    with pytest.raises(catalog.CatalogError, match="did you mean vendi_score"):
        catalog.paper("vendi_scor")
    with pytest.raises(catalog.CatalogError, match="simrepro list"):
        catalog.paper("zzzzzz")


def test_claims_file_with_the_wrong_slug_is_rejected(suite):
    path = suite / "catalog" / "claims" / "toy_paper.yaml"
    path.write_text(path.read_text().replace("slug: toy_paper", "slug: other"))
    with pytest.raises(catalog.CatalogError, match="expected 'toy_paper'"):
        catalog.paper("toy_paper")


def test_every_change_to_a_claim_since_its_first_results_is_declared():
    from simrepro.repro import trail
    try:
        problems = trail.check_all()
    except trail.NoHistory as e:
        pytest.skip(f"amendment trail needs the git history: {e}")
    assert problems == [], "\n".join(problems)


def test_the_root_is_found_from_the_working_directory_not_the_package(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ROOT_ENV, raising=False)
    (tmp_path / "ws" / "catalog").mkdir(parents=True)
    (tmp_path / "ws" / "catalog" / "papers.yaml").write_text("[]\n")
    (tmp_path / "ws" / "params.yaml").write_text("profile: smoke\n")
    (tmp_path / "ws" / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "ws" / "notebooks")
    assert paths.root() == (tmp_path / "ws").resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(paths.RootNotFound, match="SIMREPRO_ROOT"):
        paths.root()
    monkeypatch.setenv(paths.ROOT_ENV, str(tmp_path / "ws"))
    assert paths.root() == (tmp_path / "ws").resolve()


def test_every_paper_has_an_area_and_the_landed_ones_are_grouped_as_the_wave_issues_say():
    papers = {p.slug: p for p in catalog.papers()}
    assert all(p.area in catalog.AREAS for p in papers.values())
    assert papers["faiss_gpu_kselect"].area == "vector search" and papers["vendi_score"].area == "diversity"
