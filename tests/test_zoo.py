"""The embedded zoo: shipped weights, their recipes, the quality report, and training smokes."""

from __future__ import annotations

import importlib
import json

import pytest
import torch

import latentwidgets
from latentwidgets import zoo
from latentwidgets._checkpoint import read_meta
from latentwidgets.zoo import RECIPES, WEIGHTS_DIR

SHIPPED = sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))
GENERATIVE = [n for n in SHIPPED if n not in zoo.AUXILIARY]
#: recipes that moved after their weights shipped: the file's metadata keeps the name it was trained under
MOVED_RECIPES = {"latentwidgets.zoo.train_regressor": "latentwidgets.regress.recipe"}


def test_available_lists_every_shipped_model():
    assert SHIPPED, f"no weights shipped in {WEIGHTS_DIR}"
    assert sorted(zoo.available()) == SHIPPED
    assert {"sprites-style", "sprites-vae", "sprites-features"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_weights_are_small_and_name_their_recipe(name):
    path = zoo.weights_path(name)
    assert path.stat().st_size <= 5_000_000
    meta = read_meta(path)
    module = RECIPES[name].split("python -m ")[1].split()[0]
    assert MOVED_RECIPES.get(meta["recipe"], meta["recipe"]) == module
    importlib.import_module(module)
    assert int(meta["step"]) > 0 and "seed" in meta


@pytest.mark.parametrize("name", GENERATIVE)
def test_generative_models_load_and_draw_images(name):
    model = latentwidgets.load(name)
    img = model.generate(model.sample_z(3, seed=0))
    assert img.shape == (3, 3, 64, 64)
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    assert float(img.std()) > 0.01  # not a flat image
    assert torch.equal(img, model.generate(model.sample_z(3, seed=0)))


def test_vae_encodes_and_reconstructs_a_scene():
    from latentwidgets.zoo import sprites

    vae = zoo.build("sprites-vae")
    x, _ = sprites.sample(8, seed=5)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        recon = vae.decoder(mu)
    assert mu.shape == logvar.shape == (8, vae.z_dim)
    # the reconstruction is closer to its own scene than to the other scenes
    err = (recon.unsqueeze(1) - x.unsqueeze(0)).pow(2).mean((2, 3, 4))   # [recon, scene]
    assert (err.argmin(1) == torch.arange(8)).float().mean() >= 0.75


def test_features_net_reads_factors_of_real_scenes():
    from latentwidgets.zoo import sprites

    net = zoo.build("sprites-features")
    x, f = sprites.sample(200, seed=6)
    p = net.predict(x)
    assert net.features(x[:4]).shape == (4, net.feature_dim)
    assert (p["shape"] == f["shape"]).float().mean() > 0.8
    assert (p["x"] - f["x"]).abs().mean() * 64 < 2.0          # pixels
    assert sprites.hue_distance(p["hue"], f["hue"]).mean() < 0.05


def test_unknown_name_lists_the_available_models():
    with pytest.raises(KeyError, match="sprites-style"):
        zoo.build("sprites-nope")


def test_the_regressor_weights_are_loaded_by_the_regressor_code_not_zoo_build():
    assert "sprites-style-regressor" not in zoo.generative()
    with pytest.raises(KeyError, match="load_regressor"):
        zoo.build("sprites-style-regressor")


def test_the_zoo_command_line_lists_the_models_and_points_to_the_moved_report(capsys):
    from latentwidgets.zoo.__main__ import main

    assert main(["list"]) == 0
    assert "sprites-style" in capsys.readouterr().out
    assert main(["report", "--n", "40"]) == 2
    assert "python -m latentwidgets.evaluate.zoo_report" in capsys.readouterr().err


def test_report_writes_exactly_the_documented_keys(tmp_path):
    from latentwidgets.evaluate.zoo_report import KEYS, main

    out = tmp_path / "report.json"
    assert main(["--json", str(out), "--n", "40", "--timing-repeats", "1"]) == 0
    report = json.loads(out.read_text())
    assert sorted(report) == sorted(GENERATIVE)
    for row in report.values():
        assert list(row) == list(KEYS)
        assert set(row["factor_w1"]) == {"x", "y", "scale", "hue", "bg_hue", "bg_value"}
        assert 0.0 <= row["clean_object_rate"] <= 1.0
        assert row["params"] > 0 and 0 < row["weights_mb"] <= 5
        assert row["sprite_fid_untrained"] > row["sprite_fid_real_vs_real"]


def test_style_export_calibrates_sampling_sharpness(tmp_path):
    """``--steps 0`` only exports; the exported copy carries the calibrated edge sharpness (never
    below 1) with its figures in the metadata, while the resume checkpoint keeps training's 1."""
    from latentwidgets._checkpoint import load_modules
    from latentwidgets.zoo import train_style

    ckpt, out = tmp_path / "ckpt.safetensors", tmp_path / "g.safetensors"
    assert train_style.main(["--steps", "0", "--ckpt", str(ckpt), "--export", str(out), "--threads", "1"]) == 0
    meta = read_meta(out)["sharpness"]
    assert meta["edge_sharpness"] >= 1.0 and set(meta) >= {"edge_width_real", "edge_width_calibrated"}
    shipped, resumed = train_style.build(), train_style.build()
    load_modules(out, {"g": shipped})
    load_modules(ckpt, {"ema": resumed}, strict=False)
    assert float(shipped.synthesis.edge_sharpness) == pytest.approx(meta["edge_sharpness"])
    assert float(resumed.synthesis.edge_sharpness) == 1.0


def test_calibrated_sharpness_matches_real_edge_width():
    """On the shipped generator reset to its trained sharpness, calibration narrows the edges to
    the world's width, and more samples pass the clean test than before."""
    from latentwidgets.zoo import sprites, train_style

    net = zoo.build("sprites-style")
    net.synthesis.edge_sharpness.fill_(1.0)
    z = torch.randn(64, net.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = sprites.measure(net(z))["clean"].mean()
    fig = train_style.calibrate_sharpness(net, n=64, iters=6)
    with torch.no_grad():
        after = sprites.measure(net(z))["clean"].mean()
    assert fig["edge_width_trained"] > fig["edge_width_real"]  # the trained net hedges at edges
    assert fig["edge_sharpness"] > 1.0
    assert abs(fig["edge_width_calibrated"] - fig["edge_width_real"]) < 0.15
    assert after > before


def _style_samples(n: int = 48, seed: int = 5):
    net = zoo.build("sprites-style")
    z = torch.randn(n, net.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        w = net.mapping(z)
    return net, w


def test_centre_hint_reads_the_centroid_that_measure_reads_and_moves_along_frame_rows():
    """The recipe's centre hint: its centroid of the drawn coverage is the position
    ``sprites.measure`` reads, and its extra latents are set-mode moves along a frame row to a
    coordinate another sample has."""
    from latentwidgets.zoo import sprites, train_style

    net, w = _style_samples()
    with torch.no_grad():
        img, logit = net.synthesis(w.unsqueeze(1).expand(-1, net.num_ws, -1), return_logit=True)
        c = train_style.coverage_centroid(logit)
        loss = train_style.centre_hint_loss(net, w, logit)
    m = sprites.measure(img)
    assert torch.allclose((c + 1) / 2, torch.stack([m["x"], m["y"]], 1), atol=3e-3)
    assert loss.item() > 0 and torch.isfinite(loss)

    moved = train_style.frame_moves(net, w, 32, torch.Generator().manual_seed(0))
    rows = torch.nn.functional.normalize(net.synthesis.frame.affine.weight[:2].detach(), dim=1)
    for src_w in moved:
        diff = src_w - w  # the source sample differs from its move along one row only
        i = int(diff.norm(dim=1).argmin())
        step = diff[i]
        k = int((rows @ step).abs().argmax())
        assert torch.allclose(step, (rows[k] @ step) * rows[k], atol=1e-4)
        assert ((w @ rows[k]) - src_w @ rows[k]).abs().min() < 1e-4  # a coordinate some sample has


def test_shipped_generator_moves_the_object_with_its_frame():
    """Moving ``w`` along the input transform's translation row moves the drawn object by (nearly)
    the frame's own move: position is linear in w, which the factor methods rely on. Before the
    centre hint the object followed by a quarter of the frame's move."""
    from latentwidgets.zoo import sprites

    net, w = _style_samples()
    for k, f in ((0, "x"), (1, "y")):
        a = net.synthesis.frame.affine.weight[k].detach()
        u = a / a.norm()
        coord = w @ u
        lo, hi = coord.quantile(0.2), coord.quantile(0.8)
        with torch.no_grad():
            pos = [sprites.measure(net.synthesis((w + (c - coord)[:, None] * u).unsqueeze(1)
                                                 .expand(-1, net.num_ws, -1)))[f] for c in (lo, hi)]
        frame_move = float((hi - lo) * a.norm()) / 2  # frame units [-1, 1] -> image widths
        assert frame_move > 0.1
        assert float((pos[1] - pos[0]).median()) > 0.7 * frame_move, f
