"""Bad input gets a clear error that names the fix, or a stated rule, never a silently wrong result: records
(names with dots, files that do not match), model loading (trust, pickled modules, corrupt files, unknown
names), generators (output range, NaN/inf, batch size, tuples), latents, and the attribute method on a
model without a ground truth."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy
import pytest
import torch
import torch.nn as nn

import latentwidgets as lw
from latentwidgets.directions import Directions


def _record(k: int, width: int = 8) -> Directions:
    g = torch.Generator().manual_seed(k)
    return Directions(torch.randn(k, width, generator=g), "z", sigma=torch.rand(k, generator=g) + 0.5)


# ---------------------------------------------------------------------------------------- records

def test_record_names_keep_their_dots(tmp_path):
    _record(2).save(tmp_path / "run.v1")
    _record(3).save(tmp_path / "run.v2")
    assert len(Directions.load(tmp_path / "run.v1")) == 2 and len(Directions.load(tmp_path / "run.v2")) == 3
    assert len(Directions.load(tmp_path / "run.v2.json")) == 3          # only .json / .safetensors are stripped


def _saved(tmp_path, k=3):
    js = _record(k).save(tmp_path / "rec")
    return js, json.loads(js.read_text())


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(k=4), r"k=4, dim=8; the vectors are \(3, 8\)"),
    (lambda m: m.update(dim=9), r"k=3, dim=9; the vectors are \(3, 8\)"),
    (lambda m: m.update(names=["a", "b"]), "2 names for 3 vectors"),
    (lambda m: m.pop("space"), r"lacks \['space'\]"),
])
def test_load_names_the_file_and_the_mismatch(tmp_path, edit, match):
    js, meta = _saved(tmp_path)
    edit(meta)
    js.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=match) as e:
        Directions.load(js)
    assert "rec.json" in str(e.value)


def test_load_refuses_tensors_that_do_not_match_their_hash(tmp_path):
    js, meta = _saved(tmp_path)
    other = _record(3).save(tmp_path / "other")
    tf = tmp_path / meta["tensors"]
    tf.write_bytes((tmp_path / json.loads(other.read_text())["tensors"]).read_bytes()[:-4] + b"    ")
    with pytest.raises(ValueError, match=f"{tf.name} does not match the content hash"):
        Directions.load(js)


def test_load_names_a_missing_tensors_file(tmp_path):
    js, meta = _saved(tmp_path)
    (tmp_path / meta["tensors"]).unlink()
    with pytest.raises(FileNotFoundError, match=f"names the tensors file {meta['tensors']}.*copy it along"):
        Directions.load(js)


def test_load_refuses_sigma_that_is_not_finite_and_positive(tmp_path):
    from safetensors.torch import save_file

    # a schema-1 record (no hash) written by hand with a zero and a NaN sigma
    meta = {"schema_version": 1, "space": "z", "names": ["a", "b", "c"], "layers": [None] * 3, "method": "manual",
            "options": {}, "samples": 0, "seed": None, "model_id": "", "info": {}, "calibration": None,
            "dim": 8, "k": 3}
    (tmp_path / "old.json").write_text(json.dumps(meta))
    save_file({"vectors": torch.eye(8)[:3].contiguous(), "sigma": torch.tensor([1.0, 0.0, float("nan")])},
              str(tmp_path / "old.safetensors"))
    with pytest.raises(ValueError, match=r"old.safetensors: sigma must be finite and positive; entries \[1, 2\]"):
        Directions.load(tmp_path / "old")


def test_save_refuses_a_record_that_could_not_load_again(tmp_path):
    d = Directions(torch.eye(4)[:2], "z", sigma=torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"sigma must be finite and positive.*entries \[1\].*clamp\(min=1e-6\)"):
        d.save(tmp_path / "zero")
    assert list(tmp_path.iterdir()) == []


def test_load_names_a_json_that_does_not_parse(tmp_path):
    (tmp_path / "broken.json").write_text('{"schema_version": 2, ')
    with pytest.raises(ValueError, match="broken.json is not a Directions record: its JSON does not parse"):
        Directions.load(tmp_path / "broken")


# ---------------------------------------------------------------------------------------- models

class _Net(nn.Module):
    """z [B, 8] -> images [B, 3, 4, 4] through one Linear; ``out`` shapes what forward returns."""

    def __init__(self, out=lambda x: x, scale: float = 1.0):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(8, 3 * 4 * 4)
        self.out, self.scale = out, scale

    def forward(self, z):
        return self.out(self.scale * self.fc(z).view(-1, 3, 4, 4))


class _Marker:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_trust_must_be_exactly_true(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "g.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    for trust in ("no", 1, "True"):
        with pytest.raises(TypeError, match="trust= must be True or False"):
            lw.load(tmp_path / "g.pkl", trust=trust)
    assert not marker.exists()


def test_a_pickled_module_in_a_pt_file_names_the_fix(tmp_path):
    torch.save(_Net(torch.tanh), tmp_path / "whole.pt")
    with pytest.raises(PermissionError, match=r"whole nn.Module.*module=.*trust=True"):
        lw.load(tmp_path / "whole.pt")
    assert lw.load(tmp_path / "whole.pt", trust=True).resolution == 4


def test_trust_is_accepted_for_a_module_in_memory():
    """The call that loads a file (``trust=True``) also takes the module it holds: nothing is unpickled."""
    net = _Net(torch.tanh)
    model = lw.load(net, trust=True)
    assert model.resolution == 4
    z = model.sample_z(2, seed=0)
    assert torch.equal(model.generate(z), lw.load(net).generate(z))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_corrupt_weights_file_is_named(tmp_path, suffix):
    path = tmp_path / f"g{suffix}"
    path.write_bytes(b"\x00garbage" * 20)
    with pytest.raises(ValueError, match=f"{path} is not a readable"):
        lw.load(path, module=_Net())


def test_sample_z_needs_a_whole_number():
    model = lw.load(_Net(torch.tanh))
    with pytest.raises(TypeError, match=r"n, the number of latents, must be a whole number; got 2.5.*e.g. 2"):
        model.sample_z(2.5)
    assert model.sample_z(numpy.int64(2)).shape == (2, 8)


def test_a_negative_z_dim_is_refused():
    with pytest.raises(ValueError, match="z_dim must be a positive number of latent values; got -3"):
        lw.load(_Net(torch.tanh), z_dim=-3)


def test_a_module_returning_a_tuple_names_the_fix():
    with pytest.raises(TypeError, match=r"returned a tuple of 2 items.*forward\(z\): return net\(z\)\[0\]"):
        lw.load(_Net(lambda x: (torch.tanh(x), x.mean())))


def test_a_module_that_changes_the_batch_size_is_refused():
    with pytest.raises(ValueError, match="returned 1 images for 4 latents: its forward must keep the batch"):
        lw.load(_Net(lambda x: torch.tanh(x[:1])))


def test_nan_weights_are_refused_at_load():
    net = _Net(torch.tanh)
    with torch.no_grad():
        net.fc.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"_Net has NaN or inf in its weights \(parameter 'fc.weight'\)"):
        lw.load(net)


def test_nan_in_a_frame_is_an_error_naming_the_model_not_a_black_frame():
    model = lw.load(_Net(lambda x: torch.where(x.abs() > 50, float("nan"), torch.tanh(x))), name="fragile")
    z = model.sample_z(3, seed=1)
    z[1] = 1000.0
    with pytest.raises(FloatingPointError, match=r"fragile produced NaN or inf pixels in images \[1\] of 3"):
        model.generate(z)


def test_a_0_255_output_is_mapped_by_the_stated_rule():
    net = _Net(lambda x: 255 * torch.sigmoid(x))
    model = lw.load(net)
    assert model.output_range == (0.0, 255.0)
    z = model.sample_z(4, seed=3)
    torch.testing.assert_close(model.generate(z), net(z) / 255)       # not all white


def test_an_unbounded_output_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"cannot tell the output range.*none of \[0, 1\], \[-1, 1\] or \[0, 255\].*"
                                         r"output_range="):
        lw.load(_Net(scale=40.0))
    model = lw.load(_Net(scale=40.0), output_range=(-150, 150))
    assert 0.2 < float(model.generate(model.sample_z(8)).mean()) < 0.8


def test_an_output_overshooting_its_range_warns_that_pixels_are_clipped():
    with pytest.warns(UserWarning, match=r"pixels outside are clipped.*output_range=\(-1.0, 1.0\)"):
        lw.load(_Net(scale=40.0), output_range=(-1, 1))        # the probe at load shows it


# ---------------------------------------------------------------------------------------- methods

class _Noise64(nn.Module):
    """z [B, 8] -> 64 px images that are no sprites scenes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(8, 3 * 8 * 8)

    def forward(self, z):
        return nn.functional.interpolate(torch.sigmoid(self.fc(z)).view(-1, 3, 8, 8), scale_factor=8)


@pytest.mark.parametrize("net, why", [(_Noise64, r"0% of 16 probe images read as sprites scenes"),
                                      (lambda: _Net(torch.tanh), r"its images are 4 px, sprites scenes 64 px")])
def test_the_sprites_reader_on_another_model_refuses_and_shows_how_to_pass_measures(net, why):
    from latentwidgets.directions.attribute import attribute_directions

    model = lw.load(net(), name="faces-like")
    with pytest.raises(ValueError, match=why + r".*Pass your own measures.*attributes=\{'brightness'"):
        attribute_directions(model, "sprites", n_samples=100_000)       # refused before sampling anything
    with pytest.raises(ValueError, match="Pass your own measures"):
        lw.find_directions(model, "attribute", attributes=["x", "hue"])


def test_a_flat_pca_spectrum_warns_and_points_to_activation_pca():
    from latentwidgets.directions.pca import pca_directions

    model = lw.load(_Net(torch.tanh))
    with pytest.warns(UserWarning, match=r"spectrum is flat.*directions are arbitrary.*space='act', layer="):
        d = pca_directions(model, 3, space="z", n_samples=3000, progress=False)
    assert d.info["flat_spectrum"] is True


def test_n_components_above_the_latent_size_is_refused():
    from latentwidgets.directions.pca import pca_directions

    model = lw.load(_Net(torch.tanh))
    with pytest.raises(ValueError, match=r"n_components=9 exceeds the dimension of z \(8\).*n_components<=8"):
        pca_directions(model, 9, space="z", n_samples=100, progress=False)
    with pytest.raises(ValueError, match=r"n_components=49 exceeds the size of layer 'fc' \(48 values\)"):
        pca_directions(model, 49, layer="fc", n_samples=100, progress=False)


class _Conditional(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(3, 4)
        self.fc = nn.Linear(8 + 4, 3 * 4 * 4)

    def forward(self, z, labels):
        return torch.tanh(self.fc(torch.cat([z, self.emb(labels)], 1))).view(-1, 3, 4, 4)


def test_a_negative_z_dim_of_a_conditional_module_is_refused():
    with pytest.raises(ValueError, match="z_dim must be a positive number; got -8"):
        lw.load(_Conditional(), z_dim=-8)
    assert lw.load(_Conditional(), z_dim=8.0).z_dim == 8


def test_a_record_saved_before_content_hashes_still_loads(tmp_path):
    from safetensors.torch import save_file

    meta = {"schema_version": 1, "space": "z", "names": ["a"], "layers": [None], "method": "manual", "options": {},
            "samples": 0, "seed": None, "model_id": "", "info": {}, "calibration": None, "dim": 4, "k": 1}
    (tmp_path / "v1.json").write_text(json.dumps(meta))
    save_file({"vectors": torch.eye(4)[:1].contiguous(), "sigma": torch.ones(1)}, str(tmp_path / "v1.safetensors"))
    assert Directions.load(tmp_path / "v1").names == ["a"]
    _record(2, width=4).save(tmp_path / "v1")                  # re-saved: the schema-1 tensors file goes
    assert len(Directions.load(tmp_path / "v1")) == 2 and len(list(tmp_path.iterdir())) == 2
