#!/usr/bin/env python3
"""The Python package against convlab-analyze and numpy: minibatch CKA of feature files.

    tools/cka-numpy-peer.py --make-features DIR          # ten layers shaped like All-CNN-C's
    tools/bench-python.py DIR [--batch-size 1000] [--repeats 3] [--threads 2]
                          [--analyze build/apps/convlab-analyze]
    tools/bench-python.py DIR --once                     # one cka_matrix call on the files
                                                         # memory-mapped, for farm-bench

Times, with the same threads for all three:
  python    convlab.cka_matrix(arrays, batch_size=K) in this process, on the files loaded
            with numpy (the loading is not timed): the binding and the C++ measures;
  mapped    the same on the files memory-mapped (np.load(mmap_mode="r")), so that it reads
            them as convlab-analyze does: the like-for-like measure of the binding's overhead;
  analyze   convlab-analyze files DIR/*.npy --batch-size K: the same computation from a
            process that streams the files; the comparison's own time (summary.json, without
            writing figures) and the process's wall time;
  numpy     tools/cka-numpy-peer.py on the same files (float32 Grams, float64 HSIC sums).
Prints each one's median seconds, the ratio of python to analyze (the binding's overhead)
and to numpy, and the largest difference between the three matrices. Not a test: run it by
hand and record the figures (docs/RESULTS.md), naming the machine.
"""

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a folder of .npy feature files (tools/cka-numpy-peer.py --make-features)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--analyze", default=None, help="the convlab-analyze executable (default: build/apps/)")
    parser.add_argument("--once", action="store_true", help="one cka_matrix call and nothing else")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np  # after the thread settings
    import convlab

    files = sorted(glob.glob(os.path.join(args.folder, "*.npy")))
    if not files:
        sys.exit(f"bench-python: no .npy files in {args.folder} (tools/cka-numpy-peer.py --make-features DIR)")
    if args.once:  # the files memory-mapped, as the numpy peer and convlab-analyze read them
        convlab.cka_matrix([np.load(f, mmap_mode="r") for f in files], batch_size=args.batch_size)
        return
    arrays = [np.load(f) for f in files]

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    analyze = args.analyze or os.path.join(root, "build", "apps", "convlab-analyze")
    n = arrays[0].shape[0]
    widths = [a.size // n for a in arrays]
    print(f"{len(files)} layers of {n} examples ({', '.join(map(str, widths))} features), batches of "
          f"{args.batch_size}, {args.threads} threads; convlab {convlab.__version__}")

    python_s, matrix = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        matrix = convlab.cka_matrix(arrays, batch_size=args.batch_size)
        python_s.append(time.perf_counter() - start)
    mapped_s = []
    for _ in range(args.repeats):
        mapped = [np.load(f, mmap_mode="r") for f in files]
        start = time.perf_counter()
        mapped_matrix = convlab.cka_matrix(mapped, batch_size=args.batch_size)
        mapped_s.append(time.perf_counter() - start)
        del mapped

    analyze_s, analyze_wall, analyze_matrix = [], [], None
    if os.access(analyze, os.X_OK):
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                subprocess.run([analyze, "files", *files, "--batch-size", str(args.batch_size), "--kernel", "linear",
                                "--output", os.path.join(out, "a")], check=True, stdout=subprocess.DEVNULL)
                analyze_wall.append(time.perf_counter() - start)
                with open(os.path.join(out, "a", "summary.json")) as f:
                    summary = json.load(f)
                analyze_s.append(summary["analyses"][0]["seconds"])  # the comparison, figures not included
                found = glob.glob(os.path.join(out, "a", "*cka*linear*.npy")) or glob.glob(
                    os.path.join(out, "a", "*.npy"))
                if found:
                    analyze_matrix = np.load(sorted(found)[0])
    else:
        print(f"(no {analyze}: build it, or give --analyze)")

    peer = os.path.join(root, "tools", "cka-numpy-peer.py")
    numpy_s = []
    for _ in range(args.repeats):
        text = subprocess.run([sys.executable, peer, *files, "--batch-size", str(args.batch_size)], check=True,
                              capture_output=True, text=True, env=os.environ).stdout
        numpy_s.append(float(re.search(r"([0-9.]+) s", text).group(1)))
    numpy_matrix = None
    # The peer prints its matrix; recompute it in-process for the comparison instead of parsing.
    sys.path.insert(0, os.path.join(root, "tools"))
    import importlib.util
    spec = importlib.util.spec_from_file_location("cka_numpy_peer", peer)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    numpy_matrix = module.minibatch_cka(files, args.batch_size, "debiased")

    med = statistics.median
    print(f"python  convlab.cka_matrix        {med(python_s):8.2f} s  (runs: {', '.join(f'{s:.2f}' for s in python_s)})")
    print(f"mapped  cka_matrix, mmap'd files  {med(mapped_s):8.2f} s  (runs: {', '.join(f'{s:.2f}' for s in mapped_s)})")
    if analyze_s:
        print(f"analyze convlab-analyze files     {med(analyze_s):8.2f} s  (wall {med(analyze_wall):.2f} s)")
        print(f"python / analyze                  {med(python_s) / med(analyze_s):8.3f}")
        print(f"mapped / analyze                  {med(mapped_s) / med(analyze_s):8.3f}")
    print(f"numpy   tools/cka-numpy-peer.py   {med(numpy_s):8.2f} s")
    print(f"numpy / python                    {med(numpy_s) / med(python_s):8.2f}")
    if analyze_matrix is not None and analyze_matrix.shape == matrix.shape:
        print(f"largest |python - analyze| = {np.abs(matrix - analyze_matrix).max():.3g}")
    print(f"largest |python - numpy|   = {np.abs(matrix - numpy_matrix).max():.3g}")
    print(f"largest |python - mapped|  = {np.abs(matrix - mapped_matrix).max():.3g}")


if __name__ == "__main__":
    main()
