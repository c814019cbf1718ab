"""Grade a set of edits against goals in words or numbers: "make the object red and move it left".

Goals map a factor to what should happen to it::

    grade_edit(model, edits, {"hue": "red", "x": "left"})
    grade_edit(model, edits, {"hue": 0.33, "scale": 0.03})       # hue to 0.33 turns; scale up by 0.03
    grade_edit(model, edits, {"x": ("to", 0.4)})                  # explicit: ("to", value) or ("by", change)

- a colour name (hues only; :data:`COLOURS`) or a number for ``hue`` / ``bg_hue``: reach that hue;
- a word (:data:`WORDS`: left/right, up/down, bigger/smaller, brighter/darker) for the others: move
  that way by at least :attr:`EditGrade.MIN_WORD_CHANGE` of the factor's spread;
- a number for the others: change by that much (signed, in the factor's units).

``edits`` is a list of :class:`~latentwidgets.edit.Edit`, or a function of the grader's latents
``z`` that returns such a list (edits with per-sample strengths: ``factor_edit``, set-mode edits
computed from each latent) or the edited latents themselves (``[n, z_dim]`` z, or ``[n, w_dim]`` /
``[n, L, w_dim]`` w), e.g. a GAN-Control controller: ``lambda z: set_attribute(model, d, z, "hue", 0.0)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ..edit import Edit, render_edits
from ..models.base import LatentModel
from .report import Check, Grade
from .truth import CIRCULAR, FACTORS, SPREAD, UNITS, gradable, measure, require_sprites, signed_change

#: named hues, in turns (HSV hue / 360 degrees)
COLOURS: dict[str, float] = {"red": 0.0, "orange": 1 / 12, "yellow": 1 / 6, "green": 1 / 3, "cyan": 1 / 2,
                             "blue": 2 / 3, "purple": 3 / 4, "magenta": 5 / 6, "pink": 11 / 12}
#: words for directions of change: factor -> word -> sign (y grows downwards in the image)
WORDS: dict[str, dict[str, int]] = {
    "x": {"left": -1, "right": 1}, "y": {"up": -1, "down": 1},
    "scale": {"bigger": 1, "larger": 1, "smaller": -1},
    "bg_value": {"brighter": 1, "lighter": 1, "darker": -1},
}
Goal = str | float | tuple[str, float]
EditsArg = Sequence[Edit] | Callable[[torch.Tensor], Sequence[Edit] | torch.Tensor]


class EditGrade(Grade):
    """The grade of a set of edits against goals. Thresholds (spreads: :data:`latentwidgets.course.truth.SPREAD`):"""

    #: least share of (clean) samples on which every goal is met, goal by goal
    MIN_HIT = 0.75
    #: a "to" goal is met within this many spreads of the target (a hue: 0.058 turns, 21 degrees)
    TO_TOLERANCE = 0.2
    #: a word goal ("left") is met by a change of at least this many spreads that way
    MIN_WORD_CHANGE = 0.3
    #: a numeric "by" goal is met within this share of the requested change (or TO_TOLERANCE spreads)
    BY_TOLERANCE = 0.4
    #: most the median |change| of a factor without a goal may be, in spreads
    MAX_DRIFT = 0.25
    #: least share of edited images that stay clean
    MIN_CLEAN = 0.7


def _parse(factor: str, goal: Goal) -> tuple[str, float, str]:
    """(kind, value, text): kind "to" (reach value), "word" (move sign(value) way) or "by" (change by value)."""
    if factor not in FACTORS:
        raise ValueError(f"goals name factors among {FACTORS}; got {factor!r}")
    if isinstance(goal, tuple):
        kind, value = goal
        if kind not in ("to", "by"):
            raise ValueError(f"a goal tuple is ('to', value) or ('by', change); got {goal!r}")
        return kind, float(value), f"{kind} {float(value):g}"
    if isinstance(goal, str):
        word = goal.lower()
        if factor in CIRCULAR:
            if word not in COLOURS:
                raise ValueError(f"{factor} goals take a colour name ({', '.join(COLOURS)}) or a hue in turns; "
                                 f"got {goal!r}")
            return "to", COLOURS[word], word
        if word not in WORDS[factor]:
            raise ValueError(f"{factor} goals take a word ({', '.join(WORDS[factor])}) or a signed change; "
                             f"got {goal!r}")
        return "word", float(WORDS[factor][word]), word
    value = float(goal)
    return ("to", value % 1.0, f"to {value % 1.0:g}") if factor in CIRCULAR else ("by", value, f"by {value:+g}")


def _hits(factor: str, kind: str, value: float, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    s = SPREAD[factor]
    change = signed_change(factor, after, before)
    if kind == "to":
        return signed_change(factor, after, torch.full_like(after, value)).abs() <= EditGrade.TO_TOLERANCE * s
    if kind == "word":
        return change * value >= EditGrade.MIN_WORD_CHANGE * s
    return (change - value).abs() <= max(EditGrade.BY_TOLERANCE * abs(value), EditGrade.TO_TOLERANCE * s)


def _apply(model: LatentModel, z: torch.Tensor, edits: Any) -> tuple[torch.Tensor, str]:
    """Images of ``z`` after ``edits`` (Edits, or edited latents) and a name for what was applied."""
    if isinstance(edits, torch.Tensor):
        lat = edits.detach().to(model.device).float()
        if lat.shape[0] != z.shape[0]:
            raise ValueError(f"the edited latents hold {lat.shape[0]} samples; the grader gave {z.shape[0]}")
        if lat.dim() == 2 and lat.shape[1] == model.z_dim:
            return render_edits(model, lat, [])[1], "edited latents (z)"
        if lat.shape[-1] == model.w_dim and lat.dim() in (2, 3):
            return render_edits(model, z, [], ws=lat)[1], "edited latents (w)"
        raise ValueError(f"edited latents must be [n, {model.z_dim}] (z) or [n, {model.w_dim}] / "
                         f"[n, L, {model.w_dim}] (w); got {tuple(lat.shape)}")
    chosen: list[Edit] = list(edits)
    if not chosen or not all(isinstance(e, Edit) for e in chosen):
        raise TypeError("edits must be a non-empty list of latentwidgets.Edit, or a function z -> such a list "
                        "or -> edited latents")
    return render_edits(model, z, chosen)[1], ", ".join(e.name for e in chosen)


def grade_edit(model: LatentModel, edits: EditsArg, goals: Mapping[str, Goal], *, n: int = 48,
               seed: int = 20_21) -> EditGrade:
    """Apply ``edits`` to ``n`` held-out samples of the sprites ``model`` and check each goal (see the module).

    Factors without a goal must stay put (median |change| at most ``EditGrade.MAX_DRIFT`` spreads)::

        g = grade_edit(model, [Edit(d, "x", -2.0)], {"x": "left"})
        g.passed, g.scores["hit_x"], g.scores["drift_hue"]
    """
    require_sprites(model)
    if not goals:
        raise ValueError("give at least one goal, e.g. {'hue': 'red', 'x': 'left'}")
    parsed = {f: _parse(f, g) for f, g in goals.items()}
    z = model.sample_z(n, seed=seed)
    _, before_img = render_edits(model, z, [])
    after_img, names = _apply(model, z, edits(z) if callable(edits) else edits)
    before, after = measure(before_img), measure(after_img)
    ok, blurry = gradable(before["clean"] & after["clean"], before["clean"])
    scores: dict[str, float] = {"clean": float(after["clean"][before["clean"]].float().mean()) if before["clean"].any()
                                else 0.0}
    checks = []
    for f, (kind, value, text) in parsed.items():
        hit = _hits(f, kind, value, before[f][ok], after[f][ok])
        scores[f"hit_{f}"] = float(hit.float().mean()) if ok.any() else 0.0
        scores[f"change_{f}"] = float(signed_change(f, after[f][ok], before[f][ok]).median()) if ok.any() else 0.0
        checks.append(Check(f"{f} {text}", scores[f"hit_{f}"], ">=", EditGrade.MIN_HIT,
                            f"share of samples meeting it (median change {scores[f'change_{f}']:+.3f} {UNITS[f]})"))
    for f in FACTORS:
        if f in parsed:
            continue
        drift = float(signed_change(f, after[f][ok], before[f][ok]).abs().median()) / SPREAD[f] if ok.any() else 0.0
        scores[f"drift_{f}"] = drift
        checks.append(Check(f"{f} stays", drift, "<=", EditGrade.MAX_DRIFT, "median |change| in spreads"))
    if blurry is None:
        checks.append(Check("clean", scores["clean"], ">=", EditGrade.MIN_CLEAN, "share of edited images still clean"))
    show = list(range(min(6, n)))
    strip = torch.stack([before_img[show], after_img[show]]).cpu()
    wanted = ", ".join(f"{f} {t}" for f, (_, _, t) in parsed.items())
    return EditGrade(title=f"{names} for {wanted}", checks=checks, scores=scores, images=strip,
                     row_labels=["before", "after"], col_labels=[f"sample {i}" for i in show],
                     notes=[f"{n} held-out samples (seed {seed}); {int(ok.sum())} graded"]
                     + ([blurry] if blurry else []))
