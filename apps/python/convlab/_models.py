"""Checkpoints and trained networks from Python: the tensors of a checkpoint, and a checkpoint's
network run over images for its logits and the features of its layers."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Iterable, Optional, Union

import numpy as np

from . import _convlab

_IMAGES_ACCEPTED = ("images must be uint8 pixels (0..255), as CIFAR-10 stores them, of shape (n, 32, 32, 3) "
                    "(height, width, RGB) or (n, 3, 32, 32) (RGB planes); convlab normalises them itself")


def _path(path: Any, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise _convlab.InputError(f"{what} must be a path (str or pathlib.Path), got {type(path).__name__}")
    return os.fspath(path)


def load_checkpoint(path: Union[str, os.PathLike]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of a checkpoint (any safetensors file).

    Returns ``(tensors, metadata)``: tensors maps each name ("conv1.weight",
    "bn1.running_mean", ..., and "optimizer.momentum.<name>" in a resume file) to a numpy
    array of the file's dtype and shape (convlab writes float32); metadata is the file's
    metadata, str -> str (model_name, depth, epoch, input_mean, class_names, ...; lists and
    maps are JSON text). The same arrays as ``safetensors.numpy.load_file(path)``.

    Raises convlab.InputError naming the file when it is missing or not a valid safetensors
    file, or when a tensor's dtype has no numpy type (BF16, 8-bit floats).
    """
    tensors, metadata = _convlab.load_checkpoint(_path(path, "path"))
    return tensors, metadata


def _as_images(images: Any) -> np.ndarray:
    """`images` as the module takes them: uint8 (n, 3, 32, 32), C-contiguous."""
    try:
        array = np.asarray(images)
    except Exception as e:  # a GPU tensor, say
        raise _convlab.InputError(f"{_IMAGES_ACCEPTED}; got {type(images).__name__}, which numpy cannot read "
                                  f"({e}); for a GPU tensor, pass x.cpu()") from None
    if array.dtype != np.uint8:
        hint = ("; for values scaled to [0, 1], pass (x * 255).round().astype(np.uint8)"
                if array.dtype.kind == "f" else "")
        raise _convlab.InputError(f"{_IMAGES_ACCEPTED}; got {array.dtype}{hint}")
    if array.ndim == 4 and array.shape[1:] == (3, 32, 32):
        planar = array
    elif array.ndim == 4 and array.shape[1:] == (32, 32, 3):
        planar = array.transpose(0, 3, 1, 2)
    else:
        hint = "; for one image, pass x[None]" if array.shape in ((32, 32, 3), (3, 32, 32)) else ""
        raise _convlab.InputError(f"{_IMAGES_ACCEPTED}; got shape {array.shape}{hint}")
    if array.shape[0] == 0:
        raise _convlab.InputError("no images: pass an array of one or more images")
    return np.ascontiguousarray(planar)


def _batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size < 2**62:
        raise _convlab.InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


class Model:
    """A trained network from a convlab checkpoint, on the CPU or a GPU, in eval mode.

    Make one with ``Model.from_checkpoint(path)``. ``model(images)`` gives the logits and
    ``model.features(images)`` the features of its layers: the same values as
    ``convlab-analyze features`` writes for the same checkpoint and images. Images are uint8
    arrays, ``(n, 32, 32, 3)`` (as PIL, torchvision's CIFAR10.data and most loaders give
    them) or ``(n, 3, 32, 32)`` (RGB planes, as convlab stores them), normalised by convlab
    exactly as training and evaluation did (per channel, with CIFAR-10's mean and standard
    deviation; the metadata's input_mean and input_std).

    Both calls run in batches of batch_size images with the GIL released; Ctrl-C stops them
    between batches (KeyboardInterrupt).
    """

    def __init__(self, core: Any) -> None:
        """Internal: use Model.from_checkpoint."""
        self._core = core

    @classmethod
    def from_checkpoint(cls, path: Union[str, os.PathLike], device: str = "auto") -> "Model":
        """Loads the network of a convlab checkpoint (a run's checkpoints/epoch_NNNN.safetensors
        or its resume.safetensors); its metadata name the model and its shape.

        device: "auto" (GPU 0 when a GPU answers, else the CPU), "cpu", "cuda" or "cuda:N".
        Raises convlab.InputError naming the file when it is missing, corrupt, or not a convlab
        checkpoint (its metadata and tensors must describe one of convlab's models).
        """
        if not isinstance(device, str):
            raise _convlab.InputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        return cls(_convlab.ModelCore(_path(path, "path"), device))

    @property
    def layers(self) -> list[str]:
        """The names of the layers whose features ``features()`` gives, input to output
        ("conv1 (1a)", ..., "logits" for All-CNN-C; "stem", "layer1.0", ..., "pool", "logits"
        for ResNet): the names ``convlab-analyze`` gives them."""
        return self._core.layers

    @property
    def metadata(self) -> dict[str, str]:
        """The checkpoint's metadata, str -> str (see load_checkpoint)."""
        return self._core.metadata

    @property
    def epoch(self) -> Optional[int]:
        """The epoch the checkpoint was saved after (0: the network at init); None if it does
        not say."""
        return self._core.epoch

    @property
    def device(self) -> str:
        """Where the network runs: "cpu" or "cuda:N"."""
        return self._core.device

    @property
    def path(self) -> pathlib.Path:
        """The checkpoint file."""
        return pathlib.Path(self._core.path)

    @property
    def description(self) -> str:
        """The model in words, e.g. "All-CNN-C depth 1 (...)"."""
        return self._core.description

    def __repr__(self) -> str:
        return f"<convlab.Model {self.description}, epoch {self.epoch}, on {self.device}, from {self.path}>"

    def __call__(self, images: Any, batch_size: int = 500) -> np.ndarray:
        """The logits of images: a float32 array (n, classes).

        images: uint8, (n, 32, 32, 3) or (n, 3, 32, 32) (see Model); anything np.asarray
        reads. The predicted class of image i is ``logits[i].argmax()``.
        Raises convlab.InputError for other images or a batch_size below 1.
        """
        return self._core.logits(_as_images(images), _batch_size(batch_size))

    def features(self, images: Any, layers: Union[None, str, Iterable[str]] = None,
                 batch_size: int = 500) -> dict[str, np.ndarray]:
        """The features of images at the network's layers: a dict of layer name -> float32
        array (n, p), each image's activations flattened in C order ((C, H, W) -> C*H*W), as
        ``convlab-analyze features`` writes them.

        layers: None for every layer (keys in the order of ``.layers``), or a name or list of
        names, each a name of ``.layers`` or its first word ("conv1" for "conv1 (1a)"); the
        dict is keyed by the names as given. The arrays are filled batch by batch and take n * p
        * 4 bytes each (All-CNN-C's first layers: 384 KiB per image), so choose the layers
        you need for many images.
        Raises convlab.InputError for a name the model has not, listing those it has, and for
        images it cannot take (see __call__).
        """
        names = self.layers
        if layers is None:
            requested = list(names)
        elif isinstance(layers, str):
            requested = [layers]
        else:
            requested = list(layers)
            if not requested:
                raise _convlab.InputError("layers names no layer: give layer names, or None for every layer")
        indices = [self._layer_index(name, names) for name in requested]
        arrays = self._core.features(_as_images(images), indices, _batch_size(batch_size))
        return dict(zip(requested, arrays))

    @staticmethod
    def _layer_index(name: Any, names: list[str]) -> int:
        if isinstance(name, str):
            if name in names:
                return names.index(name)
            by_first_word = [i for i, n in enumerate(names) if n.split(" ")[0] == name]
            if len(by_first_word) == 1:
                return by_first_word[0]
        raise _convlab.InputError(f"the model has no layer {name!r}; its layers: {', '.join(names)}")
