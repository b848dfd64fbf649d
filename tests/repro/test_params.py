import pytest
import yaml

from simrepro.repro import params as P
from simrepro.repro.catalog import CatalogError


def write_params(root, **papers_section):
    raw = {"profile": "smoke", "seed": 0, "device": "auto", "papers": {"toy_paper": papers_section}}
    (root / "params.yaml").write_text(yaml.safe_dump(raw))


def test_injected_parameters_are_profile_seed_device_and_the_section(suite):
    assert P.paper_params("toy_paper", "full") == {"profile": "full", "seed": 0, "device": "auto", "x": 3.0}


def test_real_params_file_validates_against_every_notebook():
    P.validate_all()


def test_unknown_parameter_names_the_paper_the_key_and_a_close_match(suite):
    write_params(suite, smoke={"xx": 3.0}, full={})
    with pytest.raises(P.ParamsError, match=r"papers\.toy_paper\.smoke\.xx: unknown parameter for paper "
                                            r"'toy_paper'; did you mean x\?"):
        P.paper_params("toy_paper")


def test_wrong_type_names_the_expected_type(suite):
    write_params(suite, smoke={"x": "three"}, full={})
    with pytest.raises(P.ParamsError, match=r"smoke\.x: expected float \(notebook default 3\.0\), got str"):
        P.paper_params("toy_paper")


def test_int_is_accepted_for_a_float_but_bool_is_not_an_int(suite):
    write_params(suite, smoke={"x": 4}, full={})
    assert P.paper_params("toy_paper")["x"] == 4
    write_params(suite, smoke={"fail": 1}, full={})
    with pytest.raises(P.ParamsError, match="expected bool"):
        P.paper_params("toy_paper")


def test_reserved_and_unknown_profile_keys_are_rejected(suite):
    write_params(suite, smoke={"seed": 3}, full={})
    with pytest.raises(P.ParamsError, match="set suite-wide"):
        P.paper_params("toy_paper")
    write_params(suite, smoke={}, ful={})
    with pytest.raises(P.ParamsError, match="only 'smoke' and 'full'"):
        P.paper_params("toy_paper")


def test_top_level_errors(suite):
    (suite / "params.yaml").write_text(yaml.safe_dump({"profile": "fast", "seed": 0, "device": "auto", "papers": {}}))
    with pytest.raises(P.ParamsError, match="profile must be one of smoke, full"):
        P.load()
    (suite / "params.yaml").write_text("profile: [unclosed")
    with pytest.raises(P.ParamsError, match="not valid YAML"):
        P.load()


def test_missing_section_and_unknown_slug(suite):
    (suite / "params.yaml").write_text(yaml.safe_dump({"profile": "smoke", "seed": 0, "device": "auto", "papers": {}}))
    with pytest.raises(P.ParamsError, match="no section papers.toy_paper"):
        P.paper_params("toy_paper")
    with pytest.raises(P.ParamsError, match="without a params.yaml section: toy_paper"):
        P.validate_all()
    with pytest.raises(CatalogError, match="unknown paper"):
        P.paper_params("toy_papr")
