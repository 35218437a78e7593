"""The JAX peer of convlab's training step: flax.linen's All-CNN-C, optax's clip and Nesterov
SGD, and one jax.jit of the whole step (batch gather, augmentation with JAX's random numbers,
forward, loss, backward, update), the state donated so XLA updates it in place. XLA's
default precision: TF32 convolutions on tensor-core GPUs."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import flax
import flax.linen as nn
import optax

from .common import (BN_EPS, BN_MOMENTUM, CROP_PAD, CUTOUT, IMAGE, LR, MAX_NORM, MEAN, MOMENTUM,
                     STD, W_DECAY, Skip, layer_specs)

VARIANTS = ("flax-jit-tf32",)


class AllCnnC(nn.Module):
    """conv (bias-free) -> BatchNorm -> ReLU per layer spec, then global average pooling."""
    specs: tuple

    @nn.compact
    def __call__(self, x):  # x (N, 32, 32, 3) -> logits (N, 10)
        for i, s in enumerate(self.specs):
            x = nn.Conv(s.cout, (s.kernel, s.kernel), strides=s.stride, padding=(s.pad, s.pad),
                        use_bias=False, name=f"conv{i}")(x)
            # flax's momentum weighs the old running value: r = 0.9 r + 0.1 batch_stat.
            x = nn.BatchNorm(use_running_average=False, momentum=1.0 - BN_MOMENTUM, epsilon=BN_EPS,
                             name=f"bn{i}")(x)
            x = nn.relu(x)
        return x.mean(axis=(1, 2))


def assemble_batch(images, labels, key, batch, augment, dtype):
    """The batch from the device-resident uint8 images (N, 32, 32, 3): gather, normalise and,
    with augment, random crop from the zero-padded image, flip and cutout, with JAX's random
    numbers. Returns x (B, 32, 32, 3) of dtype and y (B,)."""
    k_index, k_top, k_left, k_flip, k_cut = jax.random.split(key, 5)
    index = jax.random.randint(k_index, (batch,), 0, images.shape[0]) if augment else jnp.arange(batch)
    x = (images[index].astype(dtype) / 255.0 - jnp.array(MEAN, dtype)) / jnp.array(STD, dtype)
    y = labels[index]
    if not augment:
        return x, y
    x = jnp.pad(x, ((0, 0), (CROP_PAD, CROP_PAD), (CROP_PAD, CROP_PAD), (0, 0)))  # (B, 40, 40, 3)
    r = jnp.arange(IMAGE)
    top = jax.random.randint(k_top, (batch, 1, 1), 0, 2 * CROP_PAD + 1)
    left = jax.random.randint(k_left, (batch, 1, 1), 0, 2 * CROP_PAD + 1)
    flip = jax.random.bernoulli(k_flip, 0.5, (batch, 1, 1))
    rows = top + r.reshape(1, IMAGE, 1)                                                 # (B, 32, 1)
    cols = left + jnp.where(flip, IMAGE - 1 - r.reshape(1, 1, IMAGE), r.reshape(1, 1, IMAGE))  # (B, 1, 32)
    x = x[jnp.arange(batch).reshape(batch, 1, 1), rows, cols]  # crop + flip: (B, 32, 32, 3)
    centre = jax.random.randint(k_cut, (batch, 1, 1), 0, IMAGE * IMAGE)
    cy, cx, half = centre // IMAGE, centre % IMAGE, CUTOUT // 2
    ry, rx = r.reshape(1, IMAGE, 1), r.reshape(1, 1, IMAGE)
    keep = ~((ry >= cy - half) & (ry < cy + half) & (rx >= cx - half) & (rx < cx + half))  # (B, 32, 32)
    return x * keep[..., None], y


def train_step(state, images, labels, *, model, tx, batch, augment, dtype):
    params, stats, opt_state, key = state
    key, batch_key = jax.random.split(key)
    x, y = assemble_batch(images, labels, batch_key, batch, augment, dtype)

    def loss_fn(params):
        logits, updated = model.apply({"params": params, "batch_stats": stats}, x, mutable=["batch_stats"])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        penalty = sum(jnp.sum(jnp.square(p)) for p in jax.tree_util.tree_leaves(params))
        return ce + W_DECAY * penalty, updated["batch_stats"]

    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), stats, opt_state, key), loss


class FlaxRunner:
    def __init__(self, variant, cfg):
        platform = "gpu" if cfg.device == "cuda" else "cpu"
        try:
            device = jax.devices(platform)[0]
        except RuntimeError as e:
            raise Skip(f"JAX has no {platform} backend ({str(e).splitlines()[0]})") from e
        if cfg.strict_fp32:
            jax.config.update("jax_default_matmul_precision", "highest")
        if cfg.dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        specs = tuple(layer_specs(cfg.depth))
        model = AllCnnC(specs)
        params = {}
        stats = {}
        for i, layer in enumerate(cfg.params):
            layer = {name: a.astype(cfg.dtype) for name, a in layer.items()}
            params[f"conv{i}"] = {"kernel": layer["kernel"]}
            params[f"bn{i}"] = {"scale": layer["scale"], "bias": layer["bias"]}
            stats[f"bn{i}"] = {"mean": np.zeros_like(layer["scale"]), "var": np.ones_like(layer["scale"])}
        # The tree flax itself would make, to catch a name or shape that drifted.
        expected = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, IMAGE, IMAGE, 3)))
        shapes = jax.tree_util.tree_map(lambda a: a.shape, {"params": params, "batch_stats": stats})
        if jax.tree_util.tree_map(lambda a: a.shape, flax.core.unfreeze(expected)) != shapes:
            raise RuntimeError("the flax model's parameter tree differs from the one loaded")
        tx = optax.chain(optax.clip_by_global_norm(MAX_NORM), optax.sgd(LR, momentum=MOMENTUM, nesterov=True))
        state = (params, stats, tx.init(params), jax.random.key(cfg.seed))
        self.state = jax.device_put(state, device)
        self.images = jax.device_put(cfg.images, device)  # (N, 32, 32, 3) uint8
        self.labels = jax.device_put(cfg.labels, device)  # (N,) int32
        self.loss = None
        self.step_fn = jax.jit(partial(train_step, model=model, tx=tx, batch=cfg.batch, augment=cfg.augment,
                                       dtype=cfg.dtype), donate_argnums=0)
        precision = "fp32 (precision highest)" if cfg.strict_fp32 else "XLA default precision (TF32 on GPU)"
        precision = "float64" if cfg.dtype == "float64" else precision
        self.device, self.dtype, self.seed = device, cfg.dtype, cfg.seed
        self.description = f"JAX {jax.__version__} / flax {flax.__version__} on {device.device_kind}, {precision}, NHWC, jax.jit"

    def step(self):
        self.state, self.loss = self.step_fn(self.state, self.images, self.labels)
        return self.loss

    def sync(self):
        # The loss is ready when its step's whole executable has run, and the steps run in
        # order; waiting on every leaf of the state would add host time per leaf.
        self.loss.block_until_ready()

    def value(self, loss):
        return float(loss)

    def augmented_sample(self, images, labels):
        """One augmented batch of all of images (N, 32, 32, 3) uint8, as numpy (x, y)."""
        assemble = jax.jit(assemble_batch, static_argnums=(3, 4, 5))
        x, y = assemble(jax.device_put(images, self.device), jax.device_put(labels, self.device),
                        jax.random.key(self.seed + 1), images.shape[0], True, self.dtype)
        return np.asarray(x), np.asarray(y)

    def weights(self):
        """The trainable parameters as numpy, laid out as common.init_params makes them."""
        params = jax.device_get(self.state[0])
        return [{"kernel": np.asarray(params[f"conv{i}"]["kernel"]), "scale": np.asarray(params[f"bn{i}"]["scale"]),
                 "bias": np.asarray(params[f"bn{i}"]["bias"])} for i in range(len(params) // 2)]

    def versions(self):
        import jaxlib
        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__,
                "optax": optax.__version__, "device_kind": self.device.device_kind}
