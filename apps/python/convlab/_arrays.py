"""Arrays from numpy, PyTorch, JAX or CuPy, as the compiled measures read them.

The measures read float32 or float64 values, one row of features per example (``(n, ...)``
arrays are flattened per example), C-contiguous, in host memory or on a CUDA GPU. Arrays that
already are so are passed on as they are: numpy's through the buffer protocol, the others
through DLPack, without a copy. Others are converted first by their own library: float16,
bfloat16 and integer values to float32 (float64 stays float64), strided views to contiguous
copies.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

_EXACT = ("float32", "float64")


def _dtype_name(x: Any) -> str:
    name = str(getattr(x, "dtype", ""))
    return name.rsplit(".", 1)[-1]  # torch.float32 -> float32


def as_features(x: Any, what: str) -> Any:
    """`x` as a float32/float64 C-contiguous array the module accepts (the same object if it is one)."""
    if isinstance(x, np.ndarray) or not hasattr(x, "__dlpack__"):
        a = np.asarray(x)
        if a.dtype.kind not in "fiub":
            raise _input_error(f"{what}: features must be numbers, got an array of {a.dtype}")
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float32)
        if a.ndim == 0:
            raise _input_error(f"{what}: features must have a first axis of examples, got a scalar")
        return np.ascontiguousarray(a)
    # A DLPack producer: PyTorch, JAX, CuPy, ...
    name = _dtype_name(x)
    if name not in _EXACT:
        x = _convert(x, name, what)
    if hasattr(x, "is_contiguous") and not x.is_contiguous():  # PyTorch
        x = x.contiguous()
    return x


def _convert(x: Any, name: str, what: str) -> Any:
    """float16, bfloat16 or integer values to float32, by the array's own library."""
    module = type(x).__module__.split(".")[0]
    if module == "torch":
        return x.float()
    if hasattr(x, "astype"):  # JAX, CuPy
        return x.astype("float32")
    raise _input_error(f"{what}: features of type {name} cannot be converted; pass float32 or float64")


def _input_error(message: str) -> Exception:
    from . import _convlab

    return _convlab.InputError(message)


def layer_list(features: Any, what: str) -> tuple[list[Any], list[str] | None]:
    """A list of layers, or a mapping of layer name -> features (names kept), as (arrays, names)."""
    if isinstance(features, Mapping):
        if not features:
            raise _input_error(f"{what}: no layers")
        names = [str(k) for k in features.keys()]
        arrays = [as_features(v, f"layer {k!r} of {what}") for k, v in features.items()]
        return arrays, names
    if hasattr(features, "__dlpack__") or isinstance(features, np.ndarray):
        raise _input_error(
            f"{what}: pass a list of layers (each an array of shape (n, ...)), not one array; "
            "for one layer, [x]")
    if not isinstance(features, Sequence):
        raise _input_error(f"{what}: pass a list of layers or a dict of layer name -> features, got {type(features).__name__}")
    if len(features) == 0:
        raise _input_error(f"{what}: no layers")
    return [as_features(v, f"layer {i} of {what}") for i, v in enumerate(features)], None
