"""What the interop tests share: the packages they need, and running convlab's executables."""
import importlib
import os
import subprocess
import sys

INSTALL = ("python3 -m venv .venv && .venv/bin/pip install numpy safetensors Pillow "
           "(tools/make-venv.sh does this; the tests find .venv in the checkout, or set CONVLAB_PYTHON "
           "or configure with -DCONVLAB_PYTHON=...)")


def require(*modules):
    """Imports the modules, or exits (failing the test) saying what to install."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        sys.exit(f"{sys.executable} lacks {', '.join(missing)}: {INSTALL}")


def importable(name):
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


def run(command, cwd=None):
    """Runs a command, failing with its output when it fails; returns its output."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed (exit {done.returncode}):\n{done.stdout}")
    return done.stdout
