"""PyTorch peers of convlab's training step: eager in TF32, eager in bf16 autocast with
channels_last, and torch.compile (TF32, mode default).

Written as a PyTorch user who wants speed would write it: cuDNN autotuning on
(cudnn.benchmark), the stock BatchNorm2d, torch.optim.SGD and clip_grad_norm_ (multi-tensor
kernels on CUDA). The penalty W_DECAY * sum(p^2) is in the loss; its gradient, 2 W_DECAY p,
is added by one multi-tensor op before clipping instead of through autograd (the same
gradient, a few dozen fewer kernels). Two known differences from the protocol, neither of
which changes the time: BatchNorm2d updates its running variance with the unbiased batch
variance (a factor m / (m - 1), m = N*H*W >= 4608 at these shapes; the loss and gradients
are unchanged), and clip_grad_norm_ scales by max_norm / (norm + 1e-6) (relative 3e-7 in
the float64 check of bench-peers.py --check).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .common import (BN_EPS, BN_MOMENTUM, CROP_PAD, CUTOUT, IMAGE, LR, MAX_NORM, MEAN, MOMENTUM,
                     STD, W_DECAY, Skip, layer_specs)

VARIANTS = {  # name: (bf16 autocast, channels_last, torch.compile)
    "torch-eager-tf32": (False, False, False),
    "torch-eager-bf16-cl": (True, True, False),
    "torch-compile-tf32": (False, False, True),
}


class AllCnnC(nn.Module):
    """conv (bias-free) -> BatchNorm -> ReLU per layer spec, then global average pooling."""

    def __init__(self, specs):
        super().__init__()
        layers = []
        for s in specs:
            before, after = s.pad
            if before != after:  # XLA's SAME for stride 2: nothing before, one row/column after
                layers.append(nn.ZeroPad2d((before, after, before, after)))
            layers += [nn.Conv2d(s.cin, s.cout, s.kernel, s.stride, padding=before if before == after else 0,
                                 bias=False),
                       nn.BatchNorm2d(s.cout, eps=BN_EPS, momentum=BN_MOMENTUM),
                       nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):  # x (N, 3, 32, 32) -> logits (N, 10)
        return self.body(x).mean(dim=(2, 3))

    @torch.no_grad()
    def load(self, layers):
        """layers: common.init_params(...) (kernels (kh, kw, cin, cout))."""
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        norms = [m for m in self.body if isinstance(m, nn.BatchNorm2d)]
        for conv, norm, layer in zip(convs, norms, layers, strict=True):
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer["kernel"].transpose(3, 2, 0, 1))))
            norm.weight.copy_(torch.from_numpy(layer["scale"]))
            norm.bias.copy_(torch.from_numpy(layer["bias"]))


def assemble_batch(images, labels, batch, augment, mean, std):
    """The batch from the device-resident uint8 images (N, 32, 32, 3): gather, normalise and,
    with augment, random crop from the zero-padded image, flip and cutout, with torch's
    random numbers on the images' device. Returns x (B, 32, 32, 3) in mean's dtype and y (B,)."""
    device = images.device
    if augment:
        index = torch.randint(0, images.shape[0], (batch,), device=device)
    else:
        index = torch.arange(batch, device=device)
    x = (images[index].to(mean.dtype) / 255.0 - mean) / std   # (B, 32, 32, 3)
    y = labels[index]
    if not augment:
        return x, y
    x = F.pad(x, (0, 0, CROP_PAD, CROP_PAD, CROP_PAD, CROP_PAD))  # (B, 40, 40, 3), zeros
    r = torch.arange(IMAGE, device=device)
    top = torch.randint(0, 2 * CROP_PAD + 1, (batch, 1, 1), device=device)
    left = torch.randint(0, 2 * CROP_PAD + 1, (batch, 1, 1), device=device)
    flip = torch.rand((batch, 1, 1), device=device) < 0.5
    rows = top + r.view(1, IMAGE, 1)                                           # (B, 32, 1)
    cols = left + torch.where(flip, IMAGE - 1 - r.view(1, 1, IMAGE), r.view(1, 1, IMAGE))  # (B, 1, 32)
    x = x[torch.arange(batch, device=device).view(batch, 1, 1), rows, cols]  # crop + flip: (B, 32, 32, 3)
    centre = torch.randint(0, IMAGE * IMAGE, (batch, 1, 1), device=device)
    cy, cx, half = centre // IMAGE, centre % IMAGE, CUTOUT // 2
    ry, rx = r.view(1, IMAGE, 1), r.view(1, 1, IMAGE)
    keep = ~((ry >= cy - half) & (ry < cy + half) & (rx >= cx - half) & (rx < cx + half))  # (B, 32, 32)
    return x * keep.unsqueeze(-1), y


def set_tf32(enabled):
    # The legacy flags: on PyTorch 2.9+ they also set the fp32_precision ones, while setting
    # only those makes reading the legacy flags (as parts of torch._dynamo do) raise.
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


class TorchRunner:
    def __init__(self, variant, cfg):
        self.bf16, self.channels_last, compiled = VARIANTS[variant]
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise Skip("PyTorch sees no CUDA device")
        self.device = torch.device(cfg.device)
        self.dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
        set_tf32(not cfg.strict_fp32)
        torch.backends.cudnn.benchmark = True
        torch.manual_seed(cfg.seed)
        self.batch, self.augment = cfg.batch, cfg.augment
        self.model = AllCnnC(layer_specs(cfg.depth))
        self.model.load(cfg.params)
        self.model.to(self.device, self.dtype)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.params = list(self.model.parameters())
        self.optimiser = torch.optim.SGD(self.params, lr=LR, momentum=MOMENTUM, nesterov=True)
        self.images = torch.from_numpy(cfg.images).to(self.device)                # (N, 32, 32, 3) uint8
        self.labels = torch.from_numpy(cfg.labels).to(self.device, torch.int64)   # (N,)
        self.mean = torch.tensor(MEAN, device=self.device, dtype=self.dtype)
        self.std = torch.tensor(STD, device=self.device, dtype=self.dtype)
        self.forward_loss, self.update, self.assemble = self._forward_loss, self._update, assemble_batch
        if compiled:  # compiled in the first warm-up step; the optimiser's step again in the second
            self.forward_loss, self.update = torch.compile(self._forward_loss), torch.compile(self._update)
            self.assemble = torch.compile(assemble_batch)  # for augmented_sample: as it runs in the step
        name = torch.cuda.get_device_name() if self.device.type == "cuda" else "CPU"
        precision = "fp32 (no TF32)" if cfg.strict_fp32 else ("bf16 autocast" if self.bf16 else "TF32 allowed")
        precision = "float64" if cfg.dtype == "float64" else precision
        self.description = (f"PyTorch {torch.__version__} on {name}, {precision}, "
                            f"{'channels_last' if self.channels_last else 'NCHW'}"
                            f"{', torch.compile' if compiled else ', eager'}")

    def _forward_loss(self):
        x, y = assemble_batch(self.images, self.labels, self.batch, self.augment, self.mean, self.std)
        x = x.permute(0, 3, 1, 2)  # (B, 3, 32, 32) with NHWC strides, i.e. channels_last
        x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(x)
        return F.cross_entropy(logits.to(self.dtype), y)

    def _update(self):
        grads = [p.grad for p in self.params]
        with torch.no_grad():
            penalty = torch.stack(torch._foreach_norm(self.params)).square().sum()
            torch._foreach_add_(grads, self.params, alpha=2 * W_DECAY)  # d/dp of W_DECAY * sum(p^2)
        nn.utils.clip_grad_norm_(self.params, MAX_NORM)
        self.optimiser.step()
        return W_DECAY * penalty

    def step(self):
        self.optimiser.zero_grad(set_to_none=True)
        loss = self.forward_loss()
        loss.backward()
        return loss.detach() + self.update()  # the penalty at the weights before the update

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def value(self, loss):
        return float(loss.item())

    def augmented_sample(self, images, labels):
        """One augmented batch of all of images (N, 32, 32, 3) uint8, as numpy (x, y)."""
        x, y = self.assemble(torch.from_numpy(images).to(self.device), torch.from_numpy(labels).to(self.device),
                             images.shape[0], True, self.mean, self.std)
        return x.cpu().numpy(), y.cpu().numpy()

    @torch.no_grad()
    def weights(self):
        """The trainable parameters as numpy, laid out as common.init_params makes them."""
        convs = [m for m in self.model.body if isinstance(m, nn.Conv2d)]
        norms = [m for m in self.model.body if isinstance(m, nn.BatchNorm2d)]
        return [{"kernel": c.weight.permute(2, 3, 1, 0).cpu().numpy(), "scale": n.weight.cpu().numpy(),
                 "bias": n.bias.cpu().numpy()} for c, n in zip(convs, norms, strict=True)]

    def versions(self):
        v = {"torch": torch.__version__}
        if self.device.type == "cuda":
            v["cuda"] = torch.version.cuda
            v["cudnn"] = str(torch.backends.cudnn.version())
        return v
