"""Which layer is which (Kornblith et al. 2019, section 6.1, table 2), as `convlab-analyze
identify` runs it: networks of one architecture from different seeds, and for each measure how
often the most similar layer of network B is the corresponding layer of network A."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from . import _convlab
from ._analysis import (_MEASURES, Result, Tested, _check_seed, _matrix, _measure_list, _parameters)
from ._arrays import layer_list
from ._models import Model, _as_images


@dataclass(frozen=True)
class IdentifyRow:
    """One measure's score in the which-layer-is-which test.

    ``measure`` is its label ("cka linear", "cka rbf", "rsa", "procrustes", ...);
    ``accuracy`` the share of (ordered pair, layer of A) for which the most similar layer of B
    is the corresponding one, in [0, 1]; ``per_layer`` (float64, one per layer) the same
    share for each layer of A over the pairs; ``layers`` and ``pairs`` what it was taken over.
    """

    measure: str
    accuracy: float
    layers: int
    pairs: int
    per_layer: np.ndarray


@dataclass(frozen=True, repr=False)
class Identification:
    """What convlab.identify found: one IdentifyRow per measure (CKA per kernel), in ``rows``.

    ``networks``: the networks' names, in the order given (a dict's keys; else "network 0",
    ..., with a checkpoint's run and epoch). ``layer_names``: their layers.
    ``pairs``: the ordered pairs (a, b) of network indices, a != b, and ``matrices``, for each
    pair in that order, a dict of measure label -> its matrix (rows: layers of network a,
    columns: layers of network b; a float64 array, or a Result / Tested with a bootstrap or a
    permutation test). ``examples`` and ``batch_size``: what the measures were computed from
    (the examples used, and the examples per batch).

    ``result["cka linear"]`` is a measure's row, ``result.accuracy`` a dict of label ->
    accuracy, ``result.most_similar(label)`` the layer of B each layer of A found most
    similar, and ``print(result)`` the table convlab-analyze prints.
    """

    rows: tuple
    networks: tuple
    layer_names: tuple
    pairs: tuple
    matrices: tuple
    examples: int
    batch_size: int

    def __getitem__(self, measure: str) -> IdentifyRow:
        for row in self.rows:
            if row.measure == measure:
                return row
        raise KeyError(f"no measure {measure!r} here; there are {', '.join(r.measure for r in self.rows)}")

    def __iter__(self) -> Iterator[IdentifyRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def accuracy(self) -> dict:
        """Measure label -> accuracy."""
        return {row.measure: row.accuracy for row in self.rows}

    def most_similar(self, measure: str) -> np.ndarray:
        """For each ordered pair (rows, in the order of ``pairs``) and layer of A (columns), the
        index of the layer of B with the largest value (the smallest Procrustes distance); the
        first of a tie; -1 where the row is all NaN."""
        self[measure]  # a KeyError naming the measures there are
        lower = measure == "procrustes"
        out = np.full((len(self.pairs), len(self.layer_names)), -1, dtype=np.int64)
        for p, matrices in enumerate(self.matrices):
            values = _values(matrices[measure])
            for i, row in enumerate(values):
                if np.all(np.isnan(row)):
                    continue
                out[p, i] = int(np.nanargmin(row) if lower else np.nanargmax(row))
        return out

    def table(self, per_layer: bool = False) -> str:
        """The table convlab-analyze identify prints; with per_layer, each layer's accuracy too."""
        lines = [f"which layer is which (Kornblith et al. 2019, table 2): {len(self.networks)} networks, "
                 f"{len(self.pairs)} ordered pairs, {len(self.layer_names)} layers, {self.examples} examples in "
                 f"batches of {self.batch_size}",
                 f"  {'measure':<12} {'accuracy':>9} {'layers':>7} {'pairs':>6}"]
        for r in self.rows:
            lines.append(f"  {r.measure:<12} {100 * r.accuracy:>8.1f}% {r.layers:>7} {r.pairs:>6}")
        if per_layer:
            width = max(12, *(len(name) for name in self.layer_names))
            lines.append("  per layer of A:")
            lines.append(f"  {'layer':<{width}} " + " ".join(f"{r.measure:>10}" for r in self.rows))
            for i, name in enumerate(self.layer_names):
                lines.append(f"  {name:<{width}} " + " ".join(f"{100 * r.per_layer[i]:>9.1f}%" for r in self.rows))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.table()


def _values(matrix: Union[np.ndarray, Result, Tested]) -> np.ndarray:
    return matrix if isinstance(matrix, np.ndarray) else matrix.value


def _kernels(kernel: str, rbf_frac: float) -> list:
    if kernel not in ("linear", "rbf", "both"):
        raise _convlab.InputError(f"unknown kernel {kernel!r}: use 'linear', 'rbf' or 'both'")
    return [(k, float(rbf_frac)) for k in ("linear", "rbf") if kernel in (k, "both")]


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise _convlab.InputError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def _run_name(model: Model) -> str:
    """The run's folder for a checkpoint in <run>/checkpoints, else the file's folder or stem, as
    convlab-analyze names networks."""
    path = model.path
    name = path.parent.parent.name if path.parent.name == "checkpoints" else path.parent.name
    return f"{name or path.stem} epoch {model.epoch}"


def identify(networks: Union[Sequence[Any], Mapping[str, Any]], images: Any = None,
             measures: Union[None, str, Iterable[str]] = None, kernel: str = "both", estimator: str = "debiased",
             batch_size: Optional[int] = 1000, examples: Optional[int] = None, bootstrap: int = 0, seed: int = 0,
             device: str = "auto", rbf_frac: float = 1.0, precision: Optional[str] = None, knn: int = 10,
             svcca_variance: float = 0.99, svcca_dims: Optional[int] = None, ridge: float = 0.1,
             permutations: int = 0, data: Union[None, str, os.PathLike] = None,
             cache_dir: Union[None, str, os.PathLike] = None) -> Identification:
    """Which layer is which (Kornblith et al. 2019, table 2), as ``convlab-analyze identify``.

    For two or more networks of one architecture (trained from different seeds), every
    ordered pair (A, B) and every layer i of A: does a measure find layer i of B the most
    similar to it (the largest value of row i; the smallest Procrustes distance)? A tie of t
    layers that includes i counts 1/t; NaN is never the most similar. A measure's accuracy is
    the share of right answers over all ordered pairs and layers.

    networks: a list of networks, or a dict of name -> network, each one of
      - a list of arrays, one per layer (or a dict of layer name -> array), each ``(n, ...)``
        with the same n examples in the same order in every network (see cka_matrix);
      - a checkpoint path, or a run folder (for its final checkpoint), as convlab-analyze
        takes them; or a convlab.Model. These run over ``images``.
    Every network must have the same layers (a list of arrays takes the names of the other
    networks' layers, else "0", "1", ...).
    images: for checkpoints and Models, uint8 images, (n, 32, 32, 3) or (n, 3, 32, 32). None
    takes CIFAR-10's test images as convlab-analyze does: from ``data`` (its folder or
    archive; None searches where convlab-analyze does), the first ``examples`` of its fixed
    permutation (all 10,000 by default), decoded once into ``cache_dir``.
    measures: a name or list of names among "cka", "rsa", "procrustes", "mutual_knn",
    "cknna", "svcca", "pwcca", "ridge"; None (the default) runs them all.
    kernel: CKA's, "both" (the default: a row for each), "linear" or "rbf".
    batch_size: examples per minibatch (default 1000, as convlab-analyze); None takes all
    examples as one batch. examples: the first N examples (None: all).
    estimator, rbf_frac, knn, svcca_variance, svcca_dims, ridge, bootstrap, permutations,
    seed, precision: the measures' settings, as for cka_matrix; a bootstrap or permutation
    test is kept with each pair's matrices.
    device: "auto" computes where the arrays lie and runs checkpoints on GPU 0 when one
    answers, else on the CPU; "cpu", "cuda" or "cuda:N" loads checkpoints there and moves
    every batch of features there. A Model runs where it was loaded.

    Returns an Identification: its rows (measure label, accuracy, layers, pairs, per_layer),
    the pairs' matrices, and a table as its repr. Raises convlab.InputError (a ValueError)
    for fewer than two networks, networks with different layers or examples, and bad
    settings.
    """
    if isinstance(networks, Mapping):
        labels = [str(k) for k in networks.keys()]
        items = list(networks.values())
    elif isinstance(networks, (str, os.PathLike, Model, np.ndarray)) or not isinstance(networks, Sequence):
        raise _convlab.InputError(
            f"networks: pass a list of two or more networks (checkpoints, run folders, convlab.Model objects or "
            f"lists of per-layer arrays), got {type(networks).__name__}")
    else:
        items = list(networks)
        labels = [f"network {i}" for i in range(len(items))]
    if len(items) < 2:
        raise _convlab.InputError(f"identify needs two or more networks of one architecture (different seeds), "
                                  f"got {len(items)}")
    names = _measure_list(list(_MEASURES) if measures is None else measures)
    kernels = _kernels(kernel, rbf_frac)
    parameters = _parameters(knn, svcca_variance, svcca_dims, ridge, permutations)
    if not isinstance(bootstrap, (int, np.integer)) or isinstance(bootstrap, bool) or bootstrap < 0 or bootstrap == 1:
        raise _convlab.InputError(f"bootstrap must be 0 (none) or at least 2 replicates, got {bootstrap!r}")
    count = 0 if examples is None else _positive(examples, "examples")
    if not isinstance(device, str):
        raise _convlab.InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    seed = _check_seed(seed)
    # The core's checks of the settings, now: before checkpoints and images are loaded.
    _convlab.ComparisonCore(["a"], None, names, kernels, estimator, int(bootstrap), seed, device, precision,
                            parameters)

    cores: list = []
    layer_names: list = []
    descriptions: list = []
    models = 0
    for label, item in zip(labels, items):
        if isinstance(item, (str, os.PathLike)):
            file = _convlab.network_file(os.fspath(item))
            item = Model.from_checkpoint(file, device=device)
        if isinstance(item, Model):
            models += 1
            cores.append(item._core)
            layer_names.append(item.layers)
            descriptions.append(label if isinstance(networks, Mapping) else f"{label} ({_run_name(item)})")
        else:
            arrays, given = layer_list(item, label)
            cores.append(arrays)
            layer_names.append(given)
            descriptions.append(label)
    # A list of arrays takes the layer names of the first network that has names, when it has
    # as many layers; else "0", "1", ... The core then checks that all agree.
    named = next((n for n in layer_names if n is not None), None)
    for i, (core, given) in enumerate(zip(cores, layer_names)):
        if given is None:
            layer_names[i] = list(named) if named is not None and len(named) == len(core) else \
                [str(l) for l in range(len(core))]

    pixels = None
    if models:
        if images is not None:
            if data is not None:
                raise _convlab.InputError("images and data both give the images: pass one")
            pixels = _as_images(images)
        else:
            pixels, _ = _convlab.cifar10_test_images(None if data is None else os.fspath(data),
                                                     None if cache_dir is None else os.fspath(cache_dir), count)
            count = 0  # the CLI's first N test images are chosen already
    elif images is not None or data is not None:
        raise _convlab.InputError("images and data are for networks given as checkpoints, run folders or "
                                  "convlab.Model objects; these networks are arrays of features already")
    if batch_size is None:  # one batch of every example
        sizes = [int(c[0].shape[0]) for c in cores if isinstance(c, list)]
        batch_size = max(sizes + ([pixels.shape[0]] if models else []) + [1])
    batch_size = _positive(batch_size, "batch_size")

    rows, pairs, matrices = _convlab.identify(
        cores, descriptions, [list(n) for n in layer_names], pixels, names, kernels, estimator, batch_size, count,
        int(bootstrap), seed, device, precision, parameters)
    first = matrices[0][0]
    return Identification(
        rows=tuple(IdentifyRow(measure=r["measure"], accuracy=float(r["accuracy"]), layers=int(r["layers"]),
                               pairs=int(r["pairs"]), per_layer=np.asarray(r["per_layer"]).reshape(-1))
                   for r in rows),
        networks=tuple(descriptions),
        layer_names=tuple(first["row_names"]),
        pairs=tuple(tuple(p) for p in pairs),
        matrices=tuple({d["label"]: _matrix(d) for d in pair} for pair in matrices),
        examples=int(first["examples"]),
        batch_size=min(int(first["batch_size"]), int(first["examples"])),
    )
