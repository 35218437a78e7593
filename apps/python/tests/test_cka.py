"""convlab.cka, convlab.cka_matrix, CKA and get_cka_matrix against numpy float64 definitions
(numpy_reference.py): the biased and debiased HSIC estimators, linear and RBF kernels, the
invariances CKA has and the one it lacks, the layer x layer matrices (no mirroring), the
minibatch estimator (size-weighted, short last batch kept or dropped) and the bootstrap.

Tolerances: float64 inputs on the CPU agree with the numpy definitions to ~1e-10 relative (the
measured error is ~1e-15 linear, ~1e-12 RBF); float32 inputs to ~1e-5.
"""

import numpy as np
import pytest

import convlab

F64 = dict(rtol=1e-10, atol=1e-12)  # float64 inputs, CPU
F32 = dict(rtol=1e-5, atol=1e-6)  # float32 inputs

KERNELS = [("linear", 1.0), ("rbf", 1.0), ("rbf", 0.5), ("rbf", 2.0)]
ESTIMATORS = ["biased", "debiased"]


@pytest.fixture
def pair(rng, reference):
    """Two related layers of the same 120 examples, of different widths."""
    x = rng.standard_normal((120, 40))
    y = reference.related(rng, x, 70)
    return x, y


# ----------------------------------------------------------------------------------------------
# One pair of layers


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel,frac", KERNELS)
def test_cka_matches_definition(pair, reference, kernel, frac, estimator):
    x, y = pair
    expected = reference.cka(x, y, kernel, estimator, frac)
    got = convlab.cka(x, y, kernel=kernel, estimator=estimator, rbf_frac=frac)
    assert isinstance(got, float)
    np.testing.assert_allclose(got, expected, **F64)
    # The related layers are neither identical nor unrelated: the test is not reading 0 or 1.
    assert 0.1 < expected < 0.95


def test_biased_definition_is_the_feature_space_formula(pair, reference):
    # Two ways to write biased linear CKA agree (a check of the reference itself) ...
    x, y = pair
    np.testing.assert_allclose(reference.cka(x, y, "linear", "biased"), reference.linear_cka_feature_space(x, y),
                               rtol=1e-12)
    # ... and the estimators differ on these data, so comparing them is a real test.
    assert abs(convlab.cka(x, y, estimator="biased") - convlab.cka(x, y, estimator="debiased")) > 0.05


def test_default_is_debiased_linear(pair, reference):
    x, y = pair
    np.testing.assert_allclose(convlab.cka(x, y), reference.cka(x, y, "linear", "debiased"), **F64)


@pytest.mark.parametrize("frac", [0.5, 2.0])
def test_rbf_frac_changes_the_width(pair, reference, frac):
    # rbf_frac scales s (s^2 = frac^2 median): a different frac gives a different value, the
    # one of that width.
    x, y = pair
    base = convlab.cka(x, y, kernel="rbf", estimator="biased")
    got = convlab.cka(x, y, kernel="rbf", estimator="biased", rbf_frac=frac)
    assert abs(got - base) > 1e-3
    np.testing.assert_allclose(got, reference.cka(x, y, "rbf", "biased", frac), **F64)


def test_rbf_width_is_median_over_distinct_pairs(rng, reference):
    # The width is the median over the n (n - 1) / 2 pairs i < j, not over all n^2 entries of
    # D (which adds the n zero self-distances): with n = 8 the two medians differ, and only the
    # pairwise one matches convlab.
    x = rng.standard_normal((8, 5))
    y = rng.standard_normal((8, 7)) + x[:, :1]
    d = reference.squared_distances(x)
    assert abs(np.median(d) - reference.median_pair_distance(x)) > 0.01 * reference.median_pair_distance(x)
    np.testing.assert_allclose(convlab.cka(x, y, kernel="rbf", estimator="biased"),
                               reference.cka(x, y, "rbf", "biased"), **F64)

    def cka_all_entries_median(a, b):
        def g(z):
            dz = reference.squared_distances(z)
            return np.exp(-dz / (2 * np.median(dz)))
        k, l = g(a), g(b)
        return reference.hsic_biased(k, l) / np.sqrt(reference.hsic_biased(k, k) * reference.hsic_biased(l, l))

    assert abs(convlab.cka(x, y, kernel="rbf", estimator="biased") - cka_all_entries_median(x, y)) > 1e-6


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_cka_of_a_layer_with_itself_is_one(pair, kernel, estimator):
    x, _ = pair
    np.testing.assert_allclose(convlab.cka(x, x, kernel=kernel, estimator=estimator), 1.0, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Invariances


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_invariant_to_orthogonal_maps(pair, rng, reference, kernel, estimator):
    x, y = pair
    q = reference.random_orthogonal(rng, x.shape[1])
    np.testing.assert_allclose(convlab.cka(x, x @ q, kernel=kernel, estimator=estimator), 1.0, rtol=0, atol=1e-10)
    qy = reference.random_orthogonal(rng, y.shape[1])
    np.testing.assert_allclose(convlab.cka(x @ q, y @ qy, kernel=kernel, estimator=estimator),
                               convlab.cka(x, y, kernel=kernel, estimator=estimator), **F64)


@pytest.mark.parametrize("scale", [1e-30, 1e-3, 7.5, 1e30, 1e-200, 1e200])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_invariant_to_isotropic_scale_float64(pair, reference, kernel, scale):
    # 1e-200 and 1e200: the Gram's products would under/overflow float64 without convlab's
    # power-of-two rescale of each layer.
    x, y = pair
    expected = reference.cka(x, y, kernel, "debiased")
    np.testing.assert_allclose(convlab.cka(scale * x, y, kernel=kernel), expected, **F64)
    np.testing.assert_allclose(convlab.cka(x, scale * y, kernel=kernel), expected, **F64)
    np.testing.assert_allclose(convlab.cka(scale * x, scale * y, kernel=kernel), expected, **F64)
    np.testing.assert_allclose(convlab.cka(scale * x, scale * x, kernel=kernel), 1.0, rtol=0, atol=1e-10)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_invariant_to_isotropic_scale_float32(pair, kernel, scale):
    # 1e-30 and 1e30 are float32 numbers, but their products underflow / overflow float32.
    x, y = (a.astype(np.float32) for a in pair)
    xs = (x * np.float32(scale)).astype(np.float32)
    assert np.all(np.isfinite(xs)) and np.count_nonzero(xs) == xs.size
    base = convlab.cka(x, y, kernel=kernel)
    np.testing.assert_allclose(convlab.cka(xs, y, kernel=kernel), base, **F32)
    np.testing.assert_allclose(convlab.cka(xs, xs, kernel=kernel), 1.0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_not_invariant_to_general_invertible_maps(rng, reference, estimator):
    # X A for an invertible but far from orthogonal A: linear CKA(X, XA) is well below 1, and
    # is the value of the definition.
    x = rng.standard_normal((150, 20))
    a = rng.standard_normal((20, 20)) @ np.diag(np.logspace(0, 2.5, 20))
    assert np.linalg.cond(a) > 100
    xa = x @ a
    got = convlab.cka(x, xa, estimator=estimator)
    assert got < 0.9
    np.testing.assert_allclose(got, reference.cka(x, xa, "linear", estimator), **F64)


# ----------------------------------------------------------------------------------------------
# The reference's calls


def test_reference_compatible_calls_are_biased(pair, reference):
    x, y = pair
    np.testing.assert_allclose(convlab.CKA(x, y), reference.cka(x, y, "linear", "biased"), **F64)
    np.testing.assert_allclose(convlab.CKA(x, y, kernel="rbf"), reference.cka(x, y, "rbf", "biased"), **F64)
    np.testing.assert_allclose(convlab.CKA(x, y, kernel="rbf", threshold=0.5),
                               reference.cka(x, y, "rbf", "biased", 0.5), **F64)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_get_cka_matrix_two_networks_honours_kernel(rng, reference, kernel):
    # The reference mirrors the lower half and ignores the kernel for two networks; here every
    # cell is its own pair's biased CKA under the kernel asked for.
    a = reference.network(rng, 80, [10, 30, 20])
    b = reference.network(rng, 80, [25, 15, 12])
    b[1] = b[1] + a[2][:, :15]  # some shared geometry so the cells are not all near 0
    got = convlab.get_cka_matrix(a, b, kernel=kernel)
    expected = reference.matrix(lambda u, v: reference.cka(u, v, kernel, "biased"), a, b)
    np.testing.assert_allclose(got, expected, **F64)
    if kernel == "rbf":
        linear = reference.matrix(lambda u, v: reference.cka(u, v, "linear", "biased"), a, b)
        assert np.max(np.abs(got - linear)) > 1e-3
    # Against itself (the same list twice): every cell, diagonal 1.
    got_self = convlab.get_cka_matrix(a, a, kernel=kernel)
    np.testing.assert_allclose(got_self, reference.matrix(lambda u, v: reference.cka(u, v, kernel, "biased"), a),
                               **F64)
    np.testing.assert_allclose(np.diag(got_self), 1.0, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# cka_matrix


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel,frac", [("linear", 1.0), ("rbf", 1.0), ("rbf", 0.7)])
def test_every_cell_is_cka_of_its_pair(rng, reference, kernel, frac, estimator):
    a = reference.network(rng, 90, [12, 40, 25])
    b = reference.network(rng, 90, [30, 8])
    b[0] = b[0] + reference.related(rng, a[1], 30, noise=0.3)
    got = convlab.cka_matrix(a, b, kernel=kernel, estimator=estimator, rbf_frac=frac)
    assert got.shape == (3, 2) and got.dtype == np.float64
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(got[i, j], convlab.cka(a[i], b[j], kernel=kernel, estimator=estimator,
                                                              rbf_frac=frac), **F64)
    expected = reference.matrix(lambda u, v: reference.cka(u, v, kernel, estimator, frac), a, b)
    np.testing.assert_allclose(got, expected, **F64)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_network_against_itself_computes_every_cell(rng, reference, kernel, estimator):
    a = reference.network(rng, 100, [15, 30, 45, 20])
    got = convlab.cka_matrix(a, kernel=kernel, estimator=estimator)
    assert got.shape == (4, 4)
    expected = reference.matrix(lambda u, v: reference.cka(u, v, kernel, estimator), a)
    np.testing.assert_allclose(got, expected, **F64)
    np.testing.assert_allclose(np.diag(got), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, got.T, **F64)
    # Not a constant matrix: the cells tell the layers apart.
    off = got[~np.eye(4, dtype=bool)]
    assert off.max() - off.min() > 0.05


def test_two_networks_are_not_mirrored(rng, reference):
    # Two different networks with the same number of layers: cell (i, j) compares A_i with B_j,
    # and (j, i) A_j with B_i, which are different pairs. A mirrored upper half would put the
    # value of (i, j) in (j, i); the data make them differ by far more than the tolerance.
    x = rng.standard_normal((100, 10))
    a = [x, reference.related(rng, x, 20, noise=0.2), rng.standard_normal((100, 30))]
    b = [rng.standard_normal((100, 10)),  # B_0 unrelated to all of A
         reference.related(rng, a[1], 20, noise=0.1),  # B_1 ~ A_1
         reference.related(rng, x, 15, noise=0.1)]  # B_2 ~ A_0
    got = convlab.cka_matrix(a, b)
    expected = reference.matrix(lambda u, v: reference.cka(u, v), a, b)
    assert abs(expected[0, 2] - expected[2, 0]) > 0.3
    assert abs(expected[1, 2] - expected[2, 1]) > 0.05
    np.testing.assert_allclose(got, expected, **F64)
    # And the transposed problem gives the transposed matrix.
    np.testing.assert_allclose(convlab.cka_matrix(b, a), expected.T, **F64)


@pytest.mark.parametrize("widths_b", [[7], [7, 11, 13, 17, 19]])
def test_different_layer_counts(rng, reference, widths_b):
    a = reference.network(rng, 60, [9, 14, 6])
    b = reference.network(rng, 60, widths_b)
    got = convlab.cka_matrix(a, b)
    assert got.shape == (3, len(widths_b))
    np.testing.assert_allclose(got, reference.matrix(lambda u, v: reference.cka(u, v), a, b), **F64)
    got_t = convlab.cka_matrix(b, a)
    assert got_t.shape == (len(widths_b), 3)
    np.testing.assert_allclose(got_t, got.T, **F64)


def test_dict_inputs_keep_order_and_values(rng, reference):
    a = reference.network(rng, 70, [10, 20, 15])
    b = reference.network(rng, 70, [5, 25])
    da = {"conv1": a[0], "conv2": a[1], "fc": a[2]}
    db = {"z_first": b[0], "a_second": b[1]}  # names not in sorted order: the dict's order counts
    got = convlab.cka_matrix(da, db)
    np.testing.assert_allclose(got, convlab.cka_matrix(a, b), rtol=0, atol=0)
    np.testing.assert_allclose(got, reference.matrix(lambda u, v: reference.cka(u, v), a, b), **F64)
    # Names are kept where they are reported: Comparison.layer_names.
    cmp = convlab.Comparison()
    cmp.add(da, db)
    assert cmp.layer_names == (["conv1", "conv2", "fc"], ["z_first", "a_second"])
    np.testing.assert_allclose(cmp.result(), got, **F64)


def test_image_shaped_features_are_flattened_per_example(rng, reference):
    x4 = rng.standard_normal((50, 3, 4, 5))  # (n, C, H, W)
    y3 = rng.standard_normal((50, 6, 2)) + x4[:, 0, :2, :2].reshape(50, 4)[:, :1, None]
    got = convlab.cka_matrix([x4, y3], [x4.reshape(50, -1)])
    assert got.shape == (2, 1)
    np.testing.assert_allclose(got[0, 0], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got[1, 0], reference.cka(y3.reshape(50, -1), x4.reshape(50, -1)), **F64)
    np.testing.assert_allclose(convlab.cka(x4, y3), reference.cka(x4, y3), **F64)


# ----------------------------------------------------------------------------------------------
# Minibatch estimator


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("n,k", [(96, 32), (100, 32), (101, 25)])
def test_minibatch_is_size_weighted_mean_of_hsic_terms(rng, reference, kernel, estimator, n, k):
    # n = 100, k = 32: batches of 32, 32, 32 and 4 (kept: at the minimum of both estimators,
    # weighted by 4); n = 101, k = 25: a last batch of 1, dropped.
    a = reference.network(rng, n, [12, 30])
    b = reference.network(rng, n, [20, 10, 16])
    b[2] = b[2] + reference.related(rng, a[1], 16, noise=0.2)
    batches = reference.plan_batches(n, k, reference.minimum_batch("cka", estimator))
    got = convlab.cka_matrix(a, b, kernel=kernel, estimator=estimator, batch_size=k)
    expected = reference.matrix(lambda u, v: reference.minibatch_cka(u, v, batches, kernel, estimator), a, b)
    np.testing.assert_allclose(got, expected, **F64)
    # And against itself.
    got_self = convlab.cka_matrix(a, kernel=kernel, estimator=estimator, batch_size=k)
    expected_self = reference.matrix(lambda u, v: reference.minibatch_cka(u, v, batches, kernel, estimator), a)
    np.testing.assert_allclose(got_self, expected_self, **F64)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_short_last_batch_is_weighted_by_its_size(rng, reference, kernel):
    # n = 60, k = 25: batches 25, 25, 10. Equal weights or dropping the 10 give other values,
    # by more than the tolerance, so only the size-weighted mean passes.
    a = reference.network(rng, 60, [8, 16], noise=0.8)
    x, y = a
    got = convlab.cka(x, y)  # all 60
    got_k = convlab.cka_matrix([x], [y], batch_size=25)[0, 0]
    weighted = reference.minibatch_cka(x, y, reference.slices_of_sizes([25, 25, 10]))
    equal = reference.minibatch_cka(x, y, reference.slices_of_sizes([25, 25, 10]), weights="equal")
    dropped = reference.minibatch_cka(x, y, reference.slices_of_sizes([25, 25]))
    np.testing.assert_allclose(got_k, weighted, **F64)
    assert abs(weighted - equal) > 1e-6 and abs(weighted - dropped) > 1e-6
    assert abs(got_k - got) > 1e-6  # batches are not the full-batch estimate


@pytest.mark.parametrize("estimator,n,k,used", [
    ("debiased", 66, 32, [32, 32]),  # tail of 2 < 4: dropped
    ("debiased", 67, 32, [32, 32]),  # tail of 3 < 4: dropped
    ("debiased", 68, 32, [32, 32, 4]),  # tail of 4: kept
    ("biased", 66, 32, [32, 32]),  # tail of 2 < 3: dropped
    ("biased", 67, 32, [32, 32, 3]),  # tail of 3: kept
])
def test_tail_below_minimum_is_dropped(rng, reference, estimator, n, k, used):
    x = rng.standard_normal((n, 10))
    y = reference.related(rng, x, 12, noise=1.0)
    got = convlab.cka_matrix([x], [y], estimator=estimator, batch_size=k)[0, 0]
    np.testing.assert_allclose(got, reference.minibatch_cka(x, y, reference.slices_of_sizes(used),
                                                            estimator=estimator), **F64)
    # The batches used, as the binding reports them (the dict behind cka_matrix).
    info = convlab._convlab.compare([x], [y], None, None, ["cka"], [("linear", 1.0)], estimator, k, 0, 0, "cpu", None)[0]
    assert info["batches"] == len(used)
    assert info["examples"] == sum(used)
    # The Comparison fed the same batches counts the same, and refuses a batch below the minimum.
    cmp = convlab.Comparison(estimator=estimator)
    for s in reference.slices_of_sizes(used):
        cmp.add([x[s]], [y[s]])
    assert (cmp.batches, cmp.examples) == (len(used), sum(used))
    np.testing.assert_allclose(cmp.result()[0, 0], got, **F64)
    if sum(used) < n:
        with pytest.raises(convlab.InputError, match="at least"):
            cmp.add([x[sum(used):]], [y[sum(used):]])
        assert cmp.batches == len(used)  # the refused batch left no trace


def test_batch_size_above_n_is_one_batch(pair, reference):
    x, y = pair
    np.testing.assert_allclose(convlab.cka_matrix([x], [y], batch_size=10_000)[0, 0], reference.cka(x, y), **F64)
    np.testing.assert_allclose(convlab.cka_matrix([x], [y], batch_size=len(x))[0, 0], reference.cka(x, y), **F64)


@pytest.mark.parametrize("k", [4, 5, 7, 10])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_small_batches_of_relu_features_give_no_nan(rng, reference, kernel, k):
    # ReLU-like layers, about half zeros, in batches of 4 to 10: finite values, the definition's.
    n = 200
    x = rng.standard_normal((n, 32))
    a = [np.maximum(x, 0), np.maximum(reference.related(rng, x, 48, 0.3) - 0.2, 0)]
    b = [np.maximum(reference.related(rng, a[1], 24, 0.5), 0)]
    assert np.mean(a[0] == 0) > 0.4 and np.mean(a[1] == 0) > 0.4
    got = convlab.cka_matrix(a, b, kernel=kernel, batch_size=k)
    assert np.all(np.isfinite(got))
    batches = reference.plan_batches(n, k, 4)
    np.testing.assert_allclose(got, reference.matrix(lambda u, v: reference.minibatch_cka(u, v, batches, kernel),
                                                     a, b), rtol=1e-9, atol=1e-12)
    got_self = convlab.cka_matrix(a, kernel=kernel, batch_size=k)
    assert np.all(np.isfinite(got_self))
    np.testing.assert_allclose(np.diag(got_self), 1.0, rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# Bootstrap


@pytest.fixture
def two_networks(rng, reference):
    a = reference.network(rng, 200, [10, 20, 15])
    b = reference.network(rng, 200, [12, 8])
    b[0] = b[0] + reference.related(rng, a[1], 12, noise=0.3)
    return a, b


def test_bootstrap_result_fields(two_networks):
    a, b = two_networks
    r = convlab.cka_matrix(a, b, batch_size=20, bootstrap=200, seed=3)
    assert isinstance(r, convlab.Result)
    for field in (r.value, r.std, r.low, r.high, r.mean):
        assert isinstance(field, np.ndarray) and field.shape == (3, 2) and field.dtype == np.float64
        assert np.all(np.isfinite(field))
    assert r.replicates == 200 and r.seed == 3
    # The value is the estimate without the bootstrap.
    np.testing.assert_allclose(r.value, convlab.cka_matrix(a, b, batch_size=20), rtol=0, atol=0)
    assert np.all(r.std > 0)
    assert np.all(r.low <= r.mean + 1e-12) and np.all(r.mean <= r.high + 1e-12)
    assert np.all(r.low < r.high)
    # The estimate lies in its 95 % interval in (nearly) every cell, and the mean of the
    # replicates near it (a few standard deviations at most).
    inside = (r.low <= r.value) & (r.value <= r.high)
    assert inside.mean() >= 0.8
    assert np.all(np.abs(r.mean - r.value) <= 3 * r.std + 1e-12)
    # The interval's width is of the order of 4 standard deviations.
    width = r.high - r.low
    assert np.all(width > 1.5 * r.std) and np.all(width < 8 * r.std)


def test_bootstrap_self_comparison(two_networks):
    a, _ = two_networks
    r = convlab.cka_matrix(a, batch_size=25, bootstrap=50, seed=1)
    assert r.value.shape == (3, 3)
    np.testing.assert_allclose(np.diag(r.value), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(r.low), 1.0, atol=1e-10)
    np.testing.assert_allclose(np.diag(r.high), 1.0, atol=1e-10)


def test_bootstrap_seed(two_networks):
    a, b = two_networks
    r1 = convlab.cka_matrix(a, b, batch_size=20, bootstrap=100, seed=7)
    r2 = convlab.cka_matrix(a, b, batch_size=20, bootstrap=100, seed=7)
    r3 = convlab.cka_matrix(a, b, batch_size=20, bootstrap=100, seed=8)
    for f in ("value", "std", "low", "high", "mean"):
        np.testing.assert_array_equal(getattr(r1, f), getattr(r2, f))
    np.testing.assert_array_equal(r1.value, r3.value)
    assert not np.array_equal(r1.std, r3.std)
    assert not np.array_equal(r1.mean, r3.mean)


@pytest.mark.parametrize("measure", ["rsa", "procrustes"])
def test_bootstrap_other_measures(two_networks, measure):
    a, b = two_networks
    r = convlab.cka_matrix(a, b, measure=measure, batch_size=25, bootstrap=50, seed=2)
    assert isinstance(r, convlab.Result) and r.value.shape == (3, 2)
    assert np.all(r.low <= r.high)
    np.testing.assert_allclose(r.value, convlab.cka_matrix(a, b, measure=measure, batch_size=25), rtol=0, atol=0)


def test_bootstrap_needs_batches(two_networks):
    a, b = two_networks
    with pytest.raises(convlab.InputError, match="batch"):
        convlab.cka_matrix(a, b, bootstrap=100)  # no batch_size
    with pytest.raises(convlab.InputError, match="batch"):
        convlab.cka_matrix(a, b, batch_size=200, bootstrap=100)  # one batch of all 200
    with pytest.raises(convlab.InputError, match="batch"):
        convlab.cka_matrix(a, b, batch_size=500, bootstrap=100)  # one batch
    with pytest.raises(convlab.InputError, match="batch"):
        convlab.cka_matrix(a, b, batch_size=198, bootstrap=100)  # 198 + a tail of 2, dropped: one batch
    with pytest.raises(convlab.InputError, match="bootstrap"):
        convlab.cka_matrix(a, b, batch_size=20, bootstrap=1)
    with pytest.raises(convlab.InputError, match="bootstrap"):
        convlab.cka_matrix(a, b, batch_size=20, bootstrap=-5)
    with pytest.raises(convlab.InputError, match="seed"):
        convlab.cka_matrix(a, b, batch_size=20, bootstrap=10, seed=-1)
    # Two batches are enough.
    r = convlab.cka_matrix(a, b, batch_size=100, bootstrap=20)
    assert r.value.shape == (3, 2)


def test_precision_is_checked_and_reported(rng):
    # precision sets a GPU's Gram products; the CPU computes in fp32 (fp64 for float64 arrays)
    # whatever it says, and the binding reports what ran.
    x = rng.standard_normal((40, 6))
    y = x @ rng.standard_normal((6, 5))
    base = convlab.cka_matrix([x], [y])
    for precision in ("fp32", "tf32"):
        np.testing.assert_array_equal(convlab.cka_matrix([x], [y], precision=precision), base)
        assert convlab.cka(x, y, precision=precision) == base[0, 0]
    for arrays, expected in (([x], "cpu fp64"), ([x.astype(np.float32)], "cpu fp32")):
        info = convlab._convlab.compare(arrays, None, None, None, ["cka", "rsa"], [("linear", 1.0)], "debiased", 40,
                                        0, 0, "cpu", "tf32")
        assert [d["precision"] for d in info] == [expected, expected]
    with pytest.raises(convlab.InputError, match="unknown precision 'fp16'"):
        convlab.cka_matrix([x], [y], precision="fp16")
    with pytest.raises(convlab.InputError, match="unknown precision"):
        convlab.Comparison(precision="bf16")
