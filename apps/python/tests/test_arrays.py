"""How the analysis functions read arrays: dtypes (float16, bfloat16, integers and booleans are
converted to float32; float32 and float64 are read as they are), strided views, (n, ...)
shapes, inputs left unchanged (no copy is written back, no rescale leaks into the caller's
array), PyTorch and JAX tensors through DLPack, and the errors of bad input (convlab.InputError,
a ValueError and a convlab.Error, with a message that says what is wrong).

Tolerances: float32 against float64 ~1e-6 relative (measured ~1e-7); conversions that give
the same float32 array give the same value exactly.
"""

import tracemalloc

import numpy as np
import pytest

import convlab

F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-6, atol=1e-7)


@pytest.fixture
def pair(rng, reference):
    x = rng.standard_normal((80, 30))
    y = reference.related(rng, x, 40)
    return x, y


def measure_all(x, y, **kw):
    """CKA (linear and RBF), RSA and Procrustes of one pair: a vector to compare."""
    return np.array([
        convlab.cka(x, y, **kw),
        convlab.cka(x, y, kernel="rbf", **kw),
        convlab.cka_matrix([x], [y], measure="rsa")[0, 0],
        convlab.cka_matrix([x], [y], measure="procrustes")[0, 0],
    ])


# ----------------------------------------------------------------------------------------------
# dtypes


def test_float32_agrees_with_float64(pair, reference):
    x, y = pair
    got32 = measure_all(x.astype(np.float32), y.astype(np.float32))
    got64 = measure_all(x, y)
    np.testing.assert_allclose(got32, got64, **F32)
    np.testing.assert_allclose(got64[0], reference.cka(x, y), **F64)
    # Mixed: one layer float32, the other float64.
    np.testing.assert_allclose(convlab.cka(x.astype(np.float32), y), got64[0], **F32)


def test_float16_is_converted_to_float32(pair):
    x, y = pair
    x16, y16 = x.astype(np.float16), y.astype(np.float16)
    np.testing.assert_array_equal(measure_all(x16, y16),
                                  measure_all(x16.astype(np.float32), y16.astype(np.float32)))
    np.testing.assert_allclose(measure_all(x16, y16), measure_all(x, y), rtol=1e-2)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint16])
def test_integers_are_converted_to_float32(rng, dtype):
    x = rng.integers(0, 50, size=(60, 12)).astype(dtype)
    y = (x[:, :8].astype(np.int64) * 3 % 17 + rng.integers(0, 5, size=(60, 8))).astype(dtype)
    np.testing.assert_array_equal(measure_all(x, y), measure_all(x.astype(np.float32), y.astype(np.float32)))


def test_booleans_are_converted(rng, reference):
    x = rng.random((60, 20)) < 0.3
    y = np.logical_xor(x[:, :10], rng.random((60, 10)) < 0.2)
    got = convlab.cka(x, y)
    assert got == convlab.cka(x.astype(np.float32), y.astype(np.float32))
    np.testing.assert_allclose(got, reference.cka(x, y), rtol=1e-6)


def test_python_lists_are_arrays(pair):
    x, y = pair
    np.testing.assert_allclose(convlab.cka(x.tolist(), y.tolist()), convlab.cka(x, y), rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------
# Layouts


def test_strided_views_equal_their_copies(rng):
    big = rng.standard_normal((90, 60))
    views = {
        "columns ::2": big[:, ::2],
        "rows ::2": big[::2],
        "transposed": big[:40, :].T,  # (60, 40): 60 examples
        "fortran": np.asfortranarray(big),
        "reversed rows": big[::-1],
        "negative column stride": big[:, ::-3],
    }
    for name, v in views.items():
        assert not v.flags["C_CONTIGUOUS"], name
        y = rng.standard_normal((v.shape[0], 7)) + v[:, :1]
        copy = np.ascontiguousarray(v)
        np.testing.assert_array_equal(measure_all(v, y), measure_all(copy, y), err_msg=name)
        np.testing.assert_array_equal(measure_all(y, v), measure_all(y, copy), err_msg=name)
        # A strided view as the second network's layer and inside a Comparison.
        np.testing.assert_array_equal(convlab.cka_matrix([y], [v, copy])[0, 0],
                                      convlab.cka_matrix([y], [v, copy])[0, 1], err_msg=name)
        cmp = convlab.Comparison()
        cmp.add([v[:30], copy[:30]])
        cmp.add([v[30:], copy[30:]])
        np.testing.assert_allclose(cmp.result(), 1.0, rtol=0, atol=1e-12, err_msg=name)


def test_strided_float32_views(rng):
    big = rng.standard_normal((70, 50)).astype(np.float32)
    y = rng.standard_normal((70, 9)).astype(np.float32) + big[:, :9]
    for v in (big[:, 1::2], np.asfortranarray(big)):
        np.testing.assert_array_equal(measure_all(v, y), measure_all(np.ascontiguousarray(v), y))


def test_four_dimensional_views(rng, reference):
    # NCHW features and an NHWC view of them (a transposed, non-contiguous array): each is
    # flattened per example in its own (logical, C) order; the two orders are a permutation of
    # the features, so CKA, RSA and Procrustes are the same.
    nchw = rng.standard_normal((40, 3, 4, 5))
    nhwc = nchw.transpose(0, 2, 3, 1)
    y = rng.standard_normal((40, 10)) + nchw[:, 0, 0, :2].sum(1, keepdims=True)
    np.testing.assert_allclose(measure_all(nhwc, y), measure_all(nchw, y), rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(measure_all(nhwc, y), measure_all(np.ascontiguousarray(nhwc).reshape(40, -1), y))
    np.testing.assert_allclose(convlab.cka(nchw, y), reference.cka(nchw.reshape(40, -1), y), **F64)


def test_read_only_arrays(pair):
    x, y = pair
    x = x.copy()
    x.flags.writeable = False
    y32 = y.astype(np.float32)
    y32.flags.writeable = False
    assert convlab.cka(x, y32) == convlab.cka(x.copy(), y32.copy())


# ----------------------------------------------------------------------------------------------
# Inputs are left as they were


@pytest.mark.parametrize("scale,dtype", [(1.0, np.float32), (1e30, np.float32), (1.0, np.float64),
                                         (1e200, np.float64), (1e-200, np.float64)])
def test_inputs_unchanged(pair, reference, scale, dtype):
    # 1e200 (float64) makes convlab rescale each layer by a power of two before the Grams: the
    # rescale must happen on its own copy or not at all, never in the caller's array.
    x, y = pair
    xs = (x * scale).astype(dtype)
    ys = (y * scale).astype(dtype)
    x_before, y_before = xs.copy(), ys.copy()
    values = [convlab.cka(xs, ys), convlab.cka(xs, ys, kernel="rbf"),
              convlab.cka_matrix([xs, ys], batch_size=20)[0, 1],
              convlab.cka_matrix([xs], [ys], measure="rsa")[0, 0],
              convlab.cka_matrix([xs], [ys], measure="procrustes")[0, 0]]
    cmp = convlab.Comparison(measures=("cka", "rsa", "procrustes"))
    cmp.add([xs[:40]], [ys[:40]])
    cmp.add([xs[40:]], [ys[40:]])
    values.append(cmp.result()["cka"][0, 0])
    np.testing.assert_array_equal(xs, x_before)
    np.testing.assert_array_equal(ys, y_before)
    # And the values are those of the unscaled features.
    tol = F64 if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values[0], reference.cka(x, y), **tol)
    np.testing.assert_allclose(values[1], reference.cka(x, y, "rbf"), **tol)
    np.testing.assert_allclose(values[3], reference.rsa(x, y), **tol)
    np.testing.assert_allclose(values[4], reference.procrustes(x, y), **tol)
    np.testing.assert_allclose(values[5], reference.minibatch_cka(x, y, reference.slices_of_sizes([40, 40])), **tol)


def test_float32_contiguous_input_is_not_copied_in_python(rng):
    # A float32 C-contiguous layer goes to the compiled module as it is: Python allocates no copy
    # of it (tracemalloc sees numpy's allocations). A float16 layer is converted, a copy twice its
    # size; that copy shows up, so the measurement can see a copy.
    x = rng.standard_normal((400, 10_000), dtype=np.float32)  # 16 MB
    y = rng.standard_normal((400, 8), dtype=np.float32)
    x16 = x.astype(np.float16)

    def peak_of(f):
        tracemalloc.start()
        try:
            f()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak_of(lambda: convlab.cka(x, y)) < 4e6
    assert peak_of(lambda: convlab.cka(x16, y)) > 15e6


# ----------------------------------------------------------------------------------------------
# DLPack, PyTorch and JAX


class DlpackOnly:
    """An array that offers nothing but the DLPack protocol, as a library other than numpy
    would: convlab must take it through DLPack (no numpy conversion), without a copy."""

    def __init__(self, array):
        self._array = array
        self.dtype = array.dtype
        self.shape = array.shape

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_any_dlpack_producer_is_read_in_place(pair):
    x, y = pair
    for dtype in (np.float64, np.float32):
        a, b = np.ascontiguousarray(x, dtype), np.ascontiguousarray(y, dtype)
        np.testing.assert_array_equal(measure_all(DlpackOnly(a), DlpackOnly(b)), measure_all(a, b))
    comparison = convlab.Comparison()
    comparison.add({"x": DlpackOnly(x[:40])}, {"y": DlpackOnly(y[:40])})
    comparison.add({"x": DlpackOnly(x[40:])}, {"y": DlpackOnly(y[40:])})
    np.testing.assert_array_equal(comparison.result(), convlab.cka_matrix([x], [y], batch_size=40))


def test_torch_tensors(pair):
    torch = pytest.importorskip("torch")
    x, y = pair
    expected = measure_all(x, y)
    np.testing.assert_array_equal(measure_all(torch.from_numpy(x), torch.from_numpy(y)), expected)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    np.testing.assert_array_equal(measure_all(torch.from_numpy(x32), torch.from_numpy(y32)), measure_all(x32, y32))
    # Mixed numpy and torch.
    np.testing.assert_array_equal(measure_all(torch.from_numpy(x), y), expected)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int64", "int32", "uint8", "bool"])
def test_torch_converted_dtypes(rng, dtype):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(rng.integers(0, 3, size=(50, 12))).to(getattr(torch, dtype))
    y = torch.from_numpy(rng.standard_normal((50, 6))).to(getattr(torch, dtype) if dtype in ("float16", "bfloat16")
                                                          else torch.float32)
    y = y + x[:, :6].to(y.dtype)
    expected = measure_all(x.float().numpy(), y.float().numpy())
    np.testing.assert_array_equal(measure_all(x, y), expected)


def test_torch_non_contiguous(rng):
    torch = pytest.importorskip("torch")
    big = torch.from_numpy(rng.standard_normal((60, 40)))
    views = {"columns ::2": big[:, ::2],
             "transposed": big.T,  # (40, 60): 40 examples
             "float16, strided": big.half()[:, 1::3],
             "bfloat16, rows ::2": big.bfloat16()[::2]}
    for name, v in views.items():
        assert not v.is_contiguous(), name
        y = torch.from_numpy(rng.standard_normal((v.shape[0], 9)))
        contiguous = v.contiguous()
        if contiguous.dtype in (torch.float16, torch.bfloat16):
            contiguous = contiguous.float()
        np.testing.assert_array_equal(measure_all(v, y), measure_all(contiguous.numpy(), y.numpy()), err_msg=name)
    # channels_last 4-d features: is_contiguous() is False, the values are NCHW's.
    nchw = torch.from_numpy(rng.standard_normal((30, 4, 3, 3)))
    cl = nchw.to(memory_format=torch.channels_last)
    y4 = torch.from_numpy(rng.standard_normal((30, 5)))
    np.testing.assert_array_equal(measure_all(cl, y4), measure_all(nchw.numpy(), y4.numpy()))


def test_torch_tensor_that_requires_grad(rng):
    # Features from a forward hook usually require grad: they are read like any other tensor
    # (numpy refuses .numpy() on them, and DLPack export refuses them too), not rejected.
    torch = pytest.importorskip("torch")
    w = torch.randn(10, 20, dtype=torch.float64, requires_grad=True)
    x = torch.from_numpy(rng.standard_normal((50, 10)))
    h = torch.relu(x @ w)
    assert h.requires_grad
    expected = convlab.cka(x.numpy(), h.detach().numpy())
    assert convlab.cka(x, h) == expected
    assert convlab.cka_matrix([x, h])[0, 1] == expected
    cmp = convlab.Comparison()
    cmp.add({"in": x, "hidden": h})
    assert cmp.result()[0, 1] == expected


def test_torch_inputs_unchanged(pair):
    torch = pytest.importorskip("torch")
    x, y = pair
    tx = torch.from_numpy(x * 1e200)
    ty = torch.from_numpy((y * 1e30).astype(np.float32))
    bx, by = tx.clone(), ty.clone()
    v = convlab.cka(tx, ty)
    assert torch.equal(tx, bx) and torch.equal(ty, by)
    np.testing.assert_allclose(v, convlab.cka(x, y), rtol=1e-5)


def test_jax_arrays(pair):
    jnp = pytest.importorskip("jax.numpy")
    x, y = pair
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    np.testing.assert_array_equal(measure_all(jnp.asarray(x32), jnp.asarray(y32)), measure_all(x32, y32))
    x16 = jnp.asarray(x32).astype(jnp.bfloat16)
    np.testing.assert_array_equal(measure_all(x16, jnp.asarray(y32)),
                                  measure_all(np.asarray(x16.astype(jnp.float32)), y32))
    np.testing.assert_array_equal(measure_all(jnp.asarray(x32)[:, ::2], y32),
                                  measure_all(np.ascontiguousarray(x32[:, ::2]), y32))


# ----------------------------------------------------------------------------------------------
# Errors


def raises_input_error(match, f, *args, **kw):
    with pytest.raises(convlab.InputError, match=match) as err:
        f(*args, **kw)
    assert isinstance(err.value, ValueError) and isinstance(err.value, convlab.Error)
    return str(err.value)


def test_error_classes():
    assert issubclass(convlab.InputError, ValueError)
    assert issubclass(convlab.InputError, convlab.Error)
    assert issubclass(convlab.RunError, convlab.Error)
    assert not issubclass(convlab.InputError, convlab.RunError)


def test_mismatched_examples(rng):
    x = rng.standard_normal((50, 5))
    y = rng.standard_normal((49, 5))
    msg = raises_input_error("examples", convlab.cka, x, y)
    assert "49" in msg and "50" in msg
    raises_input_error("examples", convlab.cka_matrix, [x, y])
    raises_input_error("examples", convlab.cka_matrix, [x], [y])
    raises_input_error("examples", convlab.cka_matrix, [x], [y], measure="rsa")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("measure", ["cka", "rsa", "procrustes"])
def test_non_finite_features(rng, bad, measure):
    x = rng.standard_normal((30, 5))
    y = rng.standard_normal((30, 6))
    y[7, 2] = bad
    msg = raises_input_error(r"NaN|non-finite|not finite|infinite", convlab.cka_matrix, [x], [y], measure=measure)
    assert msg.strip()
    x32 = x.astype(np.float32)
    x32[0, 0] = bad
    raises_input_error(r"NaN|non-finite|not finite|infinite", convlab.cka_matrix, [x32, x], measure=measure,
                       batch_size=10)


def test_nan_message_says_where(rng):
    x = rng.standard_normal((30, 5))
    y = rng.standard_normal((30, 6))
    y[7, 2] = np.nan
    msg = raises_input_error("NaN|finite", convlab.cka, x, y)
    assert "example" in msg or "column" in msg or "feature" in msg, msg


def test_unknown_names(pair):
    x, y = pair
    msg = raises_input_error("kernel", convlab.cka, x, y, kernel="gaussian")
    assert "gaussian" in msg and "linear" in msg and "rbf" in msg
    msg = raises_input_error("measure", convlab.cka_matrix, [x], [y], measure="cca")
    assert "cca" in msg and "rsa" in msg
    msg = raises_input_error("estimator", convlab.cka, x, y, estimator="unbiased")
    assert "unbiased" in msg and "debiased" in msg
    raises_input_error("kernel", convlab.cka_matrix, [x], kernel="Linear")
    raises_input_error("device", convlab.cka, x, y, device="tpu")


def test_bad_batch_size(pair):
    x, y = pair
    for bad in (0, -3, 2.5, "10"):
        msg = raises_input_error("batch_size", convlab.cka_matrix, [x], [y], batch_size=bad)
        assert repr(bad) in msg or str(bad) in msg


def test_bad_rbf_frac(pair):
    x, y = pair
    for bad in (0.0, -1.0, float("nan")):
        raises_input_error("rbf_frac", convlab.cka, x, y, kernel="rbf", rbf_frac=bad)


def test_rbf_width_that_fits_nothing(pair):
    x, y = pair
    raises_input_error(r"rbf|RBF", convlab.cka, x, y, kernel="rbf", rbf_frac=1e-4)


def test_bare_array_instead_of_a_list(pair):
    x, y = pair
    msg = raises_input_error("list", convlab.cka_matrix, x)
    assert "[x]" in msg or "one array" in msg
    raises_input_error("list", convlab.cka_matrix, [x], y)
    raises_input_error("list", convlab.cka_matrix, x, [y])
    cmp = convlab.Comparison()
    raises_input_error("list", cmp.add, x)


def test_other_bad_inputs(rng, pair):
    x, y = pair
    raises_input_error("no layers", convlab.cka_matrix, [])
    raises_input_error("numbers", convlab.cka, np.array([["a", "b"]] * 10), y[:10])
    raises_input_error("numbers", convlab.cka, np.array([[object()]] * 10), y[:10])
    raises_input_error("scalar", convlab.cka, np.float64(3.0), y)
    raises_input_error("features", convlab.cka, np.empty((80, 0)), y)
    raises_input_error(r"at least|examples", convlab.cka, x[:3], y[:3])  # debiased needs 4
    raises_input_error("seed", convlab.cka_matrix, [x], [y], batch_size=20, bootstrap=10, seed=-1)


def test_empty_dict_of_layers(pair):
    x, y = pair
    raises_input_error("no layers", convlab.cka_matrix, {})
    raises_input_error("no layers", convlab.cka_matrix, {"a": x}, {})
    cmp = convlab.Comparison()
    raises_input_error("no layers|layer", cmp.add, {})


def test_constant_layer_gives_nan_not_an_error(rng):
    x = np.ones((30, 5))
    y = rng.standard_normal((30, 4))
    assert np.isnan(convlab.cka(x, y))


def test_cuda_without_cuda(pair):
    if convlab.cuda_available():
        pytest.skip("a GPU answers here")
    x, y = pair
    msg = raises_input_error("CUDA|GPU|cuda", convlab.cka, x, y, device="cuda")
    assert "cpu" in msg


def test_torch_cuda_tensors_are_compared_on_their_gpu(pair):
    # Where a GPU answers to both PyTorch and convlab: CUDA tensors go to the CUDA measures
    # without a copy to the host. Their Gram products run in TF32 (10-bit mantissa), hence the
    # tolerances: CKA within 2e-3, RSA and Procrustes within 1e-2 of the float64 CPU values.
    torch = pytest.importorskip("torch")
    if not (torch.cuda.is_available() and convlab.cuda_available()):
        pytest.skip("needs a GPU that both PyTorch and convlab see")
    x, y = pair
    cpu = measure_all(x.astype(np.float32), y.astype(np.float32))
    gx, gy = torch.from_numpy(x).float().cuda(), torch.from_numpy(y).float().cuda()
    gpu = measure_all(gx, gy)
    np.testing.assert_allclose(gpu[:2], cpu[:2], atol=2e-3)
    np.testing.assert_allclose(gpu[2:], cpu[2:], atol=1e-2)
    comparison = convlab.Comparison(measures=("cka", "rsa"))
    for first in range(0, 80, 40):
        comparison.add([gx[first:first + 40]], [gy[first:first + 40]])
    assert comparison._core.device.startswith("cuda")
    result = comparison.result()
    np.testing.assert_allclose(result["cka"], convlab.cka_matrix([x], [y], batch_size=40), atol=2e-3)
