"""The interop test: convlab's checkpoint and exported features against an independent numpy
forward pass of All-CNN-C written here (its own convolution, SAME padding, BatchNorm and ReLU).

It writes a tiny CIFAR-like image folder, trains depth-1 All-CNN-C on it for a few steps with
convlab-train, exports every layer with `convlab-analyze features`, loads the checkpoint with
safetensors.numpy and requires the logits to agree within 1e-4 and every exported layer
within 1e-4 relative (the largest difference over the largest magnitude). It also checks the
checkpoint's metadata against the architecture, the exported pixels, labels and indices, an
--indices file as numpy writes it (int64), and that `convlab-analyze files` reads the layers.

    test_numpy_forward.py --train convlab-train --analyze convlab-analyze
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import zlib

from interop_support import require, run

require("numpy", "safetensors", "PIL")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TOLERANCE = 1e-4


def write_image_folder(root, per_split, rng):
    """PNGs (lossless) in root/split/class/NNNN.png; returns {split: (images (N, 3, 32, 32), labels)}
    in convlab's order: class by class, files by name."""
    sets = {}
    for split, count in per_split.items():
        images, labels = [], []
        for label, name in enumerate(CLASSES):
            os.makedirs(os.path.join(root, split, name))
            for i in range(count):
                pixels = rng.integers(0, 200, (32, 32, 3)) + np.array([5 * label, 40, 90 - 8 * label])
                pixels = np.clip(pixels, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(os.path.join(root, split, name, f"{i:04d}.png"))
                images.append(pixels.transpose(2, 0, 1))
                labels.append(label)
        sets[split] = (np.stack(images), np.array(labels))
    return sets


def all_cnn_c_plan(depth, classes):
    """(out channels, kernel, stride, padding) of each conv, as Springenberg et al. and the reference."""
    return ([(96, 3, 1, "same")] * (3 * depth - 1) + [(96, 3, 2, "same")] +
            [(192, 3, 1, "same")] * (3 * depth - 1) + [(192, 3, 2, "same")] +
            [(192, 3, 1, "same")] * (depth - 1) +
            [(192, 3, 1, "valid"), (192, 1, 1, "valid"), (classes, 1, 1, "valid")])


def same_pads(size, kernel, stride):
    """TensorFlow/XLA SAME: the output has ceil(size / stride) positions; the extra padding goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d(x, weight, stride, padding):
    """x (N, C, H, W), weight (O, C, K, K), by im2col and one matrix product per image."""
    n, c, h, w = x.shape
    o, _, k, _ = weight.shape
    pads = (same_pads(h, k, stride), same_pads(w, k, stride)) if padding == "same" else ((0, 0), (0, 0))
    x = np.pad(x, ((0, 0), (0, 0)) + pads)
    oh, ow = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    columns = np.empty((n, c, k, k, oh, ow))
    for i in range(k):
        for j in range(k):
            columns[:, :, i, j] = x[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
    return np.matmul(weight.reshape(o, c * k * k), columns.reshape(n, c * k * k, oh * ow)).reshape(n, o, oh, ow)


def batchnorm(x, gamma, beta, mean, var, eps):
    """Inference BatchNorm over the channels of (N, C, H, W)."""
    c = lambda v: v.reshape(1, -1, 1, 1).astype(np.float64)  # noqa: E731
    return (x - c(mean)) / np.sqrt(c(var) + eps) * c(gamma) + c(beta)


def relu(x):
    return np.maximum(x, 0.0)


def forward(weights, images, mean, std, depth, classes, eps):
    """The activations after each conv block (conv, BN, ReLU) and the logits, in float64."""
    x = (images.astype(np.float64) / 255.0 - np.reshape(mean, (1, 3, 1, 1))) / np.reshape(std, (1, 3, 1, 1))
    outputs = []
    for i, (_, _, stride, padding) in enumerate(all_cnn_c_plan(depth, classes), start=1):
        x = conv2d(x, weights[f"conv{i}.weight"].astype(np.float64), stride, padding)
        x = relu(batchnorm(x, weights[f"bn{i}.weight"], weights[f"bn{i}.bias"], weights[f"bn{i}.running_mean"],
                           weights[f"bn{i}.running_var"], eps))
        outputs.append(x)
    logits = x.mean(axis=(2, 3))
    return outputs, logits


def relative_error(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--analyze", required=True)
    parser.add_argument("--doc")  # unused here; the CMake loop passes it to every interop script
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="convlab-interop-")
    failures = []

    def check(ok, message):
        print(("ok    " if ok else "FAIL  ") + message)
        if not ok:
            failures.append(message)

    try:
        data = os.path.join(work, "data")
        sets = write_image_folder(data, {"train": 4, "test": 3}, np.random.default_rng(11))
        config = os.path.join(work, "tiny.yaml")
        with open(config, "w") as f:
            f.write("train_config:\n  num_epochs: 2\n  train_data_size: 40\n  batch_size: 10\n  lrate: 0.05\n"
                    "  decay_after_epochs: [100]\nlog_config:\n  save_every_k_ckpt: 1\nmodel_config:\n  depth: 1\n")
        common = ["--data", data, "--cache-dir", os.path.join(work, "cache"), "--device", "cpu"]
        run([args.train, config, "--output", os.path.join(work, "run"), "--quiet"] + common)
        checkpoint = os.path.join(work, "run", "checkpoints", "epoch_0002.safetensors")
        features = os.path.join(work, "features")
        run([args.analyze, "features", checkpoint, "--examples", "20", "--batch-size", "7", "--output", features]
            + common)

        weights = load_file(checkpoint)
        with safe_open(checkpoint, framework="np") as f:
            meta = f.metadata()
        with open(os.path.join(features, "manifest.json")) as f:
            manifest = json.load(f)

        # The metadata describes the network the test builds.
        layers = json.loads(meta["layers"])
        plan = all_cnn_c_plan(1, 10)
        check(meta["same_padding"] == "xla" and meta["activations"] == "NCHW" and meta["conv_weight"] == "OIHW",
              "metadata: same_padding xla, activations NCHW, conv_weight OIHW")
        described = [(weights[f"conv{i}.weight"].shape[0], layers[f"conv{i}"]["kernel"], layers[f"conv{i}"]["stride"],
                      layers[f"conv{i}"]["padding"]) for i in range(1, len(plan) + 1)]
        check(described == plan, f"metadata and weights describe All-CNN-C depth 1: {described}")
        check(json.loads(meta["class_names"]) == CLASSES, "metadata: class names")
        eps = layers["bn1"]["eps"]
        mean, std = json.loads(meta["input_mean"]), json.loads(meta["input_std"])

        # Which images, and their pixels and labels.
        indices = np.load(os.path.join(features, "indices.npy"))
        test_images, test_labels = sets["test"]
        check(len(indices) == 20 and np.all(np.diff(indices) > 0) and indices.max() < 30,
              f"indices.npy: 20 ascending test indices {indices.tolist()}")
        check(np.array_equal(np.load(os.path.join(features, "images.npy")), test_images[indices]),
              "images.npy holds the pixels of those test images")
        check(np.array_equal(np.load(os.path.join(features, "labels.npy")), test_labels[indices]), "labels.npy")

        outputs, logits = forward(weights, test_images[indices], mean, std, 1, 10, eps)
        exported_logits = np.load(os.path.join(features, "logits.npy"))
        diff = float(np.abs(exported_logits - logits).max())
        check(exported_logits.dtype == np.float32 and diff <= TOLERANCE,
              f"logits.npy {exported_logits.shape} agrees with numpy within {diff:.2e} (<= {TOLERANCE})")
        for i, entry in enumerate(manifest["layers"]):
            exported = np.load(os.path.join(features, entry["file"]))
            want = outputs[i] if i < len(outputs) else logits
            error = relative_error(exported, want.reshape(len(indices), -1))
            check(exported.dtype == np.float32 and list(want.shape[1:]) == entry["shape"] and error <= TOLERANCE,
                  f"{entry['file']} {exported.shape} ({entry['name']}, {entry['shape']}) agrees within "
                  f"{error:.2e} relative")

        # An --indices file as numpy writes it (int64), and a chosen layer.
        np.save(os.path.join(work, "chosen.npy"), np.array([29, 0, 5, 5]))
        chosen = os.path.join(work, "chosen")
        run([args.analyze, "features", checkpoint, "--indices", os.path.join(work, "chosen.npy"), "--layers",
             "conv3", "--output", chosen] + common)
        _, chosen_logits = forward(weights, test_images[[29, 0, 5, 5]], mean, std, 1, 10, eps)
        conv3 = np.load(os.path.join(chosen, "conv3_1b.npy"))
        check(np.array_equal(np.load(os.path.join(chosen, "indices.npy")), [29, 0, 5, 5]) and
              np.abs(np.load(os.path.join(chosen, "logits.npy")) - chosen_logits).max() <= TOLERANCE and
              conv3.shape == (4, 96 * 16 * 16) and sorted(f for f in os.listdir(chosen) if not f.startswith(".")) ==
              ["conv3_1b.npy", "images.npy", "indices.npy", "labels.npy", "logits.npy", "manifest.json"],
              "--indices (int64 .npy) and --layers conv3")

        # The manifest's checksums are zlib's CRC-32 of each whole file, as Python computes it.
        for entry in manifest["files"]:
            with open(os.path.join(features, entry["file"]), "rb") as f:
                data = f.read()
            check(format(zlib.crc32(data), "08x") == entry["crc32"] and len(data) == entry["bytes"],
                  f"manifest crc32 and bytes of {entry['file']}")

        # `files` reads the exported layers back.
        files_out = os.path.join(work, "files")
        run([args.analyze, "files"] + [os.path.join(features, e["file"]) for e in manifest["layers"][:3]] +
            ["--kernel", "linear", "--output", files_out])
        matrix = np.load(os.path.join(files_out, "files_linear.npy"))
        check(matrix.shape == (3, 3) and np.allclose(np.diag(matrix), 1.0, atol=1e-6),
              "convlab-analyze files reads the exported layers (unit diagonal)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "all agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
