"""Adapters over real third-party generators (at random init, tiny configs) keep the LatentModel
protocol: seeded latents, [0, 1] images equal to the raw model's, per-layer latents, batch
independence, hooks, style affines, truncation, class conditioning, loading and its errors.

The third-party packages are test-only dependencies installed by scripts/install_models_extra.sh;
a test skips only when its package is absent, and says which.
"""

from __future__ import annotations

import importlib.util
import os
import pickle

import pytest
import torch
import torch.nn as nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import latentwidgets  # noqa: E402
from latentwidgets.models import LatentShapeError, load  # noqa: E402
from latentwidgets.testing import adapter_configs as cfgs  # noqa: E402


def _need(package):
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"optional package {package!r} is not installed (scripts/install_models_extra.sh installs it)")


_CACHE = {}


def _built(name):
    builder, package = cfgs.BUILDERS[name]
    _need(package)
    if name not in _CACHE:
        _CACHE[name] = builder()
    return _CACHE[name]


@pytest.fixture(params=list(cfgs.BUILDERS))
def adapter(request):
    return _built(request.param)


# ------------------------------------------------------------------------------ protocol invariants
def test_images_match_raw_model_and_lie_in_unit_range(adapter):
    model, raw = adapter
    w = model.to_synthesis(model.sample_z(3, seed=1))
    img = model.synthesize(w)
    assert img.shape == (3, 3, model.resolution, model.resolution)
    assert img.dtype == torch.float32 and torch.isfinite(img).all()
    assert float(img.min()) >= 0 and float(img.max()) <= 1
    assert float(img.std()) > 1e-3, "images are constant: the adapter did not drive the generator"
    with torch.no_grad():
        torch.testing.assert_close(img, raw(w), atol=1e-5, rtol=1e-4)


def test_seeded_latents_and_images_are_reproducible(adapter):
    model, _ = adapter
    z = model.sample_z(4, seed=7)
    assert z.shape == (4, model.z_dim)
    assert torch.equal(z, model.sample_z(4, seed=7))
    assert torch.equal(z[:2], model.sample_z(2, seed=7))
    assert not torch.equal(z, model.sample_z(4, seed=8))
    torch.testing.assert_close(model.generate(z), model.generate(z.clone()), atol=0, rtol=0)


def test_repeating_one_latent_over_layers_equals_the_single_latent(adapter):
    model, _ = adapter
    w = model.to_synthesis(model.sample_z(2, seed=2))
    per_layer = w.unsqueeze(1).repeat(1, model.num_layers, 1)  # materialised, not a stride-0 view
    torch.testing.assert_close(model.synthesize(per_layer), model.synthesize(w), atol=1e-6, rtol=0)


def test_batch_members_are_independent(adapter):
    model, _ = adapter
    w = model.to_synthesis(model.sample_z(3, seed=3))
    both = model.synthesize(w)
    torch.testing.assert_close(both[1:2], model.synthesize(w[1:2]), atol=1e-5, rtol=1e-4)


def test_wrong_latent_shapes_are_refused(adapter):
    model, _ = adapter
    with pytest.raises(LatentShapeError, match=str(model.w_dim)):
        model.synthesize(torch.zeros(1, model.w_dim + 1))


def test_hooks_read_and_offset_activations(adapter):
    model, _ = adapter
    layers = model.layers()
    assert layers, "no hookable layers"
    w = model.to_synthesis(model.sample_z(2, seed=4))
    base = model.synthesize(w)
    layer = layers[len(layers) // 2]
    act = model.activations(w, layer)
    assert act.shape[0] == 2 and torch.isfinite(act).all()
    with model.offset(layer, torch.zeros(())):
        torch.testing.assert_close(model.synthesize(w), base)
    with model.offset(layer, lambda a: 5 * a.abs().mean() * torch.ones_like(a)):
        moved = model.synthesize(w)
    assert (moved - base).abs().max() > 1e-3, f"an offset at {layer!r} did not change the image"
    torch.testing.assert_close(model.synthesize(w), base)  # the hook is gone afterwards


# ------------------------------------------------------------------------------ style-based models
@pytest.fixture(params=["nvlabs", "rosinality"])
def style_adapter(request):
    return _built(request.param)


def test_style_affines_are_the_layers_applied(style_adapter):
    model, _ = style_adapter
    affines = model.style_affines()
    assert len(affines) == model.num_layers and all(affines)
    for group in affines:
        for lin in group:
            assert isinstance(lin, nn.Linear) and lin.in_features == model.w_dim
    # the first conv's affine, as the generator computes it
    w = model.to_synthesis(model.sample_z(2, seed=5))
    if model.name.startswith("nvlabs"):
        real = model.G.synthesis.b4.conv1.affine(w)
    else:
        real = model.g.conv1.conv.modulation(w)
    torch.testing.assert_close(affines[0][0](w), real, atol=1e-5, rtol=1e-4)


def test_each_per_layer_latent_reaches_the_image(style_adapter):
    model, _ = style_adapter
    ws = model.broadcast(model.to_synthesis(model.sample_z(1, seed=6))).clone()
    base = model.synthesize(ws)
    for i in (0, model.num_layers - 1):
        edited = ws.clone()
        edited[:, i] += 3.0
        assert (model.synthesize(edited) - base).abs().max() > 1e-4, f"ws[:, {i}] has no effect"


def test_nvlabs_truncation_matches_nvlabs_mapping():
    _need("draggan")
    model, _ = _built("nvlabs")
    z = model.sample_z(3, seed=9)
    for psi in (0.0, 0.5, 1.0):
        ours = model.to_synthesis(z, truncation=psi)
        theirs = model.G.mapping(z, None, truncation_psi=psi)[:, 0]
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.to_synthesis(z, 0.0), model.w_avg().expand(3, -1))


def test_nvlabs_pickle_round_trip_needs_trust(tmp_path):
    _need("draggan")
    model, _ = _built("nvlabs")
    import legacy  # type: ignore  # NVlabs' loader (draggan's copy, on sys.path via adapter_configs)

    _, D = cfgs.nvlabs_networks()
    path = tmp_path / "tiny.pkl"
    with open(path, "wb") as f:
        pickle.dump({"G": model.G, "D": D, "G_ema": model.G}, f)
    with open(path, "rb") as f:  # their own loader reads our file
        assert isinstance(legacy.load_network_pkl(f)["G_ema"], nn.Module)
    with pytest.raises(PermissionError, match="trust=True"):
        load(str(path))
    loaded = load(str(path), trust=True)
    assert type(loaded).__name__ == "NVlabsStyleGAN" and loaded.name == "tiny"
    z = model.sample_z(2, seed=0)
    torch.testing.assert_close(loaded.generate(z), model.generate(z), atol=0, rtol=0)


def test_nvlabs_class_conditional_generator_uses_the_class():
    _need("draggan")
    from latentwidgets.models.stylegan_nvlabs import NVlabsStyleGAN

    G, _ = cfgs.nvlabs_networks(c_dim=4)
    model = NVlabsStyleGAN(G)
    assert model.num_classes == 4
    z = model.sample_z(2, seed=0)
    model.set_class(1)
    a = model.to_synthesis(z)
    torch.testing.assert_close(a, G.mapping(z, torch.eye(4)[[1, 1]])[:, 0])
    model.set_class(2)
    assert not torch.allclose(a, model.to_synthesis(z))
    with pytest.raises(ValueError, match="0..3"):
        model.set_class(4)


def test_rosinality_checkpoint_loads_weights_only(tmp_path):
    _need("draggan")
    model, _ = _built("rosinality")
    avg = torch.randn(model.w_dim)
    path = tmp_path / "ckpt.pt"
    torch.save({"g_ema": model.g.state_dict(), "latent_avg": avg}, path)
    with pytest.raises(ValueError, match="generator_class"):
        load(str(path))
    small = cfgs.rosinality_class()
    loaded = load(str(path), generator=small(32, 32, 2))
    torch.testing.assert_close(loaded.w_avg(), avg)
    z = model.sample_z(2, seed=0)
    torch.testing.assert_close(loaded.generate(z), model.generate(z), atol=0, rtol=0)
    torch.testing.assert_close(loaded.to_synthesis(z, 0.0), avg.expand(2, -1))


def test_rosinality_architecture_is_read_from_the_weights(tmp_path):
    _need("draggan")
    from latentwidgets.models.stylegan_rosinality import load_rosinality

    Generator = cfgs.rosinality_class().__mro__[1]  # rosinality's own class
    torch.manual_seed(0)
    g = Generator(8, 16, 3)  # 8 px: the smallest full-channel generator
    path = tmp_path / "g8.pt"
    torch.save({"g_ema": g.state_dict(), "latent_avg": torch.zeros(16)}, path)
    model = load_rosinality(path, generator_class=Generator)
    assert (model.resolution, model.w_dim, model.num_layers) == (8, 16, g.n_latent)
    assert len(model.g.style) == 4  # PixelNorm + 3 mapping layers


# ------------------------------------------------------------------------------ BigGAN
def test_biggan_per_block_latents_and_classes():
    _need("pytorch_pretrained_biggan")
    model, _ = _built("biggan")
    assert model.num_layers == 1 + 5 and model.num_classes == 10 and model.class_index == 3
    z = model.sample_z(2, seed=0)
    assert float(z.abs().max()) <= 2 * model.truncation + 1e-6  # truncated normal times truncation
    ws = model.broadcast(z).clone()
    base = model.synthesize(ws)
    moved = []
    for i in range(model.num_layers):
        edited = ws.clone()
        edited[:, i] += 1.0
        moved.append(float((model.synthesize(edited) - base).abs().max()))
    assert min(moved) > 1e-4, f"some per-block latents do not reach the image: {moved}"
    model.set_class({3: 0.5, 4: 0.5})
    assert model.class_index is None
    mixed = model.synthesize(z)
    model.set_class(3)
    assert (mixed - base).abs().max() > 1e-4
    torch.testing.assert_close(model.synthesize(z), base)
    assert model.layers()[:3] == ["block0", "block1", "block2"] and "attn" in model.layers()
    with pytest.raises(ValueError, match="truncation"):
        model.truncation = 1.5


def test_biggan_folder_loads_offline(tmp_path):
    _need("pytorch_pretrained_biggan")
    model, _ = _built("biggan")
    folder = tmp_path / "biggan"
    folder.mkdir()
    (folder / "config.json").write_text(model.net.config.to_json_string())
    torch.save(model.net.state_dict(), folder / "pytorch_model.bin")
    loaded = load(str(folder), truncation=0.5, class_label=3)
    assert type(loaded).__name__ == "BigGANModel"
    z = model.sample_z(2, seed=0)
    torch.testing.assert_close(loaded.synthesize(z), model.synthesize(z))


# ------------------------------------------------------------------------------ decoders
def test_diffusers_folder_loads_offline(tmp_path):
    _need("diffusers")
    vae = cfgs.diffusers_vae("AutoencoderKL")
    vae.save_pretrained(str(tmp_path / "vae"))
    model = load(str(tmp_path / "vae"), latent_size=4)
    assert model.latent_shape == (4, 4, 4) and model.z_dim == 64 and model.resolution == 8
    assert model.layers() == ["mid", "up0", "up1"]
    from latentwidgets.models.diffusers_decoders import diffusers_decoder

    z = model.sample_z(2, seed=0)
    torch.testing.assert_close(model.synthesize(z), diffusers_decoder(vae, latent_size=4).synthesize(z))


def test_pythae_folder_custom_nets_need_trust(tmp_path):
    _need("pythae")
    vae = cfgs.pythae_vae()
    vae.save(str(tmp_path / "default"))
    model = load(str(tmp_path / "default"))
    z = model.sample_z(2, seed=0)
    torch.testing.assert_close(model.synthesize(z), cfgs.build_pythae()[0].synthesize(z))
    (tmp_path / "default" / "decoder.pkl").write_bytes(b"not read")
    with pytest.raises(PermissionError, match="trust=True"):
        load(str(tmp_path / "default"))


def test_dcgan_latent_layout_and_layer_names_are_read_from_the_module():
    model, _ = _built("dcgan")
    assert model.z_dim == 16 and model.latent_shape == (16, 1, 1) and model.output_range == (-1.0, 1.0)
    assert model.layers()[:3] == ["main.0", "main.1", "main.2"]
    assert model.activations(model.sample_z(2), "main.1").shape == (2, 16, 4, 4)


def test_faces_weights_load_and_draw_varied_images():
    _need("gan_face_generate")
    model = load("dcgan-faces")
    assert (model.z_dim, model.resolution) == (100, 64)
    img = model.generate(model.sample_z(4, seed=0))
    assert img.shape == (4, 3, 64, 64)
    assert float((img[0] - img[1]).abs().mean()) > 0.02, "different latents draw the same face"
    from latentwidgets.models import faces
    assert "non-commercial" in faces.LICENCE and "non-commercial" in faces.load_faces.__doc__


# ------------------------------------------------------------------------------ load()
def test_load_recognises_model_objects():
    _need("draggan")
    G, _ = cfgs.nvlabs_networks()
    assert type(load(G)).__name__ == "NVlabsStyleGAN"
    assert type(load(cfgs.rosinality_class()(32, 32, 2))).__name__ == "RosinalityStyleGAN"
    assert type(load(cfgs.TinyDCGAN())).__name__ == "DecoderModel"
    model = load("sprites-style") if "sprites-style" in latentwidgets.zoo.available() else None
    if model is not None:
        assert load(model) is model


def test_load_state_dict_files_need_their_architecture(tmp_path):
    from safetensors.torch import save_file

    net = cfgs.TinyDCGAN()
    path = tmp_path / "g.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    with pytest.raises(ValueError, match="module="):
        load(str(path))
    model = load(str(path), module=cfgs.TinyDCGAN(), name="g")
    z = model.sample_z(2)
    torch.testing.assert_close(model.synthesize(z), load(net).synthesize(z))
    pt = tmp_path / "g.pt"
    torch.save({"netG_state_dict": net.state_dict()}, pt)
    torch.testing.assert_close(load(str(pt), module=cfgs.TinyDCGAN()).synthesize(z), model.synthesize(z))


def test_load_says_what_it_accepts():
    with pytest.raises(ValueError, match="NVlabs") as e:
        load(42)
    assert "rosinality" in str(e.value) and "diffusers" in str(e.value) and "trust=True" in str(e.value)
    with pytest.raises(FileNotFoundError, match="It accepts"):
        load("no-such-model.pkl")
    with pytest.raises(TypeError, match="not an NVlabs"):
        from latentwidgets.models.stylegan_nvlabs import NVlabsStyleGAN
        NVlabsStyleGAN(nn.Linear(2, 2))


# ------------------------------------------------------------------------------ methods on adapters
def test_closed_form_and_w_pca_directions_move_style_models(style_adapter):
    from latentwidgets.directions import find_directions
    from latentwidgets.edit import Edit, render_edits

    model, _ = style_adapter
    z = model.sample_z(1, seed=0)
    _, base = render_edits(model, z, [])
    for d in (find_directions(model, "closed_form", n_components=3, sigma_samples=256),
              find_directions(model, "pca", n_components=3, n_samples=512, progress=False)):
        assert d.vectors.shape == (3, model.w_dim)
        d.check(model)
        _, moved = render_edits(model, z, [Edit(d, 0, 3.0, layers=(0, model.num_layers // 2))])
        assert (moved - base).abs().max() > 1e-3, f"{d.method} direction 0 does not move the image"


def test_activation_pca_regression_on_biggan_blocks():
    _need("pytorch_pretrained_biggan")
    from latentwidgets.directions import find_directions
    from latentwidgets.edit import Edit, render_edits

    model, _ = _built("biggan")
    d = find_directions(model, "pca", layer="block1", n_components=3, n_samples=256,
                        regression_samples=256, batch_size=128, progress=False)
    assert d.space == "z" and d.vectors.shape == (3, model.z_dim)
    z = model.sample_z(1, seed=0)
    _, base = render_edits(model, z, [])
    _, moved = render_edits(model, z, [Edit(d, 0, 2.0, layers=(1, 3))])  # two blocks' latents only
    assert (moved - base).abs().max() > 1e-3
