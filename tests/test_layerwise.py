"""LayerwiseEditor's Python side: the stack, layer ranges and presets, the strip, records, and a model
without per-layer latents (activation-space edits). The front end is simulated through the transport's
messages, as in test_explorer.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import traitlets

from latentwidgets.directions.layers import layer_groups
from latentwidgets.directions.record import Directions
from latentwidgets.edit import Edit, render_edits
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.widgets import LayerwiseEditor
from latentwidgets.widgets.esm import esm_source
from latentwidgets.widgets.transport import decode_frame


@pytest.fixture(scope="module")
def model(untrained_style_model):
    return untrained_style_model


@pytest.fixture(scope="module")
def directions(model):
    g = torch.Generator().manual_seed(1)
    return Directions(torch.randn(3, model.w_dim, generator=g), "w", sigma=torch.tensor([1.0, 2.0, 0.5]),
                      names=["a", "b", "c"], layers=[None, None, None], method="test", model_id=model.name)


def request(widget, state):
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    widget._handle_custom_msg({"type": "lw:request", "id": "t:1", "state": state}, [])
    content, buffers = sent[-1]
    assert content["type"] == "lw:frame", content
    return content, torch.stack([decode_frame(m, b) for m, b in zip(content["frames"], buffers, strict=True)])


def test_front_end_may_set_the_tagged_fields_checked_not_coerced(model, directions):
    ed = LayerwiseEditor(model, directions)
    assert ed._front_fields == ["seed", "selected", "stack", "strip", "truncation", "view_mode"]
    assert set(ed.state()) == {"n", "seed", "selected", "stack", "strip", "truncation", "view_mode"}
    sent = []
    ed.send = lambda content, buffers=None: sent.append(content)
    for bad, message in [({"stack": [{"direction": 0, "strength": "2", "layers": [0, 4]}]}, "must be a number"),
                         ({"selected": "0"}, "'selected' trait"), ({"n": 3}, "got ['n']")]:
        ed._handle_custom_msg({"type": "lw:request", "id": "t:1", "state": bad}, [])
        assert sent[-1]["type"] == "lw:error" and message in sent[-1]["message"] and message in ed.error
    assert ed.stack == [] and ed.n == 1
    ed.close()


def test_stack_renders_as_render_edits_predicts(model, directions):
    ed = LayerwiseEditor(model, directions, seed=3, n=2)
    ed.add("a", 2.0, "coarse")
    ed.add(2, -1.5, (8, 10))
    assert [e.layers for e in ed.edits] == [layer_groups(10)["coarse"], (8, 10)]
    ws, img = render_edits(model, ed.z, ed.edits)
    assert torch.equal(img, ed.image) and torch.equal(ws, ed.latent)
    base = render_edits(model, ed.z, [])[1]
    assert (ed.image - base).abs().max() > 1e-3, "the stack changes the picture"
    # the coarse edit leaves the fine per-layer latents alone, and vice versa
    ws0 = render_edits(model, ed.z, [])[0]
    changed = (ws - ws0).abs().amax(dim=(0, 2)) > 0
    assert changed.tolist() == [True] * 4 + [False] * 4 + [True] * 2


def test_layer_range_change_and_presets(model, directions):
    ed = LayerwiseEditor(model, directions, n=1)
    ed.add(0, 3.0, "fine")
    fine = ed.image
    ed.set_layers("coarse")
    assert ed.stack[0]["layers"] == list(layer_groups(10)["coarse"])
    expect = render_edits(model, ed.z, [Edit(directions, 0, 3.0, layers=(0, 4))])[1]
    assert torch.equal(ed.image, expect)
    assert not torch.equal(fine, ed.image)
    with pytest.raises(traitlets.TraitError, match="does not fit"):
        ed.set_layers((3, 11))
    with pytest.raises(traitlets.TraitError, match="does not fit"):
        ed.set_layers((5, 5))


def test_strip_shows_the_selected_edit_at_each_range(model, directions):
    ed = LayerwiseEditor(model, directions, n=2)
    ed.add(1, 2.0, "all")
    ed.add(0, 1.0, "middle")
    ed.selected = 0
    assert ed.strip == [[0, 4], [4, 8], [8, 10], [0, 10]]
    strip = ed.strip_images
    assert strip.shape == (4, 3, model.resolution, model.resolution)
    for r, img in zip(ed.strip, strip, strict=True):
        edits = [Edit(directions, 1, 2.0, layers=tuple(r)), Edit(directions, 0, 1.0, (4, 8))]
        exp = render_edits(model, ed.z[:1], edits)[1]
        assert torch.allclose(img, exp[0], atol=1e-6)
    assert not torch.allclose(strip[0], strip[2], atol=1e-3), "coarse and fine differ"


def test_front_end_request_applies_state_and_sends_main_plus_strip(model, directions):
    ed = LayerwiseEditor(model, directions, n=2)
    ed.add(0, 1.0)
    content, frames = request(ed, {"stack": [{"direction": 2, "strength": -2.0, "layers": [4, 8]}], "selected": 0})
    assert ed.stack == [{"direction": 2, "name": "c", "strength": -2.0, "layers": [4, 8]}]
    assert content["state"]["stack"] == ed.stack
    assert frames.shape[0] == 2 + len(ed.strip)
    assert (frames[:2] - ed.image).abs().max() <= 1 / 255 + 1e-6  # raw RGBA: exact to 8 bits
    assert (frames[2:] - ed.strip_images).abs().max() <= 1 / 255 + 1e-6


def test_side_by_side_sends_each_sample_without_edits_then_with_the_stack(model, directions):
    ed = LayerwiseEditor(model, directions, n=2)
    ed.add(0, 2.5, "fine")
    original = render_edits(model, ed.z, [])[1]
    assert torch.equal(ed.original, original) and not torch.equal(ed.original, ed.image)
    _, frames = request(ed, {"view_mode": "side by side"})
    assert ed.view_mode == "side by side" and frames.shape[0] == 4 + len(ed.strip)
    tol = 1 / 255 + 1e-6
    assert (frames[0] - original[0]).abs().max() <= tol and (frames[1] - ed.image[0]).abs().max() <= tol
    assert (frames[2] - original[1]).abs().max() <= tol and (frames[3] - ed.image[1]).abs().max() <= tol
    _, frames = request(ed, {"view_mode": "original"})
    assert frames.shape[0] == 2 + len(ed.strip) and (frames[:2] - original).abs().max() <= tol
    assert torch.equal(ed.image, render_edits(model, ed.z, ed.edits)[1]), ".image stays the edited samples"
    ed.seed = 5  # new samples: the originals follow
    assert torch.equal(ed.original, render_edits(model, ed.z, [])[1])
    with pytest.raises(traitlets.TraitError):
        ed.view_mode = "before"


def test_labels_read_layer_ranges_inclusively(model, directions):
    ed = LayerwiseEditor(model, directions)
    ed.add("a", 1.0, "fine")
    ed.add("b", -0.5, (3, 4))
    ed.add("c", 0.25, (2, 7))
    ed.add("a", 1.0)
    assert "a@+1.00[fine: layers 8-9]" in repr(ed) and "b@-0.50[layer 3]" in repr(ed)
    assert "c@+0.25[layers 2-6]" in repr(ed) and "a@+1.00[all: layers 0-9]" in repr(ed)


def test_rename_from_python_and_from_the_page(model, directions):
    d = directions[:]  # (a copy: renaming changes the record in place)
    ed = LayerwiseEditor(model, d)
    ed.add("a", 1.0, "coarse")
    ed.rename("a", "pose")
    assert d.names == ["pose", "b", "c"] and ed.controls["names"] == ["pose", "b", "c"]
    assert ed.stack[0]["name"] == "pose" and ed.export_edits()[0]["name"] == "pose"
    ed._handle_custom_msg({"type": "lw:rename", "index": 1, "name": "  hue "}, [])
    assert d.names[1] == "hue" and ed.controls["names"][1] == "hue"
    ed._handle_custom_msg({"type": "lw:rename", "index": 2, "name": "pose"}, [])  # names stay unique
    assert d.names[2] == "c" and "already named 'pose'" in ed.error


def test_code_makes_the_same_view_again(model, directions, monkeypatch, tmp_path):
    import latentwidgets

    d = directions[:]
    ed = LayerwiseEditor(model, d, seed=4, n=2, strength_range=2.0)
    ed.add("b", -1.25, "fine")
    ed.add("a", 0.5, (2, 6))
    ed.rename("a", "pose")
    ed.selected = 0
    ed.view_mode = "side by side"
    code = ed.code()
    assert "ed.import_edits([" in code and "strength_range=2.0" in code and code.endswith("ed\n")
    # in a fresh namespace, with the record saved where the code loads it and the model by its name
    monkeypatch.chdir(tmp_path)
    d.save("directions")  # (a record find_directions does not make: the code loads it, as its comment says)
    monkeypatch.setattr(latentwidgets, "load", lambda name: model if name == model.name else None)
    ns: dict = {}
    exec(code, ns)
    again = ns["ed"]
    assert again.stack == ed.stack and again.selected == 0 and again.view_mode == "side by side"
    assert again.directions.names == d.names and torch.equal(again.image, ed.image)


def test_truncation_pulls_the_samples_towards_the_average_before_the_edits(model, directions):
    ed = LayerwiseEditor(model, directions, n=2)
    assert "truncation" in ed._front_fields  # the model has a mapping network
    ed.add("a", 2.0)
    full = ed.image
    _, frames = request(ed, {"truncation": 0.5, "view_mode": "side by side"})
    assert ed.truncation == 0.5 and not torch.equal(ed.image, full)
    ws = model.broadcast(model.to_synthesis(ed.z, truncation=0.5))
    expect = render_edits(model, ed.z, ed.edits, ws=ws)[1]
    assert torch.allclose(ed.image, expect, atol=1e-6)
    assert torch.allclose(ed.original, render_edits(model, ed.z, [], ws=ws)[1], atol=1e-6)
    assert (frames[1] - ed.image[0]).abs().max() <= 1 / 255 + 1e-6
    assert "truncation=0.5" in ed.code()


def test_bad_front_end_state_is_an_error_reply(model, directions):
    ed = LayerwiseEditor(model, directions)
    sent = []
    ed.send = lambda content, buffers=None: sent.append(content)
    ed._handle_custom_msg({"type": "lw:request", "id": "t:1",
                           "state": {"stack": [{"direction": 0, "strength": 1, "layers": [0, 99]}]}}, [])
    assert sent[-1]["type"] == "lw:error" and "does not fit" in sent[-1]["message"]


def test_edits_round_trip_as_records(model, directions):
    ed = LayerwiseEditor(model, directions, seed=1)
    ed.add("b", -1.25, "fine")
    ed.add("a", 0.5, (2, 6))
    records = ed.export_edits()
    assert [r["name"] for r in records] == ["b", "a"] and records[1]["layers"] == [2, 6]
    other = LayerwiseEditor(model, directions, seed=1)
    other.import_edits(records)
    assert other.stack == ed.stack and torch.equal(other.image, ed.image)
    other.edits = [Edit(directions, 2, 1.0, layers=(0, 4))]
    assert other.stack == [{"direction": 2, "name": "c", "strength": 1.0, "layers": [0, 4]}]


def test_wrong_directions_are_refused(model):
    with pytest.raises(TypeError, match="Directions record"):
        LayerwiseEditor(model, torch.randn(3, 32))


class TinyDecoder(nn.Module):
    z_dim = 6

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 24)
        self.act = nn.ReLU()
        self.out = nn.Linear(24, 3 * 8 * 8)

    def forward(self, z):
        return torch.sigmoid(self.out(self.act(self.fc(z)))).view(-1, 3, 8, 8)


def test_model_without_per_layer_latents_uses_activation_edits():
    torch.manual_seed(0)
    m = DecoderModel(TinyDecoder(), z_dim=6, output_range=(0.0, 1.0))
    assert m.num_layers == 1
    act = Directions(torch.nn.functional.normalize(torch.randn(2, 24), dim=1), "act:fc", sigma=torch.ones(2),
                     names=["u", "v"], layers=[None, None], method="test")
    ed = LayerwiseEditor(m, act, n=2)
    ed.add("u", 2.0, "coarse")  # no per-layer latents: the range collapses to the one layer
    assert ed.stack[0]["layers"] == [0, 1] and ed.edits[0].layers is None
    assert torch.equal(ed.image, render_edits(m, ed.z, ed.edits)[1])
    assert not torch.equal(ed.image, render_edits(m, ed.z, [])[1]), "the activation edit changes the image"
    # the strip shows strengths instead of layer ranges
    assert ed.strip_images.shape[0] == len(ed.controls["strip_strengths"])
    assert not torch.allclose(ed.strip_images[0], ed.strip_images[-1])
    fig = ed.figure(strengths=[-1, 0, 1])
    assert len(fig.axes) == 3


def test_front_end_module_inlines_the_transport():
    src = esm_source("layerwise.js")
    assert "function createTransport" in src and "export default" in src and 'from "./' not in src


def test_shared_widget_base_gives_encoding_callbacks_and_close(model, directions):
    """What the editor gains from widgets/base.py: a changed encoding reaches the frames, on_change
    callbacks run after front-end frames, and close() stops answering."""
    ed = LayerwiseEditor(model, directions)
    ed.add(0, 1.0)
    seen = []
    ed.on_change(lambda w: seen.append(w.stack[0]["strength"]))
    ed.encoding = "jpeg"
    content, _ = request(ed, {"stack": [{"direction": 0, "strength": 2.0, "layers": [0, 10]}], "selected": 0})
    assert {m["format"] for m in content["frames"]} == {"jpeg"}
    assert seen == [2.0]
    ed.close()
    assert ed.closed
    sent = []
    ed.send = lambda content, buffers=None: sent.append(content)
    ed._handle_custom_msg({"type": "lw:request", "id": "t:2", "state": {"selected": 0}}, [])
    assert sent == []


def test_front_end_modules_share_the_base_module():
    for entry in ("layerwise.js", "explorer.js"):
        src = esm_source(entry)
        assert src.count("function connectFrames") == 1 and src.count("function createTransport") == 1
