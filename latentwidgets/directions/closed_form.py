"""SeFa-style closed-form factorisation (Shen & Zhou 2021): directions from the generator's weights.

The style (affine) layers that read the chosen per-layer latents map w to per-channel styles,
``s = A w + b``. Directions that change the styles most are the top eigenvectors of ``A^T A``,
where ``A`` stacks those layers' weights ``[C, w_dim]`` with every row (one output channel) scaled
to unit norm, as the authors' implementation does. No sampling is needed for the directions; a
small seeded sample of w only sets each direction's sigma (std of the projections)::

    d = closed_form_directions(model, n_components=10)                 # all layers
    d = closed_form_directions(model, layers="coarse")                 # or (start, end)
    d.info["eigenvalues"]
"""

from __future__ import annotations

from typing import Any

import torch

from .layers import LayerSpec, resolve_layers
from .pca import fix_signs
from .record import Directions
from .sampling import latent_batches
from .streaming import CovarianceSums


def stacked_style_weights(model: Any, layers: tuple | None = None) -> torch.Tensor:
    """The row-normalised stack ``A [sum C, w_dim]`` of the affine weights reading latents ``layers``."""
    affines = model.style_affines()
    start, end = layers if layers is not None else (0, len(affines))
    rows = [lin.weight.detach().to(torch.float64).cpu() for i in range(start, end) for lin in affines[i]]
    if not rows:
        raise ValueError(f"no style-affine layers read per-layer latents {start}..{end - 1} of {model.name}; "
                         "choose a wider layer range")
    a = torch.cat(rows, dim=0)
    if a.shape[1] != model.w_dim:
        raise ValueError(f"style-affine weights have {a.shape[1]} inputs but {model.name} has w_dim={model.w_dim}")
    return a / a.norm(dim=1, keepdim=True).clamp(min=1e-12)


def closed_form_directions(model: Any, n_components: int = 10, layers: LayerSpec = None,
                           sigma_samples: int = 10_000, seed: int = 0, progress: bool = False) -> Directions:
    """Top ``n_components`` eigenvectors of ``A^T A`` for the style affines of ``layers``.

    The chosen layer range is recorded as each direction's suggested layer range.

        d = closed_form_directions(latentwidgets.load("sprites-style"), layers="middle")

    Args:
        n_components: how many eigenvectors to keep (at most the latent's dimension).
        layers: whose affines to factorise: None (all), ``"coarse"``, ``"middle"``, ``"fine"``
            (see :func:`layers.layer_groups`) or ``(start, end)``.
        sigma_samples: seeded w samples that measure each direction's sigma (0: sigma = 1).
        seed: seed of the first of those samples.
        progress: show a progress bar while they are drawn.
    """
    if not isinstance(n_components, int) or n_components < 1:
        raise ValueError(f"n_components must be a positive int; got {n_components!r}")
    if not model.has_mapping:
        raise ValueError(f"{model.name} has no mapping network and no style affines: closed-form "
                         "factorisation needs a style-based generator (use method='pca' instead)")
    rng = resolve_layers(layers, model.num_layers)
    a = stacked_style_weights(model, rng)
    evals, evecs = torch.linalg.eigh(a.t() @ a)
    order = torch.argsort(evals, descending=True)[:n_components]
    vecs = fix_signs(evecs[:, order].t().contiguous()).float()
    k = vecs.shape[0]
    if sigma_samples and sigma_samples > 1:
        proj = CovarianceSums(k, device=model.device)  # streamed: memory independent of sigma_samples
        for _, lat in latent_batches(model, sigma_samples, seed, 8192, progress, desc="sigma"):
            proj.update(lat.float() @ vecs.to(lat.device).t())
        sigma = torch.diagonal(proj.finalize()[1]).sqrt().float().cpu().clamp(min=1e-8)
    else:
        sigma = torch.ones(k)
    total = float(evals.clamp(min=0).sum())
    return Directions(
        vectors=vecs, space="w", sigma=sigma, names=[f"closed_form {i}" for i in range(k)],
        layers=[rng] * k, method="closed_form",
        options={"n_components": n_components, "layers": list(rng) if rng else None, "sigma_samples": sigma_samples},
        samples=int(sigma_samples or 0), seed=seed, model_id=model.name,
        info={"eigenvalues": evals[order].tolist(), "eigenvalue_ratio": (evals[order] / max(total, 1e-30)).tolist(),
              "rows": int(a.shape[0])},
    )
