"""Runs the code of docs/interop.md: every block whose first line is "# interop: NAME" is
syntax-checked; then, in a scratch folder holding what the page's commands produce (a tiny
run in experiments/smoke/ and its features in analysis/features/), the numpy block runs as it
stands, and the torch and flax blocks run when their packages can be imported (else they are
reported as skipped).

    test_doc_snippets.py --doc docs/interop.md --train convlab-train --analyze convlab-analyze
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from interop_support import importable, require, run

# What each snippet imports beyond the standard library; numpy's must be there (CI has it).
NEEDS = {"numpy": ["numpy", "safetensors"], "torch": ["numpy", "safetensors", "torch"],
         "flax": ["numpy", "safetensors", "jax", "flax"]}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def snippets(doc):
    """{name: code} of the page's ```python blocks that start with '# interop: name'."""
    with open(doc) as f:
        text = f.read()
    found = {}
    for block in re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        first = block.splitlines()[0]
        match = re.fullmatch(r"# interop: (\w+)", first.strip())
        if match:
            found[match.group(1)] = block
    return found


def write_tiny_image_folder(root):
    """PNG image folder, 2 training and 2 test images per class (numpy and Pillow)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(3)
    for split in ("train", "test"):
        for label, name in enumerate(CLASSES):
            os.makedirs(os.path.join(root, split, name))
            for i in range(2):
                pixels = np.clip(rng.integers(0, 220, (32, 32, 3)) + 3 * label, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(os.path.join(root, split, name, f"{i:04d}.png"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--doc", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--analyze", required=True)
    args = parser.parse_args()
    train, analyze = os.path.abspath(args.train), os.path.abspath(args.analyze)  # they run in a scratch folder

    found = snippets(args.doc)
    failures = []
    for name in NEEDS:
        if name not in found:
            failures.append(f"{args.doc} has no '# interop: {name}' snippet")
    for name, code in found.items():
        try:
            compile(code, f"{args.doc} ({name} snippet)", "exec")
            print(f"ok    {name} snippet compiles ({len(code.splitlines())} lines)")
        except SyntaxError as error:
            failures.append(f"{name} snippet: {error}")
    if failures:
        sys.exit("\n".join(failures))

    require("numpy", "safetensors", "PIL")
    work = tempfile.mkdtemp(prefix="convlab-doc-snippets-")
    try:
        # What the page's two commands leave, from tiny data.
        write_tiny_image_folder(os.path.join(work, "data"))
        config = os.path.join(work, "tiny.yaml")
        with open(config, "w") as f:
            f.write("train_config:\n  num_epochs: 2\n  train_data_size: 20\n  batch_size: 10\n"
                    "  decay_after_epochs: [100]\nlog_config:\n  experiment_dir: experiments/smoke\n")
        common = ["--data", os.path.join(work, "data"), "--cache-dir", os.path.join(work, "cache"),
                  "--device", "cpu"]
        run([train, config, "--quiet"] + common, cwd=work)
        run([analyze, "features", "experiments/smoke/checkpoints/epoch_0002.safetensors", "--examples", "12"]
            + common, cwd=work)
        for name, code in found.items():
            missing = [m for m in NEEDS.get(name, []) if not importable(m)]
            if missing and name != "numpy":
                print(f"skip  {name} snippet: {', '.join(missing)} cannot be imported by {sys.executable}")
                continue
            done = subprocess.run([sys.executable, "-c", code], cwd=work, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
            if done.returncode == 0:
                print(f"ok    {name} snippet runs: {done.stdout.strip().splitlines()[-1]}")
            else:
                failures.append(f"{name} snippet failed:\n{done.stdout}")
                print(f"FAIL  {name} snippet:\n{done.stdout}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "all snippets pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
