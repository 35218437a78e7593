"""RSA and the orthogonal Procrustes distance (cka_matrix(measure="rsa" | "procrustes")) against
numpy float64 definitions (numpy_reference.py):

- RSA: RDM D_ij = 1 - Pearson correlation of examples i and j (framework/rsa/rdm.h; an example
  with constant features is at distance 1 from every other), compared by the Spearman
  correlation of the upper triangles = Pearson correlation of average ranks (ties share the
  mean of their ranks; written here without scipy).
- Procrustes: X, Y centred per column and scaled to unit Frobenius norm,
  d = 2 - 2 ||X^T Y||_* (framework/procrustes/procrustes.h), from numpy's SVD.
- Minibatches: the mean of per-batch values weighted by batch size; a tail below 3 examples
  is dropped.

Tolerances: float64 inputs ~1e-10 relative (RSA's ranks are exact; Procrustes goes through
eigenvalues, so distances near 0 get an absolute 1e-7).
"""

import numpy as np
import pytest

import convlab

F64 = dict(rtol=1e-10, atol=1e-12)
PROCRUSTES = dict(rtol=1e-9, atol=1e-9)


def rsa(a, b=None, **kw):
    return convlab.cka_matrix(a, b, measure="rsa", **kw)


def procrustes(a, b=None, **kw):
    return convlab.cka_matrix(a, b, measure="procrustes", **kw)


# ----------------------------------------------------------------------------------------------
# RSA


def test_rsa_matches_definition(rng, reference):
    a = reference.network(rng, 60, [10, 25, 40])
    b = reference.network(rng, 60, [30, 12])
    b[1] = b[1] + reference.related(rng, a[1], 12, noise=0.3)
    got = rsa(a, b)
    assert got.shape == (3, 2) and got.dtype == np.float64
    expected = reference.matrix(reference.rsa, a, b)
    np.testing.assert_allclose(got, expected, **F64)
    assert np.ptp(expected) > 0.1  # cells differ: the comparison is not of constants


def test_rsa_network_against_itself(rng, reference):
    a = reference.network(rng, 50, [8, 16, 24])
    got = rsa(a)
    np.testing.assert_allclose(got, reference.matrix(reference.rsa, a), **F64)
    np.testing.assert_allclose(np.diag(got), 1.0, rtol=0, atol=1e-12)


def permutation_rows(rng, n, values):
    """n examples, each a random permutation of `values`: every example has the same integer
    mean and the same norm, so the centred features, the Gram and the RDM's distances
    1 - g_ij / g_ii are computed without rounding, and they are heavily tied."""
    return np.stack([rng.permutation(values) for _ in range(n)]).astype(np.float64)


def test_rsa_with_ties(rng, reference):
    # x: permutations of 0..4 (at most 21 distinct distances among 435 pairs), some rows
    # repeated, two constant rows (distance 1 to all, tied with every pair of orthogonal rows).
    x = permutation_rows(rng, 26, np.arange(5))
    x = np.concatenate([x, x[:2], np.full((2, 5), 3.0)])  # 30 examples
    ux = reference.rdm_upper(x)
    assert len(np.unique(ux)) < 25
    # y: permutations of v = (0, 1, 1, 2, 3, 5, 9) that follow x's (tied too, related to x).
    v = np.array([0, 1, 1, 2, 3, 5, 9])
    order = np.concatenate([x[:28].astype(int), np.tile([5, 6], (28, 1))], axis=1)
    y = np.concatenate([v[order], permutation_rows(rng, 2, v)]).astype(np.float64)
    z = rng.standard_normal((30, 12)) + x @ rng.standard_normal((5, 12))  # continuous: no ties
    got = rsa([x, y], [x, y, z])
    # The expected ranks: exact (rational) for the integer layers, average ranks of the float
    # distances for z.
    ranks = [reference.rdm_ranks_exact(x.astype(int)), reference.rdm_ranks_exact(y.astype(int)),
             reference.average_ranks(reference.rdm_upper(z))]
    expected = reference.matrix(reference.pearson, ranks[:2], ranks)
    np.testing.assert_allclose(got, expected, **F64)
    # The same from the float definition (here the float distances tie exactly too).
    np.testing.assert_allclose(got, reference.matrix(reference.rsa, [x, y], [x, y, z]), **F64)
    # Ordinal ranks (ties broken by position) give another value: the tie rule is being tested.
    ordinal = reference.matrix(lambda u, w: reference.rsa(u, w, ranks=reference.ordinal_ranks), [x, y], [x, y, z])
    assert np.max(np.abs(ordinal - expected)) > 1e-3


def test_rsa_integer_inputs_are_float32(rng):
    # Integer arrays are converted to float32, as documented: the same value as float32 input.
    x = rng.integers(0, 3, size=(40, 6))
    y = x[:, :4] * 2 + rng.integers(0, 2, size=(40, 4))
    np.testing.assert_array_equal(rsa([x], [y]), rsa([x.astype(np.float32)], [y.astype(np.float32)]))


def test_rsa_ties_of_integer_valued_features(rng, reference):
    # Integer-valued features (0, 1, 2) whose rows have different means: many pairs of examples
    # have mathematically equal correlation distances (about 180 distinct values among 780), but
    # 1 - g_ij / sqrt(g_ii g_jj) in float64 rounds equal ones to values up to 2 ulps apart
    # (while distinct ones are >= 5e-5 apart). convlab ranks the computed distances, tying only
    # equal floats (as scipy.stats.rankdata would), so such near-ties count as distinct and RSA
    # moves by ~1e-4 from the exact-tie value (numpy_reference.rdm_ranks_exact): documented in
    # docs/python.md; exact float ties (repeated rows, permutations) are tested above at 1e-10.
    x = rng.integers(0, 3, size=(40, 6))
    y = x[:, :4] * 2 + rng.integers(0, 2, size=(40, 4))
    exact = reference.rsa_exact(x, y)
    ranks_x = reference.rdm_ranks_exact(x)
    assert len(np.unique(ranks_x)) < 0.5 * len(ranks_x)  # heavily tied
    np.testing.assert_allclose(rsa([x.astype(np.float64)], [y.astype(np.float64)])[0, 0], exact, rtol=1e-3)


def test_rsa_invariances(rng, reference):
    # Per-example affine maps a_i x_i + b_i (a_i > 0) and feature permutations leave the RDM,
    # hence RSA, unchanged; a general linear map does not.
    x = rng.standard_normal((40, 12))
    y = reference.related(rng, x, 20)
    base = rsa([x], [y])[0, 0]
    scaled = x * rng.uniform(0.1, 10, size=(40, 1)) + rng.normal(size=(40, 1)) * 5
    np.testing.assert_allclose(rsa([scaled], [y])[0, 0], base, rtol=1e-9)
    np.testing.assert_allclose(rsa([x[:, rng.permutation(12)]], [y])[0, 0], base, rtol=1e-9)
    np.testing.assert_allclose(rsa([x], [x * 3.0])[0, 0], 1.0, atol=1e-12)
    mixed = x @ (rng.standard_normal((12, 12)) @ np.diag(np.logspace(0, 2, 12)))
    assert abs(rsa([mixed], [y])[0, 0] - base) > 1e-3


@pytest.mark.parametrize("n,k,used", [
    (70, 30, [30, 30, 10]),  # short last batch kept, weighted by 10
    (63, 30, [30, 30, 3]),  # a tail of 3, RSA's minimum: kept
    (62, 30, [30, 30]),  # a tail of 2: dropped
])
def test_rsa_minibatch(rng, reference, n, k, used):
    a = reference.network(rng, n, [10, 20])
    b = reference.network(rng, n, [15])
    b[0] = b[0] + reference.related(rng, a[1], 15, noise=0.5)
    batches = reference.slices_of_sizes(used)
    got = rsa(a, b, batch_size=k)
    expected = reference.matrix(lambda u, v: reference.minibatch_mean(reference.rsa, u, v, batches), a, b)
    np.testing.assert_allclose(got, expected, **F64)
    if used[-1] < k:  # equal weights would give another value
        equal = np.mean([reference.rsa(a[0][s], b[0][s]) for s in batches])
        assert abs(equal - expected[0, 0]) > 1e-6


def test_rsa_constant_example_counts_as_distance_one(rng, reference):
    # An example whose features are all equal has no correlation: distance 1 to every other.
    x = rng.standard_normal((20, 8))
    x[3] = 2.5
    y = reference.related(rng, x, 10)
    y[3] = rng.standard_normal(10)
    got = rsa([x], [y])[0, 0]
    assert np.isfinite(got)
    np.testing.assert_allclose(got, reference.rsa(x, y), **F64)


# ----------------------------------------------------------------------------------------------
# Procrustes


def test_procrustes_reference_is_the_orthogonal_problem(rng, reference):
    # The nuclear-norm formula is min over orthogonal Q of ||X - Y Q||_F^2 (normalised X, Y):
    # the Q from the SVD of Y^T X attains it (a check of the reference itself).
    x = rng.standard_normal((30, 6))
    y = reference.related(rng, x, 6)
    xc = x - x.mean(0)
    yc = y - y.mean(0)
    xc /= np.linalg.norm(xc)
    yc /= np.linalg.norm(yc)
    u, _, vt = np.linalg.svd(yc.T @ xc)
    q = u @ vt
    np.testing.assert_allclose(np.linalg.norm(xc - yc @ q) ** 2, reference.procrustes(x, y), rtol=1e-12)


@pytest.mark.parametrize("n,widths_a,widths_b", [
    (80, [10, 30], [20, 5]),  # narrow: p <= n (feature form)
    (30, [60, 150], [90, 45]),  # wide: p > n (Gram form)
    (40, [12, 100], [200, 40, 7]),  # mixed
])
def test_procrustes_matches_definition(rng, reference, n, widths_a, widths_b):
    a = reference.network(rng, n, widths_a)
    b = reference.network(rng, n, widths_b)
    b[0] = b[0] + reference.related(rng, a[-1], widths_b[0], noise=0.3)
    got = procrustes(a, b)
    assert got.shape == (len(widths_a), len(widths_b))
    expected = reference.matrix(reference.procrustes, a, b)
    np.testing.assert_allclose(got, expected, **PROCRUSTES)
    assert np.all((got >= 0) & (got <= 2))
    # Against itself: every cell, zero diagonal.
    got_self = procrustes(a)
    np.testing.assert_allclose(got_self, reference.matrix(reference.procrustes, a), **PROCRUSTES)
    np.testing.assert_allclose(np.diag(got_self), 0.0, atol=1e-7)


@pytest.mark.parametrize("p", [10, 90])  # feature form and Gram form (n = 40)
def test_procrustes_invariances(rng, reference, p):
    x = rng.standard_normal((40, p))
    y = reference.related(rng, x, 25)
    q = reference.random_orthogonal(rng, p)
    # Orthogonal map, isotropic scale and a shift of every column: distance 0.
    moved = 3.7 * (x @ q) + rng.standard_normal(p)
    np.testing.assert_allclose(procrustes([x], [moved])[0, 0], 0.0, atol=1e-7)
    np.testing.assert_allclose(procrustes([x], [-x])[0, 0], 0.0, atol=1e-7)
    np.testing.assert_allclose(procrustes([moved], [y])[0, 0], procrustes([x], [y])[0, 0], rtol=1e-8)
    # Not to a general linear map.
    mixed = x @ (rng.standard_normal((p, p)) @ np.diag(np.logspace(0, 2, p)))
    d = procrustes([x], [mixed])[0, 0]
    assert d > 0.05
    np.testing.assert_allclose(d, reference.procrustes(x, mixed), **PROCRUSTES)


def test_procrustes_unrelated_wide_layers_near_two(rng, reference):
    # Unrelated wide layers of few examples: the distance is large (well above 1) and the
    # definition's value, not clipped.
    x = rng.standard_normal((20, 300))
    y = rng.standard_normal((20, 250))
    got = procrustes([x], [y])[0, 0]
    np.testing.assert_allclose(got, reference.procrustes(x, y), **PROCRUSTES)


@pytest.mark.parametrize("n,k,used", [
    (70, 30, [30, 30, 10]),
    (62, 30, [30, 30]),  # tail of 2 < 3: dropped
])
def test_procrustes_minibatch(rng, reference, n, k, used):
    a = reference.network(rng, n, [8, 50])
    b = reference.network(rng, n, [12])
    batches = reference.slices_of_sizes(used)
    got = procrustes(a, b, batch_size=k)
    expected = reference.matrix(lambda u, v: reference.minibatch_mean(reference.procrustes, u, v, batches), a, b)
    np.testing.assert_allclose(got, expected, **PROCRUSTES)


# ----------------------------------------------------------------------------------------------
# Batch sizes below the measures' minimum


@pytest.mark.parametrize("measure,estimator,k", [
    ("rsa", "debiased", 2),
    ("procrustes", "debiased", 2),
    ("cka", "debiased", 3),
    ("cka", "biased", 2),
])
def test_batch_size_below_minimum_is_refused(rng, measure, estimator, k):
    x = rng.standard_normal((20, 5))
    with pytest.raises(convlab.InputError, match="batch") as err:
        convlab.cka_matrix([x], [x], measure=measure, estimator=estimator, batch_size=k)
    assert str(k) in str(err.value)


@pytest.mark.parametrize("measure,n", [("rsa", 2), ("procrustes", 2), ("cka", 3)])
def test_too_few_examples(rng, measure, n):
    x = rng.standard_normal((n, 5))
    with pytest.raises(convlab.InputError):
        convlab.cka_matrix([x], [x], measure=measure)
