import pytest

from simrepro.data import _store
from simrepro.data import description_sentences as ds


def test_split_and_keep():
    s = ds.split_sentences("The fire burned for three long days near the town. Residents left!  \"Why?\" asked a man.")
    assert s == ["The fire burned for three long days near the town.", "Residents left!", "\"Why?\" asked a man."]
    assert ds.keep_sentence(s[0]) and not ds.keep_sentence(s[1]) and not ds.keep_sentence("lower case start of eight words here.")
    assert not ds.keep_sentence("Café owners opened their shops early in the cold morning.")     # non-ASCII


def test_fortune_entries():
    text = ("A fool and his money are soon parted, as the old saying goes.\n\t\t-- Someone\n%\n"
            "Short one.\n%\nOne sentence here that is long enough to keep. And a second one that is long too.\n")
    assert ds.fortune_sentences(text) == ["A fool and his money are soon parted, as the old saying goes."]


def test_noun_abstractions_two_levels():
    data = ("00000001 03 n 01 entity 0 000 | root\n"
            "00000002 03 n 01 animal 0 001 @ 00000001 n 0000 | a\n"
            "00000003 03 n 01 carnivore 0 001 @ 00000002 n 0000 | b\n"
            "00000004 03 n 02 dog 0 domestic_dog 0 001 @ 00000003 n 0000 | c\n")
    index = ("dog n 1 1 @ 1 0 00000004\nanimal n 1 1 @ 1 0 00000002\nentity n 1 0 1 0 00000001\n")
    assert ds.parse_noun_abstractions(index, data) == {"dog": "animal", "animal": "entity", "entity": "entity"}
    assert ds.parse_noun_abstractions(index, data, levels=1)["dog"] == "carnivore"


def test_missing_fortune_file_is_a_clear_error_naming_the_packages(tmp_path, monkeypatch):
    for name in ds.FORTUNE_FILES[:-1]:               # one file short: the asset would silently differ by machine
        (tmp_path / name).write_text("A line.\n%\n", encoding="latin-1")
    monkeypatch.setattr(ds, "FORTUNE_DIR", tmp_path)
    with pytest.raises(_store.AssetMissing, match=rf"{ds.FORTUNE_FILES[-1]}.*apt-get install fortunes fortunes-min"):
        ds._fortune_root()
    (tmp_path / ds.FORTUNE_FILES[-1]).write_text("", encoding="latin-1")
    assert ds._fortune_root() == tmp_path
