import numpy as np
import pytest

from simrepro.data.wordnet_tree import children_index, find_synset, hyponyms

#        0            5
#      / | \          |
#     1  2  3         6
#     |     |
#     4     7
PARENT = np.array([-1, 0, 0, 0, 1, -1, 5, 3])


def test_children_index_in_id_order_without_roots():
    assert children_index(PARENT) == {0: [1, 2, 3], 1: [4], 3: [7], 5: [6]}
    assert children_index(np.array([], np.int64)) == {}


def test_hyponyms_preorder_last_child_first():
    ch = children_index(PARENT)
    assert hyponyms(ch, [0]) == [3, 7, 2, 1, 4]
    assert hyponyms(ch, [4]) == []           # a leaf has none
    assert hyponyms(ch, []) == []            # no roots, nothing
    assert hyponyms(ch, [0, 5]) == [3, 7, 2, 1, 4, 6]


def test_hyponyms_nested_roots_listed_once():
    ch = children_index(PARENT)
    out = hyponyms(ch, [0, 1])
    assert sorted(out) == [1, 2, 3, 4, 7] and len(out) == len(set(out))


def test_children_index_rejects_bad_parent():
    with pytest.raises(ValueError, match="1-D integer"):
        children_index(np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="1-D integer"):
        children_index(np.array([-1.0, 0.0]))
    with pytest.raises(ValueError, match=r"\[-1, 2\]"):
        children_index(np.array([-1, 0, 3]))


def test_find_synset_picks_the_sense_by_gloss():
    lemma = ["bank", "bank", "river"]
    gloss = ["sloping land beside water", "a financial institution", "a large stream"]
    assert find_synset(lemma, gloss, "bank", "a financial") == 1
    with pytest.raises(ValueError, match="'bank'.*found 2 times"):
        find_synset(lemma, gloss, "bank", "")
    with pytest.raises(ValueError, match="found 0 times"):
        find_synset(lemma, gloss, "lake", "a")
