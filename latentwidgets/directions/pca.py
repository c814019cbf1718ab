"""GANSpace (Härkönen et al. 2020): principal components of sampled latents or activations.

Style-based models: PCA on ``w = mapping(z)`` over many samples; the directions live in w and one
slider unit (sigma) is the standard deviation of the samples' projections onto each component.
Models without a mapping network: PCA of a named layer's activations, then a least-squares
regression from the (standardised) PCA coordinates back to the latent over fresh samples; each row
of the solution, normalised, is a latent direction (GANSpace's BigGAN recipe)::

    d = pca_directions(model, n_components=10)                  # w-space PCA on 100k samples
    d.info["explained_variance_ratio"]                          # per component
    d = pca_directions(vae, layer="fc", regression_samples=10_000)   # activation PCA -> z

Interrupting (Ctrl-C / the notebook's stop button) while samples stream in keeps what was
accumulated: the record then says how many samples it used (``samples``).

Estimator: the default (``estimator="auto"``) streams batches into a covariance summed in float64
(memory O(D^2), so a million samples fit) and takes its symmetric eigendecomposition. For the
latent sizes of style-based models (D = 32..512) this is accurate to float32 rounding and far
faster than incremental PCA, which GANSpace used; activation layers wider than ``4096`` values use
``torch.pca_lowrank`` on the collected samples instead (raise ``niter`` when components have close variances).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Tuple

import torch

from .record import Directions
from .sampling import CovarianceAccumulator, check_count, latent_batches

#: widest activation the exact covariance estimator handles by default (a D x D float64 matrix)
MAX_COV_DIM = 4096


def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row so that its entry of largest magnitude is positive (deterministic signs)."""
    idx = vectors.abs().argmax(dim=1)
    s = torch.sign(vectors.gather(1, idx[:, None]))
    s[s == 0] = 1
    return vectors * s


def pca_from_covariance(cov: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """Top-``k`` eigenpairs of a covariance matrix: ``(components [k, D], variances [k], total variance)``."""
    evals, evecs = torch.linalg.eigh(cov.double())
    order = torch.argsort(evals, descending=True)[:k]
    comps = fix_signs(evecs[:, order].t().contiguous())
    return comps, evals[order].clamp(min=0), float(torch.diagonal(cov).sum())


def streaming_pca(batches: Iterable[torch.Tensor], k: int, estimator: str = "covariance",
                  niter: int = 6) -> Dict[str, Any]:
    """PCA of samples arriving in batches ``[B, D]``.

    ``estimator="covariance"``: streamed covariance (float64 sums, see ``CovarianceAccumulator``) + ``eigh``; ``"lowrank"``: collect
    the samples and run ``torch.pca_lowrank`` (``niter`` power iterations). Returns a dict with
    ``mean [D]``, ``components [k, D]`` (orthonormal rows, float64), ``variance [k]``,
    ``total_variance``, ``n``.

        out = streaming_pca((torch.randn(1000, 8) for _ in range(10)), k=3)
    """
    if estimator == "covariance":
        acc: Optional[CovarianceAccumulator] = None
        interrupted = False
        try:
            for x in batches:
                x = x.reshape(x.shape[0], -1)
                if acc is None:
                    acc = CovarianceAccumulator(x.shape[1], device=x.device)
                acc.update(x)
        except KeyboardInterrupt:  # GANSpace's behaviour: keep what was accumulated
            interrupted = True
            if acc is None or acc.n < 2:
                raise
        if acc is None:
            raise ValueError("no samples were given to the PCA")
        mean, cov = acc.finalize()
        comps, var, total = pca_from_covariance(cov, min(k, acc.dim))
        return {"mean": mean, "components": comps, "variance": var, "total_variance": total, "n": acc.n,
                "interrupted": interrupted}
    if estimator == "lowrank":
        xs = [x.reshape(x.shape[0], -1).float() for x in batches]
        if not xs:
            raise ValueError("no samples were given to the PCA")
        x = torch.cat(xs)
        if not torch.isfinite(x).all():
            raise ValueError("samples contain NaN or inf (does the model produce finite outputs?)")
        n, d = x.shape
        if n < 2:
            raise ValueError(f"need at least 2 samples for PCA; got {n}")
        k = min(k, d, n)
        mean = x.mean(0)
        xc = x - mean
        q = min(k + 10, d, n)
        torch.manual_seed(0)  # pca_lowrank draws a random start: keep it reproducible
        _, s, v = torch.pca_lowrank(xc, q=q, center=False, niter=niter)
        comps = fix_signs(v[:, :k].t().double().contiguous())
        var = (s[:k].double() ** 2) / (n - 1)
        total = float(xc.double().pow(2).sum() / (n - 1))
        return {"mean": mean.double(), "components": comps, "variance": var, "total_variance": total, "n": n}
    raise ValueError(f"unknown estimator {estimator!r}; choose 'auto', 'covariance' or 'lowrank'")


def _resolve_space(model: Any, space: Optional[str], layer: Optional[str]) -> str:
    if space is None:
        space = "act" if layer is not None or not model.has_mapping else "w"
    if space.startswith("act:"):
        space = "act"
    if space not in ("w", "z", "act"):
        raise ValueError(f"space must be 'w', 'z' or 'act' (activation PCA + regression); got {space!r}")
    if space == "w" and not model.has_mapping:
        raise ValueError(f"{model.name} has no mapping network, so there is no w: use space='z' "
                         "(PCA of z) or space='act' with layer=... (GANSpace's activation PCA)")
    return space


def pca_directions(model: Any, n_components: int = 10, space: Optional[str] = None, n_samples: int = 100_000,
                   batch_size: int = 8192, seed: int = 0, layer: Optional[str] = None,
                   regression_samples: int = 10_000, estimator: str = "auto", niter: int = 6,
                   progress: bool = True) -> Directions:
    """GANSpace directions of ``model``.

    ``space``: ``"w"`` (default for models with a mapping network), ``"z"``, or ``"act"`` (default
    without a mapping; PCA of ``layer``'s activations, ``layer`` defaulting to the model's first
    hookable layer, then least-squares regression back to the synthesis latent over
    ``regression_samples`` fresh samples). Returns unit directions named ``"pca 0"``, ... with
    sigma = std of the projections; ``info`` holds the explained variance ratios.

        d = pca_directions(latentwidgets.load("sprites-style"), n_components=10, n_samples=100_000)
    """
    if not isinstance(n_components, int) or n_components < 1:
        raise ValueError(f"n_components must be a positive int; got {n_components!r}")
    check_count(n_samples, "n_samples")
    space = _resolve_space(model, space, layer)
    opts = {"n_components": n_components, "space": space, "n_samples": n_samples, "seed": seed,
            "layer": layer, "estimator": estimator, "niter": niter}

    if space in ("w", "z"):
        def batches():
            for z, lat in latent_batches(model, n_samples, seed, batch_size, progress, desc=f"PCA on {space}"):
                yield lat if space == "w" else z
        est = "covariance" if estimator == "auto" else estimator
        out = streaming_pca(batches(), n_components, est, niter)
        comps = out["components"]
        sigma = out["variance"].sqrt()
        ratio = out["variance"] / out["total_variance"]
        k = comps.shape[0]
        return Directions(
            vectors=comps.float(), space=space, sigma=sigma.float(), names=[f"pca {i}" for i in range(k)],
            layers=None, method="pca", options=opts, samples=out["n"], seed=seed, model_id=model.name,
            state={"mean": out["mean"].float()},
            info={"explained_variance_ratio": ratio.tolist(), "explained_variance": out["variance"].tolist(),
                  "total_variance": out["total_variance"], "estimator": est},
        )

    # ---- activation PCA + regression back to the latent (GANSpace's recipe for BigGAN)
    if layer is None:
        names = model.layers()
        if not names:
            raise ValueError(f"{model.name} names no hookable layers; pass layer=... or use space='z'")
        layer = names[0]
        opts["layer"] = layer
    model._module_at(layer)  # unknown layer -> KeyError listing the layers
    check_count(regression_samples, "regression_samples", minimum=n_components + 1)
    probe = model.activations(model.to_synthesis(model.sample_z(1, seed)), layer)
    act_shape = list(probe.shape[1:])
    dim = probe[0].numel()
    est = estimator if estimator != "auto" else ("covariance" if dim <= MAX_COV_DIM else "lowrank")

    def act_batches():
        for _, lat in latent_batches(model, n_samples, seed, batch_size, progress, desc=f"PCA on {layer}"):
            yield model.activations(lat, layer).reshape(lat.shape[0], -1)

    out = streaming_pca(act_batches(), n_components, est, niter)
    comps = out["components"].float()  # [K, Dact]
    act_std = out["variance"].sqrt().float().clamp(min=1e-12)
    mean = out["mean"].float()
    k = comps.shape[0]

    coords, lats = [], []
    for _, lat in latent_batches(model, regression_samples, seed + 1, batch_size, progress, desc="regression"):
        a = model.activations(lat, layer).reshape(lat.shape[0], -1).float()
        coords.append(((a - mean.to(a.device)) @ comps.to(a.device).t()) / act_std.to(a.device))
        lats.append(lat.float())
    a_mat = torch.cat(coords).double().cpu()
    z_mat = torch.cat(lats).double().cpu()
    z_mean = z_mat.mean(0)
    # min_M || A M - (Z - mean) ||: row k of M is the latent move that goes with one std of PC k
    sol = torch.linalg.lstsq(a_mat - a_mat.mean(0), z_mat - z_mean).solution  # [K, Dlat]
    resid = (a_mat - a_mat.mean(0)) @ sol - (z_mat - z_mean)
    r2 = 1.0 - float(resid.pow(2).sum() / (z_mat - z_mean).pow(2).sum().clamp(min=1e-30))
    norms = sol.norm(dim=1, keepdim=True)
    if (norms < 1e-12).any():
        raise ValueError(f"the regression from {layer!r} activations back to the latent found no direction for some "
                         "components (the layer may not depend on the latent): choose another layer")
    vecs = (sol / norms).float()
    sigma = ((z_mat - z_mean).float() @ vecs.t()).std(0)
    lat_space = model.synthesis_space
    ratio = out["variance"] / out["total_variance"]
    opts["regression_samples"] = regression_samples
    return Directions(
        vectors=vecs, space=lat_space, sigma=sigma, names=[f"pca {i}" for i in range(k)], layers=None,
        method="pca", options=opts, samples=out["n"], seed=seed, model_id=model.name,
        state={"act_components": comps, "act_mean": mean, "act_stdev": act_std, "mean": z_mean.float()},
        info={"explained_variance_ratio": ratio.tolist(), "explained_variance": out["variance"].tolist(),
              "total_variance": out["total_variance"], "estimator": est, "layer": layer, "act_shape": act_shape,
              "regression_r2": r2},
    )


def activation_directions(d: Directions) -> Directions:
    """The activation-space components kept by an activation PCA (``space="act:<layer>"``), usable
    directly as activation edits (``Edit(act, k, strength)`` adds strength * act_stdev * component)."""
    if "act_components" not in d.state:
        raise ValueError("this record keeps no activation components (it came from a PCA on w or z)")
    layer = d.info["layer"]
    return Directions(
        vectors=d.state["act_components"], space=f"act:{layer}", sigma=d.state["act_stdev"],
        names=[f"pca act {i}" for i in range(d.state["act_components"].shape[0])], method="pca",
        options=dict(d.options), samples=d.samples, seed=d.seed, model_id=d.model_id,
        info={"act_shape": d.info["act_shape"], "layer": layer},
    )
