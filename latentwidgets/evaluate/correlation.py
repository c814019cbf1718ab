"""Directions against measured ground truth: seeded samples with their measured factors, and how well
each direction's coordinate correlates with each factor (the sprites world, or any image -> factor reader).

:func:`best_abs_corr`: for each factor, the best |correlation| between any direction's coordinate
(``<v, latent>`` over seeded samples) and the factor measured on the generated images. Hues are
circular: their score is the circular-linear correlation (Mardia): the multiple correlation of the
coordinate with ``(cos 2 pi h, sin 2 pi h)``, in [0, 1], equal to |corr| for a linear factor laid on
a circle::

    samples = measure_samples(model, 2000, seed=0)            # reuse for several records (and for MOD)
    best_abs_corr(model, d, samples=samples)                   # {'x': 0.93, 'y': ..., 'hue': ...}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..directions.record import Directions
from ..directions.sampling import check_count, sample_latents
from ..models.base import LatentModel
from ..zoo import sprites
from ..zoo.sprites import CIRCULAR_FACTORS, MEASURED_FACTORS

Measure = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def default_measure() -> Measure:
    """The sprites world's reader, ``zoo.sprites.measure`` (the default wherever a measure is optional)."""
    return sprites.measure


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each column of ``a [N, K]`` with ``b [N]`` -> ``[K]`` (0 for constants)."""
    a = a.double() - a.double().mean(0)
    b = b.double() - b.double().mean()
    den = (a.norm(dim=0) * b.norm()).clamp(min=1e-30)
    return (a * b[:, None]).sum(0) / den


def circular_linear_corr(x: torch.Tensor, angle01: torch.Tensor) -> torch.Tensor:
    """Mardia's circular-linear correlation of each column of ``x [N, K]`` with angles in turns ``[N]``."""
    c, s = torch.cos(2 * math.pi * angle01.double()), torch.sin(2 * math.pi * angle01.double())
    rxc, rxs = _pearson(x, c), _pearson(x, s)
    rcs = float(_pearson(c[:, None], s)[0])
    r2 = (rxc ** 2 + rxs ** 2 - 2 * rxc * rxs * rcs) / max(1 - rcs ** 2, 1e-12)
    return r2.clamp(min=0, max=1).sqrt()


def factor_corr(x: torch.Tensor, values: torch.Tensor, factor: str) -> torch.Tensor:
    """|correlation| of each column of ``x [N, K]`` with a factor (circular for hues)."""
    if factor in CIRCULAR_FACTORS:
        return circular_linear_corr(x, values)
    return _pearson(x, values).abs()


def measure_samples(model: LatentModel, n: int = 2000, seed: int = 0, batch_size: int = 256,
                    measure: Measure | None = None) -> dict[str, Any]:
    """Seeded latents, their images' measured factors and the clean mask (for reuse across records).

    Returns ``{"z", "lat", "factors": {name: [n]}, "clean": [n] bool, "seed", "n"}``.
    """
    check_count(n, "n")
    measure = measure or default_measure()
    z, lat = sample_latents(model, n, seed)
    facs = []
    for i in range(0, n, batch_size):
        facs.append(measure(model.synthesize(lat[i:i + batch_size])))
    factors = {k: torch.cat([f[k] for f in facs]).float().cpu() for k in facs[0]}
    clean = factors.pop("clean").bool() if "clean" in factors else torch.ones(n, dtype=torch.bool)
    return {"z": z.cpu(), "lat": lat.cpu(), "factors": factors, "clean": clean, "seed": seed, "n": n}


def coordinates(model: LatentModel, d: Directions, z: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    """Coordinates ``[N, K]`` of samples along each direction, in the record's space."""
    d.check(model)
    if d.layer is not None:
        x = torch.cat([model.activations(lat[i:i + 256].to(model.device), d.layer).reshape(
            min(256, lat.shape[0] - i), -1).cpu() for i in range(0, lat.shape[0], 256)])
    elif d.space == "w" or not model.has_mapping:
        x = lat
    else:
        x = z
    return x.float().cpu() @ d.vectors.float().cpu().t()


def corr_matrix(model: LatentModel, d: Directions, samples: dict[str, Any], factors: Sequence[str] = MEASURED_FACTORS,
                clean_only: bool = True, min_clean: int = 30) -> dict[str, torch.Tensor]:
    """``{factor: [K] |corr|}`` of every direction's coordinate with every factor."""
    mask = samples["clean"] if clean_only and int(samples["clean"].sum()) >= min_clean else \
        torch.ones_like(samples["clean"])
    x = coordinates(model, d, samples["z"], samples["lat"])
    out = {}
    for f in factors:
        if f not in samples["factors"]:
            raise KeyError(f"factor {f!r} was not measured; measured: {sorted(samples['factors'])}")
        v = samples["factors"][f]
        ok = mask & torch.isfinite(v)
        out[f] = factor_corr(x[ok], v[ok], f).float() if int(ok.sum()) > 2 else torch.zeros(x.shape[1])
    return out


def best_abs_corr(model: LatentModel, d: Directions, n: int = 2000, seed: int = 0,
                  factors: Sequence[str] = MEASURED_FACTORS, samples: dict[str, Any] | None = None,
                  clean_only: bool = True) -> dict[str, float]:
    """For each factor, the best |correlation| of any direction's coordinate with the measured factor
    (circular-linear correlation for hues; clean images only when at least 30 are clean).

        best_abs_corr(model, pca_directions(model), n=2000)   # {'x': ..., 'y': ..., 'scale': ..., ...}
    """
    samples = samples or measure_samples(model, n, seed)
    mat = corr_matrix(model, d, samples, factors, clean_only)
    return {f: float(v.max()) for f, v in mat.items()}


def random_directions(model: LatentModel, k: int = 10, seed: int = 0, space: str | None = None) -> Directions:
    """``k`` random unit directions (the chance baseline), in w (or z without a mapping)."""
    space = space or model.synthesis_space
    dim = model.w_dim if space == "w" else model.z_dim
    g = torch.Generator().manual_seed(int(seed) + 2)
    return Directions(vectors=torch.randn(k, dim, generator=g), space=space, method="random",
                      names=[f"random {i}" for i in range(k)], seed=seed, model_id=model.name)
