"""convlab.load_checkpoint and convlab.Model on a checkpoint of a tiny run trained here: the
tensors against the safetensors package, the features against `convlab-analyze features`, the
logits against the run's test accuracy, Ctrl-C, and the errors of bad input."""

import json
import os
import pathlib
import signal
import subprocess

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import convlab
from image_folder import write_image_folder

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A depth-1 All-CNN-C trained for one epoch on 20 images; its test set is 10 images."""
    root = tmp_path_factory.mktemp("models")
    images, labels = write_image_folder(root / "images", seed=1)
    result = convlab.train(data=root / "images", cache_dir=root / "cache", output=root / "run", epochs=1,
                           train_size=20, batch_size=8, device="cpu", no_download=True, quiet=True)
    return {"root": root, "result": result, "images": images, "labels": labels,
            "checkpoint": result.run_dir / "checkpoints" / "epoch_0001.safetensors"}


@pytest.fixture(scope="module")
def model(run):
    return convlab.Model.from_checkpoint(run["checkpoint"], device="cpu")


def test_load_checkpoint_reads_what_safetensors_reads(run):
    for file in (run["checkpoint"], run["result"].run_dir / "resume.safetensors"):
        tensors, metadata = convlab.load_checkpoint(file)
        expected = load_file(file)
        assert tensors.keys() == expected.keys()
        for name, array in expected.items():
            assert tensors[name].dtype == array.dtype and np.array_equal(tensors[name], array), name
        with safe_open(str(file), "np") as f:
            assert metadata == f.metadata()
    assert any(name.startswith("optimizer.") for name in tensors)  # the resume file's momentum
    assert metadata["epoch"] == "1" and metadata["model_name"] == "all_cnn_c"


def test_load_checkpoint_keeps_every_numpy_dtype(tmp_path):
    arrays = {
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f64": np.array([1.5, -2.0]),
        "f16": np.array([0.5, 1.0], dtype=np.float16),
        "i64": np.array([[-1], [2**40]], dtype=np.int64),
        "u8": np.array([0, 255], dtype=np.uint8),
        "i32": np.array(7, dtype=np.int32),
        "bool": np.array([True, False]),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    save_file(arrays, str(tmp_path / "mixed.safetensors"), metadata={"a": "b"})
    tensors, metadata = convlab.load_checkpoint(tmp_path / "mixed.safetensors")
    assert metadata == {"a": "b"}
    for name, array in arrays.items():
        got = tensors[name]
        assert (got.dtype, got.shape) == (array.dtype, array.shape) and np.array_equal(got, array), name


def test_load_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(convlab.InputError, match="no-such.safetensors"):
        convlab.load_checkpoint(tmp_path / "no-such.safetensors")
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(convlab.InputError, match="corrupt.safetensors"):
        convlab.load_checkpoint(tmp_path / "corrupt.safetensors")


def test_model_describes_its_checkpoint(run, model):
    metadata = convlab.load_checkpoint(run["checkpoint"])[1]
    assert model.layers == json.loads(metadata["feature_names"])
    assert model.layers[0] == "conv1 (1a)" and model.layers[-1] == "logits"
    assert model.metadata == metadata
    assert model.epoch == 1 and model.device == "cpu" and model.path == run["checkpoint"]
    assert "All-CNN-C" in repr(model)


def test_logits_give_the_runs_test_accuracy(run, model):
    logits = model(run["images"])
    assert logits.dtype == np.float32 and logits.shape == (10, 10) and np.isfinite(logits).all()
    accuracy = float(np.mean(logits.argmax(axis=1) == run["labels"]))
    assert accuracy == pytest.approx(run["result"].final_test_acc, abs=1e-9)
    # The layout, the batching and a list of arrays do not change them.
    planar = run["images"].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(model(planar), logits)
    np.testing.assert_allclose(model(list(run["images"]), batch_size=3), logits, rtol=1e-5, atol=1e-5)


def test_features_are_those_convlab_analyze_exports(run, model):
    analyze = pathlib.Path(os.environ.get("CONVLAB_BUILD_DIR", "")) / "apps" / "convlab-analyze"
    if not analyze.is_file():
        pytest.skip(f"no {analyze} to compare with (set CONVLAB_BUILD_DIR to a build folder)")
    out = run["root"] / "export"
    subprocess.run([str(analyze), "features", str(run["checkpoint"]), "--data", str(run["root"] / "images"),
                    "--cache-dir", str(run["root"] / "cache"), "--output", str(out), "--device", "cpu",
                    "--batch-size", "4"], check=True, capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())
    images = np.load(out / "images.npy")  # (n, 3, 32, 32), the pixels the network saw
    np.testing.assert_array_equal(images, run["images"].transpose(0, 3, 1, 2))

    features = model.features(run["images"], batch_size=4)
    assert list(features) == model.layers
    for layer in manifest["layers"]:
        exported = np.load(out / layer["file"])
        got = features[layer["name"]]
        assert got.dtype == np.float32 and got.shape == exported.shape, layer["name"]
        np.testing.assert_array_equal(got, exported, err_msg=layer["name"])
    np.testing.assert_array_equal(model(images, batch_size=4), np.load(out / "logits.npy"))


def test_features_select_layers_by_name(run, model):
    chosen = model.features(run["images"], layers=["conv9", "conv1 (1a)"])
    assert list(chosen) == ["conv9", "conv1 (1a)"]
    assert chosen["conv1 (1a)"].shape == (10, 96 * 32 * 32)
    every = model.features(run["images"])
    np.testing.assert_array_equal(chosen["conv9"], every["conv9 (5)"])
    np.testing.assert_array_equal(model.features(run["images"], layers="logits")["logits"], model(run["images"]))
    with pytest.raises(convlab.InputError, match=r"no layer 'conv10'; its layers: conv1 \(1a\), .*logits"):
        model.features(run["images"], layers=["conv10"])


def test_images_convlab_cannot_take_are_input_errors(run, model):
    images = run["images"]
    for bad, message in [
        (images.astype(np.float32) / 255, r"uint8 pixels.*got float32; for values scaled to \[0, 1\]"),
        (images[:, :16], r"\(n, 32, 32, 3\).*got shape \(10, 16, 32, 3\)"),
        (images[0], r"got shape \(32, 32, 3\); for one image, pass x\[None\]"),
        (images[:0], "no images"),
        ("cat.png", "got <U7"),
    ]:
        with pytest.raises(convlab.InputError, match=message):
            model(bad)
        with pytest.raises(convlab.InputError, match=message):
            model.features(bad)
    with pytest.raises(convlab.InputError, match="batch_size must be a positive integer, got 0"):
        model(images, batch_size=0)


def test_from_checkpoint_errors(run, tmp_path):
    with pytest.raises(convlab.InputError, match="missing.safetensors does not exist"):
        convlab.Model.from_checkpoint(tmp_path / "missing.safetensors")
    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(convlab.InputError, match="other.safetensors"):
        convlab.Model.from_checkpoint(tmp_path / "other.safetensors")
    with pytest.raises(convlab.InputError, match="unknown device 'gpu'"):
        convlab.Model.from_checkpoint(run["checkpoint"], device="gpu")


def test_ctrl_c_stops_a_forward_pass_between_batches(run, model):
    # A signal whose Python handler raises, as Ctrl-C's does, 0.1 s into the pass. The kernel's
    # timer sends it: a Python thread sending it could be starved of the CPU until the pass is
    # over (OpenMP threads spinning on both cores), and the pass would end uninterrupted.
    many = np.repeat(run["images"], 1000, axis=0)  # 10,000 images: seconds on the CPU, a batch in 0.1 s

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.1)
    try:
        with pytest.raises(KeyboardInterrupt):
            model(many, batch_size=10)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
