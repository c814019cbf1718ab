"""The LatentModel protocol's invariants, on the embedded style-based model and on a DecoderModel
around a tiny DCGAN-like generator (random init, BatchNorm in eval mode, tanh output)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

import latentwidgets
from latentwidgets import zoo
from latentwidgets.models import LatentModel, LatentShapeError
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.models.zoo_style import ZooStyleModel
from latentwidgets.zoo.style_net import StyleGenerator

ATOL = 1e-5


class TinyDCGAN(nn.Module):
    """DCGAN layout at toy size: z [B, 8] -> [B, 3, 16, 16] in [-1, 1]."""

    def __init__(self, z_dim: int = 8):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 32, 4, 1, 0), nn.BatchNorm2d(32), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


@pytest.fixture(scope="module")
def style_model() -> LatentModel:
    return latentwidgets.load("sprites-style")


@pytest.fixture(scope="module")
def dcgan_model() -> LatentModel:
    torch.manual_seed(0)
    net = TinyDCGAN()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval mode matters
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return latentwidgets.load(net, output_range=(-1, 1), name="tiny-dcgan")


@pytest.fixture(scope="module")
def random_style_model() -> LatentModel:
    """The style architecture at a seeded random init whose styles matter (the shipped init zeroes
    the affine weights), so image-level checks do not depend on how far training has got."""
    torch.manual_seed(1)
    net = StyleGenerator(z_dim=16)
    with torch.no_grad():
        for conv in list(net.synthesis.convs) + list(net.synthesis.torgb):
            nn.init.normal_(conv.affine.weight, std=0.3)
    return ZooStyleModel(net, name="random-style")


MODELS = {"sprites-style": "style_model", "random-style": "random_style_model", "tiny-dcgan": "dcgan_model"}


@pytest.fixture(params=list(MODELS.values()), ids=list(MODELS))
def model(request) -> LatentModel:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["random_style_model", "dcgan_model"], ids=["random-style", "tiny-dcgan"])
def responsive_model(request) -> LatentModel:
    """Models whose images respond to every input (the shipped one may be early in training)."""
    return request.getfixturevalue(request.param)


def _lat(model: LatentModel, n: int = 6, seed: int = 0) -> torch.Tensor:
    return model.to_synthesis(model.sample_z(n, seed=seed))


# ------------------------------------------------------------------------------------ invariants

def test_repeated_latent_equals_single_latent_forward(model):
    w = _lat(model)
    single = model.synthesize(w)
    repeated = model.synthesize(w.unsqueeze(1).repeat(1, model.num_layers, 1))
    assert torch.allclose(single, repeated, atol=ATOL)


def test_style_model_matches_the_raw_network(style_model):
    # the adapter adds nothing of its own: generate(z) is the trained net's forward(z)
    z = style_model.sample_z(4, seed=2)
    with torch.no_grad():
        raw = style_model.module(z)
    assert torch.allclose(style_model.generate(z), raw, atol=ATOL)


def test_dcgan_adapter_maps_tanh_output_to_unit_range(dcgan_model):
    z = dcgan_model.sample_z(4, seed=2)
    with torch.no_grad():
        raw = dcgan_model.module(z)
    assert torch.allclose(dcgan_model.generate(z), (raw + 1) / 2, atol=ATOL)


def _differ(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


@pytest.mark.parametrize("which", ["style_model", "random_style_model"])
def test_per_layer_latents_reach_their_layers(which, request):
    # every per-layer latent but the last feeds a convolution, so it reaches the finest block's
    # activations; the last one feeds only the output (toRGB / colours), so it reaches the image
    m = request.getfixturevalue(which)
    ws = m.broadcast(_lat(m, 2)).clone()
    other = _lat(m, 2, seed=9)
    last = m.layers()[-1]
    base_act, base_img = m.activations(ws, last), m.synthesize(ws)
    for i in range(m.num_layers):
        mixed = ws.clone()
        mixed[:, i] = other
        if i < m.num_layers - 1:
            assert _differ(m.activations(mixed, last), base_act) > 0, f"per-layer latent {i} ignored"
        else:
            assert _differ(m.synthesize(mixed), base_img) > 1e-4, f"per-layer latent {i} ignored"
        if which == "random_style_model":
            assert _differ(m.synthesize(mixed), base_img) > 1e-4, f"per-layer latent {i} does not reach the image"


def test_same_seed_same_images(model):
    a = model.generate(model.sample_z(4, seed=3))
    b = model.generate(model.sample_z(4, seed=3))
    c = model.generate(model.sample_z(4, seed=4))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_sample_z_prefix_is_stable(model):
    assert torch.equal(model.sample_z(10, seed=5)[:3], model.sample_z(3, seed=5))


def test_sample_does_not_depend_on_its_batch(model):
    w = _lat(model, 8)
    batch = model.synthesize(w)
    for i in (0, 5):
        alone = model.synthesize(w[i:i + 1])
        assert torch.allclose(batch[i:i + 1], alone, atol=ATOL)
    shuffled = model.synthesize(w.flip(0))
    assert torch.allclose(batch, shuffled.flip(0), atol=ATOL)


def test_images_are_float_in_unit_range(model):
    img = model.generate(model.sample_z(5, seed=1))
    assert img.dtype == torch.float32
    assert img.shape == (5, 3, model.resolution, model.resolution)
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    assert float(img.std()) > 1e-3  # not a constant image


def test_style_model_shape(style_model):
    assert style_model.has_mapping and style_model.synthesis_space == "w"
    assert style_model.num_layers >= 8 and style_model.resolution == 64
    z = style_model.sample_z(3)
    assert z.shape == (3, style_model.z_dim)
    assert style_model.to_synthesis(z).shape == (3, style_model.w_dim)


def test_truncation_pulls_towards_w_avg(style_model):
    z = style_model.sample_z(4, seed=0)
    w0 = style_model.to_synthesis(z, truncation=0.0)
    assert torch.allclose(w0, style_model.w_avg().expand_as(w0), atol=ATOL)
    w1, wh = style_model.to_synthesis(z), style_model.to_synthesis(z, truncation=0.5)
    assert torch.allclose(wh, (w0 + w1) / 2, atol=1e-5)


def test_decoder_model_synthesis_space_is_z(dcgan_model):
    assert not dcgan_model.has_mapping and dcgan_model.synthesis_space == "z"
    z = dcgan_model.sample_z(3)
    assert torch.equal(dcgan_model.to_synthesis(z), z)


def test_gradients_flow(model):
    z = model.sample_z(2, seed=0).requires_grad_(True)
    img = model.synthesize_grad(model.map_grad(z))
    img.sum().backward()
    assert z.grad is not None and float(z.grad.abs().sum()) > 0


# ------------------------------------------------------------------------------------ bad input

def test_wrong_latent_shape_names_the_expected_shape(model):
    d, n_layers = model.w_dim, model.num_layers
    with pytest.raises(LatentShapeError, match=rf"\[B, {d}\]"):
        model.synthesize(torch.zeros(2, d + 1))
    with pytest.raises(LatentShapeError, match=rf"\[B, {n_layers}, {d}\]"):
        model.synthesize(torch.zeros(2, n_layers + 1, d))
    with pytest.raises(LatentShapeError, match=rf"\[B, {model.z_dim}\]"):
        model.to_synthesis(torch.zeros(2, model.z_dim, 1))


def test_nan_latents_are_refused(model):
    w = _lat(model, 2)
    w[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.synthesize(w)


def test_unknown_zoo_name_lists_the_available_ones():
    names = sorted(zoo.available())
    assert "sprites-style" in names
    for call in (lambda: zoo.build("sprites-nope"), lambda: zoo.weights_path("sprites-nope")):
        with pytest.raises(Exception) as err:
            call()
        assert all(n in str(err.value) for n in names), str(err.value)


def test_unknown_model_name_lists_only_models_that_load():
    with pytest.raises(FileNotFoundError) as err:
        latentwidgets.load("sprites-nope")
    listed = str(err.value).split("a zoo name (", 1)[1].split(")", 1)[0].split(", ")
    assert listed == sorted(zoo.generative()) and "sprites-features" not in listed
    for name in listed:
        latentwidgets.load(name)


def test_unrecognised_source_says_what_is_accepted():
    with pytest.raises(ValueError, match="z_dim"):
        latentwidgets.load(42)


class _RawWeights(nn.Module):
    """A generator whose latent size no layer type reveals."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3 * 8 * 8))

    def forward(self, z):
        return torch.sigmoid(z @ self.w).view(-1, 3, 8, 8)


def test_module_without_known_latent_size_asks_for_z_dim():
    with pytest.raises(ValueError, match="z_dim"):
        DecoderModel(_RawWeights())
    assert DecoderModel(_RawWeights(), z_dim=4).resolution == 8


def test_zoo_models_load_and_generate():
    for name in zoo.generative():  # not the feature extractor nor the latent regressor
        m = latentwidgets.load(name)
        img = m.generate(m.sample_z(2, seed=0))
        assert img.shape == (2, 3, m.resolution, m.resolution), name


# ------------------------------------------------------------------------------------ layers

def test_layers_are_named_in_forward_order(style_model, dcgan_model):
    assert style_model.layers() == ["b4", "b8", "b16", "b32", "b64"]
    assert len(dcgan_model.layers()) >= 3
    with pytest.raises(KeyError, match="b8"):
        style_model.activations(_lat(style_model, 1), "nope")


def test_activations_have_the_layer_resolution(style_model):
    w = _lat(style_model, 3)
    for name in style_model.layers():
        a = style_model.activations(w, name)
        assert a.shape[0] == 3 and a.shape[-1] == int(name[1:]), name


def test_offset_shows_in_activations_and_downstream(model):
    layer, downstream = model.layers()[1], model.layers()[-1]
    w = _lat(model, 3)
    act, after_act = model.activations(w, layer), model.activations(w, downstream)
    delta = torch.zeros_like(act[:1])
    delta[:, 0] = 0.5  # one channel, everywhere
    with model.offset(layer, delta):
        assert torch.allclose(model.activations(w, layer), act + delta, atol=ATOL)
        assert _differ(model.activations(w, downstream), after_act) > 0
    assert torch.equal(model.activations(w, downstream), after_act), "the offset hook outlived its with-block"


def test_offset_changes_the_image(responsive_model):
    model = responsive_model
    w = _lat(model, 3)
    before = model.synthesize(w)
    for layer in model.layers()[:-1]:
        act = model.activations(w, layer)
        delta = torch.zeros_like(act[:1])
        delta[:, 0] = 0.5
        with model.offset(layer, delta):
            during = model.synthesize(w)
        assert _differ(during, before) > 1e-4, f"an offset at {layer} did not change the image"
    assert torch.equal(model.synthesize(w), before)


def test_offset_accepts_a_function_of_the_activation(model):
    layer = model.layers()[1]
    w = _lat(model, 2)
    act = model.activations(w, layer)
    with model.offset(layer, lambda a: -a):  # zero the layer's output
        assert float(model.activations(w, layer).abs().max()) == 0.0
    assert torch.equal(model.activations(w, layer), act)


def test_offset_of_the_wrong_shape_says_both_shapes(style_model):
    w = _lat(style_model, 2)
    with pytest.raises(LatentShapeError, match="does not broadcast"):
        with style_model.offset("b8", torch.zeros(7, 1, 1)):
            style_model.synthesize(w)


def test_style_affines_cover_every_layer(style_model, dcgan_model):
    affines = style_model.style_affines()
    assert len(affines) == style_model.num_layers
    assert all(a.in_features == style_model.w_dim for group in affines for a in group)
    assert sum(len(g) for g in affines) >= style_model.num_layers
    with pytest.raises(NotImplementedError, match="style-based"):
        dcgan_model.style_affines()


# ------------------------------------------------------------------------------------ device

def test_device_follows_the_model(model):
    assert model.device == torch.device("cpu")
    z = model.sample_z(2)
    assert z.device == model.device
    assert model.generate(z).device == model.device
    moved = copy.deepcopy(model).to("meta")  # a device without data: shapes and devices only
    assert moved.device == torch.device("meta")
    assert moved.sample_z(2).device == torch.device("meta")
    assert moved.w_avg().device == torch.device("meta")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_device_follows_the_model(model):  # pragma: no cover - CPU CI
    m = copy.deepcopy(model).to("cuda")
    img = m.generate(m.sample_z(2))
    assert img.device.type == "cuda"
