"""Class-conditional generators: ``load`` recognises ``forward(z, labels)`` (class indices or one-hot,
probed), reads z_dim without the label channels, and every conditional model (this generic one,
BigGAN, NVlabs with c_dim) has the same class API: num_classes, set_class, class_index,
class_vector and using_classes (one class per sample). Errors a user can cause name the fix.
"""

from __future__ import annotations

import importlib.util
import os
import threading

import pytest
import torch
import torch.nn as nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from latentwidgets.models import load  # noqa: E402
from latentwidgets.models.conditional_decoder import ConditionalDecoderModel  # noqa: E402
from latentwidgets.testing import adapter_configs as cfgs  # noqa: E402

NZ, CLASSES = 12, 5


class EmbeddingDCGAN(nn.Module):
    """forward(z [B, nz], labels [B] indices): an nn.Embedding concatenated to z, DCGAN upsampling."""

    def __init__(self, nz: int = NZ, n_classes: int = CLASSES, embed: int = 6, ngf: int = 8):
        super().__init__()
        self.embed = nn.Embedding(n_classes, embed)
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz + embed, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.embed(labels)], dim=1)
        return self.main(h[:, :, None, None])


class OneHotDCGAN(nn.Module):
    """forward(z [B, nz, 1, 1], y [B, C] one-hot): labels concatenated to z as channels."""

    def __init__(self, nz: int = NZ, n_classes: int = CLASSES, ngf: int = 8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz + n_classes, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False), nn.Sigmoid())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.main(torch.cat([z, y[:, :, None, None]], dim=1))


class OneHotInside(nn.Module):
    """forward(z, labels [B] indices) that one-hot encodes them itself: no embedding to read C from."""

    def __init__(self, nz: int = NZ, n_classes: int = CLASSES):
        super().__init__()
        self.n = n_classes
        self.fc = nn.Linear(nz + n_classes, 3 * 8 * 8)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        y = nn.functional.one_hot(labels, self.n).float()
        return torch.tanh(self.fc(torch.cat([z, y], 1))).view(-1, 3, 8, 8)


class OptionalLabels(nn.Module):
    """forward(z, labels=None): conditional although the labels may be left out."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(CLASSES, 4)
        self.fc = nn.Linear(NZ + 4, 3 * 8 * 8)

    def forward(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        labels = torch.zeros(len(z), dtype=torch.long) if labels is None else labels
        return torch.tanh(self.fc(torch.cat([z, self.embed(labels)], 1))).view(-1, 3, 8, 8)


class OptionalScale(nn.Module):
    """forward(z, scale=1.0): unconditional; the optional argument is no label."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(NZ, 3 * 8 * 8)

    def forward(self, z: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return torch.tanh(self.fc(z) * scale).view(-1, 3, 8, 8)


class NeedsScale(nn.Module):
    """Not conditional: forward(z, scale) needs a second argument that is no class label."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(NZ, 3 * 8 * 8)

    def forward(self, z: torch.Tensor, scale: float) -> torch.Tensor:
        return torch.tanh(self.fc(z) * scale).view(-1, 3, 8, 8)


def _seeded(cls, **kwargs):
    torch.manual_seed(0)
    net = cls(**kwargs)
    with torch.no_grad():  # non-trivial batch-norm statistics, as a trained net has
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _need(package):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"optional package {package!r} is not installed (scripts/install_models_extra.sh installs it)")


def _conditional(kind):
    """A conditional LatentModel of each kind, class 0 set."""
    if kind == "embedding":
        model = load(_seeded(EmbeddingDCGAN))
    elif kind == "onehot":
        model = load(_seeded(OneHotDCGAN), n_classes=CLASSES)
    elif kind == "biggan":
        _need("pytorch_pretrained_biggan")
        model = cfgs.build_biggan()[0]
    else:
        _need("draggan")
        from latentwidgets.models.stylegan_nvlabs import NVlabsStyleGAN
        model = NVlabsStyleGAN(cfgs.nvlabs_networks(c_dim=4)[0], name="nvlabs-c4")
    model.set_class(0)
    return model


KINDS = ["embedding", "onehot", "biggan", "nvlabs"]


# ------------------------------------------------------------------------------ loading
def test_embedding_labels_load_with_z_dim_and_classes():
    model = load(_seeded(EmbeddingDCGAN))
    assert isinstance(model, ConditionalDecoderModel)
    assert (model.z_dim, model.num_classes, model.label_form) == (NZ, CLASSES, "index")
    assert model.latent_shape == (NZ,) and model.resolution == 8
    assert "embed" not in model.layers()  # reads the label, not z: no activation edits there
    img = model.generate(model.sample_z(3, seed=0))
    assert img.shape == (3, 3, 8, 8) and 0 <= float(img.min()) and float(img.max()) <= 1


def test_one_hot_labels_concatenated_to_z_load_with_z_dim_and_classes():
    model = load(_seeded(OneHotDCGAN), n_classes=CLASSES)
    assert (model.z_dim, model.num_classes, model.label_form) == (NZ, CLASSES, "onehot")
    assert model.latent_shape == (NZ, 1, 1)  # the DCGAN layout, z only (not z + label channels)
    # z_dim= says the same: the label channels are the rest of the first layer
    assert load(_seeded(OneHotDCGAN), z_dim=NZ).num_classes == CLASSES
    net = _seeded(OneHotDCGAN)
    net.n_classes = CLASSES  # a module attribute is read too
    assert load(net).z_dim == NZ


def test_optional_labels_are_recognised_by_name():
    model = load(OptionalLabels())
    assert (model.z_dim, model.num_classes, model.label_form) == (NZ, CLASSES, "index")
    plain = load(OptionalScale())
    assert plain.num_classes == 0 and plain.z_dim == NZ


def test_classes_that_cannot_be_inferred_ask_for_n_classes():
    with pytest.raises(TypeError, match="pass n_classes="):
        load(_seeded(OneHotDCGAN))  # z and one-hot share the first layer: 17 = 12 + 5 or 13 + 4 ...
    with pytest.raises(TypeError, match="pass n_classes="):
        load(_seeded(OneHotInside))  # indices run, but no embedding says how many classes
    model = load(_seeded(OneHotInside), n_classes=CLASSES, z_dim=NZ)
    assert (model.label_form, model.num_classes, model.z_dim) == ("index", CLASSES, NZ)
    model.set_class({1: 0.5, 2: 0.5})
    with pytest.raises(ValueError, match="single class"):  # a mixture cannot reach bare indices
        model.generate(model.sample_z(1))


def test_second_argument_that_is_not_a_label_gets_a_clear_error():
    with pytest.raises(TypeError, match=r"forward\(z, scale\) needs a second argument.*not a class label.*"
                                        r"forward\(z\) supplies it"):
        load(NeedsScale())
    with pytest.raises(ValueError, match="n_classes= is for class-conditional modules"):
        load(cfgs.TinyDCGAN(), n_classes=3)


# ------------------------------------------------------------------------------ the class API
@pytest.mark.parametrize("kind", KINDS)
def test_same_class_api(kind):
    model = _conditional(kind)
    n = model.num_classes
    assert n >= 4 and model.class_index == 0
    z = model.sample_z(2, seed=1)
    base = model.generate(z)
    model.set_class(2)
    assert model.class_index == 2 and model.class_vector.tolist() == torch.eye(n)[2].tolist()
    other = model.generate(z)
    assert (other - base).abs().max() > 1e-4, "set_class did not change the image"
    model.set_class({2: 1.0})
    torch.testing.assert_close(model.generate(z), other)
    model.set_class(torch.eye(n)[2])
    torch.testing.assert_close(model.generate(z), other)
    model.set_class({1: 0.5, 2: 0.5})
    assert model.class_index is None
    mixed = model.generate(z)
    assert (mixed - other).abs().max() > 1e-5
    with pytest.raises(ValueError, match=f"0..{n - 1}"):
        model.set_class(n)
    with pytest.raises(ValueError, match=f"{n} entries"):
        model.set_class(torch.ones(n + 1))


@pytest.mark.parametrize("kind", KINDS)
def test_using_classes_conditions_each_sample_on_its_own_class(kind):
    model = _conditional(kind)
    labels = torch.tensor([3, 0, 1, 3])
    z = model.sample_z(4, seed=2)
    with model.using_classes(labels) as vectors:
        batch = model.generate(z)
        assert vectors.shape == (4, model.num_classes)
    assert model.class_index == 0  # the current class is untouched
    for b, k in enumerate(labels.tolist()):
        model.set_class(k)
        torch.testing.assert_close(batch[b:b + 1], model.generate(z[b:b + 1]), atol=1e-5, rtol=1e-4)
    model.set_class(0)
    with model.using_classes(torch.eye(model.num_classes)[labels]):  # the same as vectors
        torch.testing.assert_close(model.generate(z), batch)


@pytest.mark.parametrize("kind", KINDS)
def test_using_classes_errors_name_the_fix(kind):
    model = _conditional(kind)
    z = model.sample_z(3, seed=0)
    with model.using_classes(torch.tensor([1, 2])):
        with pytest.raises(ValueError, match="holds 2 labels.*batch of 3"):
            model.generate(z)
    with pytest.raises(ValueError, match="out of range"):
        with model.using_classes(torch.tensor([0, model.num_classes])):
            pass
    with pytest.raises(ValueError, match=r"indices \(an integer tensor \[B\]\) or class vectors"):
        with model.using_classes(torch.zeros(3)):  # floats [B]: neither indices nor vectors
            pass


def test_using_classes_nests_and_stays_in_its_thread():
    model = _conditional("embedding")
    z = model.sample_z(2, seed=3)
    model.set_class(4)
    current = model.generate(z)
    out = {}
    with model.using_classes(torch.tensor([1, 2])):
        with model.using_classes(torch.tensor([0, 0, 0])):
            inner = model.generate(model.sample_z(3, seed=3))
        outer = model.generate(z)
        thread = threading.Thread(target=lambda: out.setdefault("img", model.generate(z)))
        thread.start()
        thread.join()
    torch.testing.assert_close(out["img"], current)  # another thread (a widget frame) keeps set_class's class
    model.set_class(0)
    torch.testing.assert_close(inner[:2], model.generate(z))
    model.set_class(2)
    torch.testing.assert_close(outer[1:], model.generate(z[1:]))


def test_unconditional_models_refuse_classes():
    model = load(cfgs.TinyDCGAN())
    assert model.num_classes == 0 and not hasattr(model, "using_classes")
    if importlib.util.find_spec("draggan") is not None:
        from latentwidgets.models.stylegan_nvlabs import NVlabsStyleGAN
        nv = NVlabsStyleGAN(cfgs.nvlabs_networks()[0])
        with pytest.raises(ValueError, match="not class-conditional"):
            nv.set_class(0)
        with pytest.raises(ValueError, match="not class-conditional"):
            with nv.using_classes(torch.tensor([0])):
                pass
