"""The package as installed: its version, stubs and docstrings, and which copy is imported."""

import inspect
import os
import pathlib
import re

import convlab


def source_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("CONVLAB_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[3]))


def test_version_is_the_projects():
    text = (source_dir() / "CMakeLists.txt").read_text()
    assert convlab.__version__ == re.search(r"project\(convlab VERSION ([0-9.]+)", text).group(1)


def test_the_installed_package_is_the_one_imported():
    # CI sets CONVLAB_INSTALLED_PACKAGE when it tests what `pip install .` installed.
    where = pathlib.Path(convlab.__file__).resolve()
    if os.environ.get("CONVLAB_INSTALLED_PACKAGE"):
        assert "site-packages" in where.parts, where
    else:
        assert (where.parent / "_convlab.pyi").exists() or "site-packages" in where.parts


def test_stubs_and_marker_ship_with_the_module():
    package = pathlib.Path(convlab.__file__).parent
    stub = package / "_convlab.pyi"
    assert stub.exists() and (package / "py.typed").exists()
    text = stub.read_text()
    for name in ("def compare(", "class ComparisonCore", "def load_checkpoint(", "class ModelCore", "def train("):
        assert name in text, f"{name} missing from the stubs"


def test_every_public_name_is_documented():
    for name in convlab.__all__:
        if name == "__version__":
            continue
        obj = getattr(convlab, name)
        assert inspect.getdoc(obj), f"convlab.{name} has no docstring"
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if not member.startswith("_") and callable(value):
                    assert inspect.getdoc(value), f"convlab.{name}.{member} has no docstring"


def test_errors_are_value_and_runtime_errors():
    assert issubclass(convlab.InputError, convlab.Error) and issubclass(convlab.InputError, ValueError)
    assert issubclass(convlab.RunError, convlab.Error) and issubclass(convlab.RunError, RuntimeError)


def test_cuda_is_reported_consistently():
    assert isinstance(convlab.built_with_cuda(), bool)
    assert not convlab.cuda_available() or convlab.built_with_cuda()
