"""Realism of images on the sprites world, shared by tests, benchmarks and notebooks: torch in, numbers out.

Sprite-FID, per-factor Wasserstein-1 and the clean-object rate (all images ``[N, 3, 64, 64]`` in [0, 1])::

    from latentwidgets.evaluate import metrics
    from latentwidgets.zoo import sprites
    real, _ = sprites.sample(1000, seed=1)
    metrics.sprite_fid(fake, real)          # Frechet distance of sprites-features (lower = more real)
    metrics.factor_w1(fake, real)           # {'x': ..., 'hue': ...}: 1-D Wasserstein-1 per factor
    metrics.clean_object_rate(fake)         # fraction of images holding exactly one clean object
"""

from __future__ import annotations

import torch

from ..zoo import sprites
from ..zoo.features_net import features_network

#: factors that ``factor_w1`` compares, all read by ``sprites.measure``
W1_FACTORS = sprites.MEASURED_FACTORS
#: factors living on a circle of circumference 1 (compared with the circular Wasserstein-1)
CIRCULAR_FACTORS = sprites.CIRCULAR_FACTORS


def _check_images(images: torch.Tensor, what: str = "images", min_n: int = 2) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{what} must be a float tensor [N, 3, 64, 64] in [0, 1]; got {shape}")
    if images.shape[0] < min_n:
        raise ValueError(f"{what} needs at least {min_n} image(s) (to compare distributions); got {images.shape[0]}")
    return images


@torch.no_grad()
def sprite_features(images: torch.Tensor, batch_size: int = 250) -> torch.Tensor:
    """Penultimate features ``[N, 128]`` (float64, CPU) of the ``sprites-features`` net.

    Images are ``[N, 3, 64, 64]`` in [0, 1]; the net runs on the images' device.

    >>> f = sprite_features(sprites.sample(8, seed=0)[0])   # [8, 128]
    """
    images = _check_images(images, min_n=1)
    if tuple(images.shape[1:]) != (3, 64, 64):
        raise ValueError(f"sprite_features expects 64x64 images; got {tuple(images.shape)} "
                         "(resize with torch.nn.functional.interpolate first)")
    net = features_network(images.device)
    out = [net.features(images[i:i + batch_size].float()).double().cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out)


def _sqrtm_psd(c: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(c)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[D]`` and covariance ``[D, D]`` (float64) of features ``[N, D]``."""
    f = features.double()
    mu = f.mean(0)
    d = f - mu
    return mu, d.T @ d / (f.shape[0] - 1)


def frechet_distance(stats_a: tuple[torch.Tensor, torch.Tensor], stats_b: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Frechet distance between Gaussians ``(mu, cov)``:
    ``|mu_a - mu_b|^2 + tr(C_a) + tr(C_b) - 2 tr((C_a^1/2 C_b C_a^1/2)^1/2)``.

    Both square roots are taken of symmetric PSD matrices through a symmetric eigendecomposition
    (negative round-off eigenvalues clipped to 0), so the result is real and stable in float64 even
    for rank-deficient covariances.

    >>> frechet_distance(feature_stats(fa), feature_stats(fb))
    """
    (mu_a, c_a), (mu_b, c_b) = [(m.double(), c.double()) for m, c in (stats_a, stats_b)]
    s_a = _sqrtm_psd(c_a)
    m = s_a @ c_b @ s_a
    m = (m + m.T) / 2
    tr_cross = torch.linalg.eigvalsh(m).clamp(min=0).sqrt().sum()
    d = float((mu_a - mu_b).pow(2).sum() + torch.trace(c_a) + torch.trace(c_b) - 2 * tr_cross)
    return max(d, 0.0)


def sprite_fid(images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Sprite-FID: Frechet distance between the ``sprites-features`` penultimate features of two image
    sets ``[N, 3, 64, 64]`` in [0, 1] (lower = closer). Compare it with the distance between two
    disjoint real sets of the same size, since the estimate is biased upwards for small N.

    >>> sprite_fid(fake, sprites.sample(1000, seed=1)[0])
    """
    fa = sprite_features(_check_images(images_a, "images_a"))
    fb = sprite_features(_check_images(images_b, "images_b"))
    return frechet_distance(feature_stats(fa), feature_stats(fb))


def wasserstein1(a: torch.Tensor, b: torch.Tensor, circular: bool = False) -> float:
    """Wasserstein-1 distance between the empirical 1-D distributions of samples ``a`` and ``b``.

    On the line it is ``integral |F_a(t) - F_b(t)| dt`` (F the empirical CDFs). On the circle of
    circumference 1 (``circular=True``, for hues in [0, 1)) it is
    ``min_c integral_0^1 |F_a(t) - F_b(t) - c| dt``, the optimal transport cost with arc-length
    ground distance; the minimising ``c`` is the weighted median of ``F_a - F_b``. Thus two hue sets
    that differ only across the 0/1 wrap (0.99 vs 0.01) are 0.02 apart, not 0.98.

    >>> wasserstein1(torch.tensor([0.99]), torch.tensor([0.01]), circular=True)   # 0.02
    """
    a = torch.as_tensor(a).double().flatten()
    b = torch.as_tensor(b).double().flatten()
    if a.numel() == 0 or b.numel() == 0:
        raise ValueError("wasserstein1 needs non-empty samples")
    if circular:
        a, b = torch.remainder(a, 1.0), torch.remainder(b, 1.0)
    pts = torch.cat([a, b]).sort().values
    if circular:
        pts = torch.cat([pts, torch.ones(1, dtype=pts.dtype)])
        lo = torch.cat([torch.zeros(1, dtype=pts.dtype), pts[:-1]])
    else:
        lo = pts[:-1]
        pts = pts[1:]
    widths = pts - lo  # interval [lo, pts): the CDFs are constant there, equal to their value at lo
    fa = torch.searchsorted(a.sort().values, lo, right=True).double() / a.numel()
    fb = torch.searchsorted(b.sort().values, lo, right=True).double() / b.numel()
    diff = fa - fb
    c = 0.0
    if circular and widths.sum() > 0:
        order = diff.argsort()
        cw = widths[order].cumsum(0)
        c = float(diff[order][int(torch.searchsorted(cw, cw[-1] / 2))])
    return float(((diff - c).abs() * widths).sum())


def factor_w1(images: torch.Tensor, real_images: torch.Tensor | None,
              real_factors: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
    """Per-factor Wasserstein-1 between the factors :func:`sprites.measure` reads from ``images`` and
    from ``real_images`` (both ``[N, 3, 64, 64]`` in [0, 1]).

    Keys: :data:`W1_FACTORS`. Units are the factors' own: x, y and scale in image widths, bg_value
    in HSV value, hue and bg_hue in turns compared on the circle (see :func:`wasserstein1`; at most
    0.25 for hue distributions). All images count, clean or not. Pass ``real_factors`` (the output of
    ``measure(real_images)``) to skip re-measuring a fixed real set.

    >>> factor_w1(fake, real)["x"] * 64      # in pixels
    """
    fake = sprites.measure(_check_images(images))
    real = real_factors
    if real is None:
        if real_images is None:
            raise ValueError("factor_w1 needs real_images, or real_factors = sprites.measure(real_images)")
        real = sprites.measure(_check_images(real_images, "real_images"))
    return {k: wasserstein1(fake[k], real[k], circular=k in CIRCULAR_FACTORS) for k in W1_FACTORS}


def clean_object_rate(images: torch.Tensor) -> float:
    """Fraction of images that hold exactly one clean object, as judged by ``sprites.measure``:
    a uniform background border, exactly one 8-connected solid region (coverage > 0.5) of at least 9
    pixels, sharp edges (fewer than 1.5 partially covered pixels per pixel of perimeter), a uniform
    object colour, a distinct object/background contrast, and no pixels of a second colour (see the
    ``clean`` entry of :func:`sprites.measure` for the exact thresholds). Real scenes score 1.0.

    >>> clean_object_rate(sprites.sample(100, seed=0)[0])   # 1.0
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        raise ValueError("clean_object_rate expects images [N, 3, H, W] in [0, 1] with N >= 1")
    return float(sprites.measure(images)["clean"].mean())

