#!/usr/bin/env python3
"""The numpy peer of `convlab-analyze files`: minibatch CKA between .npy feature files,
computed in Gram space the plain way (float32 features and Gram products, as numpy's
matmul gives them; centring and the HSIC sums in float64), for timing convlab against.

    tools/cka-numpy-peer.py --make-features DIR [--examples 1000]
        writes ten layers shaped like All-CNN-C's (98304 ... 10 features), float32
    tools/cka-numpy-peer.py DIR/*.npy [--batch-size 1000] [--estimator debiased|biased]
                            [--check convlab_output.npy]
        prints the seconds taken and the matrix, and with --check the largest difference
        from convlab's matrix

Run both with the same threads, e.g. OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2.
Needs numpy only.
"""
import argparse
import sys
import time

import numpy as np

ALL_CNN_C_WIDTHS = [98304, 98304, 24576, 49152, 49152, 12288, 6912, 6912, 360, 10]


def make_features(folder, examples, seed=0):
    import os
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((examples, 16), dtype=np.float32)
    previous = latent
    for index, width in enumerate(ALL_CNN_C_WIDTHS):
        mix = rng.standard_normal((previous.shape[1], width), dtype=np.float32) / np.sqrt(previous.shape[1])
        noise = rng.standard_normal((examples, width), dtype=np.float32)
        layer = np.maximum(previous @ mix + 0.5 * noise + 0.2, 0).astype(np.float32)
        np.save(os.path.join(folder, f"layer{index:02d}.npy"), layer)
        previous = latent if width > 4096 else layer  # keep the mixes small
        print(f"layer{index:02d}.npy: {layer.shape}", file=sys.stderr)


def centred_gram(features, estimator):
    x = features - features.mean(axis=0, dtype=np.float64).astype(np.float32)
    k = (x @ x.T).astype(np.float64)  # float32 products, as numpy computes them
    n = k.shape[0]
    if estimator == "biased":
        k -= k.mean(axis=0, keepdims=True)
        k -= k.mean(axis=1, keepdims=True)
        return k.ravel() / (n - 1)
    np.fill_diagonal(k, 0.0)  # U-centring (debiased HSIC, Song et al. 2012)
    rows = k.sum(axis=1)
    total = rows.sum()
    u = k - rows[:, None] / (n - 2) - rows[None, :] / (n - 2) + total / ((n - 1) * (n - 2))
    np.fill_diagonal(u, 0.0)
    return u.ravel() / np.sqrt(n * (n - 3.0))


def minibatch_cka(files, batch_size, estimator):
    layers = [np.load(f, mmap_mode="r") for f in files]
    n = layers[0].shape[0]
    hsic = np.zeros((len(layers), len(layers)))
    total = 0
    for first in range(0, n, batch_size):
        count = min(batch_size, n - first)
        grams = np.stack([centred_gram(np.ascontiguousarray(l[first:first + count]).reshape(count, -1), estimator)
                          for l in layers])
        hsic += count * (grams @ grams.T)
        total += count
    hsic /= total
    d = np.sqrt(np.diag(hsic))
    return hsic / np.outer(d, d)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*")
    parser.add_argument("--make-features")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--estimator", choices=["debiased", "biased"], default="debiased")
    parser.add_argument("--check")
    args = parser.parse_args()
    if args.make_features:
        make_features(args.make_features, args.examples)
        return
    if not args.files:
        parser.error("give .npy files (or --make-features DIR)")
    start = time.perf_counter()
    cka = minibatch_cka(args.files, args.batch_size, args.estimator)
    seconds = time.perf_counter() - start
    print(f"numpy peer: {len(args.files)} layers, {seconds:.2f} s")
    np.set_printoptions(precision=3, suppress=True, linewidth=150)
    print(cka)
    if args.check:
        convlab = np.load(args.check)
        print(f"largest |numpy - convlab| = {np.abs(cka - convlab).max():.3g}")


if __name__ == "__main__":
    main()
