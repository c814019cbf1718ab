"""Recipe that trains ``sprites-features``: factor regression and damage recognition on freshly
rendered scenes, half of them damaged.

Each step renders a batch of real scenes (``sprites.sample``) and damages a random half with one of
:data:`features_net.CORRUPTIONS` at a random strength ``s`` in [0, 1]: Gaussian blur (sigma 0.5-3
px), pixel noise (std 0.02-0.2), a smooth warp (1-6 px), soft colour blobs (extra "objects"), a ghost
(blend with another scene) or smooth colour shading. Losses: cross-entropy on the shape; L1 on the
normalised scale, x, y, bg_value; L2 on the (cos, sin) pairs of hue, bg_hue and the rotation
harmonics the shape determines; cross-entropy on the damage kind and L1 on its strength. Factor
losses of a damaged image are weighted by ``1 - s/2``: the net learns to read factors through mild
damage (robust features on imperfect generated images) while its features must also say how damaged
an image is (so the sprite-FID grows with damage rather than being blind to it).

Run (resumes from ``--ckpt``; ``--export`` writes the shipped weights)::

    python -m latentwidgets.zoo.train_features --minutes 40 --threads 1 \
        --ckpt training/sprites-features.resume.safetensors \
        --export latentwidgets/zoo/weights/sprites-features.safetensors

``--smoke`` runs a few steps into a temporary folder (what CI runs).
"""

from __future__ import annotations

import math
import sys
import time

import torch
import torch.nn.functional as F

from .._checkpoint import checkpoint, resume, time_boxed
from . import sprites
from .features_net import CORRUPTIONS, HEADS, REGRESSED, SpritesFeatures, build_features
from .training import log_line, recipe_args, recipe_parser

SEED = 0
BATCH = 64
LR = 1e-3
LR_LATE = 3e-4
LATE_STEP = 4000
DAMAGED_FRACTION = 0.5


# ------------------------------------------------------------------------------------------------
# damage

def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    r = 7
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t.view(1, -1) / sigma.view(-1, 1)) ** 2)
    k = k / k.sum(1, keepdim=True)  # [B, 2r+1]
    b, c, h, w = x.shape
    y = x.reshape(1, b * c, h, w)
    kk = k.repeat_interleave(c, 0)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), kk.view(b * c, 1, 1, -1), groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), kk.view(b * c, 1, -1, 1), groups=b * c)
    return y.view(b, c, h, w)


def _smooth_field(b: int, ch: int, cells: int, gen: torch.Generator, size: int = 64) -> torch.Tensor:
    coarse = torch.randn(b, ch, cells, cells, generator=gen)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)


def _warp(x: torch.Tensor, px: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    disp = _smooth_field(b, 2, 4, gen, h) * (px.view(-1, 1, 1, 1) * 2 / w)
    lin = torch.linspace(-1 + 1 / w, 1 - 1 / w, w)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    grid = torch.stack([gx, gy], -1).unsqueeze(0) + disp.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _blobs(x: torch.Tensor, s: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    coords = (torch.arange(h, dtype=torch.float32) + 0.5) / w
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    out = x
    for _ in range(2):
        cx, cy = torch.rand(b, 1, 1, generator=gen), torch.rand(b, 1, 1, generator=gen)
        rad = 0.04 + 0.10 * torch.rand(b, 1, 1, generator=gen)
        colour = torch.rand(b, 3, 1, 1, generator=gen)
        a = torch.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * rad ** 2))
        a = (a * (0.3 + 0.7 * s.view(-1, 1, 1))).unsqueeze(1)
        out = out * (1 - a) + colour * a
    return out


def damage(x: torch.Tensor, kind: torch.Tensor, s: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Apply damage ``CORRUPTIONS[kind[i]]`` at strength ``s[i]`` in [0, 1] to each image ``x[i]``.

    >>> y = damage(x, torch.full((len(x),), 1), torch.rand(len(x)), torch.Generator())   # blur all
    """
    out = x.clone()
    b = x.shape[0]
    for k, name in enumerate(CORRUPTIONS):
        idx = (kind == k).nonzero().flatten()
        if name == "none" or idx.numel() == 0:
            continue
        xi, si = x[idx], s[idx]
        if name == "blur":
            yi = _blur(xi, 0.5 + 2.5 * si)
        elif name == "noise":
            yi = xi + torch.randn(xi.shape, generator=gen) * (0.02 + 0.18 * si).view(-1, 1, 1, 1)
        elif name == "warp":
            yi = _warp(xi, 1 + 5 * si, gen)
        elif name == "blobs":
            yi = _blobs(xi, si, gen)
        elif name == "ghost":
            other, _ = sprites.sample(len(idx), seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            a = (0.1 + 0.4 * si).view(-1, 1, 1, 1)
            yi = (1 - a) * xi + a * other
        elif name == "shading":
            yi = xi + _smooth_field(len(idx), 3, 3, gen) * (0.05 + 0.25 * si).view(-1, 1, 1, 1)
        else:  # pragma: no cover
            raise ValueError(name)
        out[idx] = yi.clamp(0, 1)
    assert out.shape[0] == b
    return out


# ------------------------------------------------------------------------------------------------
# targets and loss

def _pair(angle: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(angle), torch.sin(angle)], 1)


def features_loss(out: torch.Tensor, factors: dict[str, torch.Tensor], kind: torch.Tensor,
                  s: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts for raw outputs ``out`` of a batch with known factors and damage."""
    h = {k: out[:, a:b] for k, (a, b) in HEADS.items()}
    wt = 1 - 0.5 * s * (kind > 0).float()  # factor weight per image
    shape = factors["shape"].long()
    parts = {}
    parts["shape"] = (F.cross_entropy(h["shape"], shape, reduction="none") * wt).mean()
    reg_t = torch.stack([(factors[k] - sprites.RANGES[k][0]) / (sprites.RANGES[k][1] - sprites.RANGES[k][0]) * 2 - 1
                         for k in REGRESSED], 1)
    parts["regress"] = ((h["regress"] - reg_t).abs().mean(1) * wt).mean() * 4
    circ = 0.0
    for k in ("hue", "bg_hue"):
        circ = circ + (h[k] - _pair(2 * math.pi * factors[k])).pow(2).sum(1)
    parts["hue"] = (circ * wt).mean()
    rot = factors["rotation"]
    r1 = (h["rot1"] - _pair(rot)).pow(2).sum(1) * (shape == 2).float()
    r2 = (h["rot2"] - _pair(2 * rot)).pow(2).sum(1) * (shape >= 1).float()
    r4 = (h["rot4"] - _pair(4 * rot)).pow(2).sum(1)
    parts["rotation"] = ((r1 + r2 + r4) * wt).mean()
    parts["corruption"] = F.cross_entropy(h["corruption"], kind)
    parts["strength"] = (h["strength"][:, 0] - s * (kind > 0).float()).abs().mean()
    total = sum(parts.values())
    return total, {k: v.item() for k, v in parts.items()}


def make_batch(n: int, seed: int, gen: torch.Generator):
    """Fresh scenes, half of them damaged: ``(images, factors, kind, strength)``."""
    x, factors = sprites.sample(n, seed=seed)
    damaged = torch.rand(n, generator=gen) < DAMAGED_FRACTION
    kind = torch.where(damaged, torch.randint(1, len(CORRUPTIONS), (n,), generator=gen),
                       torch.zeros(n, dtype=torch.long))
    s = torch.rand(n, generator=gen) * damaged.float()
    return damage(x, kind, s, gen), factors, kind, s


@torch.no_grad()
def quick_eval(net: SpritesFeatures, n: int = 512, seed: int = 424242) -> dict:
    """Accuracy on clean scenes (shape, position in px, hue error) and damage-kind accuracy."""
    x, f = sprites.sample(n, seed=seed)
    p = net.predict(x)
    g = torch.Generator().manual_seed(seed)
    xd, _, kind, _ = make_batch(n, seed + 1, g)
    pd = net.predict(xd)
    return {"shape_acc": round(float((p["shape"] == f["shape"]).float().mean()), 3),
            "x_err_px": round(float((p["x"] - f["x"]).abs().mean() * 64), 3),
            "scale_err": round(float((p["scale"] - f["scale"]).abs().mean()), 4),
            "hue_err": round(float(sprites.hue_distance(p["hue"], f["hue"]).mean()), 4),
            "damage_acc": round(float((pd["corruption"] == kind).float().mean()), 3)}


def main(argv=None) -> int:
    args = recipe_args(recipe_parser(__doc__, "training/sprites-features.resume.safetensors", minutes=30.0,
                                     batch=BATCH), argv)

    torch.manual_seed(SEED)
    net = build_features()
    start = resume(args.ckpt, {"net": net})
    opt = torch.optim.Adam(net.parameters(), lr=LR if start < LATE_STEP else LR_LATE)
    gen = torch.Generator().manual_seed(SEED + 1 + start)
    t0 = time.time()

    def save(step: int) -> None:
        net.eval()
        meta = {"step": step, "recipe": "latentwidgets.zoo.train_features", "seed": SEED, "batch": args.batch,
                "feature_dim": net.feature_dim, "corruptions": list(CORRUPTIONS),
                "objective": "factor regression + damage kind/strength on half-damaged fresh scenes"}
        if not args.smoke:
            meta["eval"] = quick_eval(net, n=256)
        checkpoint(args, {"net": net}, {"g": net}, meta)
        net.train()

    net.train()
    for step in time_boxed(range(start, args.steps), args.minutes, every=(args.every, save)):
        if step == LATE_STEP:
            for group in opt.param_groups:
                group["lr"] = LR_LATE
        x, factors, kind, s = make_batch(args.batch, SEED * 10**7 + 5_000_000 + step, gen)
        loss, parts = features_loss(net(x), factors, kind, s)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0:
            print(log_line(step, t0, loss=loss.item(), **parts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
