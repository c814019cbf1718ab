"""Tensor component analysis (Oldfield et al. 2021): multilinear PCA of an activation tensor plus a
Tucker-factorised tensor regression back to the latent.

1. Sample activations ``Z [N, C, H, W]`` at an early layer and centre them.
2. Multilinear PCA: for each mode (channel, height, width) the eigenvectors of that mode's scatter
   matrix, sorted by eigenvalue; with full ranks in one shot, with reduced ranks by a few
   alternating sweeps (each mode's scatter computed after projecting the other modes). The bases
   are stored explicitly in the record's ``state`` (``basis_channel [C, rc]``, ...).

Memory does not grow with ``n_samples``: the activations are never held. They stream from seeds
(``sampling.latent_batches``) into mergeable float64 sums (``streaming.ModeScatterSums``: the mode
scatters and the sum that centres them, with the first batch's mean as a shared shift;
``streaming.MomentSums`` for the latents' mean and scale), and every further pass regenerates the
same batches: one pass for full ranks, one per mode for each later sweep with reduced ranks, and one
for each edit's sigma once the bases are known. Memory is the scatters (C^2 + H^2 + W^2), one batch and
the regression; the record equals the in-memory computation's up to float rounding. Under ``torchrun``
each rank streams its share and the sums are all-reduced; the regression runs data-parallel (each rank
takes its rows of every step's batch and the gradients are summed), so every rank fits the same record
(``python -m latentwidgets.directions.run --method tensor``).
3. Tensor regression ``w_hat = <Z, W> + mean`` with ``W`` in Tucker form (core ``[r1, r2, r3, r4]``,
   factors per mode), loss MSE + ``lam * (||core||^2 + sum ||U_k||^2)``, Adam, fresh samples each
   step (inputs and targets are divided by one global scale each, for conditioning only).
4. Edits, as unit activation tensors ``E``: mode-wise (one basis vector of one mode, constant over
   the others: channel = style/appearance, height/width = geometry) and multilinear (one core
   entry: the rank-1 product of one basis vector per mode: local geometry). Each becomes a latent
   direction through the regression: ``vector = R(E) / ||R(E)||``, ``sigma = s * ||R(E)||`` where
   ``s`` is the std of the samples' coordinate along ``E`` (one slider unit = one std of the edit).
   The authors' code also adds ``E`` to the activation at the layer for multilinear edits of
   style-based generators: ``tca_edits(..., direct="multilinear")`` (or ``direct=True`` for all).

Deviation from the authors' settings: Adam lr defaults to 1e-2, not 1e-4, since their regression
runs up to 10^6 steps and ours a few hundred (at 1e-4 it would barely move from its
initialisation). The fit is still short of a closed-form linear fit (``info["regression_r2"]``: on
``sprites-style`` at ``b8``, about 0.84 after 600 steps against 0.98 for ridge regression).
How well the edits keep to one factor depends on that fit: on ``sprites-style`` the x edit
(multilinear, through the latent plus the activation) leaks into the object's hue more as the
regression fits better (MOD of a hue and
an x edit, mean over four seeds: 0.23 after 120 steps, 0.41 after 600, 0.55 after 2,000;
``benchmarks/tca_mod_sweep.py``). The leak is the regression's: at 3 sigma the activation edit
alone moves x by 0.030 image widths and hue by 0.0001, the latent part alone x 0.023 and hue
0.039 (seed 0, 600 steps, 100 samples). :func:`tca_activation_directions` gives the edits on the
activation alone: for geometry (MOD 0.027 with the x edit applied that way), not for style there,
since channel edits at ``b8`` barely move hue without the latent (later layers set it).

::

    d = tensor_directions(model, layer="b8", steps=500)
    d.names[:3]                            # ['tca channel 0', 'tca channel 1', ...]
    act = tca_activation_directions(d)     # the same edits applied to the activations directly
    ws, img = render_edits(model, z, tca_edits(d, "tca width 0", 2.0, direct=True))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from .edits import Edit
from .layers import LayerSpec
from .record import Directions
from .sampling import check_count, latent_batches
from .streaming import ModeScatterSums, MomentSums, all_reduce_sum, check_memory, rank_and_world

MODES = ("channel", "height", "width")
#: activation batch of the statistics passes
ACT_BATCH = 256


# ------------------------------------------------------------------------------------------- MPCA
def _sorted_basis(scat: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvectors of a scatter matrix sorted by eigenvalue, with deterministic signs (the largest-magnitude
    entry of each is positive), cut to ``rank``; and their eigenvalues (clamped at 0)."""
    ev, vec = torch.linalg.eigh(0.5 * (scat + scat.t()))
    order = torch.argsort(ev, descending=True)
    vec = vec[:, order]
    idx = vec.abs().argmax(0)
    sgn = torch.sign(vec[idx, torch.arange(vec.shape[1])])
    sgn[sgn == 0] = 1
    return (vec * sgn)[:, :rank], ev[order][:rank].clamp(min=0)


def _check_ranks(ranks: Sequence[int], dims: Sequence[int]) -> list[int]:
    ranks = [int(r) for r in ranks]
    if len(ranks) != 3:
        raise ValueError(f"ranks must have 3 entries (channel, height, width); got {ranks}")
    for r, n, m in zip(ranks, dims, MODES, strict=True):
        if not 1 <= r <= n:
            raise ValueError(f"rank of the {m} mode must be in 1..{n}; got {r}")
    return ranks


def multilinear_pca_streamed(batches: Callable[[], Iterable[torch.Tensor]], ranks: Sequence[int], sweeps: int = 5,
                             shift: torch.Tensor | None = None, centre: bool = True, reduce: bool = True
                             ) -> tuple[list[torch.Tensor], list[torch.Tensor], ModeScatterSums]:
    """Multilinear PCA over activation batches ``[B, C, H, W]`` that ``batches()`` replays (regenerated from
    seeds): one pass gives the three mode scatters (full ranks: the answer); reduced ranks add, per
    later sweep, one pass per mode (that mode's scatter after projecting the others onto their current
    bases). ``centre``: scatters of the samples minus their mean (``shift``, default the first batch's
    mean, only conditions the sums; ranks of a distributed run pass the same one); ``reduce``: sum each
    pass over the ranks. Memory: the scatters and one batch. Returns ``(bases, eigenvalues, first-pass sums)``::

        bases, evals, acc = multilinear_pca_streamed(lambda: act_batches(), ranks=(64, 8, 8))
    """
    acc = None if shift is None else ModeScatterSums(shift)   # a rank may draw no samples at all
    for x in batches():
        if x.dim() != 4:
            raise ValueError(f"multilinear PCA needs activations [N, C, H, W]; got {tuple(x.shape)}")
        if acc is None:
            base = (x.double().mean(0) if centre else torch.zeros(x.shape[1:], dtype=torch.float64, device=x.device)) \
                if shift is None else shift
            acc = ModeScatterSums(base.to(x.device))
        acc.update(x)
    if acc is None:
        raise ValueError("no samples were given to the multilinear PCA")
    if reduce:
        acc.reduce_across_ranks()
    dims = acc.shift.shape
    ranks = _check_ranks(ranks, dims)
    bases, evals = [], []
    for mode in range(3):
        b, e = _sorted_basis(acc.scatter(mode, centre) / acc.n, ranks[mode])
        bases.append(b)
        evals.append(e)
    if any(r != n for r, n in zip(ranks, dims, strict=True)):
        for _ in range(1, max(1, sweeps)):
            for mode in range(3):
                part = ModeScatterSums(acc.shift, modes=(mode,), bases=bases)
                for x in batches():
                    part.update(x)
                if reduce:
                    part.reduce_across_ranks()
                bases[mode], evals[mode] = _sorted_basis(part.scatter(mode, centre) / part.n, ranks[mode])
    return [b.float() for b in bases], [e.float() for e in evals], acc


def multilinear_pca(x: torch.Tensor, ranks: Sequence[int], sweeps: int = 5, batch: int = 512
                    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Bases ``[U_channel [C, r1], U_height [H, r2], U_width [W, r3]]`` (orthonormal columns, sorted by
    eigenvalue) and the eigenvalues per mode, for centred samples ``x [N, C, H, W]`` held in memory
    (:func:`multilinear_pca_streamed` over slices of ``batch`` rows)::

        bases, evals = multilinear_pca(acts - acts.mean(0), ranks=(64, 8, 8))
    """
    if x.dim() != 4:
        raise ValueError(f"multilinear PCA needs activations [N, C, H, W]; got {tuple(x.shape)}")
    _check_ranks(ranks, x.shape[1:])
    bases, evals, _ = multilinear_pca_streamed(lambda: (x[i:i + batch] for i in range(0, x.shape[0], batch)),
                                               ranks, sweeps, centre=False, reduce=False)
    return bases, evals


# ------------------------------------------------------------------------------------- regression
class TuckerRegression(torch.nn.Module):
    """``y = <x, W>`` over the (C, H, W) modes with ``W = core x_1 U1 x_2 U2 x_3 U3 x_4 U4`` (Tucker).

    Initialised like the authors' code (uniform in [-0.1, 0.1]); ``penalty()`` is
    ``||core||^2 + sum ||U_k||^2``.
    """

    def __init__(self, in_shape: Sequence[int], out_dim: int, ranks: Sequence[int], generator: torch.Generator):
        super().__init__()
        sizes = list(in_shape) + [out_dim]
        ranks = [int(r) for r in ranks]
        u = lambda *s: torch.nn.Parameter(torch.rand(*s, generator=generator) * 0.2 - 0.1)  # noqa: E731
        self.core = u(*ranks)
        self.factors = torch.nn.ParameterList([u(n, r) for n, r in zip(sizes, ranks, strict=True)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u1, u2, u3, u4 = self.factors
        t = torch.einsum("bchw,ci,hj,wk->bijk", x, u1, u2, u3)
        return torch.einsum("bijk,ijkl,dl->bd", t, self.core, u4)

    def penalty(self) -> torch.Tensor:
        return self.core.pow(2).sum() + sum(f.pow(2).sum() for f in self.factors)


# ------------------------------------------------------------------------------------------ edits
def _edit_tensor(kind: str, index: tuple[int, ...], bases: Sequence[torch.Tensor]) -> torch.Tensor:
    """Unit-norm activation edit ``[C, H, W]`` for a mode-wise or multilinear edit."""
    uc, uh, uw = bases
    c, h, w = uc.shape[0], uh.shape[0], uw.shape[0]
    if kind == "channel":
        e = uc[:, index[0]].view(c, 1, 1).expand(c, h, w)
    elif kind == "height":
        e = uh[:, index[0]].view(1, h, 1).expand(c, h, w)
    elif kind == "width":
        e = uw[:, index[0]].view(1, 1, w).expand(c, h, w)
    elif kind == "multi":
        e = torch.einsum("c,h,w->chw", uc[:, index[0]], uh[:, index[1]], uw[:, index[2]])
    else:
        raise ValueError(f"unknown TCA edit kind {kind!r}")
    e = e.contiguous()
    return e / e.norm().clamp(min=1e-12)


def _data_parallel_step(reg: TuckerRegression, opt: torch.optim.Optimizer, model: Any, layer: str, lat: torch.Tensor,
                        rank: int, world: int, mean_d: torch.Tensor, x_scale: float, lat_mean_d: torch.Tensor,
                        y_scale: float, lam: float) -> torch.Tensor:
    """Gradients of one regression step under torchrun: this rank's rows of the step's batch, summed over the
    ranks (one ``all_reduce``), plus the penalty's; returns the batch's loss. The same step as one process takes."""
    rows = lat[rank::world]
    with torch.no_grad():
        xb = (model.activations(rows, layer).float() - mean_d) / x_scale
    yb = (rows.float() - lat_mean_d) / y_scale
    part = (reg(xb) - yb).pow(2).sum() / lat.numel()
    opt.zero_grad()
    part.backward()
    params = list(reg.parameters())
    flat = all_reduce_sum(torch.cat([p.grad.reshape(-1) for p in params] + [part.detach().reshape(1)]))
    i = 0
    for p in params:
        p.grad.copy_(flat[i:i + p.numel()].view_as(p))
        i += p.numel()
    (lam * reg.penalty()).backward()
    return flat[-1]


def _memory_plan(c: int, h: int, w: int, d: int, act_batch: int, batch_size: int, tucker: Sequence[int]
                 ) -> dict[str, int]:
    """Estimated bytes of a TCA run: scatters and sums (float64), activation batches, the regression (Adam)."""
    params = int(torch.tensor(tucker).prod()) + sum(n * r for n, r in zip((c, h, w, d), tucker, strict=True))
    return {"mode scatters": 8 * (3 * (c * c + h * h + w * w) + 4 * c * h * w),
            "activation batch": act_batch * c * h * w * 4 * 4,
            "regression": 4 * 4 * params + batch_size * (c * h * w + d) * 4 * 4}


def _default_layer(model: Any) -> str:
    names = model.layers()
    if "b8" in names:
        return "b8"
    probe_lat = model.to_synthesis(model.sample_z(1, 0))
    for n in names:
        try:
            if model.activations(probe_lat, n).dim() == 4:
                return n
        except RuntimeError:
            continue
    raise ValueError(f"{model.name} has no layer with [C, H, W] activations; pass layer=... (layers: {names})")


def tensor_directions(model: Any, layer: str | None = None, ranks: Sequence[int] | None = None,
                      tucker_ranks: Sequence[int] | None = None, n_samples: int = 4000, steps: int = 600,
                      batch_size: int = 64, lam: float = 1e-3, lr: float = 1e-2, seed: int = 0,
                      modes: dict[str, int] | None = None,
                      multilinear: Sequence[tuple[int, int, int]] = ((0, 0, 0), (0, 1, 0), (0, 0, 1)),
                      sweeps: int = 5, eval_samples: int = 1000, progress: bool = True) -> Directions:
    """TCA directions of ``model`` at ``layer``: mode-wise and multilinear edits of its activations,
    each mapped to a latent direction by a Tucker tensor regression.

        d = tensor_directions(latentwidgets.load("sprites-style"), layer="b8", steps=600)

    Args:
        layer: the activation layer (default ``"b8"`` on the zoo model, else the first layer with
            ``[C, H, W]`` activations).
        ranks: multilinear PCA ranks per mode (default full: one shot).
        tucker_ranks: ranks of the regression tensor ``(r_channel, r_height, r_width, r_latent)``
            (default ``(min(C, 32), H, W, D)``).
        n_samples: activations the multilinear PCA sees.
        steps: Adam steps of the regression, each on ``batch_size`` fresh samples.
        batch_size: samples per regression step.
        lam: weight of the regression's L2 penalty on its core and factors.
        lr: the regression's Adam learning rate.
        seed: seed of the first sample.
        modes: how many basis vectors of each mode become mode-wise directions
            (default ``{"channel": 10, "height": 3, "width": 3}``).
        multilinear: core entries ``(i, j, k)`` that become multilinear directions.
        sweeps: alternating sweeps of the multilinear PCA when ``ranks`` are reduced.
        eval_samples: held-out samples that measure the regression's fit (``info["regression_r2"]``; 0 skips it).
        progress: show a progress bar.
    """
    check_count(n_samples, "n_samples")
    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps}")
    layer = layer or _default_layer(model)
    model._module_at(layer)  # unknown layer -> KeyError listing the layers
    space = model.synthesis_space
    dev = model.device

    # check every option against the layer's shape before any sampling or training
    probe = model.activations(model.to_synthesis(model.sample_z(1, seed)), layer)
    if probe.dim() != 4:
        raise ValueError(f"layer {layer!r} gives activations of shape {tuple(probe.shape)}; TCA needs [B, C, H, W]")
    c, h, w = probe.shape[1:]
    d = model.w_dim
    ranks = _check_ranks(ranks if ranks is not None else [c, h, w], (c, h, w))
    tr = [int(r) for r in tucker_ranks] if tucker_ranks is not None else [min(c, 32), h, w, d]
    if len(tr) != 4 or any(r < 1 for r in tr):
        raise ValueError(f"tucker_ranks must be 4 positive ints (channel, height, width, latent); got {tr}")
    modes = dict(modes) if modes is not None else {"channel": 10, "height": 3, "width": 3}
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r} in modes; use {list(MODES)}")
    specs: list[tuple[str, tuple[int, ...]]] = []
    for mi, m in enumerate(MODES):
        for i in range(min(int(modes.get(m, 0)), ranks[mi])):
            specs.append((m, (i,)))
    for idx in multilinear:
        idx = tuple(int(v) for v in idx)
        if len(idx) != 3 or any(not 0 <= v < ranks[k] for k, v in enumerate(idx)):
            raise ValueError(f"multilinear index {idx} does not fit the bases' ranks {ranks}")
        specs.append(("multi", idx))
    if not specs:
        raise ValueError("no edits requested: give modes=... and/or multilinear=...")

    # 1. + 2. statistics over n_samples activations streamed from seeds (this rank's share under torchrun):
    # the mode scatters of the centred activations (multilinear PCA), their mean and scale, the latents' too
    rank, world = rank_and_world()
    shard = (rank, world)
    bs = min(ACT_BATCH, n_samples)
    check_memory(_memory_plan(c, h, w, d, bs, batch_size, tr), dev,
                 f"pass batch_size={max(1, batch_size // 4)} or smaller tucker_ranks")
    first_batch = latent_batches(model, bs, seed, bs)
    try:
        first = next(first_batch)[1]
    finally:
        first_batch.close()
    act_shift = model.activations(first, layer).double().mean(0)   # every rank subtracts the same shift
    lat_moments = MomentSums(first.double().mean(0))
    passes_done: list[int] = []

    def act_batches() -> Iterable[torch.Tensor]:
        """This rank's activations, regenerated from the seeds at every call; the first pass also sums the latents."""
        first_pass = not passes_done
        passes_done.append(1)
        for _, lat in latent_batches(model, n_samples, seed, bs, progress and rank == 0 and first_pass,
                                     desc=f"TCA: activations at {layer}", shard=shard):
            if first_pass:
                lat_moments.update(lat)
            yield model.activations(lat, layer).float()

    with torch.no_grad():
        bases, evals, acc = multilinear_pca_streamed(act_batches, ranks, sweeps, act_shift)
        lat_moments.reduce_across_ranks()
    act_mean = acc.mean().float()
    x_scale = float(torch.tensor((float(torch.trace(acc.scatter(0))) / (acc.n * c * h * w - 1)) ** 0.5).clamp(min=1e-8))
    lat_mean = lat_moments.mean().float()
    y_scale = float(torch.tensor(lat_moments.pooled_variance() ** 0.5).clamp(min=1e-8))

    # 3. Tucker regression activations -> latent, fresh samples every step (under torchrun each rank takes
    # its rows of every step's batch and the gradients are summed: data-parallel, the same steps)
    g = torch.Generator().manual_seed(int(seed) + 17)
    reg = TuckerRegression((c, h, w), d, tr, g).to(dev)
    opt = torch.optim.Adam(reg.parameters(), lr=lr)
    mean_d, lat_mean_d = act_mean.to(dev), lat_mean.to(dev)
    stream = latent_batches(model, max(steps, 1) * batch_size, seed + 2, batch_size)
    losses: list[float] = []
    interrupted = None
    bar = tqdm(range(steps), desc="TCA: tensor regression", disable=not progress or rank > 0, leave=False)
    try:
        for _step in bar:
            _, lat = next(stream)
            if world == 1:
                with torch.no_grad():
                    xb = (model.activations(lat, layer).float() - mean_d) / x_scale
                yb = (lat.float() - lat_mean_d) / y_scale
                loss = torch.nn.functional.mse_loss(reg(xb), yb)
                total = loss + lam * reg.penalty()
                opt.zero_grad()
                total.backward()
            else:
                loss = _data_parallel_step(reg, opt, model, layer, lat, rank, world, mean_d, x_scale, lat_mean_d,
                                           y_scale, lam)
            opt.step()
            losses.append(loss.item())
    except KeyboardInterrupt:  # keep the regression fitted so far
        interrupted = len(losses)
    finally:
        bar.close()
        stream.close()

    # held-out fit quality (R^2 of the predicted latent)
    r2 = None
    if eval_samples and eval_samples > 1:
        with torch.no_grad():
            sums = torch.zeros(2, dtype=torch.float64)
            for _, lat in latent_batches(model, eval_samples, seed + 3, 256, shard=shard):
                pred = reg((model.activations(lat, layer).float() - mean_d) / x_scale) * y_scale + lat_mean_d
                sums[0] += float((pred - lat).pow(2).sum())
                sums[1] += float((lat - lat_mean_d).pow(2).sum())
            num, den = all_reduce_sum(sums).tolist()
            r2 = 1.0 - num / max(den, 1e-30)

    # 4. edits -> latent directions; sigma of each edit: std of the samples' coordinate along it (one more pass)
    patterns = torch.stack([_edit_tensor(kind, idx, bases) for kind, idx in specs])  # [K, C, H, W]
    with torch.no_grad():
        deltas = reg(patterns.to(dev) / x_scale).cpu() * y_scale  # latent change per unit activation edit
        flat = patterns.reshape(len(specs), -1).to(dev)
        coords = MomentSums(torch.zeros(len(specs), device=dev))
        for x in act_batches():
            coords.update((x - mean_d).reshape(x.shape[0], -1) @ flat.t())
        coords.reduce_across_ranks()
        act_sigma = coords.variance().sqrt().float().cpu()
    patterns, bases, evals = patterns.cpu(), [b.cpu() for b in bases], [e.cpu() for e in evals]
    act_mean, lat_mean = act_mean.cpu(), lat_mean.cpu()
    norms = deltas.norm(dim=1)
    if (norms < 1e-12).any():
        bad = [f"{k} {i}" for (k, i), n in zip(specs, norms, strict=True) if n < 1e-12]
        raise ValueError(f"the regression maps edits {bad} to no latent change; train longer (steps=...)")
    vecs = deltas / norms[:, None]
    sigma = act_sigma * norms
    names = [f"tca {k} {i[0]}" if k != "multi" else f"tca multi ({i[0]},{i[1]},{i[2]})" for k, i in specs]
    state = {
        "basis_channel": bases[0], "basis_height": bases[1], "basis_width": bases[2],
        "eigenvalues_channel": evals[0], "eigenvalues_height": evals[1], "eigenvalues_width": evals[2],
        "act_mean": act_mean, "act_patterns": patterns.reshape(len(specs), -1), "act_sigma": act_sigma,
        "latent_mean": lat_mean, "tucker_core": reg.core.detach().cpu(),
        **{f"tucker_factor_{i}": f.detach().cpu() for i, f in enumerate(reg.factors)},
        "scales": torch.tensor([x_scale, y_scale]),
    }
    tail = losses[-max(1, min(50, len(losses))):] if losses else []
    info = {"layer": layer, "act_shape": [c, h, w], "edits": [{"kind": k, "index": list(i)} for k, i in specs],
            "regression_r2": r2, "final_loss": (sum(tail) / len(tail)) if tail else None,
            "ranks": ranks, "tucker_ranks": tr, "steps_done": len(losses), "interrupted_at_step": interrupted}
    return Directions(
        vectors=vecs, space=space, sigma=sigma, names=names, layers=None, method="tensor",
        options={"layer": layer, "ranks": ranks, "tucker_ranks": tr, "n_samples": n_samples, "steps": steps,
                 "batch_size": batch_size, "lam": lam, "lr": lr, "seed": seed, "modes": modes,
                 "multilinear": [list(i) for i in multilinear], "sweeps": sweeps},
        samples=n_samples, seed=seed, model_id=model.name, state=state, info=info,
    )


def tca_activation_directions(d: Directions) -> Directions:
    """The unit activation edits of a TCA record as an ``act:<layer>`` record (sigma = std of the
    samples along each edit), so an :class:`~latentwidgets.directions.edits.Edit` on it adds the edit to the
    activations directly through the model's hooks."""
    if d.method != "tensor" or "act_patterns" not in d.state:
        raise ValueError("tca_activation_directions needs a record made by tensor_directions")
    return Directions(
        vectors=d.state["act_patterns"], space=f"act:{d.info['layer']}", sigma=d.state["act_sigma"],
        names=[n + " (act)" for n in d.names], method="tensor", options=dict(d.options), samples=d.samples,
        seed=d.seed, model_id=d.model_id, info={"act_shape": d.info["act_shape"], "layer": d.info["layer"]},
    )


def tca_edits(d: Directions, direction: int | str, strength: Any,
              direct: bool | str = False, layers: LayerSpec = None) -> list[Edit]:
    """Edits for one TCA direction: the latent edit through the regression (over ``layers``) and, with
    ``direct=True``, the same activation edit added at the layer (the authors' optional direct edit).
    ``direct="multilinear"`` adds it for multilinear edits only, as the authors' code edits
    style-based generators (mode-wise edits through the latent alone, multilinear edits through
    the latent plus the activation edit at the layer).

        ws, images = render_edits(model, z, tca_edits(d, "tca width 0", 2.0, direct=True))
    """
    if direct not in (True, False, "multilinear"):
        raise ValueError(f"direct must be True, False or 'multilinear'; got {direct!r}")
    k = d.index(direction)
    edits = [Edit(d, k, strength, layers=layers)]
    if direct == "multilinear":
        kinds = [e["kind"] for e in d.info.get("edits", [])]
        if len(kinds) != len(d):
            raise ValueError("direct='multilinear' needs a record made by tensor_directions (edit kinds in info)")
        direct = kinds[k] == "multi"
    if direct:
        edits.append(Edit(tca_activation_directions(d), k, strength))
    return edits


def predict_latent(d: Directions, activations: torch.Tensor) -> torch.Tensor:
    """The fitted regression of a TCA record: latents ``[B, D]`` predicted from activations ``[B, C, H, W]``."""
    core = d.state["tucker_core"]
    u = [d.state[f"tucker_factor_{i}"] for i in range(4)]
    x_scale, y_scale = (float(v) for v in d.state["scales"])
    x = (activations.float().cpu() - d.state["act_mean"]) / x_scale
    t = torch.einsum("bchw,ci,hj,wk->bijk", x, u[0], u[1], u[2])
    return torch.einsum("bijk,ijkl,dl->bd", t, core, u[3]) * y_scale + d.state["latent_mean"]
