"""docs/python.md: its three examples run (each ```python block after a line
"<!-- example: NAME -->") and give sane values, and the page documents every public name with
the defaults the code has.

The page is found through CONVLAB_SOURCE_DIR (ctest and CI set it), else relative to this
file. The checkpoint example runs on a tiny run trained here on a synthetic image folder, with
its two path assignments replaced by the run's checkpoint and a test_batch.bin of the
folder's test images; the PyTorch example is skipped where torch cannot be imported.
"""

import inspect
import os
import pathlib
import re

import numpy as np
import pytest

import convlab
from image_folder import write_image_folder

EXAMPLES = ("hooks", "checkpoint", "reference")


def doc_path() -> pathlib.Path:
    root = os.environ.get("CONVLAB_SOURCE_DIR") or pathlib.Path(__file__).resolve().parents[3]
    return pathlib.Path(root) / "docs" / "python.md"


@pytest.fixture(scope="module")
def doc():
    path = doc_path()
    if not path.is_file():
        pytest.fail(f"{path} not found: set CONVLAB_SOURCE_DIR to the checkout")
    return path.read_text()


@pytest.fixture(scope="module")
def examples(doc):
    found = {}
    for name, code in re.findall(r"^<!-- example: (\w+) -->\n```python\n(.*?)^```$", doc, flags=re.S | re.M):
        assert name not in found, f"two examples named {name}"
        found[name] = code
    assert sorted(found) == sorted(EXAMPLES), f"docs/python.md has the examples {sorted(found)}"
    return found


def run(name, code, capsys):
    """Executes an example in a fresh namespace; returns the namespace and what it printed."""
    namespace = {"__name__": "__main__"}
    exec(compile(code, f"docs/python.md, example {name}", "exec"), namespace)
    return namespace, capsys.readouterr().out


def replace_assignment(code, variable, value):
    """The example with its line `variable = "..."` assigning repr(value) instead."""
    new, count = re.subn(rf'^{variable} = "[^"\n]*"$', lambda _: f"{variable} = {str(value)!r}", code, flags=re.M)
    assert count == 1, f"the example has no single line {variable} = \"...\""
    return new


def test_reference_calls(examples, capsys):
    ns, out = run("reference", examples["reference"], capsys)
    features = ns["features"]
    assert len(features) == 3 and all(f.shape[0] == 1028 for f in features)
    biased = convlab.cka_matrix(features, estimator="biased")
    np.testing.assert_allclose(ns["get_cka_matrix"](features, features, kernel="linear"), biased, rtol=0, atol=0)
    np.testing.assert_allclose(ns["CKA"](features[0], features[1], kernel="linear"), biased[0, 1], rtol=1e-12)
    # What it printed: the CKA value, then the matrix.
    first = out.splitlines()[0]
    assert abs(float(first) - biased[0, 1]) < 1e-9, out
    assert out.count("[") == 4  # numpy's 3 x 3 matrix
    # The page's words: the related pair reads high; the unrelated layer about 0.1 biased,
    # within 0.01 of 0 debiased.
    assert 0.5 < biased[0, 1] < 1
    assert np.all((biased[2, :2] > 0.05) & (biased[2, :2] < 0.15)), biased
    debiased = convlab.cka_matrix(features)
    assert np.all(np.abs(debiased[2, :2]) < 0.01), debiased


def test_pytorch_hooks(examples, capsys):
    pytest.importorskip("torch", reason="the example compares PyTorch models: torch is not installed")
    ns, out = run("hooks", examples["hooks"], capsys)
    result, cmp = ns["result"], ns["cmp"]
    assert isinstance(result, np.ndarray) and result.shape == (4, 4) and result.dtype == np.float64
    assert (cmp.batches, cmp.examples) == (10, 1000)
    assert cmp.layer_names == (["relu1", "relu2", "relu3", "fc"],) * 2
    assert np.all(np.isfinite(result)) and np.all(result <= 1 + 1e-9) and np.all(result > -0.1), result
    assert "linear CKA over 1000 images in 10 batches" in out
    assert len(out.splitlines()) == 6, out


def write_tiny_cifar(root, train_per_class=2, test_per_class=2):
    """An image folder train/<class>/*.png, test/<class>/*.png (32x32 RGB, a little different
    per class), and test_batch.bin holding the same test images as CIFAR-10 binary records
    (label byte, then the R, G and B planes). Returns the test images, (n, 3, 32, 32) uint8."""
    pytest.importorskip("PIL.Image", reason="Pillow writes the tiny image folder: it is not installed")
    images, labels = write_image_folder(root / "images", train_per_class, test_per_class, seed=2)
    records = [np.concatenate([[label], pixels.transpose(2, 0, 1).ravel()]).astype(np.uint8)
               for pixels, label in zip(images, labels)]
    records = np.stack(records)
    records.tofile(root / "test_batch.bin")
    return records[:, 1:].reshape(-1, 3, 32, 32)


def test_checkpoint_features(examples, tmp_path, capsys):
    images = write_tiny_cifar(tmp_path)
    result = convlab.train(data=tmp_path / "images", cache_dir=tmp_path / "cache", output=tmp_path / "run", epochs=1,
                           train_size=20, batch_size=8, device="cpu", no_download=True, quiet=True)
    checkpoint = result.run_dir / "checkpoints" / "epoch_0001.safetensors"
    code = replace_assignment(examples["checkpoint"], "checkpoint", checkpoint)
    code = replace_assignment(code, "test_batch", tmp_path / "test_batch.bin")
    capsys.readouterr()
    ns, out = run("checkpoint", code, capsys)

    np.testing.assert_array_equal(ns["images"], images)  # all 20: fewer than the example's 256
    model, features, matrix = ns["model"], ns["features"], ns["matrix"]
    assert list(features) == model.layers and len(model.layers) == 10  # depth-1 All-CNN-C: 9 convs, logits
    assert all(f.shape[0] == 20 and f.dtype == np.float32 for f in features.values())
    assert matrix.shape == (10, 10) and np.all(np.isfinite(matrix))
    np.testing.assert_allclose(np.diag(matrix), 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(matrix, matrix.T, rtol=0, atol=1e-9)
    assert np.all(matrix <= 1 + 1e-9) and np.all(matrix > -1), matrix
    lines = out.splitlines()
    assert lines[0] == f"{model.description}, epoch 1: linear CKA on 20 test images", out
    assert len(lines) == 11 and lines[1].split()[0] == "conv1", out


def test_every_public_name_is_documented(doc):
    for name in convlab.__all__:
        assert re.search(rf"\bconvlab\.{re.escape(name)}\b", doc), f"docs/python.md does not mention convlab.{name}"
        if name != "__version__":
            assert inspect.getdoc(getattr(convlab, name)), f"convlab.{name} has no docstring"


@pytest.mark.parametrize("function", [
    convlab.cka, convlab.cka_matrix, convlab.Comparison, convlab.Comparison.add, convlab.CKA, convlab.get_cka_matrix,
    convlab.load_checkpoint, convlab.Model.from_checkpoint, convlab.Model.__call__, convlab.Model.features,
    convlab.train, convlab.identify,
], ids=lambda f: f.__qualname__)
def test_documented_defaults_are_the_codes(doc, function):
    # Every parameter appears on the page, with its default as the signature has it.
    for p in inspect.signature(function).parameters.values():
        if p.name == "self" or p.kind == p.VAR_KEYWORD:
            continue
        if p.default is p.empty:
            assert re.search(rf"\b{p.name}\b", doc), f"{function.__qualname__}: {p.name} is not on the page"
        else:
            written = f"{p.name}={p.default!r}".replace("'", '"')
            assert written in doc, f"{function.__qualname__}: the page does not say {written}"
