"""Recipe that trains ``sprites-style``: distil the entangling teacher into the style-based generator.

Objective: pixel reconstruction of the teacher's scene, ``G(z) ~ render(T(z))``, for fresh
``z ~ N(0, I)`` every step (see :mod:`teacher`), plus a coverage cross-entropy
(:func:`distill_loss`). The latent stays a plain Gaussian and sampling is exact.

Three training-time hints help the tiny net; z stays a plain Gaussian with no factor on any axis.
The *pose hint* pulls the input transform (:class:`style_net.FrameHead`) towards the teacher's pose
(position, rotation, size); the *shape hint* keeps the shape readable from ``w`` by a linear probe
(:func:`shape_hint_loss`); the *centre hint* pulls the centroid of the drawn coverage to the frame's
translation, on the batch and on latents moved along the frame's translation rows (set-mode moves,
the traversals of the continuous-factor method), and reads no factor values. When each was added
and what it changed, with the measured figures: ``docs/training.md``.

Run (resumes from ``--ckpt`` when it exists; writes the shipped weights with ``--export``)::

    python -m latentwidgets.zoo.train_style --minutes 60 --ckpt training/sprites-style.resume.safetensors \
        --export latentwidgets/zoo/weights/sprites-style.safetensors

``--steps 0 --export ...`` only re-exports the checkpoint. The exported copy carries a sampling-time
edge sharpness calibrated against the world (:func:`calibrate_sharpness`); training runs at 1.

``--smoke`` runs a few steps into a temporary folder (what CI runs).
"""

from __future__ import annotations

import copy
import math
import sys
import time

import torch
import torch.nn.functional as F

from .._checkpoint import checkpoint, resume, time_boxed
from . import sprites
from .style_net import StyleGenerator
from .teacher import Z_DIM, teacher_factors, teacher_images
from .training import EMA, log_line, recipe_args, recipe_parser

SEED = 0
BATCH = 48
LR = 1e-3


def build() -> StyleGenerator:
    return StyleGenerator(z_dim=Z_DIM)


def distill_loss(pred: torch.Tensor, logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Image loss plus a coverage loss, both weighted 5x near the object.

    - image: L1 + 4 MSE at full resolution, plus L1 at 1/2 and 1/4 (coarse terms guide placement);
    - coverage: binary cross-entropy between the generator's coverage logit and the coverage read
      from the target image by :func:`sprites.coverage` (image information only, no factor values).
      Unlike the image loss through a sigmoid, its gradient never vanishes, so the coverage map
      cannot collapse to "background everywhere".
    """
    cov = sprites.coverage(target)["alpha"].unsqueeze(1)
    weight = 1 + 4 * F.max_pool2d((cov > 0.02).float(), 5, 1, 2)
    err = pred - target
    loss = (weight * (err.abs() + 4 * err.pow(2))).mean()
    loss = loss + 0.5 * (weight * F.binary_cross_entropy_with_logits(logit, cov, reduction="none")).mean()
    for k in (2, 4):
        loss = loss + 0.5 * (F.avg_pool2d(pred, k) - F.avg_pool2d(target, k)).abs().mean()
    return loss


POSE_WEIGHT = 1.0
SHAPE_WEIGHT = 0.5
_SCALE_REF = 0.22  # a mid-range object side, in image widths


def pose_hint_loss(net: StyleGenerator, w: torch.Tensor, factors: dict) -> torch.Tensor:
    """Squared error between the frame the input transform reads from ``w`` and the teacher's pose:
    centre ``(2x - 1, 2y - 1)``, direction ``(cos r, -sin r)`` (the frame turns sample points back by
    the object's rotation, as :func:`sprites.render` does) and log size ``log(scale / 0.22)``."""
    p = net.synthesis.frame.affine(w)
    _, cs, _ = net.synthesis.frame(w)
    t_target = torch.stack([2 * factors["x"] - 1, 2 * factors["y"] - 1], 1)
    rot = factors["rotation"]
    cs_target = torch.stack([torch.cos(rot), -torch.sin(rot)], 1)
    log_scale = torch.log(factors["scale"] / _SCALE_REF)
    return ((p[:, 0:2] - t_target).pow(2).sum(1) + (cs - cs_target).pow(2).sum(1)
            + (p[:, 4] - log_scale).pow(2)).mean()


CENTRE_WEIGHT = 20.0
CENTRE_MOVED = 16  # extra latents per step, moved along the frame's translation rows


def coverage_centroid(logit: torch.Tensor) -> torch.Tensor:
    """Centroid ``[B, 2]`` (x, y) of the generator's coverage ``sigmoid(logit)`` (:func:`sprites.centroid`,
    what ``sprites.measure`` reads) in the frame's units: image widths mapped to [-1, 1]."""
    return 2 * sprites.centroid(torch.sigmoid(logit[:, 0])) - 1


def frame_moves(net: StyleGenerator, w: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` latents from ``w`` with their coordinate along the frame's x or y translation row set to
    another sample's (set-mode moves, the traversals the factor methods make): off the sampled
    manifold, but at coordinates the samples take."""
    rows = torch.nn.functional.normalize(net.synthesis.frame.affine.weight[:2].detach(), dim=1)
    i = torch.randint(0, w.shape[0], (n,), generator=gen)
    j = torch.randint(0, w.shape[0], (n,), generator=gen)
    u = rows[torch.randint(0, 2, (n,), generator=gen)]
    src = w[i]
    return src + ((w[j].detach() * u).sum(1, keepdim=True) - (src * u).sum(1, keepdim=True)) * u


def centre_hint_loss(net: StyleGenerator, w: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
    """Squared distance, in frame units, between the centroid of the drawn coverage and the frame's
    translation: the object is drawn around the frame's origin, so its position is the (linear)
    frame translation of ``w`` and nothing else. Uses no factor values."""
    t, _, _ = net.synthesis.frame(w)
    return (coverage_centroid(logit) - t).pow(2).sum(1).mean()


def shape_hint_loss(probe: torch.nn.Linear, w: torch.Tensor, shape_weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a linear read-out of ``w`` (a training-time probe, not part of the
    generator) against the teacher's shape blend weights: keeps the shape linearly decodable from
    the latent that the style layers read."""
    return -(shape_weights * F.log_softmax(probe(w), dim=1)).sum(1).mean()


@torch.no_grad()
def estimate_w_avg(net: StyleGenerator, n: int = 4096, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return net.mapping(torch.randn(n, net.z_dim, generator=g)).mean(0)


@torch.no_grad()
def calibrate_sharpness(net: StyleGenerator, n: int = 256, seed: int = 4242, hi: float = 8.0,
                        iters: int = 10) -> dict:
    """Set ``net.synthesis.edge_sharpness`` so that the median edge width of samples
    (:func:`sprites.edge_width`) equals that of real scenes, never below 1; returns the figures.

    The pixel loss rewards hedging where the net is unsure of an edge, so trained edges come out
    wider than the world's; like StyleGAN's truncation, this is a sampling-time setting, chosen by
    matching one statistic of the world (not the quality report's figures). Bisection in log space:
    edges narrow as the sharpness grows.

    >>> calibrate_sharpness(ema_net)   # {'edge_sharpness': 2.9, 'edge_width_real': 0.78, ...}
    """
    real = float(sprites.edge_width(sprites.sample(n, seed=seed)[0]).median())
    z = torch.randn(n, net.z_dim, generator=torch.Generator().manual_seed(seed))
    buf = net.synthesis.edge_sharpness
    width = lambda k: (buf.fill_(k), float(sprites.edge_width(net(z)).median()))[1]  # noqa: E731
    trained = width(1.0)
    lo_log, hi_log = 0.0, math.log(hi)
    if trained > real:
        for _ in range(iters):
            mid = (lo_log + hi_log) / 2
            lo_log, hi_log = (mid, hi_log) if width(math.exp(mid)) > real else (lo_log, mid)
    k = math.exp(hi_log) if trained > real else 1.0
    return {"edge_sharpness": round(k, 4), "edge_width_real": round(real, 4),
            "edge_width_trained": round(trained, 4), "edge_width_calibrated": round(width(k), 4)}


@torch.no_grad()
def quick_eval(net: StyleGenerator, n: int = 256, seed: int = 12345) -> dict:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, net.z_dim, generator=g)
    img = net(z)
    m = sprites.measure(img)
    target = sprites.measure(teacher_images(z))
    return {
        "clean": float(m["clean"].mean()),
        "x_err_px": float((m["x"] - target["x"]).abs().mean() * 64),
        "mse": float((img - teacher_images(z)).pow(2).mean()),
    }


def main(argv=None) -> int:
    ap = recipe_parser(__doc__, "training/sprites-style.resume.safetensors", minutes=60.0, batch=BATCH)
    ap.add_argument("--lr", type=float, default=LR)
    args = recipe_args(ap, argv)

    torch.manual_seed(SEED)
    net, ema_net = build(), build()
    ema = EMA(net, ema_net, beta=0.998)
    probe = torch.nn.Linear(net.w_dim, len(sprites.SHAPES))
    start = resume(args.ckpt, {"net": net, "ema": ema_net, "probe": probe}, optional=("probe",))
    gain = net.synthesis.log_edge_gain
    rest = [p for p in net.parameters() if p is not gain] + list(probe.parameters())
    # the edge gain is one scalar in log space: a 10x learning rate lets it follow the shapes quickly
    opt = torch.optim.Adam([{"params": rest}, {"params": [gain], "lr": 10 * args.lr}], lr=args.lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(SEED + start)  # a resumed run draws new latents
    t0 = time.time()

    def save(step: int) -> None:
        ema_net.w_avg.copy_(estimate_w_avg(ema_net))
        meta = {"step": step, "recipe": "latentwidgets.zoo.train_style", "seed": SEED, "batch": args.batch,
                "lr": args.lr,
                "objective": "distillation of teacher.teacher_images: object-weighted L1+4*MSE + coverage BCE"
                             " + coarse L1"
                             f" + {POSE_WEIGHT} * pose hint on the input transform (from step 4764)"
                     f" + {SHAPE_WEIGHT} * shape hint (linear probe of w, CE)"
                     f" + {CENTRE_WEIGHT} * centre hint (coverage centroid at the frame's translation, on the batch"
                     f" and {CENTRE_MOVED} set-mode moves along the frame rows; from step 12897)"}
        shipped = ema_net
        if args.export:  # the shipped copy carries the calibrated sampling sharpness; training keeps 1
            shipped = copy.deepcopy(ema_net)
            meta["sharpness"] = calibrate_sharpness(shipped)
        checkpoint(args, {"net": net, "ema": ema_net, "probe": probe}, {"g": shipped}, meta)

    if args.steps <= start:  # --steps 0: only (re-)export the checkpoint
        save(start)

    for step in time_boxed(range(start, args.steps), args.minutes, every=(args.every, save)):
        z = torch.randn(args.batch, Z_DIM, generator=gen)
        factors, shape_weights = teacher_factors(z)
        target = sprites.render(factors, shape_weights=shape_weights)
        w1 = net.mapping(z)
        pred, logit = net.synthesis(w1.unsqueeze(1).expand(-1, net.num_ws, -1), return_logit=True)
        loss = distill_loss(pred, logit, target)
        pose = pose_hint_loss(net, w1, factors)
        shape = shape_hint_loss(probe, w1, shape_weights)
        w_moved = frame_moves(net, w1, CENTRE_MOVED, gen)
        _, logit_moved = net.synthesis(w_moved.unsqueeze(1).expand(-1, net.num_ws, -1), return_logit=True)
        centre = centre_hint_loss(net, torch.cat([w1, w_moved]), torch.cat([logit, logit_moved]))
        loss = loss + POSE_WEIGHT * pose + SHAPE_WEIGHT * shape + CENTRE_WEIGHT * centre
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(beta=min(0.998, (1 + step) / (10 + step)))
        if step % 100 == 0:
            print(log_line(step, t0, loss=float(loss.detach()), pose=float(pose.detach()),
                           shape=float(shape.detach()), centre=float(centre.detach()),
                           edge_gain=float(gain.detach().exp())), flush=True)
        if step % 1000 == 0 and step > start:
            print("eval", quick_eval(ema_net), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
