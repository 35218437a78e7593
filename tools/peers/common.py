"""What every peer shares: the network's layers, the training hyper-parameters, initial
weights, the synthetic data set and the timing loop. numpy only, so that a framework that is
missing fails in its own module, not here."""
import math
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

# Training protocol (the reference's v2 configs): mean softmax cross-entropy plus
# W_DECAY * sum(p^2) over every trainable parameter; the gradient (the penalty's included)
# clipped to global norm MAX_NORM; SGD with Nesterov momentum: t = g + 0.9 t; u = g + 0.9 t;
# p -= LR * u.
LR = 0.1
MOMENTUM = 0.9
MAX_NORM = 2.0
W_DECAY = 1e-4
BN_EPS = 1e-5
BN_MOMENTUM = 0.1  # r = 0.9 r + 0.1 batch_stat

# Augmentation: scale to [0, 1], normalise, random 32x32 crop of the image zero-padded by
# CROP_PAD (zeros in normalised space), horizontal flip with p = 0.5, one CUTOUT x CUTOUT
# square set to zero, centre uniform over the image, clipped at the border.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
CROP_PAD = 4
CUTOUT = 16
IMAGE = 32
NUM_CLASSES = 10

# Trainable parameters (conv weights + BatchNorm scale and shift) per depth.
REFERENCE_PARAMS = {1: 1_370_996, 2: 2_949_044}


@dataclass(frozen=True)
class ConvSpec:
    """One bias-free conv, followed by BatchNorm and ReLU. pad = (before, after), the same
    on both spatial axes: XLA's SAME gives (1, 1) for 3x3 stride 1 and (0, 1) for 3x3
    stride 2 on an even input; VALID and 1x1 convs give (0, 0)."""
    cin: int
    cout: int
    kernel: int
    stride: int
    pad: tuple


def layer_specs(depth):
    """All-CNN-C with BatchNorm at depth n, the v2 configs (no dropout)."""
    n = depth
    rows = []  # (cout, kernel, stride, pad)
    rows += [(96, 3, 1, (1, 1))] * (3 * n - 1) + [(96, 3, 2, (0, 1))]      # blocks 1a, 1b
    rows += [(192, 3, 1, (1, 1))] * (3 * n - 1) + [(192, 3, 2, (0, 1))]    # blocks 2a, 2b
    rows += [(192, 3, 1, (1, 1))] * (n - 1) + [(192, 3, 1, (0, 0))]        # 3a, 3b (VALID)
    rows += [(192, 1, 1, (0, 0)), (NUM_CLASSES, 1, 1, (0, 0))]            # blocks 4, 5
    specs, cin = [], 3
    for cout, kernel, stride, pad in rows:
        specs.append(ConvSpec(cin, cout, kernel, stride, pad))
        cin = cout
    return specs


def init_params(depth, seed):
    """Initial weights as numpy float32, one dict per layer: 'kernel' (kh, kw, cin, cout)
    He-normal, BatchNorm 'scale' ones and 'bias' zeros. Every peer starts from these."""
    rng = np.random.default_rng(seed)
    layers = []
    for s in layer_specs(depth):
        fan_in = s.kernel * s.kernel * s.cin
        kernel = rng.standard_normal((s.kernel, s.kernel, s.cin, s.cout)) * math.sqrt(2.0 / fan_in)
        layers.append({"kernel": kernel.astype(np.float32),
                       "scale": np.ones(s.cout, np.float32), "bias": np.zeros(s.cout, np.float32)})
    return layers


def count_params(layers):
    return sum(a.size for layer in layers for a in layer.values())


def synthetic_data(batch, seed):
    """Random uint8 images (N, 32, 32, 3), NHWC as convlab keeps them on the device, and
    labels (N,) int32; N = max(1024, batch)."""
    rng = np.random.default_rng(seed + 1)
    n = max(1024, batch)
    images = rng.integers(0, 256, (n, IMAGE, IMAGE, 3), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, n).astype(np.int32)
    return images, labels


def coded_images():
    """256 images whose pixels tell where they came from: channel 0 holds the row, channel 1
    the column, channel 2 the image's index; labels index % 10. For check_augmentation."""
    rows, cols = np.meshgrid(np.arange(IMAGE), np.arange(IMAGE), indexing="ij")
    images = np.empty((256, IMAGE, IMAGE, 3), np.uint8)
    images[..., 0], images[..., 1] = rows, cols
    images[..., 2] = np.arange(256).reshape(256, 1, 1)
    return images, (np.arange(256) % NUM_CLASSES).astype(np.int32)


def check_augmentation(x, y):
    """Checks an augmented batch x (B, 32, 32, 3), normalised, y (B,), made from coded_images():
    each image is one source image, normalised, cropped at an offset in [0, 2 CROP_PAD] from
    the zero-padded image, maybe flipped, with zeros exactly where the crop left the image or
    a CUTOUT square (centre inside the image, clipped) lies, and its label is the source's.
    Raises RuntimeError naming the first image that is not; returns what was seen."""
    raw = (x.astype(np.float64) * np.array(STD) + np.array(MEAN)) * 255.0
    # A zero in normalised space decodes to 255 * MEAN (125.31, 122.96, 113.86), no whole number.
    data = np.abs(raw - np.round(raw)).max(axis=-1) < 1e-2   # (B, 32, 32): a source pixel
    coords = np.round(raw).astype(int)                       # (B, 32, 32, 3): row, column, image
    r = np.arange(IMAGE)
    grid_row, grid_col = np.meshgrid(r, r, indexing="ij")
    half = CUTOUT // 2
    cy, cx = grid_row.reshape(-1, 1, 1), grid_col.reshape(-1, 1, 1)    # every possible centre
    cutouts = ((grid_row >= cy - half) & (grid_row < cy + half)
               & (grid_col >= cx - half) & (grid_col < cx + half))     # (1024, 32, 32), clipped
    tops, lefts, flips = [], [], []
    for b in range(x.shape[0]):
        m = data[b]
        source = np.unique(coords[b, ..., 2][m])
        top = np.unique(coords[b, ..., 0][m] - grid_row[m]) + CROP_PAD
        left = np.unique(coords[b, ..., 1][m] - grid_col[m]) + CROP_PAD
        flipped_left = np.unique(coords[b, ..., 1][m] + grid_col[m]) + CROP_PAD - (IMAGE - 1)
        flip = len(left) != 1
        left = flipped_left if flip else left
        if len(source) != 1 or len(top) != 1 or len(left) != 1 or y[b] != source[0] % NUM_CLASSES:
            raise RuntimeError(f"augmented image {b} is no crop/flip of one source image with its label")
        top, left = int(top[0]), int(left[0])
        if not (0 <= top <= 2 * CROP_PAD and 0 <= left <= 2 * CROP_PAD):
            raise RuntimeError(f"augmented image {b}: crop offset ({top}, {left}) out of range")
        src_row = top - CROP_PAD + r.reshape(IMAGE, 1)
        src_col = left - CROP_PAD + (IMAGE - 1 - r if flip else r).reshape(1, IMAGE)
        padding = (src_row < 0) | (src_row >= IMAGE) | (src_col < 0) | (src_col >= IMAGE)
        if not ((padding | cutouts) == ~m).all(axis=(1, 2)).any():
            raise RuntimeError(f"augmented image {b}: its zeros are not the padding plus one {CUTOUT}x{CUTOUT} square")
        tops.append(top), lefts.append(left), flips.append(flip)
    return {"images": x.shape[0], "offsets": sorted(set(tops) | set(lefts)), "flipped": float(np.mean(flips))}


@dataclass
class RunConfig:
    """What a peer is built from. augment=False (the numerical check) takes the first
    `batch` images, normalised only; strict_fp32 turns TF32 off; dtype "float64" (the
    check, for the variants that can) computes everything in double precision."""
    depth: int
    batch: int
    device: str              # "cuda" or "cpu"
    seed: int = 0
    augment: bool = True
    strict_fp32: bool = False
    dtype: str = "float32"
    params: list = field(default_factory=list)   # init_params(...)
    images: np.ndarray = None
    labels: np.ndarray = None


class Skip(Exception):
    """A variant that cannot run here (framework missing, no GPU): reported, not fatal."""


def time_steps(runner, warmup, steps):
    """Times runner.step(), which returns the step's loss without waiting for it
    (runner.sync() waits for all the runner started; runner.value(loss) is a float): the
    first call alone (it compiles, in the compiled peers) and the whole warm-up, then
    `steps` steps each synchronised (their median is the result) and `steps` steps back to
    back with one synchronisation (their mean: the pipelined figure)."""
    start = time.perf_counter()
    loss = runner.step()
    runner.sync()
    first_s = time.perf_counter() - start
    for _ in range(warmup - 1):
        loss = runner.step()
    runner.sync()
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        runner.step()
        runner.sync()
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(steps):
        loss = runner.step()
    runner.sync()
    pipelined_s = (time.perf_counter() - start) / steps
    final_loss = runner.value(loss)
    if not math.isfinite(final_loss):
        raise RuntimeError(f"the loss became {final_loss} during the benchmark")
    return {"ms": 1e3 * statistics.median(times), "pipelined_ms": 1e3 * pipelined_s,
            "first_step_s": first_s, "warmup_s": warmup_s, "final_loss": final_loss}
