"""Tensor component analysis (Oldfield et al. 2021): multilinear PCA of an activation tensor plus a
Tucker-factorised tensor regression back to the latent.

1. Sample activations ``Z [N, C, H, W]`` at an early layer and centre them.
2. Multilinear PCA: for each mode (channel, height, width) the eigenvectors of that mode's scatter
   matrix, sorted by eigenvalue; with full ranks in one shot, with reduced ranks by a few
   alternating sweeps (each mode's scatter computed after projecting the other modes). The bases
   are stored explicitly in the record's ``state`` (``basis_channel [C, rc]``, ...).
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

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from tqdm.auto import tqdm

from .edits import Edit
from .layers import LayerSpec
from .record import Directions
from .sampling import check_count, latent_batches

MODES = ("channel", "height", "width")


# ------------------------------------------------------------------------------------------- MPCA
def _mode_scatter(x: torch.Tensor, mode: int) -> torch.Tensor:
    """Scatter matrix of the mode-``mode`` unfolding, summed over samples: x [N, C, H, W]."""
    if mode == 0:
        return torch.einsum("nchw,ndhw->cd", x, x)
    if mode == 1:
        return torch.einsum("nchw,ncgw->hg", x, x)
    return torch.einsum("nchw,nchv->wv", x, x)


def _project(x: torch.Tensor, bases: Sequence[torch.Tensor], skip: int) -> torch.Tensor:
    """Multiply ``x [N, C, H, W]`` by ``basis^T`` along every mode except ``skip``."""
    if skip != 0:
        x = torch.einsum("nchw,ci->nihw", x, bases[0])
    if skip != 1:
        x = torch.einsum("nchw,hj->ncjw", x, bases[1])
    if skip != 2:
        x = torch.einsum("nchw,wk->nchk", x, bases[2])
    return x


def multilinear_pca(x: torch.Tensor, ranks: Sequence[int], sweeps: int = 5, batch: int = 512
                    ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Bases ``[U_channel [C, r1], U_height [H, r2], U_width [W, r3]]`` (orthonormal columns, sorted by
    eigenvalue) and the eigenvalues per mode, for centred samples ``x [N, C, H, W]``.

        bases, evals = multilinear_pca(acts - acts.mean(0), ranks=(64, 8, 8))
    """
    if x.dim() != 4:
        raise ValueError(f"multilinear PCA needs activations [N, C, H, W]; got {tuple(x.shape)}")
    dims = x.shape[1:]
    ranks = [int(r) for r in ranks]
    for r, n, m in zip(ranks, dims, MODES):
        if not 1 <= r <= n:
            raise ValueError(f"rank of the {m} mode must be in 1..{n}; got {r}")
    full = all(r == n for r, n in zip(ranks, dims))
    bases = [torch.eye(n, dtype=torch.float64, device=x.device) for n in dims]
    evals: List[torch.Tensor] = [torch.zeros(n) for n in dims]
    for sweep in range(1 if full else max(1, sweeps)):
        for mode in range(3):
            scat = torch.zeros(dims[mode], dims[mode], dtype=torch.float64, device=x.device)
            for i in range(0, x.shape[0], batch):
                xb = x[i:i + batch].double()
                if sweep > 0:
                    xb = _project(xb, bases, skip=mode)
                scat += _mode_scatter(xb, mode)
            scat /= x.shape[0]
            ev, vec = torch.linalg.eigh(0.5 * (scat + scat.t()))
            order = torch.argsort(ev, descending=True)
            vec = vec[:, order]
            # deterministic signs: the largest-magnitude entry of each basis vector is positive
            idx = vec.abs().argmax(0)
            sgn = torch.sign(vec[idx, torch.arange(vec.shape[1])])
            sgn[sgn == 0] = 1
            bases[mode] = (vec * sgn)[:, :ranks[mode]]
            evals[mode] = ev[order][:ranks[mode]].clamp(min=0)
    return [b.float() for b in bases], [e.float() for e in evals]


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
        self.factors = torch.nn.ParameterList([u(n, r) for n, r in zip(sizes, ranks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u1, u2, u3, u4 = self.factors
        t = torch.einsum("bchw,ci,hj,wk->bijk", x, u1, u2, u3)
        return torch.einsum("bijk,ijkl,dl->bd", t, self.core, u4)

    def penalty(self) -> torch.Tensor:
        return self.core.pow(2).sum() + sum(f.pow(2).sum() for f in self.factors)


# ------------------------------------------------------------------------------------------ edits
def _edit_tensor(kind: str, index: Tuple[int, ...], bases: Sequence[torch.Tensor]) -> torch.Tensor:
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


def tensor_directions(model: Any, layer: Optional[str] = None, ranks: Optional[Sequence[int]] = None,
                      tucker_ranks: Optional[Sequence[int]] = None, n_samples: int = 4000, steps: int = 600,
                      batch_size: int = 64, lam: float = 1e-3, lr: float = 1e-2, seed: int = 0,
                      modes: Optional[Dict[str, int]] = None,
                      multilinear: Sequence[Tuple[int, int, int]] = ((0, 0, 0), (0, 1, 0), (0, 0, 1)),
                      sweeps: int = 5, eval_samples: int = 1000, progress: bool = True) -> Directions:
    """TCA directions of ``model`` at ``layer`` (default ``"b8"`` on the zoo model, else the first
    layer with ``[C, H, W]`` activations).

    ``ranks``: multilinear PCA ranks per mode (default full: one-shot). ``tucker_ranks``: ranks of the
    regression tensor ``(r_channel, r_height, r_width, r_latent)`` (default ``(min(C, 32), H, W, D)``).
    ``n_samples`` activations for the PCA; ``steps`` Adam steps of ``batch_size`` fresh samples each.
    ``modes``: how many basis vectors of each mode become mode-wise directions (default channel 10,
    height 3, width 3); ``multilinear``: core entries ``(i, j, k)`` that become multilinear directions.

        d = tensor_directions(latentwidgets.load("sprites-style"), layer="b8", steps=600)
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
    ranks = [int(r) for r in ranks] if ranks is not None else [c, h, w]
    if len(ranks) != 3:
        raise ValueError(f"ranks must have 3 entries (channel, height, width); got {ranks}")
    for r, n, m in zip(ranks, (c, h, w), MODES):
        if not 1 <= r <= n:
            raise ValueError(f"rank of the {m} mode must be in 1..{n}; got {r}")
    tr = [int(r) for r in tucker_ranks] if tucker_ranks is not None else [min(c, 32), h, w, d]
    if len(tr) != 4 or any(r < 1 for r in tr):
        raise ValueError(f"tucker_ranks must be 4 positive ints (channel, height, width, latent); got {tr}")
    modes = dict(modes) if modes is not None else {"channel": 10, "height": 3, "width": 3}
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r} in modes; use {list(MODES)}")
    specs: List[Tuple[str, Tuple[int, ...]]] = []
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

    # 1. activations, centred
    acts, lats = [], []
    for _, lat in latent_batches(model, n_samples, seed, 256, progress, desc=f"TCA: activations at {layer}"):
        acts.append(model.activations(lat, layer).float())
        lats.append(lat.float())
    x = torch.cat(acts)
    lat_all = torch.cat(lats)
    act_mean = x.mean(0)
    xc = x - act_mean
    lat_mean = lat_all.mean(0)
    x_scale = float(xc.std().clamp(min=1e-8))
    y_scale = float((lat_all - lat_mean).std().clamp(min=1e-8))

    # 2. multilinear PCA
    bases, evals = multilinear_pca(xc, ranks, sweeps=sweeps)

    # 3. Tucker regression activations -> latent, fresh samples every step
    g = torch.Generator().manual_seed(int(seed) + 17)
    reg = TuckerRegression((c, h, w), d, tr, g).to(dev)
    opt = torch.optim.Adam(reg.parameters(), lr=lr)
    mean_d, lat_mean_d = act_mean.to(dev), lat_mean.to(dev)
    stream = latent_batches(model, max(steps, 1) * batch_size, seed + 2, batch_size)
    losses: List[float] = []
    interrupted = None
    bar = tqdm(range(steps), desc="TCA: tensor regression", disable=not progress, leave=False)
    try:
        for step in bar:
            _, lat = next(stream)
            with torch.no_grad():
                xb = (model.activations(lat, layer).float() - mean_d) / x_scale
            yb = (lat.float() - lat_mean_d) / y_scale
            loss = torch.nn.functional.mse_loss(reg(xb), yb)
            total = loss + lam * reg.penalty()
            opt.zero_grad()
            total.backward()
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
            num = den = 0.0
            for _, lat in latent_batches(model, eval_samples, seed + 3, 256):
                pred = reg((model.activations(lat, layer).float() - mean_d) / x_scale) * y_scale + lat_mean_d
                num += float((pred - lat).pow(2).sum())
                den += float((lat - lat_mean_d).pow(2).sum())
            r2 = 1.0 - num / max(den, 1e-30)

    # 4. edits -> latent directions
    patterns = torch.stack([_edit_tensor(kind, idx, bases) for kind, idx in specs])  # [K, C, H, W]
    with torch.no_grad():
        deltas = reg(patterns.to(dev) / x_scale).cpu() * y_scale  # latent change per unit activation edit
        act_sigma = (xc.reshape(xc.shape[0], -1) @ patterns.reshape(len(specs), -1).t()).std(0).cpu()
    patterns, bases, evals = patterns.cpu(), [b.cpu() for b in bases], [e.cpu() for e in evals]
    act_mean, lat_mean = act_mean.cpu(), lat_mean.cpu()
    norms = deltas.norm(dim=1)
    if (norms < 1e-12).any():
        bad = [f"{k} {i}" for (k, i), n in zip(specs, norms) if n < 1e-12]
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


def tca_edits(d: Directions, direction: Union[int, str], strength: Any,
              direct: Union[bool, str] = False, layers: LayerSpec = None) -> List[Edit]:
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
