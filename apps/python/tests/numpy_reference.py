"""The measures that convlab computes, written in numpy (float64) from their definitions, for the
tests to compare against. Nothing here calls convlab.

Definitions (docs/reference.md section 3, framework/cka/gram.h, framework/rsa/rdm.h,
framework/procrustes/procrustes.h):

- Linear Gram K = X X^T (X: (n, p), one row per example, each example flattened).
- RBF Gram K_ij = exp(-D_ij / (2 s^2)), D the squared distances, s^2 = frac^2 * median of D_ij
  over the n (n - 1) / 2 pairs i < j (numpy's median: an even count averages the two middle
  values). The width is taken per batch, from that batch's distances.
- Biased HSIC = <HKH, HLH>_F / (n - 1)^2, H = I - 11^T / n (formed explicitly here).
- Debiased HSIC (Song et al. 2012): diag(K) = diag(L) = 0, then
  [tr(KL) + (1^T K 1)(1^T L 1) / ((n-1)(n-2)) - 2 / (n-2) 1^T K L 1] / (n (n - 3)).
- CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)); minibatch (Nguyen et al.): each HSIC term
  is the mean over batches weighted by batch size, then the same ratio.
- RSA: RDM D_ij = 1 - Pearson correlation of examples i and j across features (an example with
  constant features: distance 1 to every other); Spearman correlation of the RDMs' upper
  triangles = Pearson correlation of their average ranks (ties share the mean of their ranks).
  Minibatch: weighted mean of per-batch values.
- Procrustes: X, Y centred per column, scaled to unit Frobenius norm, d = 2 - 2 ||X^T Y||_*
  (nuclear norm: sum of singular values). Minibatch: weighted mean of per-batch values.
- Batches of k: [0, k), [k, 2k), ...; a last batch smaller than the measure's minimum is left
  out (unless it is the only one); a short last batch at or above the minimum is kept and
  weighted by its size.
"""

from __future__ import annotations

import numpy as np

# The smallest batch each measure takes (framework/analysis/compare.cpp, batch_limits).
MIN_BATCH = {
    ("cka", "debiased"): 4,
    ("cka", "biased"): 3,
    "rsa": 3,
    "procrustes": 3,
}


def minimum_batch(measure: str = "cka", estimator: str = "debiased") -> int:
    return MIN_BATCH[(measure, estimator)] if measure == "cka" else MIN_BATCH[measure]


def flat(x) -> np.ndarray:
    """(n, ...) -> (n, p) float64, each example's values flattened in C order."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1)


# --------------------------------------------------------------------------------------------
# Grams and HSIC


def linear_gram(x) -> np.ndarray:
    x = flat(x)
    return x @ x.T


def squared_distances(x) -> np.ndarray:
    """D_ij = ||x_i - x_j||^2, from the Gram of the column-centred features (same distances,
    less cancellation), clipped at 0."""
    x = flat(x)
    x = x - x.mean(axis=0)
    g = x @ x.T
    d = np.diag(g)
    return np.maximum(d[:, None] + d[None, :] - 2.0 * g, 0.0)


def median_pair_distance(x) -> float:
    """Median of D_ij over the pairs i < j (not over all n^2 entries)."""
    d = squared_distances(x)
    iu = np.triu_indices(d.shape[0], k=1)
    return float(np.median(d[iu]))


def rbf_gram(x, frac: float = 1.0) -> np.ndarray:
    d = squared_distances(x)
    s2 = frac * frac * median_pair_distance(x)
    return np.exp(-d / (2.0 * s2))


def gram(x, kernel: str = "linear", frac: float = 1.0) -> np.ndarray:
    if kernel == "linear":
        return linear_gram(x)
    if kernel == "rbf":
        return rbf_gram(x, frac)
    raise ValueError(kernel)


def hsic_biased(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.sum((h @ k @ h) * (h @ l @ h)) / (n - 1) ** 2)


def hsic_debiased(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    assert n >= 4
    k = k.copy()
    l = l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    one = np.ones(n)
    term1 = np.trace(k @ l)
    term2 = (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ k @ l @ one)
    return float((term1 + term2 - term3) / (n * (n - 3)))


def hsic(k, l, estimator: str = "debiased") -> float:
    return hsic_biased(k, l) if estimator == "biased" else hsic_debiased(k, l)


def cka(x, y, kernel: str = "linear", estimator: str = "debiased", frac: float = 1.0) -> float:
    """CKA from all n examples at once."""
    k = gram(x, kernel, frac)
    l = gram(y, kernel, frac)
    return hsic(k, l, estimator) / np.sqrt(hsic(k, k, estimator) * hsic(l, l, estimator))


def linear_cka_feature_space(x, y) -> float:
    """Biased linear CKA in feature space: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), columns
    centred. The same number as cka(x, y, 'linear', 'biased'), computed another way."""
    x = flat(x)
    y = flat(y)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    return float(np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


# --------------------------------------------------------------------------------------------
# Batches


def plan_batches(n: int, batch_size: int | None, minimum: int) -> list[slice]:
    """The batches of n examples in batches of batch_size (None: one batch of all n): every
    full batch, and a short last batch if it has at least `minimum` examples (always the first)."""
    k = n if batch_size is None else batch_size
    out = []
    for first in range(0, n, k):
        count = min(k, n - first)
        if out and count < minimum:
            break
        out.append(slice(first, first + count))
    return out


def slices_of_sizes(sizes) -> list[slice]:
    out, first = [], 0
    for s in sizes:
        out.append(slice(first, first + s))
        first += s
    return out


def _size(s: slice) -> int:
    return s.stop - s.start


def minibatch_cka(x, y, batches, kernel: str = "linear", estimator: str = "debiased", frac: float = 1.0,
                  weights: str = "size") -> float:
    """Minibatch CKA: each HSIC term averaged over `batches` (slices), weighted by batch size
    (weights='size') or equally ('equal', for tests that show the weighting matters)."""
    x = flat(x)
    y = flat(y)
    kk = kl = ll = 0.0
    total = 0.0
    for b in batches:
        w = float(_size(b)) if weights == "size" else 1.0
        k = gram(x[b], kernel, frac)
        l = gram(y[b], kernel, frac)
        kl += w * hsic(k, l, estimator)
        kk += w * hsic(k, k, estimator)
        ll += w * hsic(l, l, estimator)
        total += w
    kl, kk, ll = kl / total, kk / total, ll / total
    return kl / np.sqrt(kk * ll)


def matrix(cell, layers_a, layers_b=None) -> np.ndarray:
    """(L, M) matrix of cell(a, b) over every layer pair, computed cell by cell (layers_b None:
    A against itself, still every cell from its own pair)."""
    layers_b = layers_a if layers_b is None else layers_b
    out = np.empty((len(layers_a), len(layers_b)))
    for i, a in enumerate(layers_a):
        for j, b in enumerate(layers_b):
            out[i, j] = cell(a, b)
    return out


# --------------------------------------------------------------------------------------------
# RSA


def average_ranks(values) -> np.ndarray:
    """1-based ranks; a run of equal values shares the mean of the ranks it occupies."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    i = 0
    while i < len(values):
        j = i + 1
        while j < len(values) and values[order[j]] == values[order[i]]:
            j += 1
        ranks[order[i:j]] = 0.5 * ((i + 1) + j)  # mean of ranks i+1 .. j
        i = j
    return ranks


def ordinal_ranks(values) -> np.ndarray:
    """1-based ranks with ties broken by position (a wrong tie rule, for contrast)."""
    order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def pearson(a, b) -> float:
    a = np.asarray(a, dtype=np.float64) - np.mean(a)
    b = np.asarray(b, dtype=np.float64) - np.mean(b)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def rdm_upper(x) -> np.ndarray:
    """Upper triangle (i < j, row by row) of D_ij = 1 - corr(x_i, x_j); constant example: 1."""
    x = flat(x)
    xc = x - x.mean(axis=1, keepdims=True)
    g = xc @ xc.T
    d = np.diag(g)
    n = x.shape[0]
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            if d[i] > 0 and d[j] > 0:
                out.append(1.0 - g[i, j] / np.sqrt(d[i] * d[j]))
            else:
                out.append(1.0)
    return np.array(out)


def rsa(x, y, ranks=average_ranks) -> float:
    return pearson(ranks(rdm_upper(x)), ranks(rdm_upper(y)))


# --------------------------------------------------------------------------------------------
# Procrustes


def procrustes(x, y) -> float:
    x = flat(x)
    y = flat(y)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    x = x / np.linalg.norm(x)
    y = y / np.linalg.norm(y)
    nuclear = np.linalg.svd(x.T @ y, compute_uv=False).sum()
    return float(2.0 - 2.0 * nuclear)


def minibatch_mean(measure, x, y, batches) -> float:
    """Weighted mean (by batch size) of measure(x[b], y[b]) over `batches` (RSA, Procrustes)."""
    x = flat(x)
    y = flat(y)
    values = [measure(x[b], y[b]) for b in batches]
    weights = [_size(b) for b in batches]
    return float(np.average(values, weights=weights))


# --------------------------------------------------------------------------------------------
# Data


def random_orthogonal(rng, p: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def related(rng, x, p_out: int, noise: float = 0.5) -> np.ndarray:
    """A nonlinear function of x plus noise: a layer that shares some of x's geometry."""
    x = flat(x)
    w = rng.standard_normal((x.shape[1], p_out)) / np.sqrt(x.shape[1])
    return np.tanh(x @ w) + noise * rng.standard_normal((x.shape[0], p_out))


def network(rng, n: int, widths, noise: float = 0.5) -> list[np.ndarray]:
    """Layers of a toy network: each a noisy nonlinear map of the one before, so the layers are
    related and their CKA differs from pair to pair."""
    layers = []
    x = rng.standard_normal((n, widths[0]))
    layers.append(x)
    for p in widths[1:]:
        x = related(rng, x, p, noise)
        layers.append(x)
    return layers


def average_ranks_of(keys) -> np.ndarray:
    """average_ranks for any totally ordered values (e.g. fractions.Fraction), ties by ==."""
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    ranks = np.empty(len(keys))
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and keys[order[j]] == keys[order[i]]:
            j += 1
        ranks[order[i:j]] = 0.5 * ((i + 1) + j)
        i = j
    return ranks


def rdm_ranks_exact(x_int) -> np.ndarray:
    """The average ranks of the RDM's upper triangle of integer features, computed exactly:
    with c_i = p x_i - sum(x_i) (integer, proportional to the centred example), the distance
    1 - corr(i, j) increases with key = -sign(g_ij) g_ij^2 / (g_ii g_jj), g = c c^T, a rational
    number; a constant example has correlation 0 (distance 1), key 0. So mathematically tied
    distances are tied here, whatever floating-point rounding does to 1 - g / sqrt(g g)."""
    from fractions import Fraction

    x = np.asarray(x_int)
    assert x.dtype.kind in "iub"
    x = x.reshape(x.shape[0], -1).astype(object)
    p = x.shape[1]
    c = [[int(v) * p - int(sum(row)) for v in row] for row in x]
    n = len(c)
    g = [[sum(a * b for a, b in zip(c[i], c[j])) for j in range(n)] for i in range(n)]
    keys = []
    for i in range(n):
        for j in range(i + 1, n):
            if g[i][i] == 0 or g[j][j] == 0:
                keys.append(Fraction(0))
            else:
                s = 1 if g[i][j] > 0 else (-1 if g[i][j] < 0 else 0)
                keys.append(Fraction(-s * g[i][j] * g[i][j], g[i][i] * g[j][j]))
    return average_ranks_of(keys)


def rsa_exact(x_int, y_int) -> float:
    """RSA of integer features with exact ties (rdm_ranks_exact)."""
    return pearson(rdm_ranks_exact(x_int), rdm_ranks_exact(y_int))
