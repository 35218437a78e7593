"""CKA, RSA, Procrustes, mutual k-NN, CKNNA, SVCCA, PWCCA and linear predictivity between the
layers of networks, from arrays in Python (docs/measures.md defines each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Union

import numpy as np

from . import _convlab
from ._arrays import layer_list

_MEASURES = ("cka", "rsa", "procrustes", "mutual_knn", "cknna", "svcca", "pwcca", "ridge")
_MEASURE_TEXT = ", ".join(repr(m) for m in _MEASURES)


def _parameters(knn: int, svcca_variance: float, svcca_dims: Optional[int], ridge: float,
                permutations: int = 0) -> list[tuple[str, float]]:
    """The measures' own settings as the core takes them (it checks their ranges)."""
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 0:
        raise _convlab.InputError(f"permutations must be a whole number, 0 (none) or more, got {permutations!r}")
    for name, value in (("knn", knn), ("svcca_variance", svcca_variance), ("ridge", ridge)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise _convlab.InputError(f"{name} must be a number, got {value!r}")
    out = [("knn", float(knn)), ("svcca_variance", float(svcca_variance)), ("ridge", float(ridge)),
           ("permutations", float(permutations))]
    if svcca_dims is not None:
        if isinstance(svcca_dims, bool) or not isinstance(svcca_dims, (int, np.integer)):
            raise _convlab.InputError(f"svcca_dims must be a whole number or None, got {svcca_dims!r}")
        out.append(("svcca_dims", float(svcca_dims)))
    return out


@dataclass(frozen=True)
class Result:
    """A similarity matrix with its bootstrap over batches.

    ``value`` is the estimate from all batches (rows: layers of A, columns: layers of B);
    ``std``, ``low`` and ``high`` are, per cell, the standard deviation and the 2.5 % and
    97.5 % quantiles of the estimate over ``replicates`` resamples of the batches (drawn with
    replacement; seeded, so the same seed gives the same intervals). ``mean`` is the mean of
    the replicates.
    """

    value: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    replicates: int
    seed: int


@dataclass(frozen=True)
class Tested:
    """A similarity matrix with a permutation test of every cell (``permutations > 0``).

    ``value`` is the estimate; ``p_value`` each cell's permutation p-value, (1 + permutations at
    least as similar) / (1 + permutations); ``significant`` (bool) whether it stays below
    ``alpha`` after Holm's correction over the matrix's cells; ``null_mean``, ``null_q05`` and
    ``null_q95`` the null's mean and 5th and 95th percentiles (B's examples shuffled within
    each batch). ``bootstrap`` is the bootstrap's Result when one was asked for, else None.
    """

    value: np.ndarray
    p_value: np.ndarray
    significant: np.ndarray
    null_mean: np.ndarray
    null_q05: np.ndarray
    null_q95: np.ndarray
    permutations: int
    seed: int
    alpha: float
    bootstrap: Optional[Result]


def _kernel_spec(kernel: str, rbf_frac: float) -> list[tuple[str, float]]:
    if kernel not in ("linear", "rbf"):
        raise _convlab.InputError(f"unknown kernel {kernel!r}: use 'linear' or 'rbf'")
    return [(kernel, float(rbf_frac))]


def _measure_list(measures: Union[str, Iterable[str]]) -> list[str]:
    names = [measures] if isinstance(measures, str) else list(measures)
    if not names:
        raise _convlab.InputError(f"no measure: choose from {_MEASURE_TEXT}")
    for m in names:
        if m not in _MEASURES:
            raise _convlab.InputError(f"unknown measure {m!r}: use one of {_MEASURE_TEXT}")
    if len(set(names)) != len(names):
        raise _convlab.InputError(f"a measure is named twice in {names}")
    return names


def _matrix(d: dict) -> Union[np.ndarray, Result, Tested]:
    boot = None
    if "bootstrap" in d:
        b = d["bootstrap"]
        boot = Result(value=d["values"], std=b["std"], low=b["low"], high=b["high"], mean=b["mean"],
                      replicates=int(b["replicates"]), seed=int(b["seed"]))
    if "permutation" not in d:
        return d["values"] if boot is None else boot
    t = d["permutation"]
    return Tested(value=d["values"], p_value=t["p_value"], significant=t["significant"].astype(bool),
                  null_mean=t["null_mean"], null_q05=t["null_q05"], null_q95=t["null_q95"],
                  permutations=int(t["permutations"]), seed=int(t["seed"]), alpha=float(t["alpha"]), bootstrap=boot)


def _check_seed(seed: int) -> int:
    if not isinstance(seed, (int, np.integer)) or seed < 0 or seed >= 2**64:
        raise _convlab.InputError(f"seed must be an integer in [0, 2^64), got {seed!r}")
    return int(seed)


def cka_matrix(features_a: Any, features_b: Any = None, kernel: str = "linear", measure: str = "cka",
               estimator: str = "debiased", batch_size: Optional[int] = None, bootstrap: int = 0, seed: int = 0,
               device: str = "auto", rbf_frac: float = 1.0, precision: Optional[str] = None, knn: int = 10,
               svcca_variance: float = 0.99, svcca_dims: Optional[int] = None,
               ridge: float = 0.1, permutations: int = 0) -> Union[np.ndarray, Result, Tested]:
    """Similarity of every layer of A with every layer of B (or of A with itself).

    features_a, features_b: a list of arrays, one per layer, each ``(n, ...)`` with the same n
    examples in the same order (each example's values are flattened), or a dict of layer
    name -> array. numpy arrays and any DLPack producer (PyTorch, JAX, CuPy tensors) are read
    in place, without a copy, when they are float32 or float64 and C-contiguous; float16,
    bfloat16 and integer arrays are converted to float32 first. features_b None compares A
    with itself: every cell is computed from its own pair, nothing is mirrored.

    kernel: "linear" or "rbf" (CKA only); rbf_frac scales the RBF width, s^2 = rbf_frac^2
    times the median squared distance between distinct examples of each batch.
    measure: "cka", "rsa" (Spearman correlation of the correlation-distance RDMs),
    "procrustes" (the orthogonal Procrustes distance, in [0, 2]; 0 for layers equal up to a
    rotation), "mutual_knn" (shared k nearest neighbours, Huh et al. 2024), "cknna" (CKA
    restricted to mutual neighbours), "svcca" (mean canonical correlation after a PCA
    reduction), "pwcca" (projection-weighted CCA, weighted by A: asymmetric) or "ridge" (the
    leave-one-out R^2 of a ridge regression from A's layer to B's: asymmetric).
    knn: neighbours per example for mutual_knn and cknna, searched within each batch (the
    batch size is part of the measure). svcca_variance / svcca_dims: the share of variance,
    or the number of principal directions, that svcca and pwcca keep. ridge: the penalty as a
    multiple of the source Gram's mean eigenvalue. docs/measures.md defines every measure.
    permutations: a permutation test of every cell (B's examples shuffled within each batch,
    seeded by seed); then a Tested with .value, .p_value, .significant (Holm over the
    matrix), .null_mean, .null_q05, .null_q95 and .bootstrap is returned.
    estimator: CKA's HSIC estimator, "debiased" (Song et al. 2012; unbiased for any batch
    size, needs 4 examples per batch) or "biased" (the reference's; reads unrelated wide
    layers well above 0 in small batches).
    batch_size: None takes all n examples as one batch. Otherwise the minibatch estimator of
    Nguyen et al. (2021): per-batch terms averaged over batches weighted by their sizes (a
    short last batch counts for its examples; one below the measure's minimum is left out).
    bootstrap: replicates of a bootstrap over batches (needs batch_size and at least 2
    batches); then a Result with .value, .std, .low, .high is returned.
    device: "auto" computes where the arrays lie (CUDA tensors on their GPU, without a copy
    to the host); "cpu", "cuda" or "cuda:N" move each batch there.
    precision: how a GPU multiplies the features: "tf32" (tensor cores; CKA within 1e-4 of
    float64) or "fp32"; None takes each measure's default, tf32 for CKA and fp32 for RSA and
    Procrustes. The CPU computes CKA, RSA and Procrustes in fp32 (fp64 for float64 arrays),
    the other measures in fp64 (on the CPU, also for arrays on a GPU).

    Returns a float64 array (layers of A, layers of B), or a Result with bootstrap > 0.
    Raises convlab.InputError (a ValueError) for bad input; Ctrl-C stops between batches.
    """
    if not isinstance(measure, str):
        raise _convlab.InputError(f"cka_matrix computes one measure ({_MEASURE_TEXT}), got {measure!r}; "
                                  "convlab.Comparison(measures=...) computes several from one pass")
    measures = _measure_list(measure)
    arrays_a, names_a = layer_list(features_a, "features_a")
    arrays_b, names_b = (None, None) if features_b is None else layer_list(features_b, "features_b")
    n = int(arrays_a[0].shape[0])
    if batch_size is None:
        if bootstrap:
            raise _convlab.InputError("the bootstrap resamples batches: give a batch_size that makes 2 or more")
        batch_size = max(n, 1)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise _convlab.InputError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    out = _convlab.compare(arrays_a, arrays_b, names_a, names_b, measures, _kernel_spec(kernel, rbf_frac),
                           estimator, int(batch_size), int(bootstrap), _check_seed(seed), device, precision,
                           _parameters(knn, svcca_variance, svcca_dims, ridge, permutations))
    return _matrix(out[0])


def cka(x: Any, y: Any, kernel: str = "linear", estimator: str = "debiased", rbf_frac: float = 1.0,
        device: str = "auto", precision: Optional[str] = None) -> float:
    """CKA between two representations of the same n examples, from all n at once.

    x: (n, ...) and y: (n, ...) arrays (numpy or any DLPack producer; see cka_matrix), the
    features of the same examples in the same order. kernel "linear" or "rbf" (width s^2 =
    rbf_frac^2 times the median squared distance between distinct examples); estimator
    "debiased" (needs n >= 4) or "biased" (the reference's; needs n >= 3); device and
    precision as for cka_matrix.
    Returns a float; NaN (with a warning) when a layer is constant.
    """
    return float(cka_matrix([x], [y], kernel=kernel, estimator=estimator, rbf_frac=rbf_frac, device=device,
                            precision=precision)[0, 0])


class Comparison:
    """Similarity of layers accumulated batch by batch: for a loop over a DataLoader.

    Each ``add`` takes the features of one batch of examples at every layer of network A (and
    of B; None compares A with itself): a list of arrays, one per layer, or a dict of layer
    name -> array, as forward hooks collect them. Only per-batch terms are kept, ((L + M)^2
    numbers per batch), so memory does not grow with the data set beyond them, and no layer's
    features are ever held for more than one batch. Batches may differ in size; each counts in
    proportion to its examples. ``result()`` may be called at any time.

    measures: any of "cka", "rsa", "procrustes", "mutual_knn", "cknna", "svcca", "pwcca",
    "ridge"; kernel, estimator, rbf_frac: CKA's; knn, svcca_variance, svcca_dims, ridge: the
    other measures'; permutations: a permutation test of every cell (see cka_matrix). bootstrap: replicates of a bootstrap over the batches added. device "auto"
    computes where each batch lies (CUDA tensors stay on their GPU); precision as for
    cka_matrix.
    """

    def __init__(self, measures: Union[str, Iterable[str]] = ("cka",), kernel: str = "linear",
                 estimator: str = "debiased", bootstrap: int = 0, seed: int = 0, device: str = "auto",
                 rbf_frac: float = 1.0, precision: Optional[str] = None, knn: int = 10,
                 svcca_variance: float = 0.99, svcca_dims: Optional[int] = None, ridge: float = 0.1,
                 permutations: int = 0) -> None:
        self._measures = _measure_list(measures)
        self._parameters = _parameters(knn, svcca_variance, svcca_dims, ridge, permutations)
        self._kernels = _kernel_spec(kernel, rbf_frac)
        self._estimator = estimator
        if not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0 or bootstrap == 1:
            raise _convlab.InputError(f"bootstrap must be 0 (none) or at least 2 replicates, got {bootstrap!r}")
        self._bootstrap = int(bootstrap)
        self._seed = _check_seed(seed)
        self._device = device
        self._precision = precision
        self._core: Optional[Any] = None
        self._names: Optional[tuple] = None
        # Settings are checked now, not at the first batch.
        _convlab.ComparisonCore(["a"], None, self._measures, self._kernels, estimator, self._bootstrap, self._seed,
                                "cpu", precision, self._parameters)

    def add(self, batch_a: Any, batch_b: Any = None) -> None:
        """Adds one batch: the same examples' features at every layer of A (and of B)."""
        arrays_a, names_a = layer_list(batch_a, "batch_a")
        arrays_b, names_b = (None, None) if batch_b is None else layer_list(batch_b, "batch_b")
        if self._core is None:
            names_a = names_a or [str(i) for i in range(len(arrays_a))]
            if arrays_b is not None:
                names_b = names_b or [str(i) for i in range(len(arrays_b))]
            self._core = _convlab.ComparisonCore(names_a, names_b, self._measures, self._kernels, self._estimator,
                                                 self._bootstrap, self._seed, self._device, self._precision,
                                                 self._parameters)
            self._names = (names_a, names_b)
        elif (arrays_b is None) != (self._names[1] is None):
            raise _convlab.InputError(
                "the first batch had features of network B, this one has none" if arrays_b is None else
                "the first batch compared network A with itself; this one has features of network B")
        else:
            for names, first, network in ((names_a, self._names[0], "A"), (names_b, self._names[1], "B")):
                if names is not None and names != first:
                    raise _convlab.InputError(f"this batch names the layers of network {network} {names}, the first "
                                              f"batch {first}: every batch holds the same layers in the same order")
        self._core.add(arrays_a, arrays_b)

    def result(self) -> Union[np.ndarray, Result, dict]:
        """The matrices from the batches so far: with one measure, its matrix (a float64 array,
        or a Result with a bootstrap); with several, a dict of measure -> matrix."""
        if self._core is None:
            raise _convlab.InputError("no batch yet: add() the features of at least one batch first")
        matrices = {d["measure"]: _matrix(d) for d in self._core.result()}
        return matrices[self._measures[0]] if len(self._measures) == 1 else matrices

    @property
    def batches(self) -> int:
        """Batches added so far."""
        return 0 if self._core is None else self._core.batches

    @property
    def examples(self) -> int:
        """Examples added so far."""
        return 0 if self._core is None else self._core.examples

    @property
    def layer_names(self) -> tuple:
        """(names of A's layers, names of B's layers or None), from the first batch."""
        return self._names if self._names is not None else (None, None)


def CKA(X: Any, Y: Any, kernel: str = "linear", threshold: float = 1.0) -> float:
    """The reference's call, CKA(X, Y, kernel="linear"): biased CKA from all examples at once.

    The same estimator as the reference's (biased HSIC), with the RBF width from the median
    squared distance times threshold^2 (the reference takes a percentile instead: one of its
    defects). For unbiased values use convlab.cka(x, y) (debiased by default).
    """
    return cka(X, Y, kernel=kernel, estimator="biased", rbf_frac=threshold)


def get_cka_matrix(features_a: Any, features_b: Any, kernel: str = "linear", threshold: float = 1.0) -> np.ndarray:
    """The reference's call, get_cka_matrix(features, features, kernel="linear"): biased CKA of
    every layer pair from all examples at once. Unlike the reference, every cell is computed
    from its own pair (nothing is mirrored, so two different networks are compared right) and
    the kernel is honoured for two networks too."""
    b = None if features_b is features_a else features_b
    return cka_matrix(features_a, b, kernel=kernel, estimator="biased", rbf_frac=threshold)
