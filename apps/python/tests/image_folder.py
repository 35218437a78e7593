"""A tiny CIFAR-10-like image folder for the tests that train: train/<class>/NNNN.png and
test/<class>/NNNN.png, 32x32 RGB noise a little different per class."""

import os

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_image_folder(root, train_per_class=2, test_per_class=1, seed=0):
    """Writes the folder under `root`; returns its test images, (n, 32, 32, 3) uint8, and their
    labels, in convlab's order (class by class, files by name)."""
    from PIL import Image  # the tests that call this need Pillow; the others do not

    rng = np.random.default_rng(seed)
    test_images, test_labels = [], []
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for label, name in enumerate(CLASSES):
            os.makedirs(root / split / name)
            for i in range(count):
                pixels = rng.integers(0, 200, (32, 32, 3)) + np.array([5 * label, 40, 90 - 8 * label])
                pixels = np.clip(pixels, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i:04d}.png")
                if split == "test":
                    test_images.append(pixels)
                    test_labels.append(label)
    return np.stack(test_images), np.array(test_labels)
