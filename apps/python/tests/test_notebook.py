"""docs/notebooks/cka.ipynb: stored without outputs, and every cell runs without error in a
Jupyter kernel of this very interpreter (sys.executable, importing the same convlab), with
sane matrices at the end.

The notebook is found through CONVLAB_SOURCE_DIR (ctest and CI set it), else relative to this
file. It trains on CIFAR-10 when CIFAR10_DIR is set, else on a synthetic image folder; its
runs go to a pytest temporary folder (CONVLAB_NOTEBOOK_OUTPUT). Skipped when nbclient,
nbformat or ipykernel is missing (pip install .[test] installs them).
"""

import json
import os
import pathlib
import sys

import pytest

import convlab

# Run after the notebook's own cells, in its kernel: what its variables must hold.
CHECKS = """
import numpy as np
assert len(layers) == 10, layers  # depth-1 All-CNN-C: 9 convolutions and the logits
for matrix in [self_linear, self_rbf, pair, *evolution.values()]:
    assert matrix.shape == (10, 10) and np.all(np.isfinite(matrix)), matrix
    assert np.all(matrix <= 1 + 1e-9) and np.all(matrix > -0.5), matrix
assert np.allclose(np.diag(self_linear), 1, rtol=0, atol=1e-9) and np.allclose(np.diag(self_rbf), 1, rtol=0, atol=1e-9)
assert sorted(evolution) == list(range(EPOCHS + 1)), sorted(evolution)
assert np.allclose(evolution[EPOCHS], self_linear, rtol=0, atol=1e-12)
assert all(run.epochs_done == EPOCHS and not run.already_complete for run in runs.values())
assert minibatch.value.shape == (10, 10) and images.shape == (10 * PER_CLASS, 32, 32, 3)
print("notebook checks passed")
"""


def notebook_path() -> pathlib.Path:
    root = os.environ.get("CONVLAB_SOURCE_DIR") or pathlib.Path(__file__).resolve().parents[3]
    return pathlib.Path(root) / "docs" / "notebooks" / "cka.ipynb"


@pytest.fixture(scope="module")
def nbformat():
    return pytest.importorskip("nbformat", reason="nbformat is not installed (pip install .[test])")


def read_notebook(nbformat):
    path = notebook_path()
    if not path.is_file():
        pytest.fail(f"{path} not found: set CONVLAB_SOURCE_DIR to the checkout")
    return nbformat.read(path, as_version=4)


def test_notebook_is_stored_clean(nbformat):
    nb = read_notebook(nbformat)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"a cell was stored with outputs:\n{cell.source}"


def test_notebook_runs(nbformat, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install .[test])")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install .[test])")

    # A kernel spec of its own, so that the kernel is this interpreter whatever other specs
    # named python3 exist on the machine.
    kernel_name = "convlab-test-python"
    spec_dir = tmp_path / "jupyter" / "kernels" / kernel_name
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "convlab tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # The kernel imports the convlab this test imported (a build tree or the installed one).
    package_parent = str(pathlib.Path(convlab.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in [package_parent, os.environ.get("PYTHONPATH")] if p))
    monkeypatch.setenv("CONVLAB_NOTEBOOK_OUTPUT", str(tmp_path / "output"))
    work = tmp_path / "cwd"
    work.mkdir()

    nb = read_notebook(nbformat)
    nb.cells.append(nbformat.v4.new_code_cell(CHECKS))
    client = nbclient.NotebookClient(nb, kernel_name=kernel_name, timeout=600,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error

    outputs = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            for output in cell.outputs:
                assert output.output_type != "error", f"{output.ename}: {output.evalue}"
                if output.output_type == "stream" and output.name == "stdout":
                    outputs.append(output.text)
    text = "".join(outputs)
    assert f"convlab {convlab.__version__}: built with CUDA: {convlab.built_with_cuda()}" in text, text
    if os.environ.get("CIFAR10_DIR"):
        assert "data: CIFAR-10 from $CIFAR10_DIR" in text, text
    else:
        assert "a synthetic image folder stands in for CIFAR-10" in text, text
    for seed in (0, 1):
        assert f"seed {seed}: 2 epochs in" in text, text
    assert "same layer, two seeds:" in text and "each layer against itself in the final network:" in text, text
    assert text.rstrip().endswith("notebook checks passed"), text
    assert (tmp_path / "output" / "seed_1" / "checkpoints" / "epoch_0002.safetensors").is_file()
