"""The sprites world: procedural 64x64 scenes with known factors, and a reader that measures them back.

A scene is one anti-aliased object (square, ellipse or heart) on a plain coloured background. Its
factors are:

========== ============================================= =====================
factor     meaning                                       real-scene range
========== ============================================= =====================
shape      0 square, 1 ellipse, 2 heart (long tensor)    uniform over 3
scale      sqrt(object area) / image width               U(0.14, 0.30)
rotation   radians, counter-clockwise                    U(0, 2 pi)
x, y       object centroid / image width (y grows down)  U(0.32, 0.68)
hue        object hue in [0, 1)                          U(0, 1)
bg_hue     background hue in [0, 1)                      U(0, 1)
bg_value   background brightness (HSV value)             U(0.15, 0.45)
========== ============================================= =====================

Every shape is normalised to the same area and to its area centroid, so ``measure`` reads ``scale``,
``x`` and ``y`` back exactly from any image; this is the ground truth every fidelity figure in the
project is measured against::

    from latentwidgets.zoo import sprites
    images, factors = sprites.sample(16, seed=0)     # [16, 3, 64, 64] in [0, 1], dict of [16]
    measured = sprites.measure(images)               # dict: x, y, scale, hue, bg_hue, bg_value, clean
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

SIZE = 64
SHAPES = ("square", "ellipse", "heart")
FACTORS = ("shape", "scale", "rotation", "x", "y", "hue", "bg_hue", "bg_value")
CONTINUOUS = FACTORS[1:]
#: the factors ``measure`` reads back from images (besides ``clean``), the one list every measurement uses
MEASURED_FACTORS = ("x", "y", "scale", "hue", "bg_hue", "bg_value")
#: measured factors living on a circle of circumference 1 (hues)
CIRCULAR_FACTORS = ("hue", "bg_hue")
RANGES: dict[str, tuple] = {
    "scale": (0.14, 0.30),
    "rotation": (0.0, 2 * math.pi),
    "x": (0.32, 0.68),
    "y": (0.32, 0.68),
    "hue": (0.0, 1.0),
    "bg_hue": (0.0, 1.0),
    "bg_value": (0.15, 0.45),
}
OBJECT_SATURATION, OBJECT_VALUE = 0.85, 0.95
BG_SATURATION = 0.55
_ELLIPSE_ASPECT = 1.6

Factors = dict[str, torch.Tensor]


# ----------------------------------------------------------------------------------------------
# shapes as signed distance functions in units of the object's side (area 1, centroid at 0)

def _sdf_box(px: torch.Tensor, py: torch.Tensor, half: float) -> torch.Tensor:
    qx, qy = px.abs() - half, py.abs() - half
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    inside = torch.maximum(qx, qy).clamp(max=0)
    return outside + inside


def _sdf_square(px, py):
    return _sdf_box(px, py, 0.5)


_ELL_A = math.sqrt(_ELLIPSE_ASPECT / math.pi)  # semi-axes with pi*a*b = 1
_ELL_B = 1.0 / (math.pi * _ELL_A)


def _sdf_ellipse(px, py):
    r = torch.sqrt((px / _ELL_A) ** 2 + (py / _ELL_B) ** 2)
    return (r - 1.0) * _ELL_B


# Heart: a square of side L turned 45 degrees (tip down) plus two discs of diameter L on its upper
# edges. Its area is L^2 (1 + pi/4); y grows downwards, so the lobes sit at negative y.
_HEART_L = 1.0 / math.sqrt(1.0 + math.pi / 4.0)


def _sdf_heart_raw(px, py):
    c = math.sqrt(0.5)
    u, v = c * (px + py), c * (py - px)  # rotate 45 degrees
    box = _sdf_box(u, v, _HEART_L / 2)
    # upper edge midpoints of the turned square, in image coords
    off = _HEART_L / 2 * c
    d1 = torch.sqrt((px - off) ** 2 + (py + off) ** 2) - _HEART_L / 2
    d2 = torch.sqrt((px + off) ** 2 + (py + off) ** 2) - _HEART_L / 2
    return torch.minimum(box, torch.minimum(d1, d2))


def _heart_centroid_y() -> float:
    n = 1200
    t = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    inside = (_sdf_heart_raw(xx, yy) <= 0).double()
    return float((inside * yy).sum() / inside.sum())


_HEART_CY = _heart_centroid_y()


def _sdf_heart(px, py):
    return _sdf_heart_raw(px, py + _HEART_CY)


_SDFS = (_sdf_square, _sdf_ellipse, _sdf_heart)


# ----------------------------------------------------------------------------------------------
# colour

def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV in [0, 1] (broadcastable tensors) -> RGB with a trailing channel axis."""
    h = torch.remainder(h, 1.0)
    k = lambda n: torch.remainder(n + h * 6.0, 6.0)  # noqa: E731
    f = lambda n: v - v * s * torch.clamp(torch.minimum(k(n), 4.0 - k(n)), 0.0, 1.0)  # noqa: E731
    return torch.stack([f(5.0), f(3.0), f(1.0)], dim=-1)


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """RGB with a trailing channel axis -> HSV with a trailing axis, hue in [0, 1)."""
    r, g, b = rgb.unbind(-1)
    mx, _ = rgb.max(-1)
    mn, _ = rgb.min(-1)
    delta = mx - mn
    safe = torch.where(delta > 1e-8, delta, torch.ones_like(delta))
    h = torch.where(
        mx == r, torch.remainder((g - b) / safe, 6.0),
        torch.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0),
    )
    h = torch.where(delta > 1e-8, h / 6.0, torch.zeros_like(h))
    s = torch.where(mx > 1e-8, delta / torch.where(mx > 1e-8, mx, torch.ones_like(mx)), torch.zeros_like(mx))
    return torch.stack([torch.remainder(h, 1.0), s, mx], dim=-1)


# ----------------------------------------------------------------------------------------------
# rendering

def _as_factors(factors: Mapping[str, torch.Tensor]) -> Factors:
    missing = [k for k in FACTORS if k not in factors]
    if missing:
        raise ValueError(f"render() needs factors {list(FACTORS)}; missing {missing}")
    n = {k: torch.as_tensor(factors[k]).reshape(-1).shape[0] for k in FACTORS}
    if len(set(n.values())) != 1:
        raise ValueError(f"all factors need the same length; got {n}")
    return {k: torch.as_tensor(factors[k]).reshape(-1) for k in FACTORS}


def render(factors: Mapping[str, torch.Tensor], shape_weights: torch.Tensor | None = None,
           size: int = SIZE, batch_size: int = 256) -> torch.Tensor:
    """Render scenes deterministically. Returns float images ``[N, 3, size, size]`` in [0, 1].

    ``factors`` maps every name in :data:`FACTORS` to a tensor of length N. ``shape_weights``
    (``[N, 3]``, rows summing to 1) optionally blends the three shapes' distance fields, for
    continuous morphs between shapes; by default the one-hot of ``factors['shape']`` is used.

    >>> img = render({"shape": [2], "scale": [0.25], "rotation": [0.0], "x": [0.5], "y": [0.5],
    ...               "hue": [0.0], "bg_hue": [0.6], "bg_value": [0.3]})
    """
    f = _as_factors(factors)
    n = f["x"].shape[0]
    if shape_weights is None:
        shape = f["shape"].long()
        if shape.numel() and (shape.min() < 0 or shape.max() >= len(SHAPES)):
            raise ValueError(f"shape must be in 0..{len(SHAPES) - 1} ({', '.join(SHAPES)})")
        shape_weights = F.one_hot(shape, len(SHAPES)).float()
    shape_weights = torch.as_tensor(shape_weights, dtype=torch.float32)
    out = []
    for i in range(0, n, batch_size):
        sl = slice(i, i + batch_size)
        out.append(_render_batch({k: v[sl].float() for k, v in f.items()}, shape_weights[sl], size))
    if not out:
        return torch.zeros(0, 3, size, size)
    return torch.cat(out)


def _render_batch(f: Factors, w: torch.Tensor, size: int) -> torch.Tensor:
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres, image widths
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    side = f["scale"].view(-1, 1, 1)
    dx = (gx - f["x"].view(-1, 1, 1)) / side
    dy = (gy - f["y"].view(-1, 1, 1)) / side
    # rotate the sample points by -rotation (counter-clockwise object rotation on screen, y down)
    c, s = torch.cos(f["rotation"]).view(-1, 1, 1), torch.sin(f["rotation"]).view(-1, 1, 1)
    px = c * dx - s * dy
    py = s * dx + c * dy
    sdf = torch.zeros_like(px)
    for k, fn in enumerate(_SDFS):
        wk = w[:, k].view(-1, 1, 1)
        if bool((wk != 0).any()):
            sdf = sdf + wk * fn(px, py)
    # analytic anti-aliasing: coverage falls linearly across one pixel around the contour
    alpha = (0.5 - sdf * side * size).clamp(0, 1).unsqueeze(1)
    one = torch.ones_like(f["hue"])
    obj = hsv_to_rgb(f["hue"], one * OBJECT_SATURATION, one * OBJECT_VALUE)
    bg = hsv_to_rgb(f["bg_hue"], one * BG_SATURATION, f["bg_value"])
    obj, bg = obj.view(-1, 3, 1, 1), bg.view(-1, 3, 1, 1)
    return (alpha * obj + (1 - alpha) * bg).clamp(0, 1)


def sample_factors(n: int, seed: int = 0) -> Factors:
    """Draw ``n`` factor sets from the real-scene distribution (independent, see module table)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    g = torch.Generator().manual_seed(int(seed))
    out: Factors = {"shape": torch.randint(0, len(SHAPES), (n,), generator=g)}
    for k in CONTINUOUS:
        lo, hi = RANGES[k]
        out[k] = lo + (hi - lo) * torch.rand(n, generator=g)
    return out


def sample(n: int, seed: int = 0) -> tuple[torch.Tensor, Factors]:
    """``n`` real scenes: images ``[n, 3, 64, 64]`` in [0, 1] and their factors (dict of ``[n]``)."""
    factors = sample_factors(n, seed)
    return render(factors), factors


# ----------------------------------------------------------------------------------------------
# measuring

def _border(images: torch.Tensor, width: int = 2) -> torch.Tensor:
    top = images[:, :, :width, :].flatten(2)
    bottom = images[:, :, -width:, :].flatten(2)
    left = images[:, :, width:-width, :width].flatten(2)
    right = images[:, :, width:-width, -width:].flatten(2)
    return torch.cat([top, bottom, left, right], dim=2)  # [B, 3, P]


def _components(mask: torch.Tensor, max_iter: int = 256) -> torch.Tensor:
    """Number of 8-connected components of each boolean mask ``[B, H, W]``."""
    b, h, w = mask.shape
    idx = torch.arange(1, h * w + 1, dtype=torch.float32).view(1, h, w).expand(b, h, w)
    lab = torch.where(mask, idx, torch.zeros_like(idx))
    m = mask.float()
    for _ in range(max_iter):
        new = F.max_pool2d(lab.unsqueeze(1), 3, 1, 1).squeeze(1) * m
        if torch.equal(new, lab):
            break
        lab = new
    # every component ends labelled with its largest pixel index: count the pixels that hold their own
    return ((lab == idx) & mask).flatten(1).sum(1)


def measure(images: torch.Tensor, batch_size: int = 512) -> Factors:
    """Read scene factors back from any images ``[N, 3, H, W]`` in [0, 1] (generated ones too).

    Returns a dict of ``[N]`` float tensors:

    - ``x``, ``y``: coverage-weighted centroid of the object, in image widths;
    - ``scale``: sqrt(object area) / image width;
    - ``hue``: hue of the object's colour; ``bg_hue``, ``bg_value``: background hue and brightness;
    - ``clean``: 1.0 where the image holds exactly one clean object, else 0.0. *Clean* means: the
      border (the background estimate) is uniform (per-channel std < 0.04), the pixels with coverage
      > 0.5 form exactly one 8-connected component of at least 9 pixels, fewer than 1.5 partially
      covered pixels (coverage 0.15-0.85) per pixel of object perimeter (edges are sharp), and the
      object's colour is uniform (std < 0.08 over its core pixels), and fewer than 0.25 pixels per
      pixel of perimeter lie off the background -> object colour segment by more than 0.2 (no
      second object of another colour).

    The background colour is the median of the 2-px border; coverage is the projection of each pixel
    onto the background -> object colour segment.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"measure() expects images [N, 3, H, W]; got {tuple(images.shape)}")
    images = images.detach().float().cpu()
    outs = [_measure_batch(images[i:i + batch_size]) for i in range(0, images.shape[0], batch_size)]
    if not outs:
        return {k: torch.zeros(0) for k in (*MEASURED_FACTORS, "clean")}
    return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}


def coverage(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pixel object coverage read from images ``[B, 3, H, W]``: the projection of each pixel onto
    the segment from the background colour (median of the 2-px border) to the object colour (mean of
    the pixels farthest from the background). Returns ``alpha [B, H, W]`` in [0, 1], ``bg [B, 3]``,
    ``obj [B, 3]``, ``border_std [B]``, ``contrast [B]`` and the ``core`` mask ``[B, H, W]``."""
    b = images.shape[0]
    border = _border(images)
    bg = border.median(dim=2).values  # [B, 3]
    border_std = border.std(dim=2).max(dim=1).values
    diff = images - bg.view(b, 3, 1, 1)
    dist = (diff * diff).sum(1).sqrt()  # [B, H, W]
    far = dist.flatten(1).quantile(0.995, dim=1).clamp(min=1e-3)
    core = dist > 0.75 * far.view(b, 1, 1)
    corew = core.float()
    obj = (images * corew.unsqueeze(1)).sum((2, 3)) / corew.sum((1, 2)).clamp(min=1).unsqueeze(1)
    axis = obj - bg  # [B, 3]
    axis_n2 = (axis ** 2).sum(1).clamp(min=1e-6)
    alpha = ((diff * axis.view(b, 3, 1, 1)).sum(1) / axis_n2.view(b, 1, 1)).clamp(0, 1)
    return {"alpha": alpha, "bg": bg, "obj": obj, "border_std": border_std, "contrast": axis_n2.sqrt(),
            "core": core}


def edge_width(images: torch.Tensor) -> torch.Tensor:
    """Edge softness of each image ``[N, 3, H, W]`` -> ``[N]``: partially covered pixels (coverage
    0.15-0.85, see :func:`coverage`) per pixel of object perimeter. Anti-aliased real scenes sit
    near 0.8; :func:`measure` calls an object clean only below 1.5.

    >>> float(edge_width(sample(64, seed=0)[0]).median())   # about 0.78
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"edge_width() expects images [N, 3, H, W]; got {tuple(images.shape)}")
    return _edge_width(coverage(images.detach().float().cpu())["alpha"])


def _edge_width(alpha: torch.Tensor) -> torch.Tensor:
    area = alpha.sum((1, 2)).clamp(min=1e-6)
    perimeter = 2 * math.sqrt(math.pi) * torch.sqrt(area)  # of a disc of that area
    return ((alpha > 0.15) & (alpha < 0.85)).float().sum((1, 2)) / perimeter


def centroid(alpha: torch.Tensor) -> torch.Tensor:
    """Coverage-weighted centroid ``[B, 2]`` (x, y) of coverage maps ``[B, H, W]``, in image widths
    (pixel centres at ``(i + 0.5) / W``): the position :func:`measure` reads."""
    _, h, w = alpha.shape
    area = alpha.sum((1, 2)).clamp(min=1e-6)
    ys = (torch.arange(h, device=alpha.device, dtype=alpha.dtype) + 0.5) / w
    xs = (torch.arange(w, device=alpha.device, dtype=alpha.dtype) + 0.5) / w
    return torch.stack([(alpha * xs.view(1, 1, w)).sum((1, 2)) / area,
                        (alpha * ys.view(1, h, 1)).sum((1, 2)) / area], 1)


def _measure_batch(images: torch.Tensor) -> Factors:
    b, _, h, w = images.shape
    cov = coverage(images)
    alpha, bg, obj, core = cov["alpha"], cov["bg"], cov["obj"], cov["core"]
    border_std, corew = cov["border_std"], core.float()
    diff, axis = images - bg.view(b, 3, 1, 1), obj - bg
    area = alpha.sum((1, 2)).clamp(min=1e-6)
    x, y = centroid(alpha).unbind(1)
    scale = torch.sqrt(area) / w
    obj_hsv = rgb_to_hsv(obj)
    bg_hsv = rgb_to_hsv(bg)
    # cleanliness
    solid = alpha > 0.5
    ncomp = _components(solid)
    perimeter = 2 * math.sqrt(math.pi) * torch.sqrt(area)  # of a disc of that area
    # pixels off the background -> object colour segment: a second object of another colour
    unexplained = ((diff - alpha.unsqueeze(1) * axis.view(b, 3, 1, 1)).pow(2).sum(1).sqrt() > 0.2).float().sum((1, 2))
    core_std = torch.sqrt((((images - obj.view(b, 3, 1, 1)) ** 2) * corew.unsqueeze(1)).sum((2, 3))
                          / corew.sum((1, 2)).clamp(min=1).unsqueeze(1)).max(1).values
    clean = ((border_std < 0.04) & (ncomp == 1) & (solid.float().sum((1, 2)) >= 9)
             & (_edge_width(alpha) < 1.5) & (core_std < 0.08) & (cov["contrast"] > 0.2)
             & (unexplained < 0.25 * perimeter))
    return {"x": x, "y": y, "scale": scale, "hue": obj_hsv[:, 0], "bg_hue": bg_hsv[:, 0],
            "bg_value": bg_hsv[:, 2], "clean": clean.float()}


def hue_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Circular distance between hues in [0, 1)."""
    d = torch.remainder(a - b, 1.0)
    return torch.minimum(d, 1.0 - d)
