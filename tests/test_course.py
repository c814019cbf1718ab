"""The course: its grader scores directions and edits against the sprites ground truth, and every lesson
and solution notebook in notebooks/course/ runs headless (each solution asserts its grade passes).

The grader passes a reference answer (a difference of means for x, the shape of exercise 1; the other
exercises' references are the solution notebooks), fails a random direction and a direction graded
for the wrong factor, does the same for sets of edits, and refuses models without ground truth.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

import latentwidgets as lw
from latentwidgets.course import DirectionGrade, EditGrade, grade, grade_edit
from latentwidgets.course.truth import signed_change
from latentwidgets.zoo import sprites

COURSE = Path(__file__).resolve().parents[1] / "notebooks" / "course"
NOTEBOOKS = sorted(COURSE.glob("*.ipynb")) + sorted((COURSE / "solutions").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell


@pytest.fixture(scope="module")
def model():
    return lw.load("sprites-style")


@pytest.fixture(scope="module")
def samples(model):
    w = model.to_synthesis(model.sample_z(400, seed=0))
    f = sprites.measure(model.synthesize(w))
    return w, f, f["clean"].bool()


def _difference_of_means(values: torch.Tensor, factor: str, samples) -> torch.Tensor:
    _, f, ok = samples
    mid = f[factor][ok].median()
    return values[ok & (f[factor] > mid)].mean(0) - values[ok & (f[factor] <= mid)].mean(0)


@pytest.fixture(scope="module")
def x_by_hand(samples):
    """The reference answer of exercise 1: a hand-built w direction for x (difference of means)."""
    return lw.Directions(vectors=_difference_of_means(samples[0], "x", samples)[None], space="w",
                         names=["x by hand"], model_id="sprites-style")


def test_reference_direction_passes_and_wrong_factor_fails(x_by_hand):
    g = grade(x_by_hand, 0, "x")
    assert isinstance(g, DirectionGrade)
    assert g.passed, g
    assert g.scores["effect"] > 0 and g.scores["corr"] > DirectionGrade.MIN_CORR
    assert str(g).startswith("PASS")
    wrong = grade(x_by_hand, 0, "y", n=24)
    assert not wrong.passed
    assert str(wrong).startswith("FAIL") and "leak" in str(wrong)


def test_random_direction_fails(model):
    rec = lw.Directions(vectors=torch.randn(1, model.w_dim, generator=torch.Generator().manual_seed(3)),
                        space="w", model_id="sprites-style")
    for factor in ("x", "hue"):
        assert not grade(rec, 0, factor, n=24).passed


def test_hand_built_activation_record_is_graded_through_hooks(model, samples):
    a = model.activations(samples[0], "b4")
    rec = lw.Directions(vectors=_difference_of_means(a.reshape(a.shape[0], -1), "x", samples)[None],
                        space="act:b4", info={"act_shape": list(a.shape[1:])})   # no model_id: pass model=
    with pytest.raises(ValueError, match="sprites model"):
        grade(rec, 0, "x")
    g = grade(rec, 0, "x", model=model, n=24)
    assert g.scores["effect"] > 0 and g.scores["moved_x"] > g.scores["moved_hue"]


def test_blurry_vae_is_graded_on_all_images():
    vae = lw.load("sprites-vae")
    z = vae.sample_z(200, seed=0)
    x = sprites.measure(vae.synthesize(z))["x"]
    rec = lw.Directions(vectors=(z[x > x.median()].mean(0) - z[x <= x.median()].mean(0))[None], space="z",
                        model_id="sprites-vae")
    g = grade(rec, 0, "x", n=24)
    assert "clean" not in [c.name for c in g.checks] and any("cleanliness not checked" in n for n in g.notes)
    assert g.scores["corr"] > DirectionGrade.MIN_CORR and g.scores["moved_x"] > g.scores["moved_hue"]
    assert not grade(rec, 0, "hue", n=24).passed


def test_display_states_thresholds_and_shows_images(x_by_hand):
    g = grade(x_by_hand, 0, "scale", n=8, steps=3)
    page = g._repr_html_()
    assert "data:image/png;base64," in page
    assert f"&lt;= {DirectionGrade.MAX_LEAK:g}" in page and f"&gt;= {DirectionGrade.MIN_CORR:g}" in page
    assert g.images.shape[1:] == (3, 3, 64, 64)
    assert g._repr_png_().startswith(b"\x89PNG")
    fig = g.figure()  # shows inline as a cell's last expression (a PNG repr), at most a notebook column wide
    assert fig.axes and fig._repr_png_().startswith(b"\x89PNG") and fig.get_figwidth() <= 7.5


def test_grade_edit_passes_and_fails(model):
    d = lw.find_directions(model, "attribute", attributes=["x", "bg_value"], kind="boundary", n_samples=600,
                           percent=5, progress=False)
    both = [lw.Edit(d, "x", -1.5), lw.Edit(d, "bg_value", -1.5)]
    g = grade_edit(model, both, {"x": "left", "bg_value": "darker"})
    assert isinstance(g, EditGrade) and g.passed, g
    half = grade_edit(model, both[:1], {"x": "left", "bg_value": "darker"}, n=24)
    assert not half.passed and "bg_value darker" in str(half)
    assert not grade_edit(model, both, {"x": "right"}, n=24).passed
    red = grade_edit(model, lambda z: both[:1], {"hue": "red", "x": "left"}, n=24)   # nothing makes it red
    assert not red.passed and red.scores["hit_x"] > EditGrade.MIN_HIT
    with pytest.raises(ValueError, match="colour name"):
        grade_edit(model, both, {"hue": "left"})


def test_refuses_models_without_ground_truth(model):
    other = lw.load(torch.nn.Sequential(torch.nn.Linear(8, 3 * 16 * 16), torch.nn.Unflatten(1, (3, 16, 16)),
                                        torch.nn.Sigmoid()))
    rec = lw.Directions(vectors=torch.randn(1, other.z_dim), space="z")
    with pytest.raises(ValueError, match="no ground truth"):
        grade(rec, 0, "x", model=other)
    with pytest.raises(ValueError, match="no ground truth"):
        grade_edit(other, [lw.Edit(rec, 0, 1.0)], {"x": "left"})
    with pytest.raises(ValueError, match="no ground truth"):
        grade(lw.Directions(vectors=torch.randn(1, 32), space="w", model_id="stylegan2-ffhq"), 0, "x")


def test_hues_change_the_short_way_round():
    after, before = torch.tensor([0.05, 0.95, 0.5]), torch.tensor([0.95, 0.05, 0.4])
    assert torch.allclose(signed_change("hue", after, before), torch.tensor([0.1, -0.1, 0.1]), atol=1e-6)
    assert torch.allclose(signed_change("x", after, before), after - before)


def test_course_has_six_lessons_each_with_a_solution():
    lessons = sorted(p.name for p in COURSE.glob("*.ipynb"))
    assert len(lessons) == 6 and lessons[0].startswith("01-") and lessons[-1].startswith("06-")
    assert lessons == sorted(p.name for p in (COURSE / "solutions").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(COURSE).with_suffix("")) for p in NOTEBOOKS])
def test_course_notebook_runs(path: Path, tmp_path: Path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    if path.parent.name == "solutions":
        assert "assert g.passed" in "".join(c.source for c in nb.cells if c.cell_type == "code")
    # as tests/test_notebooks.py: Agg plots, a private Jupyter data dir, one thread, run where the file is
    overrides = {"MPLBACKEND": "Agg", "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"), "OMP_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
