import numpy as np
import pytest

from simrepro.methods.search import similarity_sketch as ss
from simrepro.kernels.sketch import jaccard


@pytest.mark.parametrize("n,j", [(1, 0.0), (16, 0.3), (64, 0.8), (7, 1.0)])
def test_set_pair_has_the_stated_jaccard(n, j):
    a, b, exact = ss.set_pair(n, j)
    assert a.size == b.size == n
    assert jaccard(a, b) == pytest.approx(exact)
    assert abs(exact - j) <= 1.0 / n


def test_trial_stats_against_hand_computation():
    est = np.array([0.5, 0.25, 0.75, 0.5])
    st = ss.trial_stats(est, 0.5, 4, 0.2)
    sd = est.std(ddof=1)
    assert st.mean == 0.5 and st.bias_z == 0.0
    assert st.var_ratio == pytest.approx(sd**2 / (0.25 / 4))
    assert st.tail == 0.5
    assert st.tail_binomial == pytest.approx(1 - 6 / 16)   # |X/4 − 0.5| > 0.2 unless X = 2


def test_trial_stats_rejects_degenerate_input():
    with pytest.raises(ValueError):
        ss.trial_stats([0.5], 0.5, 8, 0.1)
    with pytest.raises(ValueError):
        ss.trial_stats([0.5, 0.4], 1.0, 8, 0.1)


def test_estimate_trials_methods_agree_in_mean():
    a, b, j = ss.set_pair(32, 0.5)
    means = {m: ss.estimate_trials(m, a, b, 32, range(60))[0].mean() for m in ss.SKETCHES}
    print(means, j)
    for m, v in means.items():
        assert abs(v - j) < 0.06, m   # 60 trials, sd of the mean ≲ 0.012


def test_estimate_trials_reports_empty_bins_for_oph_only():
    a, b, _ = ss.set_pair(8, 0.5)
    assert ss.estimate_trials("oph", a, b, 64, range(3))[1].min() > 0.8
    assert ss.estimate_trials("fss", a, b, 64, range(3))[1].max() == 0.0
    with pytest.raises(ValueError, match="unknown sketch"):
        ss.estimate_trials("simhash", a, b, 8, range(2))
