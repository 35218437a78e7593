"""convlab.Comparison, the streaming comparison fed batch by batch: the same values as
cka_matrix with that batch_size and as the numpy minibatch definitions (size-weighted means of
per-batch terms, batches of unequal sizes), several measures at once, its errors, and memory
that does not grow with the number of batches (no features are kept).

Tolerances: float64 ~1e-10 relative (the numpy definitions) and ~1e-12 against cka_matrix
(the same computation); Procrustes 1e-9.
"""

import gc
import os
import tracemalloc

import numpy as np
import pytest

import convlab

F64 = dict(rtol=1e-10, atol=1e-12)
SAME = dict(rtol=1e-12, atol=1e-14)


def feed(cmp, a, b, slices):
    for s in slices:
        cmp.add([x[s] for x in a], None if b is None else [y[s] for y in b])


@pytest.fixture
def nets(rng, reference):
    a = reference.network(rng, 100, [10, 24, 16])
    b = reference.network(rng, 100, [20, 12])
    b[1] = b[1] + reference.related(rng, a[2], 12, noise=0.4)
    return a, b


@pytest.mark.parametrize("estimator", ["biased", "debiased"])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("self_", [False, True])
def test_batches_equal_cka_matrix(nets, reference, kernel, estimator, self_):
    # 100 examples in batches of 30: 30, 30, 30, 10 (the 10 kept and weighted by its size).
    a, b = nets
    b = None if self_ else b
    cmp = convlab.Comparison(kernel=kernel, estimator=estimator)
    feed(cmp, a, b, reference.plan_batches(100, 30, 4))
    assert cmp.batches == 4 and cmp.examples == 100
    got = cmp.result()
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_allclose(got, convlab.cka_matrix(a, b, kernel=kernel, estimator=estimator, batch_size=30),
                               **SAME)
    batches = reference.slices_of_sizes([30, 30, 30, 10])
    expected = reference.matrix(lambda u, v: reference.minibatch_cka(u, v, batches, kernel, estimator), a, b)
    np.testing.assert_allclose(got, expected, **F64)


def test_unequal_batches_weighted_by_size(nets, reference):
    a, b = nets
    sizes = [10, 17, 5, 30, 8, 22, 4, 4]
    assert sum(sizes) == 100
    batches = reference.slices_of_sizes(sizes)
    cmp = convlab.Comparison()
    feed(cmp, a, b, batches)
    assert (cmp.batches, cmp.examples) == (len(sizes), 100)
    got = cmp.result()
    expected = reference.matrix(lambda u, v: reference.minibatch_cka(u, v, batches), a, b)
    np.testing.assert_allclose(got, expected, **F64)
    equal = reference.matrix(lambda u, v: reference.minibatch_cka(u, v, batches, weights="equal"), a, b)
    assert np.max(np.abs(equal - expected)) > 1e-4  # the weighting matters on these data


def test_result_at_any_time(nets, reference):
    a, b = nets
    batches = reference.slices_of_sizes([25, 25, 25, 25])
    cmp = convlab.Comparison()
    for i, s in enumerate(batches):
        cmp.add([x[s] for x in a], [y[s] for y in b])
        expected = reference.matrix(lambda u, v: reference.minibatch_cka(u, v, batches[:i + 1]), a, b)
        np.testing.assert_allclose(cmp.result(), expected, **F64)
    # result() does not consume anything: the same again.
    np.testing.assert_array_equal(cmp.result(), cmp.result())


def test_several_measures(nets, reference):
    a, b = nets
    sizes = [40, 35, 25]
    batches = reference.slices_of_sizes(sizes)
    cmp = convlab.Comparison(measures=("cka", "rsa", "procrustes"))
    feed(cmp, a, b, batches)
    got = cmp.result()
    assert isinstance(got, dict) and list(got) == ["cka", "rsa", "procrustes"]
    for m in got.values():
        assert m.shape == (3, 2) and m.dtype == np.float64
    np.testing.assert_allclose(got["cka"], reference.matrix(lambda u, v: reference.minibatch_cka(u, v, batches), a, b),
                               **F64)
    np.testing.assert_allclose(got["rsa"], reference.matrix(
        lambda u, v: reference.minibatch_mean(reference.rsa, u, v, batches), a, b), **F64)
    np.testing.assert_allclose(got["procrustes"], reference.matrix(
        lambda u, v: reference.minibatch_mean(reference.procrustes, u, v, batches), a, b), rtol=1e-9, atol=1e-9)
    # The same as cka_matrix for each measure, when the batches are cka_matrix's.
    cmp2 = convlab.Comparison(measures=["rsa", "procrustes"])
    feed(cmp2, a, None, reference.plan_batches(100, 40, 3))  # 40, 40, 20
    got2 = cmp2.result()
    np.testing.assert_allclose(got2["rsa"], convlab.cka_matrix(a, measure="rsa", batch_size=40), **SAME)
    np.testing.assert_allclose(got2["procrustes"], convlab.cka_matrix(a, measure="procrustes", batch_size=40),
                               rtol=1e-9, atol=1e-12)


def test_single_measure_as_string(nets):
    a, _ = nets
    cmp = convlab.Comparison(measures="rsa")
    cmp.add(a)
    np.testing.assert_allclose(cmp.result(), convlab.cka_matrix(a, measure="rsa"), **SAME)


def test_bootstrap(nets):
    a, b = nets
    cmp = convlab.Comparison(bootstrap=100, seed=5)
    cmp.add([x[:50] for x in a], [y[:50] for y in b])
    with pytest.raises(convlab.InputError, match="2"):
        cmp.result()  # one batch: nothing to resample
    cmp.add([x[50:] for x in a], [y[50:] for y in b])
    r = cmp.result()
    assert isinstance(r, convlab.Result)
    assert r.value.shape == r.low.shape == r.high.shape == r.std.shape == r.mean.shape == (3, 2)
    assert r.replicates == 100 and r.seed == 5
    np.testing.assert_allclose(r.value, convlab.cka_matrix(a, b, batch_size=50), **SAME)
    r2 = convlab.cka_matrix(a, b, batch_size=50, bootstrap=100, seed=5)
    np.testing.assert_allclose(r.std, r2.std, **SAME)  # same batches, same seed: same replicates


def test_layer_names(nets):
    a, b = nets
    cmp = convlab.Comparison()
    assert cmp.layer_names == (None, None) and cmp.batches == 0 and cmp.examples == 0
    cmp.add(a, b)
    assert cmp.layer_names == (["0", "1", "2"], ["0", "1"])
    cmp = convlab.Comparison()
    cmp.add({"x": a[0], "y": a[1]})
    assert cmp.layer_names == (["x", "y"], None)


# ----------------------------------------------------------------------------------------------
# Errors


def test_result_before_add():
    cmp = convlab.Comparison()
    with pytest.raises(convlab.InputError, match="no batch"):
        cmp.result()


def test_switching_between_self_and_pair(nets):
    a, b = nets
    cmp = convlab.Comparison()
    cmp.add([x[:20] for x in a])
    with pytest.raises(convlab.InputError, match="itself"):
        cmp.add([x[20:40] for x in a], [y[20:40] for y in b])
    cmp = convlab.Comparison()
    cmp.add([x[:20] for x in a], [y[:20] for y in b])
    with pytest.raises(convlab.InputError, match="network B"):
        cmp.add([x[20:40] for x in a])
    # The refused batches left no trace.
    assert cmp.batches == 1 and cmp.examples == 20


def test_bad_batches(nets):
    a, b = nets
    cmp = convlab.Comparison()
    cmp.add([x[:20] for x in a], [y[:20] for y in b])
    with pytest.raises(convlab.InputError, match="layers"):
        cmp.add([x[20:40] for x in a[:2]], [y[20:40] for y in b])  # a layer missing
    with pytest.raises(convlab.InputError, match="examples"):
        cmp.add([a[0][20:40], a[1][20:39], a[2][20:40]], [y[20:40] for y in b])  # n differs
    with pytest.raises(convlab.InputError, match="at least 4"):
        cmp.add([x[20:23] for x in a], [y[20:23] for y in b])  # 3 < 4 for debiased CKA
    with pytest.raises(convlab.InputError, match="NaN|finite"):
        bad = a[0][20:40].copy()
        bad[3, 4] = np.nan
        cmp.add([bad, a[1][20:40], a[2][20:40]], [y[20:40] for y in b])
    assert cmp.batches == 1
    # Still usable after the refusals.
    cmp.add([x[20:40] for x in a], [y[20:40] for y in b])
    assert cmp.batches == 2


def test_bad_settings():
    with pytest.raises(convlab.InputError, match="measure"):
        convlab.Comparison(measures=("cka", "cca"))
    with pytest.raises(convlab.InputError, match="measure"):
        convlab.Comparison(measures=())
    with pytest.raises(convlab.InputError, match="kernel"):
        convlab.Comparison(kernel="poly")
    with pytest.raises(convlab.InputError, match="estimator"):
        convlab.Comparison(estimator="unbiased")
    with pytest.raises(convlab.InputError, match="bootstrap"):
        convlab.Comparison(bootstrap=1)
    with pytest.raises(convlab.InputError, match="rbf_frac"):
        convlab.Comparison(kernel="rbf", rbf_frac=0.0)


# ----------------------------------------------------------------------------------------------
# Memory


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_does_not_grow_with_batches(rng):
    # 50 batches of 8 MB of float32 features (8 examples x 250,000 features, plus a narrow
    # layer): keeping them would take 400 MB. What a Comparison keeps per batch is (L + M)^2
    # doubles per measure; so neither the resident memory (C++ copies) nor the memory that
    # Python allocated and did not free (tracemalloc: numpy arrays still referenced) may grow
    # by more than a few MB. Each batch is a fresh array (a scaled copy of one random block,
    # cheaper than drawing 2e6 numbers per batch).
    k, wide, batches = 8, 250_000, 50
    cmp = convlab.Comparison()
    base = rng.standard_normal((k, wide), dtype=np.float32)
    noise = rng.standard_normal((k, 16), dtype=np.float32)
    count = [0]

    def batch():
        count[0] += 1
        x = base * np.float32(1.0 + 0.01 * count[0])
        return [x, x[:, :16] + noise * count[0]]

    for _ in range(3):  # warm-up: workspaces sized by the first batches
        cmp.add(batch())
    gc.collect()
    rss0 = rss_bytes()
    tracemalloc.start()
    try:
        traced0, _ = tracemalloc.get_traced_memory()
        for _ in range(batches):
            cmp.add(batch())
        gc.collect()
        traced1, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss1 = rss_bytes()
    assert cmp.batches == batches + 3
    retained = batches * k * wide * 4
    assert retained >= 400e6
    assert traced1 - traced0 < 5e6, f"Python memory grew by {(traced1 - traced0) / 1e6:.1f} MB over {batches} batches"
    assert rss1 - rss0 < 50e6, f"resident memory grew by {(rss1 - rss0) / 1e6:.1f} MB over {batches} batches"
    r = cmp.result()
    assert r.shape == (2, 2) and np.all(np.isfinite(r))


def test_many_small_batches(rng, reference):
    # 200 batches: the per-batch terms are all that grows, and the value is the definition's.
    n, k = 1000, 5
    x = rng.standard_normal((n, 6))
    y = reference.related(rng, x, 5, noise=0.5)
    cmp = convlab.Comparison()
    batches = reference.plan_batches(n, k, 4)
    assert len(batches) == 200
    rss0 = rss_bytes()
    feed(cmp, [x], [y], batches)
    assert rss_bytes() - rss0 < 20e6
    assert cmp.batches == 200 and cmp.examples == n
    np.testing.assert_allclose(cmp.result(), [[reference.minibatch_cka(x, y, batches)]], rtol=1e-9)
    np.testing.assert_allclose(cmp.result(), convlab.cka_matrix([x], [y], batch_size=k), **SAME)
