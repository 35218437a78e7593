"""Mutual k-NN, CKNNA, SVCCA, PWCCA and linear predictivity (cka_matrix(measure="mutual_knn" |
"cknna" | "svcca" | "pwcca" | "ridge") and convlab.Comparison) against numpy float64 versions
written here, in this file, from the papers and their authors' published code (nothing here
uses convlab to compute an expected value):

- Neighbours (Huh et al. 2024, platonic-rep): each example's features scaled to unit L2 norm
  (not centred; an all-zero example has cosine 0 to every other), S = Xn Xn^T, an example is
  not its own neighbour (diagonal -inf), the k most similar others, ties to the lower example
  index (np.argsort(-S, kind="stable")).
- mutual k-NN = mean over examples i of |N_A(i) & N_B(i)| / k.
- CKNNA: platonic-rep's cknna(feats_A, feats_B, topk, unbiased=True) transcribed: masks
  mask_K, mask_L of the top-k of K = Xn Xn^T and L = Yn Yn^T (diagonal -inf); with
  hsic_unbiased(K, L) = [sum(Kt * Lt^T) + sum(Kt) sum(Lt) / ((m-1)(m-2))
  - 2 sum(Kt Lt) / (m-2)] / (m (m-3)), Kt, Lt: diagonals zeroed,
  Align_KL = hsic_unbiased(mask_K mask_L K, mask_K mask_L L), Align_KK with mask_K alone,
  CKNNA = Align_KL / sqrt(Align_KK Align_LL), without the code's + 1e-6.
- SVCCA (Raghu et al. 2017, google/svcca): centre each feature over the examples, SVD
  Xc = U s V^T, keep the fewest d leading directions whose cumulative s^2 reaches `variance`
  of the total (or d = dims, at most the rank; s^2 below n * eps * s_max^2 is rounding:
  rank), reduced X' = U_d s_d; CCA the classical way: the singular values of
  Sxx^-1/2 Sxy Syy^-1/2 (inverse square roots from eigh) are the canonical correlations;
  SVCCA = mean of the min(dx, dy) of them.
- PWCCA (Morcos et al. 2018): google/svcca's pwcca.compute_pwcca applied to the SVD-reduced
  layers (their tutorial's pipeline): the canonical variates of X' (X' Sxx^-1/2 u_i), QR of
  them, weight_i = sum over X's reduced units j of |<P_i, x'_j>|, normalised;
  PWCCA = sum_i weight_i rho_i. Weighted by A's side always (convlab), where google's code
  takes the side with fewer units: the same when A keeps at most as many directions as B.
  (Google's code adds the neuron means back to the variates; the reduced units are centred,
  so that is a no-op here.)
- Linear predictivity: X and Y centred over the n examples of the batch, penalty
  r = ridge * tr(Xc Xc^T) / n, and for each i the ridge fit W on the other n - 1 rows
  ((Xo^T Xo + r I)^-1 Xo^T Yo, or Xo^T (Xo Xo^T + r I)^-1 Yo when p > n) predicts row i,
  brute force: R^2 = 1 - sum_i ||y_i - x_i W_(-i)||^2 / ||Yc||_F^2. Rows (A) predict columns (B).
- Minibatches [0, k), [k, 2k), ...; a short last batch below the measure's minimum
  (mutual k-NN max(3, knn + 1), CKNNA max(4, knn + 1), the others 3) is dropped, otherwise
  kept: mutual k-NN, SVCCA, PWCCA and ridge average per-batch values weighted by batch size;
  CKNNA averages each Align term so (Align_KL per pair, Align_KK per layer), then the ratio.

Tolerances: mutual k-NN is a count over n k, 1e-12 relative (the batch average's rounding:
even one batch is a weighted mean of one value). CKNNA 1e-9 relative and 1e-10 absolute
(sums of masked kernels in different orders). SVCCA, PWCCA and ridge 1e-9 relative and
absolute (both sides go through eigen- or singular value decompositions of well-conditioned
matrices: convlab from the Gram's eigenvectors and Allen's closed form, the references from
covariance matrices and n separate fits). The unrelated-layers mutual k-NN (k / (n - 1)) is
a statistical check, 5 standard deviations over draws.

Ties of the neighbour measures are tested where the similarities are equal in floating
point however they are summed (integer rows of squared norm 16, some repeated: every cosine
is an exact multiple of 1/16), and with exact copies of continuous examples, which convlab
ties exactly (BLAS alone would round the copies' Gram entries differently;
knn::tie_copies gives each copy its first occurrence's row and column).
PWCCA is compared only where dx + dy stays below the batch and no kept span lies inside the
other: a correlation that is exactly 1 several times has no unique variates, so neither the
weights nor the value are defined.
"""

import numpy as np
import pytest

import convlab

KNN = dict(rtol=1e-12, atol=0)
CKNNA = dict(rtol=1e-9, atol=1e-10)
CCA = dict(rtol=1e-9, atol=1e-9)
RIDGE = dict(rtol=1e-9, atol=1e-9)
EPS = np.finfo(np.float64).eps
MIN_BATCH = {"mutual_knn": lambda k: max(3, k + 1), "cknna": lambda k: max(4, k + 1),
             "svcca": lambda k: 3, "pwcca": lambda k: 3, "ridge": lambda k: 3}


def measure(name, a, b=None, **kw):
    return convlab.cka_matrix(a, b, measure=name, **kw)


def flat(x):
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1)


def table(cell, layers_a, layers_b=None):
    """(L, M) of cell(a, b) for every pair (layers_b None: A against itself)."""
    layers_b = layers_a if layers_b is None else layers_b
    return np.array([[cell(a, b) for b in layers_b] for a in layers_a])


def weighted_mean(cell, batches):
    """cell(x, y) averaged over `batches` (slices), weighted by their sizes."""
    def run(x, y):
        x, y = flat(x), flat(y)
        return np.average([cell(x[s], y[s]) for s in batches], weights=[s.stop - s.start for s in batches])
    return run


# ----------------------------------------------------------------------------------------------
# Reference: neighbours, mutual k-NN, CKNNA (Huh et al. 2024; platonic-rep metrics.py)


def cosine_kernel(x):
    """S_ij = <x_i / |x_i|, x_j / |x_j|> (a zero row: the zero vector, cosine 0 with all).
    Row by row with numpy's reductions, so identical rows give bitwise identical similarities
    and S is exactly symmetric."""
    x = flat(x)
    norms = np.sqrt((x * x).sum(axis=1))
    xn = np.zeros_like(x)
    nz = norms > 0
    xn[nz] = x[nz] / norms[nz, None]
    return np.stack([(xn * xn[i]).sum(axis=1) for i in range(x.shape[0])])


def knn_order(s, lower_first=True):
    """Every row's other examples, most similar first: ties to the lower index (the rule), or
    to the higher one (lower_first=False, a wrong rule for contrast)."""
    s = s.copy()
    np.fill_diagonal(s, -np.inf)
    if lower_first:
        return np.argsort(-s, axis=1, kind="stable")
    n = s.shape[0]
    return n - 1 - np.argsort(-s[:, ::-1], axis=1, kind="stable")


def knn_mask(s, k, lower_first=True):
    n = s.shape[0]
    idx = knn_order(s, lower_first)[:, :k]
    mask = np.zeros((n, n))
    mask[np.arange(n)[:, None], idx] = 1.0
    return mask


def ref_mutual_knn(x, y, k, lower_first=True):
    na = knn_order(cosine_kernel(x), lower_first)[:, :k]
    nb = knn_order(cosine_kernel(y), lower_first)[:, :k]
    shared = sum(len(np.intersect1d(p, q)) for p, q in zip(na, nb))
    return shared / (na.shape[0] * k)


def hsic_unbiased(K, L):
    m = K.shape[0]
    kt = K.copy()
    lt = L.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    value = (np.sum(kt * lt.T) + np.sum(kt) * np.sum(lt) / ((m - 1) * (m - 2)) - 2.0 * np.sum(kt @ lt) / (m - 2))
    return value / (m * (m - 3))


def cknna_terms(x, y, k, lower_first=True):
    """(Align_KL, Align_KK, Align_LL) of platonic-rep's similarity(K, L, topk)."""
    K = cosine_kernel(x)
    L = cosine_kernel(y)
    mask_k = knn_mask(K, k, lower_first)
    mask_l = knn_mask(L, k, lower_first)
    mask = mask_k * mask_l
    return (hsic_unbiased(mask * K, mask * L), hsic_unbiased(mask_k * K, mask_k * K),
            hsic_unbiased(mask_l * L, mask_l * L))


def ref_cknna(x, y, k, lower_first=True):
    kl, kk, ll = cknna_terms(x, y, k, lower_first)
    return kl / np.sqrt(kk * ll)


def ref_cknna_minibatch(x, y, k, batches):
    """Each Align term averaged over batches (weighted by size), then the ratio."""
    x, y = flat(x), flat(y)
    terms = np.array([cknna_terms(x[s], y[s], k) for s in batches])
    kl, kk, ll = np.average(terms, axis=0, weights=[s.stop - s.start for s in batches])
    return kl / np.sqrt(kk * ll)


# ----------------------------------------------------------------------------------------------
# Reference: SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018), google/svcca style


def svd_reduce(x, variance=0.99, dims=None):
    """The centred layer's leading principal-component scores U_d s_d (n, d)."""
    x = flat(x)
    xc = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    lam = s * s
    rank = int(np.sum(lam > x.shape[0] * EPS * lam[0]))
    if dims is not None:
        d = min(dims, rank)
    else:
        cum = np.cumsum(lam[:rank])
        d = int(np.nonzero(cum >= variance * cum[-1])[0][0]) + 1
    return u[:, :d] * s[:d]


def inverse_sqrt(s):
    w, v = np.linalg.eigh(s)
    return (v / np.sqrt(w)) @ v.T


def cca_by_covariance(xr, yr):
    """Canonical correlations (min(dx, dy), descending) and X's canonical weights (dx, m):
    the SVD of Sxx^-1/2 Sxy Syy^-1/2."""
    xr = xr - xr.mean(axis=0)
    yr = yr - yr.mean(axis=0)
    n = xr.shape[0]
    sxx, syy, sxy = xr.T @ xr / (n - 1), yr.T @ yr / (n - 1), xr.T @ yr / (n - 1)
    a = inverse_sqrt(sxx)
    u, rho, _ = np.linalg.svd(a @ sxy @ inverse_sqrt(syy))
    m = min(xr.shape[1], yr.shape[1])
    return np.clip(rho[:m], 0.0, 1.0), a @ u[:, :m]


def ref_svcca(x, y, variance=0.99, dims=None):
    rho, _ = cca_by_covariance(svd_reduce(x, variance, dims), svd_reduce(y, variance, dims))
    return float(np.mean(rho))


def ref_pwcca(x, y, variance=0.99, dims=None):
    """compute_pwcca on the reduced layers, weighted by X's (A's) side."""
    xr = svd_reduce(x, variance, dims)
    yr = svd_reduce(y, variance, dims)
    rho, wx = cca_by_covariance(xr, yr)
    acts = xr.T  # google's layout: (neurons, datapoints)
    dirns = ((acts - acts.mean(axis=1, keepdims=True)).T @ wx).T  # (m, datapoints): canonical variates
    p, _ = np.linalg.qr(dirns.T)
    weights = np.sum(np.abs(p.T @ acts.T), axis=1)
    weights = weights / np.sum(weights)
    return float(np.sum(weights * rho))


def ref_pwcca_google(x, y, variance=0.99, dims=None):
    """compute_pwcca's own choice of side: the reduced layer with fewer units (ties: X)."""
    dx = svd_reduce(x, variance, dims).shape[1]
    dy = svd_reduce(y, variance, dims).shape[1]
    return ref_pwcca(x, y, variance, dims) if dx <= dy else ref_pwcca(y, x, variance, dims)


# ----------------------------------------------------------------------------------------------
# Reference: leave-one-out ridge R^2, by brute force


def ref_ridge(x, y, ridge=0.1):
    x, y = flat(x), flat(y)
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    n, p = xc.shape
    r = ridge * np.sum(xc * xc) / n  # ridge * tr(Xc Xc^T) / n
    error = 0.0
    for i in range(n):
        keep = np.arange(n) != i
        xo, yo = xc[keep], yc[keep]
        if p <= n - 1:
            w = np.linalg.solve(xo.T @ xo + r * np.eye(p), xo.T @ yo)
        else:
            w = xo.T @ np.linalg.solve(xo @ xo.T + r * np.eye(n - 1), yo)
        error += np.sum((yc[i] - xc[i] @ w) ** 2)
    return 1.0 - error / np.sum(yc * yc)


REFERENCE = {
    "mutual_knn": lambda x, y, kw: ref_mutual_knn(x, y, kw.get("knn", 10)),
    "cknna": lambda x, y, kw: ref_cknna(x, y, kw.get("knn", 10)),
    "svcca": lambda x, y, kw: ref_svcca(x, y, kw.get("svcca_variance", 0.99), kw.get("svcca_dims")),
    "pwcca": lambda x, y, kw: ref_pwcca(x, y, kw.get("svcca_variance", 0.99), kw.get("svcca_dims")),
    "ridge": lambda x, y, kw: ref_ridge(x, y, kw.get("ridge", 0.1)),
}
TOLERANCE = {"mutual_knn": KNN, "cknna": CKNNA, "svcca": CCA, "pwcca": CCA, "ridge": RIDGE}


def expected(name, a, b=None, batches=None, **kw):
    if name == "cknna" and batches is not None:
        return table(lambda x, y: ref_cknna_minibatch(x, y, kw.get("knn", 10), batches), a, b)
    cell = lambda x, y: REFERENCE[name](x, y, kw)  # noqa: E731
    return table(cell if batches is None else weighted_mean(cell, batches), a, b)


# ----------------------------------------------------------------------------------------------
# Data


def low_rank_wide(rng, n, p, rank, noise=0.01):
    """A layer wider than the batch whose variance lies in `rank` directions (SVCCA keeps those
    at 0.99, so dx + dy stays well below n and CCA is not degenerate)."""
    z = rng.standard_normal((n, rank)) * np.linspace(2.0, 1.0, rank)
    return z @ rng.standard_normal((rank, p)) + noise * rng.standard_normal((n, p))


def layers_ab(rng, n, wide=False):
    """Network A (3 layers) and B (3 layers): related ones (linear map plus noise, relu of a
    linear map), an unrelated one; wide=True adds p > n layers of low effective rank."""
    x = rng.standard_normal((n, 8))
    a = [x, np.tanh(x @ rng.standard_normal((8, 12))) + 0.3 * rng.standard_normal((n, 12)),
         rng.standard_normal((n, 5))]
    b = [x @ rng.standard_normal((8, 6)) + 0.5 * rng.standard_normal((n, 6)),
         np.maximum(x @ rng.standard_normal((8, 10)), 0.0) + 0.2 * rng.standard_normal((n, 10)),
         rng.standard_normal((n, 7))]
    if wide:
        w = low_rank_wide(rng, n, 2 * n + 10, 6)
        a.append(w)
        b.append(np.tanh(w @ rng.standard_normal((w.shape[1], n + 25)) / np.sqrt(w.shape[1]))
                 + 0.05 * rng.standard_normal((n, n + 25)))
    return a, b


# ----------------------------------------------------------------------------------------------
# Every measure against its reference


@pytest.mark.parametrize("name,kw", [
    ("mutual_knn", dict(knn=5)),
    ("mutual_knn", dict(knn=10)),
    ("cknna", dict(knn=5)),
    ("cknna", dict(knn=12)),
    ("svcca", {}),
    ("svcca", dict(svcca_variance=0.9)),
    ("pwcca", {}),
    ("ridge", {}),
    ("ridge", dict(ridge=1.5)),
])
def test_matches_reference(rng, name, kw):
    n = 80
    a, b = layers_ab(rng, n, wide=name in ("svcca", "pwcca", "ridge"))
    got = measure(name, a, b, **kw)
    assert got.shape == (len(a), len(b)) and got.dtype == np.float64
    want = expected(name, a, b, **kw)
    np.testing.assert_allclose(got, want, **TOLERANCE[name])
    assert np.ptp(want) > 0.1  # related and unrelated pairs differ: not a comparison of constants
    # A against itself: every cell from its own pair.
    got_self = measure(name, a, **kw)
    np.testing.assert_allclose(got_self, expected(name, a, **kw), **TOLERANCE[name])
    if name in ("mutual_knn", "cknna", "svcca", "pwcca"):
        np.testing.assert_allclose(np.diag(got_self), 1.0, rtol=0, atol=1e-9)


def test_pwcca_wide_layers_keep_few_directions(rng, reference):
    # p > n layers whose variance lies in a few directions: the reduction keeps those, and the
    # value is the reference's on both sides (dx <= dy, so google's side choice agrees).
    n = 60
    x = low_rank_wide(rng, n, 150, 4)
    y = np.concatenate([np.tanh(x @ rng.standard_normal((150, 50)) / 15), low_rank_wide(rng, n, 90, 3)], axis=1)
    y += 0.02 * rng.standard_normal(y.shape)
    assert svd_reduce(x).shape[1] <= svd_reduce(y).shape[1] < n // 3
    got = measure("pwcca", [x], [y])[0, 0]
    np.testing.assert_allclose(got, ref_pwcca_google(x, y), **CCA)
    assert 0.2 < got < 0.99


def test_pwcca_weighted_by_a_when_a_keeps_more_directions(rng):
    # A keeps more directions than B: google's compute_pwcca would weight by B's variates;
    # convlab weights by A's always (the m = dy leading variates of A).
    n = 100
    x = rng.standard_normal((n, 12))
    y = x[:, :4] @ rng.standard_normal((4, 4)) + 0.7 * rng.standard_normal((n, 4))
    assert svd_reduce(x).shape[1] > svd_reduce(y).shape[1]
    got = measure("pwcca", [x, y], [y, x])
    np.testing.assert_allclose(got[0, 0], ref_pwcca(x, y), **CCA)
    np.testing.assert_allclose(got[1, 1], ref_pwcca(y, x), **CCA)
    np.testing.assert_allclose(got[1, 1], ref_pwcca_google(x, y), **CCA)  # B's side: google's pick
    assert abs(got[0, 0] - got[1, 1]) > 1e-3  # asymmetric
    assert abs(got[0, 0] - ref_pwcca_google(x, y)) > 1e-3  # and not google's choice of side here


def test_cknna_both_orders(rng):
    # The masked kernels are not symmetric (j in N(i) does not imply i in N(j)), so the HSIC
    # term 1^T K~ L~ 1 differs from 1^T L~ K~ 1 and CKNNA(A, B) from CKNNA(B, A) (by 1e-5 to 3e-3
    # over draws here, not only in the last digits): both orders are computed, each the
    # reference's own.
    x = rng.standard_normal((50, 6))
    y = x @ rng.standard_normal((6, 9)) + rng.standard_normal((50, 9))
    got = measure("cknna", [x, y], [y, x], knn=6)
    np.testing.assert_allclose(got[0, 0], ref_cknna(x, y, 6), **CKNNA)
    np.testing.assert_allclose(got[1, 1], ref_cknna(y, x, 6), **CKNNA)
    assert abs(got[0, 0] - got[1, 1]) > 1e-8


# ----------------------------------------------------------------------------------------------
# Ties in the neighbour measures


def norm16_rows(rng, count, p=8):
    """Integer rows with squared norm 16: every cosine is (integer) / 16, exact in any order of
    summation, so mathematically tied similarities are tied in floating point."""
    out = []
    while len(out) < count:
        r = rng.integers(-2, 3, size=p)
        if r @ r == 16:
            out.append(r)
    return np.array(out, dtype=np.float64)


def tied_layers(rng):
    n_unique = 50
    u = norm16_rows(rng, n_unique)
    # B: each row with one coordinate pair swapped and one sign flipped (squared norm 16 still).
    v = u.copy()
    for row in v:
        i, j = rng.choice(8, size=2, replace=False)
        row[[i, j]] = row[[j, i]]
        row[rng.integers(8)] *= -1
    idx = np.concatenate([np.arange(n_unique), rng.integers(0, n_unique, size=10)])  # 10 repeats
    x, y = u[idx], v[idx]
    x = np.concatenate([x, np.zeros((1, 8))])  # an all-zero example: cosine 0 to every other
    y = np.concatenate([y, y[3:4]])
    return x, y


@pytest.mark.parametrize("name", ["mutual_knn", "cknna"])
def test_neighbours_with_exact_ties(rng, name):
    x, y = tied_layers(rng)
    s = cosine_kernel(x)
    assert len(np.unique(s)) <= 33 and np.all(s * 16 == np.round(s * 16))  # heavily tied, exact
    z = rng.standard_normal((x.shape[0], 5))  # continuous: no ties
    ref = ref_mutual_knn if name == "mutual_knn" else ref_cknna
    differs = 0.0
    for k in (3, 5, 7, 10):
        got = measure(name, [x, y], [x, y, z], knn=k)
        want = table(lambda a, b: ref(a, b, k), [x, y], [x, y, z])
        np.testing.assert_allclose(got, want, **(KNN if name == "mutual_knn" else CKNNA))
        other = table(lambda a, b: ref(a, b, k, lower_first=False), [x, y], [x, y, z])
        differs = max(differs, np.max(np.abs(other - want)))
    # The other tie rule gives other values (for some k; a count may come out the same by
    # chance): the rule is being tested, far above the tolerance.
    assert differs > 1e-5


def test_duplicate_example_ties_to_lower_index():
    # Minimal case: example 11 is a copy of example 0, and example 9's nearest neighbour in x is
    # that pair: the rule picks 0, which is also 9's nearest in y; 1 of 12 examples agree.
    rng = np.random.default_rng(2)
    u = rng.standard_normal((11, 3))
    x = np.concatenate([u, u[:1]])
    y = rng.standard_normal((12, 3))
    assert ref_mutual_knn(x, y, 1) == 1 / 12 and ref_mutual_knn(x, y, 1, lower_first=False) == 0.0
    np.testing.assert_allclose(measure("mutual_knn", [x], [y], knn=1)[0, 0], 1 / 12, **KNN)


@pytest.mark.parametrize("name", ["mutual_knn", "cknna"])
def test_neighbours_with_duplicate_examples(rng, reference, name):
    # Continuous features with 30 examples repeated in A (not in B, whose examples differ by
    # noise): the repeats are exactly tied in every row of A, the lower index wins. (Repeats in
    # both layers would make the rule moot: either choice is shared by both lists.)
    u = rng.standard_normal((60, 6))
    idx = np.concatenate([np.arange(60), rng.integers(0, 60, size=30)])
    idx = idx[rng.permutation(len(idx))]
    x = u[idx]
    y = reference.related(rng, x, 9, noise=0.3)
    ref = ref_mutual_knn if name == "mutual_knn" else ref_cknna
    differs = 0.0
    for k in (3, 5, 8, 10):
        got = measure(name, [x], [y], knn=k)[0, 0]
        want = ref(x, y, k)
        np.testing.assert_allclose(got, want, **(KNN if name == "mutual_knn" else CKNNA))
        differs = max(differs, abs(ref(x, y, k, lower_first=False) - want))
    assert differs > 1e-4  # the tie rule decides some neighbour lists here


# ----------------------------------------------------------------------------------------------
# Minibatches


CASES = {  # n, batch size, batches used
    "mutual_knn": [(70, 30, [30, 30, 10]), (64, 30, [30, 30])],  # knn 5: minimum 6; tail 4 dropped
    "cknna": [(70, 30, [30, 30, 10]), (65, 30, [30, 30])],  # knn 5: minimum 6; tail 5 dropped
    "svcca": [(70, 30, [30, 30, 10]), (62, 30, [30, 30])],  # minimum 3; tail 2 dropped
    "pwcca": [(75, 30, [30, 30, 15]), (62, 30, [30, 30])],
    "ridge": [(63, 30, [30, 30, 3]), (62, 30, [30, 30])],  # a tail of 3 kept, of 2 dropped
}


@pytest.mark.parametrize("name,n,k,used", [(m, *c) for m, cs in CASES.items() for c in cs])
def test_minibatch(rng, reference, name, n, k, used):
    kw = dict(knn=5) if name in ("mutual_knn", "cknna") else {}
    x = rng.standard_normal((n, 4))
    # Narrow layers: every batch, the short one too, keeps dx + dy below its size (PWCCA's
    # weights are not unique once some correlations are exactly 1).
    a = [x, np.tanh(x @ rng.standard_normal((4, 3))) + 0.3 * rng.standard_normal((n, 3))]
    b = [x @ rng.standard_normal((4, 5)) + 0.5 * rng.standard_normal((n, 5)), rng.standard_normal((n, 2))]
    batches = reference.slices_of_sizes(used)
    assert batches == reference.plan_batches(n, k, MIN_BATCH[name](kw.get("knn", 10)))
    got = measure(name, a, b, batch_size=k, **kw)
    want = expected(name, a, b, batches=batches, **kw)
    np.testing.assert_allclose(got, want, **TOLERANCE[name])
    if used[-1] < k:  # equal weights (or, for CKNNA, the mean of per-batch ratios) differ
        if name == "cknna":
            other = np.mean([ref_cknna(a[0][s], b[0][s], 5) for s in batches])
        else:
            other = np.mean([REFERENCE[name](a[0][s], b[0][s], kw) for s in batches])
        assert abs(other - want[0, 0]) > 1e-6


# ----------------------------------------------------------------------------------------------
# Constructed cases with known answers


def test_mutual_knn_self_is_one_and_invariances(rng):
    x = rng.standard_normal((70, 9))
    y = np.tanh(x @ rng.standard_normal((9, 11))) + 0.5 * rng.standard_normal((70, 11))
    q = np.linalg.qr(rng.standard_normal((9, 9)))[0]
    got = measure("mutual_knn", [x, y], [x, x @ q * 3.5, x * rng.uniform(0.1, 10, size=(70, 1))], knn=7)
    assert np.all(got[0] == 1.0)  # itself, an orthogonal map and scaling, per-example scaling
    np.testing.assert_array_equal(got[1], got[1, 0])  # y against all three: the same count
    np.testing.assert_array_equal(got[1, 0], ref_mutual_knn(y, x, 7))
    assert got[1, 0] < 0.9
    # Not invariant to a translation (features are not centred).
    assert measure("mutual_knn", [x], [x + 2.0], knn=7)[0, 0] < 0.9


def test_mutual_knn_of_unrelated_layers_is_about_k_over_n_minus_1(rng):
    # For independent layers each other example is a neighbour in both with probability
    # (k / (n - 1))^2, so the expectation is k / (n - 1) exactly. One pair's value has a
    # standard deviation of about sqrt(k (1 - k / (n - 1)) / n) / k ~ 0.01 here; the mean of the
    # 56 off-diagonal pairs of 8 independent layers (correlated: they share layers) has a
    # standard deviation of 0.0021 over draws (measured over 300 draws: mean deviation 6e-6,
    # largest 0.007), so 0.011 is 5 sigma.
    n, k = 100, 10
    layers = [rng.standard_normal((n, p)) for p in (4, 6, 8, 10, 12, 16, 20, 30)]
    got = measure("mutual_knn", layers, knn=k)
    off = got[~np.eye(len(layers), dtype=bool)]
    assert abs(off.mean() - k / (n - 1)) < 0.011
    np.testing.assert_array_equal(np.diag(got), 1.0)
    np.testing.assert_array_equal(got, got.T)  # symmetric


def test_cknna_self_is_one(rng, reference):
    a = reference.network(rng, 60, [6, 15, 30])
    got = measure("cknna", a, a, knn=8)
    np.testing.assert_allclose(np.diag(got), 1.0, rtol=0, atol=1e-12)
    assert np.all(np.abs(got) <= 1.0 + 1e-12)


@pytest.mark.parametrize("name", ["svcca", "pwcca"])
def test_cca_of_invertible_map_is_one(rng, reference, name):
    # With every direction kept (variance 1), X and X A span the same centred space.
    x = rng.standard_normal((60, 10))
    a = reference.random_orthogonal(rng, 10) @ np.diag(np.linspace(0.3, 3.0, 10)) @ reference.random_orthogonal(rng, 10)
    got = measure(name, [x], [x @ a, x], svcca_variance=1.0)
    np.testing.assert_allclose(got, 1.0, rtol=0, atol=1e-10)
    # When the reduction cuts directions (variance 0.9) of the two different spectra, the kept
    # spans differ: below 1, and the reference's value. (Not for PWCCA: both kept spans lie in
    # the same 10 dimensions, so dx + dy - 10 correlations are exactly 1, and the variates of a
    # repeated correlation, hence PWCCA's weights, are not unique.)
    if name == "svcca":
        cut = measure(name, [x], [x @ a], svcca_variance=0.9)[0, 0]
        assert cut < 1.0 - 1e-4
        np.testing.assert_allclose(cut, ref_svcca(x, x @ a, 0.9), **CCA)


def test_svcca_wide_layers_at_full_variance_read_one(rng):
    # p > n at variance 1: both layers span the whole (n - 1)-dimensional centred example space
    # however unrelated they are, so every canonical correlation is 1 (why CCA needs batches
    # well above the kept dimensions).
    x = rng.standard_normal((30, 70))
    y = rng.standard_normal((30, 45))
    assert svd_reduce(x, 1.0).shape[1] == 29
    np.testing.assert_allclose(measure("svcca", [x], [y], svcca_variance=1.0)[0, 0], 1.0, atol=1e-10)
    np.testing.assert_allclose(ref_svcca(x, y, 1.0), 1.0, atol=1e-10)


def test_svcca_invariances_and_symmetry(rng, reference):
    x = rng.standard_normal((60, 12))
    y = reference.related(rng, x, 9, noise=0.4)
    q = reference.random_orthogonal(rng, 12)
    base = measure("svcca", [x], [y])[0, 0]
    moved = measure("svcca", [x @ q * 0.01 + 5.0, -3.0 * x], [y])[:, 0]
    np.testing.assert_allclose(moved, base, rtol=1e-10)
    np.testing.assert_allclose(base, ref_svcca(x, y), **CCA)
    got = measure("svcca", [x, y], [y, x])
    np.testing.assert_allclose(got[0, 0], got[1, 1], rtol=1e-12)  # symmetric
    # Not invariant to a general linear map when the reduction cuts directions.
    mixed = x @ (rng.standard_normal((12, 12)) @ np.diag(np.logspace(0, 2, 12)))
    assert abs(measure("svcca", [mixed], [y])[0, 0] - base) > 1e-3


def test_svcca_dims(rng, reference):
    x = rng.standard_normal((80, 10))
    y = reference.related(rng, x, 14, noise=0.3)
    narrow = rng.standard_normal((80, 3))
    for d in (1, 3, 6):
        for name, ref in (("svcca", ref_svcca), ("pwcca", ref_pwcca)):
            got = measure(name, [x, y], [y, x], svcca_dims=d)
            np.testing.assert_allclose(got, table(lambda a, b: ref(a, b, dims=d), [x, y], [y, x]), **CCA)
    # More dims than a layer has: it keeps its rank (3), as variance 1 does.
    other = narrow @ rng.standard_normal((3, 4)) + rng.standard_normal((80, 4))
    np.testing.assert_allclose(measure("svcca", [narrow], [other], svcca_dims=8),
                               measure("svcca", [narrow], [other], svcca_variance=1.0), rtol=1e-12)
    np.testing.assert_allclose(measure("svcca", [narrow], [y], svcca_dims=8)[0, 0], ref_svcca(narrow, y, dims=8),
                               **CCA)
    assert svd_reduce(y, dims=6).shape[1] == 6
    # Another number of directions, another value.
    assert abs(ref_svcca(x, y, dims=3) - ref_svcca(x, y, dims=6)) > 1e-3


def test_pwcca_self_is_one_and_asymmetric(rng, reference):
    a = reference.network(rng, 80, [6, 10, 20])
    got = measure("pwcca", a)
    np.testing.assert_allclose(np.diag(got), 1.0, rtol=0, atol=1e-10)
    assert np.max(np.abs(got - got.T)) > 1e-3


def test_ridge_asymmetric_and_linear_map(rng):
    n = 100
    x = rng.standard_normal((n, 5))
    a = rng.standard_normal((5, 5)) + 2 * np.eye(5)
    wide = np.tanh(x @ rng.standard_normal((5, 40))) + 0.5 * rng.standard_normal((n, 40))
    got = measure("ridge", [x, wide], [x @ a, x])
    np.testing.assert_allclose(got, table(ref_ridge, [x, wide], [x @ a, x]), **RIDGE)
    # X predicts X A almost perfectly, but the penalty and the held-out examples keep it below 1.
    assert 0.99 < got[0, 0] < 1.0 and got[0, 1] < 1.0
    # A smaller penalty comes closer.
    closer = measure("ridge", [x], [x @ a], ridge=1e-3)[0, 0]
    assert got[0, 0] < closer < 1.0
    np.testing.assert_allclose(closer, ref_ridge(x, x @ a, 1e-3), **RIDGE)
    # Asymmetric: the narrow layer explains part of the wide one, the wide one predicts x well.
    back = measure("ridge", [x], [wide])[0, 0]
    assert abs(back - got[1, 1]) > 0.05
    np.testing.assert_allclose(back, ref_ridge(x, wide), **RIDGE)
    # Unrelated layers: about 0 or below (worse than the mean, held out).
    assert measure("ridge", [rng.standard_normal((n, 6))], [x])[0, 0] < 0.05


def test_ridge_wide_and_scale_invariance(rng):
    # p > n in source and target; the penalty is relative to the source Gram's mean eigenvalue,
    # so scaling either layer leaves the value alone.
    n = 40
    x = rng.standard_normal((n, 90))
    y = np.tanh(x[:, :30] @ rng.standard_normal((30, 70)) / 5) + 0.3 * rng.standard_normal((n, 70))
    got = measure("ridge", [x, 1e3 * x], [y, 1e-2 * y])
    np.testing.assert_allclose(got, ref_ridge(x, y), **RIDGE)


# ----------------------------------------------------------------------------------------------
# Streaming


def test_comparison_matches_cka_matrix(rng, reference):
    n, k = 70, 30
    # Narrow layers: dx + dy <= 8 keeps PWCCA well defined in the last batch of 10 (with
    # dx + dy above 9, some correlations are exactly 1 and their variates, hence the weights,
    # are not unique).
    x = rng.standard_normal((n, 4))
    a = [x, np.tanh(x @ rng.standard_normal((4, 3))) + 0.3 * rng.standard_normal((n, 3))]
    b = [x @ rng.standard_normal((4, 3)) + rng.standard_normal((n, 3)), rng.standard_normal((n, 4))]
    batches = reference.plan_batches(n, k, 6)
    for names, network_b in ((["mutual_knn", "svcca"], b), (["cknna", "pwcca", "ridge"], b),
                             (["mutual_knn", "cknna", "svcca", "pwcca", "ridge"], None)):
        c = convlab.Comparison(measures=names, knn=5)
        for s in batches:
            c.add([layer[s] for layer in a], None if network_b is None else [layer[s] for layer in network_b])
        assert c.batches == len(batches) and c.examples == n
        out = c.result()
        assert isinstance(out, dict) and sorted(out) == sorted(names)
        for name in names:
            want = measure(name, a, network_b, batch_size=k, knn=5)
            np.testing.assert_allclose(out[name], want, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(out[name], expected(name, a, network_b, batches=batches, knn=5),
                                       **TOLERANCE[name])


# ----------------------------------------------------------------------------------------------
# Bad input and bootstrap


@pytest.mark.parametrize("name", ["mutual_knn", "cknna"])
def test_knn_not_below_batch_is_refused(rng, name):
    x = rng.standard_normal((20, 5))
    with pytest.raises(convlab.InputError, match="--knn|neighbours"):
        measure(name, [x], [x], knn=20)
    with pytest.raises(convlab.InputError, match="--knn|neighbours"):
        measure(name, [x], [x], knn=5, batch_size=5)
    with pytest.raises(convlab.InputError, match="knn"):
        measure(name, [x], [x], knn=0)


def test_unknown_measure_lists_the_measures(rng):
    x = rng.standard_normal((20, 5))
    with pytest.raises(convlab.InputError) as err:
        measure("mutual-knn", [x])
    for name in ("mutual_knn", "cknna", "svcca", "pwcca", "ridge"):
        assert name in str(err.value)
    with pytest.raises(convlab.InputError):
        convlab.Comparison(measures=["svcca", "cca"])


@pytest.mark.parametrize("name,kw", [
    ("svcca", dict(svcca_variance=0.0)),
    ("svcca", dict(svcca_variance=1.5)),
    ("pwcca", dict(svcca_variance=-0.1)),
    ("svcca", dict(svcca_dims=0)),
    ("ridge", dict(ridge=0.0)),
    ("ridge", dict(ridge=-1.0)),
    ("ridge", dict(ridge=float("nan"))),
])
def test_bad_settings_are_refused(rng, name, kw):
    x = rng.standard_normal((20, 5))
    with pytest.raises(convlab.InputError):
        measure(name, [x], [x], **kw)
    with pytest.raises(convlab.InputError):
        convlab.Comparison(measures=[name], **kw)


def test_bootstrap_of_a_new_measure(rng):
    x = rng.standard_normal((80, 6))
    y = x @ rng.standard_normal((6, 8)) + rng.standard_normal((80, 8))
    r = measure("ridge", [x, y], [y], batch_size=20, bootstrap=30, seed=3)
    assert isinstance(r, convlab.Result) and r.replicates == 30 and r.seed == 3
    plain = measure("ridge", [x, y], [y], batch_size=20)
    np.testing.assert_allclose(r.value, plain, rtol=1e-12)
    assert r.std.shape == (2, 1) and np.all(np.isfinite(r.std)) and np.all(r.std > 0)
    assert np.all(r.low <= r.high)
    again = measure("ridge", [x, y], [y], batch_size=20, bootstrap=30, seed=3)
    np.testing.assert_array_equal(again.std, r.std)  # seeded


# ----------------------------------------------------------------------------------------------
# Permutation tests from Python


@pytest.mark.parametrize("name", ["cka", "rsa", "procrustes", "mutual_knn", "cknna", "svcca", "pwcca", "ridge"])
def test_permutation_test(rng, name):
    # Layer 0 of B is A's layer plus noise, layer 1 unrelated: 199 permutations let the
    # smallest p-value, 1/200, pass Holm's 0.05 / 2.
    x = rng.standard_normal((60, 6))
    b = [x + 0.3 * rng.standard_normal((60, 6)), rng.standard_normal((60, 6))]
    got = measure(name, [x], b, batch_size=30, knn=5, permutations=199, seed=4)
    assert isinstance(got, convlab.Tested) and got.bootstrap is None
    assert got.permutations == 199 and got.seed == 4 and got.alpha == 0.05
    assert got.p_value[0, 0] == 1 / 200 and bool(got.significant[0, 0])
    assert got.p_value[0, 1] > 0.01 and not got.significant[0, 1]
    if name == "procrustes":
        assert got.null_q05[0, 0] > got.value[0, 0]
    else:
        assert got.null_q95[0, 0] < got.value[0, 0]
    np.testing.assert_array_equal(got.value, measure(name, [x], b, batch_size=30, knn=5))
    again = measure(name, [x], b, batch_size=30, knn=5, permutations=199, seed=4)
    np.testing.assert_array_equal(again.p_value, got.p_value)
    np.testing.assert_array_equal(again.null_mean, got.null_mean)


def test_permutation_test_with_a_bootstrap_and_in_a_comparison(rng):
    x = rng.standard_normal((60, 6))
    y = x + 0.3 * rng.standard_normal((60, 6))
    both = measure("cka", [x], [y], batch_size=20, permutations=19, bootstrap=10)
    assert isinstance(both.bootstrap, convlab.Result) and both.bootstrap.std.shape == (1, 1)
    cmp = convlab.Comparison(measures=["cka", "ridge"], permutations=19, seed=2)
    for first in range(0, 60, 20):
        cmp.add([x[first:first + 20]], [y[first:first + 20]])
    result = cmp.result()
    direct = {m: measure(m, [x], [y], batch_size=20, permutations=19, seed=2) for m in ("cka", "ridge")}
    for m in ("cka", "ridge"):
        np.testing.assert_array_equal(result[m].p_value, direct[m].p_value)
    with pytest.raises(convlab.InputError, match="permutations"):
        measure("cka", [x], [y], permutations=-1)
