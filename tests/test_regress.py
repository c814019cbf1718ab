"""The latent regressor (Chai et al.): mask sampler, projection, training, files, input errors.

Runs on the untrained sprites-style fixture and on a tiny z-space decoder, so it does not depend on
how far the shipped weights have trained; one test checks the shipped regressor when it is there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

import latentwidgets as lw
from latentwidgets import zoo
from latentwidgets._checkpoint import read_meta
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.regress import (
    HELD_OUT_SEED,
    LatentRegressor,
    load_regressor,
    masked_l1,
    masked_loss,
    project,
    refine,
    regression_loss,
    sample_masks,
    train_regressor,
    training_batch,
)


@pytest.fixture(scope="module")
def tiny_z_model():
    """A z-space generator without mapping (8-d z -> 16x16 image): the regressor must fit any model."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 3 * 16 * 16), nn.Unflatten(1, (3, 16, 16)), nn.Sigmoid())
    return DecoderModel(net, z_dim=8, name="tiny", output_range=(0.0, 1.0))


def _batch(model, n=4, seed=HELD_OUT_SEED):
    return training_batch(model, n, seed, mix=0.0)


# ------------------------------------------------------------------------------------------- masks
def test_masks_are_binary_seeded_and_sized():
    m = sample_masks(5, size=40, generator=torch.Generator().manual_seed(1))
    assert m.shape == (5, 1, 40, 40) and m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(m, sample_masks(5, size=40, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(m, sample_masks(5, size=40, generator=torch.Generator().manual_seed(2)))


def test_mask_visible_fraction_follows_the_cutoff():
    g = torch.Generator().manual_seed(0)
    frac = {t: float(sample_masks(200, generator=g, cutoff=t).mean()) for t in (0.3, 0.5, 0.7, 1.0)}
    assert frac[1.0] == 1.0                       # noise lies in [0, 1): a cutoff of 1 hides nothing
    assert 0.0 < frac[0.3] < 0.3                  # smoothed noise piles up near 0.5, so fewer than 30% lie below 0.3
    assert frac[0.3] < frac[0.5] < frac[0.7] < frac[1.0]
    assert abs(frac[0.5] - 0.5) < 0.05            # symmetric around 0.5
    # the default cutoff ~ U(0.3, 1.0), one per call: every batch is one fraction, over calls all of them
    per_call = torch.tensor([float(sample_masks(16, generator=g).mean()) for _ in range(60)])
    assert per_call.min() < 0.35 and per_call.max() > 0.95 and 0.5 < per_call.mean() < 0.9


def test_masks_are_smooth_blobs_on_the_6x6_grid():
    g = torch.Generator().manual_seed(3)
    m = sample_masks(100, size=64, generator=g, cutoff=0.5)
    flips = float((m[..., 1:, :] != m[..., :-1, :]).float().mean()
                  + (m[..., :, 1:] != m[..., :, :-1]).float().mean()) / 2
    p = float(m.mean())
    iid = 2 * p * (1 - p)                          # neighbour disagreement of an i.i.d. mask with that fraction
    assert flips < iid / 10
    # a cutoff crossing happens at most on the lattice's scale: each row changes value only a few times
    changes_per_row = (m[..., :, 1:] != m[..., :, :-1]).float().sum(-1)
    assert float(changes_per_row.max()) <= 2 * 6


# ------------------------------------------------------------------------------------------- shapes
def test_projection_shapes_and_spaces(untrained_style_model, tiny_z_model):
    for model, space in ((untrained_style_model, "w"), (tiny_z_model, "z")):
        reg = LatentRegressor.for_model(model)
        images, mask, _ = _batch(model, 3)
        lat = reg.project(images, mask)
        assert reg.space == model.synthesis_space == space
        assert lat.shape == (3, model.num_layers, model.w_dim)
        assert not lat.requires_grad
        out = model.synthesize(lat)
        assert out.shape == images.shape
        assert torch.equal(project(model, reg, images, mask), lat)


def test_untrained_regressor_predicts_the_mean_latent(untrained_style_model):
    reg = LatentRegressor.for_model(untrained_style_model)
    images, mask, _ = _batch(untrained_style_model, 2)
    lat = reg.project(images, mask)
    assert torch.allclose(lat, reg.latent_mean.expand_as(lat))
    w = untrained_style_model.to_synthesis(untrained_style_model.sample_z(4096, seed=5))
    assert torch.allclose(reg.latent_mean, w.mean(0), atol=4 * float(w.std(0).max()) / 4096 ** 0.5)


def test_project_is_one_deterministic_forward_pass(untrained_style_model):
    reg = LatentRegressor.for_model(untrained_style_model)
    with torch.no_grad():
        for p in reg.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    calls = []
    handle = reg.register_forward_hook(lambda *_: calls.append(1))
    images, mask, _ = _batch(untrained_style_model, 2)
    try:
        a = reg.project(images, mask)
        b = reg.project(images, mask)
    finally:
        handle.remove()
    assert len(calls) == 2                          # one forward per projection
    assert torch.equal(a, b)
    # hidden pixels do not matter: only what the mask shows reaches the net
    scrambled = torch.where(mask.bool(), images, torch.rand_like(images))
    assert torch.equal(reg.project(scrambled, mask), a)


def test_regressor_fits_only_its_model(untrained_style_model, tiny_z_model):
    reg = LatentRegressor.for_model(tiny_z_model)
    with pytest.raises(ValueError, match="for_model"):
        project(untrained_style_model, reg, *_batch(untrained_style_model, 1)[:2])


# ------------------------------------------------------------------------------------------- errors
def test_bad_inputs_name_the_fix(untrained_style_model):
    reg = LatentRegressor.for_model(untrained_style_model)
    images, mask, _ = _batch(untrained_style_model, 2)
    with pytest.raises(ValueError, match="interpolate"):
        reg.project(images[:, :, :32, :32], mask[:, :, :32, :32])
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 1, 64, 64\)"):
        reg.project(images, mask[:1])
    with pytest.raises(ValueError, match="batch dimension"):
        reg.project(images[0], mask[0])
    bad = images.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        reg.project(bad, mask)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reg.project(images, mask * 2)


def test_missing_zoo_weights_name_the_recipe(monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="latentwidgets.regress.recipe"):
        load_regressor("sprites-style")
    with pytest.raises(FileNotFoundError, match="sprites-style"):
        load_regressor("no-such-regressor")


# ------------------------------------------------------------------------------------------- training
def test_training_lowers_the_loss_on_a_fixed_batch(tiny_z_model):
    # (the untrained style generator draws nearly the same image for every latent: nothing to learn there)
    model = tiny_z_model
    reg = LatentRegressor.for_model(model, seed=1)
    images, mask, lat = training_batch(model, 16, HELD_OUT_SEED)
    with torch.no_grad():
        before = regression_loss(model, reg, images, mask, lat)
    history: list = []
    train_regressor(model, 40, reg, batch=8, lr=2e-3, progress=False, history=history)
    with torch.no_grad():
        after = regression_loss(model, reg, images, mask, lat)
    assert [h["step"] for h in history] == list(range(40))
    assert float(after["loss"]) < 0.9 * float(before["loss"]), (before, after)
    assert all(p.requires_grad for p in model.module.parameters())   # the generator's flags are restored


def test_collage_rows_paste_another_sample_and_count_on_known_pixels_only(tiny_z_model):
    model = tiny_z_model
    plain_images, plain_mask, _ = training_batch(model, 8, HELD_OUT_SEED, mix=0.0)
    images, mask, lat = training_batch(model, 8, HELD_OUT_SEED, mix=0.0, collage=0.5)
    collage = torch.isnan(lat).flatten(1).all(1)
    assert collage.tolist() == [True] * 4 + [False] * 4
    assert torch.equal(images[4:], plain_images[4:])
    changed = (images[:4] != plain_images[:4]).any(1, keepdim=True)
    assert bool(changed.any()) and bool((mask[:4][changed] == 1).all())  # pasted pixels are known
    reg = LatentRegressor.for_model(model, seed=1)
    terms = regression_loss(model, reg, images, mask, lat)
    assert all(bool(torch.isfinite(v)) for v in terms.values())
    terms["loss"].backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in reg.parameters() if p.grad is not None)
    # a collage's hidden pixels do not count: changing them leaves the loss unchanged
    other = images.clone()
    other[:4] = torch.where(mask[:4].bool(), images[:4], torch.rand_like(images[:4]))
    assert not torch.equal(other, images)
    with torch.no_grad():
        a = regression_loss(model, reg, images, mask, lat)
        b = regression_loss(model, reg, other, mask, lat)
    assert float(a["pixel"]) == pytest.approx(float(b["pixel"]), rel=1e-6)
    assert float(a["perceptual"]) == pytest.approx(float(b["perceptual"]), rel=1e-5)


def test_training_works_for_a_model_without_mapping(tiny_z_model):
    history: list = []
    reg = train_regressor(tiny_z_model, 3, batch=4, progress=False, history=history)
    assert reg.steps_trained == 3 and len(history) == 3
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in history)


def test_checkpoint_round_trip_and_resume_continue_the_step_count(untrained_style_model, tmp_path):
    model = untrained_style_model
    ckpt, export = tmp_path / "reg.resume.safetensors", tmp_path / "reg.safetensors"
    reg = train_regressor(model, 2, batch=4, progress=False, ckpt=ckpt, export=export, meta={"recipe": "test"})
    assert read_meta(ckpt)["step"] == 2 and read_meta(export)["recipe"] == "test"
    loaded = load_regressor(export, model)
    images, mask, _ = _batch(model, 3)
    assert torch.equal(loaded.project(images, mask), reg.project(images, mask))
    assert loaded.config() == reg.config()

    history: list = []
    again = train_regressor(model, 5, batch=4, progress=False, ckpt=ckpt, history=history)
    assert [h["step"] for h in history] == [2, 3, 4]      # continued, not restarted
    assert again.steps_trained == 5 and read_meta(ckpt)["step"] == 5
    done = train_regressor(model, 5, batch=4, progress=False, ckpt=ckpt, history=history)
    assert done.steps_trained == 5 and len(history) == 3   # nothing left to do


def test_saves_replace_the_file_whole_and_clear_temp_files_a_kill_left(untrained_style_model, tmp_path, monkeypatch):
    from latentwidgets import _checkpoint

    reg = LatentRegressor.for_model(untrained_style_model)
    path = tmp_path / "reg.safetensors"
    reg.save(path, {"note": "old"})
    stale = tmp_path / "reg.safetensors.123-abcd.tmp"
    stale.write_bytes(b"half a file")
    (tmp_path / "other.safetensors.1-ab.tmp").write_bytes(b"another target's")

    def killed(tensors, filename, metadata=None):  # dies after writing part of the new file
        Path(filename).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(_checkpoint, "save_file", killed)
    with pytest.raises(KeyboardInterrupt):
        reg.save(path, {"note": "new"})
    monkeypatch.undo()
    assert read_meta(path)["note"] == "old"               # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.safetensors.1-ab.tmp", "reg.safetensors"]
    reg.save(path, {"note": "new"})
    assert read_meta(path)["note"] == "new"


def test_a_seeded_run_is_reproducible(untrained_style_model):
    a = train_regressor(untrained_style_model, 2, batch=4, progress=False, seed=7)
    b = train_regressor(untrained_style_model, 2, batch=4, progress=False, seed=7)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


# ------------------------------------------------------------------------------------------- refine
def test_refine_lowers_the_masked_loss(untrained_style_model):
    model = untrained_style_model
    reg = LatentRegressor.for_model(model)
    images, mask, _ = _batch(model, 2, seed=HELD_OUT_SEED + 1)
    start = reg.project(images, mask)
    out = refine(model, start, images, mask, steps=15, progress=False)
    assert out.shape == start.shape and not out.requires_grad
    with torch.no_grad():
        l0 = masked_loss(model.synthesize_grad(start), images, mask)
        l1 = masked_loss(model.synthesize_grad(out), images, mask)
    assert (l1 < l0).all(), (l0, l1)
    with pytest.raises(ValueError, match="one latent per image"):
        refine(model, start[:1], images, mask, steps=1, progress=False)


# ------------------------------------------------------------------------------------------- shipped
@pytest.mark.skipif("sprites-style-regressor" not in zoo.available(), reason="regressor weights not shipped")
def test_shipped_regressor_projects_held_out_samples_better_than_the_mean():
    model = lw.load("sprites-style")
    reg = lw.load_regressor("sprites-style", model)
    assert reg.config()["num_layers"] == model.num_layers
    images, mask, _ = training_batch(model, 32, HELD_OUT_SEED + 7, mix=0.0)
    proj = masked_l1(model.synthesize(reg.project(images, mask)), images, mask).mean()
    mean = masked_l1(model.synthesize(reg.latent_mean.expand(32, model.num_layers, -1)), images, mask).mean()
    assert proj < 0.8 * mean, (proj, mean)
