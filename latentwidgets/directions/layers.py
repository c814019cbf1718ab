"""Layer ranges of per-layer latents: the one parser, shared by edits, closed-form directions and the
layer-wise editor.

A layer spec is ``None`` or ``"all"`` (every layer), a group name (``"coarse"``, ``"middle"``,
``"fine"``) or ``(start, end)`` (end exclusive). StyleGAN's convention for the groups, by the
resolution each latent feeds: coarse = 4-8 px (the first four per-layer latents), middle = 16-32 px
(the next four), fine = 64 px and up (the rest). Models with fewer than 10 per-layer latents are
split into thirds; a single-latent model has one group::

    layer_groups(10)               # {'coarse': (0, 4), 'middle': (4, 8), 'fine': (8, 10)}
    layer_groups(18)               # {'coarse': (0, 4), 'middle': (4, 8), 'fine': (8, 18)}
    check_layers([2, 5])           # (2, 5): checked without a model (a group name stays a name)
    resolve_layers("middle", 10)   # (4, 8)
    layer_range(None, 10)          # (0, 10)
"""

from __future__ import annotations

from collections.abc import Sequence

GROUPS = ("coarse", "middle", "fine")

LayerSpec = None | str | tuple[int, int] | Sequence[int]


def layer_groups(num_layers: int) -> dict[str, tuple[int, int]]:
    """``{'coarse': (0, a), 'middle': (a, b), 'fine': (b, L)}`` (end exclusive) for L per-layer latents."""
    L = int(num_layers)
    if L < 1:
        raise ValueError(f"num_layers must be >= 1; got {num_layers}")
    if L >= 10:
        a, b = 4, 8
    elif L >= 3:
        a, b = round(L / 3), round(2 * L / 3)
    else:
        return {g: (0, L) for g in GROUPS}
    return {"coarse": (0, a), "middle": (a, b), "fine": (b, L)}


def check_layers(layers: LayerSpec) -> None | str | tuple[int, int]:
    """A layer spec checked as far as it can be without a model: ``None`` / ``"all"`` -> None, a group
    name stays the name, ``(start, end)`` -> ints with ``0 <= start < end``.

        check_layers("coarse")    # 'coarse'
        check_layers((0, 4))      # (0, 4)
    """
    if layers is None or layers == "all":
        return None
    if isinstance(layers, str):
        if layers not in GROUPS:
            raise ValueError(f"unknown layer group {layers!r}; use one of {list(GROUPS)}, 'all', or (start, end)")
        return layers
    try:
        start, end = (int(v) for v in layers)
    except (TypeError, ValueError):
        raise ValueError(f"layers must be None, a group name {list(GROUPS)} or (start, end); got {layers!r}") from None
    if not 0 <= start < end:
        raise ValueError(f"layer range ({start}, {end}) does not fit: need (start, end) with 0 <= start < end")
    return (start, end)


def resolve_layers(layers: LayerSpec, num_layers: int) -> tuple[int, int] | None:
    """Turn ``None`` (all), a group name, or ``(start, end)`` into a checked ``(start, end)`` or None."""
    spec = check_layers(layers)
    if spec is None:
        return None
    if isinstance(spec, str):
        return layer_groups(num_layers)[spec]
    start, end = spec
    if end > num_layers:
        raise ValueError(f"layer range ({start}, {end}) does not fit a model with {num_layers} per-layer latents "
                         f"(need 0 <= start < end <= {num_layers})")
    return spec


def layer_range(layers: LayerSpec, num_layers: int) -> tuple[int, int]:
    """:func:`resolve_layers`, with every layer spelled out: ``None`` -> ``(0, num_layers)``."""
    return resolve_layers(layers, num_layers) or (0, int(num_layers))
