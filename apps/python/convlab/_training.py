"""Training from Python: convlab-train's run, in this process."""

from __future__ import annotations

import inspect
import os
import pathlib
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np

from . import _convlab

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class TrainResult:
    """What ``convlab.train`` did.

    run_dir: the run folder (metrics.csv, metrics.jsonl, checkpoints/, resume.safetensors,
    config.yaml, the learning curve). epochs_done: the last epoch finished; updates: the
    optimiser steps so far. final_train_acc, final_test_acc (fractions in [0, 1]) and
    final_test_loss: that epoch's. seconds: this call's wall time. already_complete: the
    folder held this very run, finished, so nothing was trained. metrics: the rows of
    metrics.csv, one dict per epoch from epoch 0 (the network at init, whose train columns
    are NaN), under its column names: epoch, updates, lr, train_loss, train_acc, test_loss,
    test_acc, seconds, images_per_second. learning_curve: the figure's files.
    """

    run_dir: pathlib.Path
    epochs_done: int
    updates: int
    final_train_acc: float
    final_test_acc: float
    final_test_loss: float
    seconds: float
    already_complete: bool
    metrics: list[dict[str, float]] = field(repr=False)
    learning_curve: list[pathlib.Path] = field(repr=False)


_INT_OPTIONS = ("epochs", "train_size", "batch_size", "seed", "eval_examples", "stop_after_epoch")
_PATH_OPTIONS = ("data", "output", "cache_dir")
_FLAG_OPTIONS = ("resume", "force", "no_download")


def _check(name: str, value: Any) -> Any:
    """An argument as the module takes it, or InputError saying what the keyword takes."""
    if value is None and name not in _FLAG_OPTIONS + ("device",):
        return None
    if name in _INT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not -2**63 <= value < 2**63:
            raise _convlab.InputError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    if name in _PATH_OPTIONS or name == "config":
        if not isinstance(value, (str, os.PathLike)):
            raise _convlab.InputError(f"{name} must be a path (str or pathlib.Path), got {type(value).__name__}")
        return os.fspath(value)
    if name in _FLAG_OPTIONS or name == "quiet":
        if not isinstance(value, (bool, np.bool_)):
            raise _convlab.InputError(f"{name} must be True or False, got {value!r}")
        return bool(value)
    if name in ("device", "precision") and not isinstance(value, str):
        raise _convlab.InputError(f"{name} must be a string, got {value!r}")
    return value


def _keywords() -> list[str]:
    return [p.name for p in inspect.signature(train).parameters.values() if p.kind == p.KEYWORD_ONLY]


def train(config: Optional[PathLike] = None, *, data: Optional[PathLike] = None, epochs: Optional[int] = None,
          train_size: Optional[int] = None, batch_size: Optional[int] = None, seed: Optional[int] = None,
          output: Optional[PathLike] = None, eval_examples: Optional[int] = None, device: str = "auto",
          resume: bool = False, force: bool = False, cache_dir: Optional[PathLike] = None, no_download: bool = False,
          stop_after_epoch: Optional[int] = None, precision: Optional[str] = None, quiet: Optional[bool] = None,
          progress: Optional[Callable[[dict[str, float]], Any]] = None, **unknown: Any) -> TrainResult:
    """Trains on CIFAR-10 as ``convlab-train`` does, in this process, and returns a TrainResult.

    config: a YAML config (the reference's schema, e.g. configs/smoke.yaml; ``convlab-train
    --list-keys`` lists every key), or None for the defaults. The keywords override it, with
    the meaning of convlab-train's flags of the same names:

    - data: CIFAR-10 (the binary release's folder, an image folder train/<class>/*,
      test/<class>/* or a .tar.gz of either); default: searched as convlab-train searches,
      and downloaded into ./data once when there is none, unless no_download=True.
    - epochs, train_size, batch_size, seed: train_config's num_epochs, train_data_size,
      batch_size and seed_id; output: log_config.experiment_dir, the run folder.
    - eval_examples: test images per evaluation (default all); cache_dir: the decoded-data
      cache ($CONVLAB_CACHE_DIR, default ~/.cache/convlab).
    - device: "auto" (CUDA when a GPU answers, else the CPU), "cpu" or "cuda".
    - resume: continue the run in the output folder after its last epoch (with its own
      settings); force: start over in a folder that holds a run (the old one is moved aside).
    - stop_after_epoch: end after that epoch as if interrupted (resume later).
    - precision: "fp32", "tf32" (the default) or "bf16".
    - quiet: no progress bar or per-epoch lines (the device line is always printed).

    progress: None prints convlab-train's lines (and its progress bar on a terminal) on this
    process's standard output; a callable is called after each trained epoch, once the epoch
    is saved, with that epoch's metrics row (a dict, as in TrainResult.metrics), and then
    quiet defaults to True. An exception it raises ends the run, leaving it resumable.

    Training runs with the GIL released. Ctrl-C ends it at the next training step (an
    evaluation under way finishes first), as a kill would: the epoch in progress is dropped,
    the run folder keeps every finished epoch (resume=True continues it), and
    KeyboardInterrupt is raised.

    Raises convlab.InputError for an unknown keyword, a bad value or config; convlab.RunError
    for what goes wrong in training (data that cannot be read, an output folder holding
    another run, a non-finite loss).
    """
    if unknown:
        raise _convlab.InputError(f"train() got unknown keyword{'s' if len(unknown) > 1 else ''} "
                                  f"{', '.join(sorted(unknown))}; it accepts: {', '.join(_keywords())}")
    if progress is not None and not callable(progress):
        raise _convlab.InputError(f"progress must be None or a callable taking a dict, got {progress!r}")
    args = {name: _check(name, value) for name, value in
            dict(config=config, data=data, epochs=epochs, train_size=train_size, batch_size=batch_size, seed=seed,
                 output=output, eval_examples=eval_examples, device=device, resume=resume, force=force,
                 cache_dir=cache_dir, no_download=no_download, stop_after_epoch=stop_after_epoch,
                 precision=precision, quiet=quiet).items()}
    if args["device"] == "cuda" and not _convlab.cuda_available():
        raise _convlab.InputError("device='cuda': " + ("no CUDA GPU answers (no device or no driver); use device='cpu'"
                                                       if _convlab.built_with_cuda() else
                                                       "this convlab was built without CUDA; use device='cpu'"))
    quiet = args.pop("quiet")
    no_download = args.pop("no_download")
    sys.stdout.flush()  # what Python printed so far comes before the trainer's lines
    out = _convlab.train(**args, download=not no_download, quiet=progress is not None if quiet is None else quiet,
                         progress=progress)
    return TrainResult(run_dir=pathlib.Path(out["run_dir"]), epochs_done=out["epochs_done"], updates=out["updates"],
                       final_train_acc=out["final_train_acc"], final_test_acc=out["final_test_acc"],
                       final_test_loss=out["final_test_loss"], seconds=out["seconds"],
                       already_complete=out["already_complete"], metrics=out["metrics"],
                       learning_curve=[pathlib.Path(f) for f in out["learning_curve"]])
