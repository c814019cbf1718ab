"""DirectionExplorer's Python side: what the kernel holds is what the front end is sent.

The front end is simulated by calling the widget's message handler with the protocol's requests and
recording what the widget sends back (the browser half is tested in js/ and tests/browser/).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import torch
import traitlets

import latentwidgets as lw
from latentwidgets.directions.record import Directions
from latentwidgets.edit import Edit, render_edits
from latentwidgets.widgets import DirectionExplorer
from latentwidgets.widgets.esm import esm_source
from latentwidgets.widgets.explorer import variance_shares
from latentwidgets.widgets.transport import decode_frame


@pytest.fixture(scope="module")
def model(untrained_style_model):
    return untrained_style_model


@pytest.fixture(scope="module")
def directions(model):
    g = torch.Generator().manual_seed(1)
    return Directions(torch.randn(3, model.w_dim, generator=g), "w", sigma=torch.tensor([1.0, 2.0, 0.5]),
                      names=["a", "b", "c"], layers=[None, (0, 4), (4, 10)], method="test", model_id=model.name)


class Wire:
    """Records what a widget sends; `request` plays the front end."""

    def __init__(self, widget):
        self.widget = widget
        self.sent = []
        widget.send = lambda content, buffers=None: self.sent.append((content, list(buffers or [])))
        self.n = 0

    def request(self, state, **extra):
        self.n += 1
        self.widget._handle_custom_msg({"type": "lw:request", "id": f"t:{self.n}", "state": state, **extra}, [])
        return self.sent[-1]

    def frames(self):
        return [(c, b) for c, b in self.sent if c["type"] == "lw:frame"]


def shown(content, buffers):
    return torch.stack([decode_frame(m, b) for m, b in zip(content["frames"], buffers, strict=True)])


@pytest.fixture
def ex(model, directions):
    w = DirectionExplorer(model, directions, seed=3, n=2)
    yield w
    w.close()


def test_initial_state_matches_render_edits(ex, model):
    assert ex.strengths == [0.0, 0.0, 0.0]
    assert ex.edits == []
    z = model.sample_z(2, seed=3)
    ws, images = render_edits(model, z, [])
    assert torch.equal(ex.z, z)
    assert torch.allclose(ex.image, images) and torch.allclose(ex.latent, ws)
    assert [c["unit"] for c in ex.controls] == ["\u03c3"] * 3


def test_strengths_set_from_python_renders_and_pushes(ex, model, directions):
    wire = Wire(ex)
    before = ex.image
    ex.strengths = [1.5, 0.0, -2.0]
    edits = ex.edits
    assert [(e.direction, e.strength, e.layers) for e in edits] == [(0, 1.5, None), (2, -2.0, (4, 10))]
    ws, images = render_edits(model, ex.z, edits)
    assert torch.allclose(ex.image, images) and torch.allclose(ex.latent, ws)
    assert not torch.allclose(ex.image, before)
    # the front end is told: a frame nobody asked for, with the new state (the sliders follow it)
    content, buffers = wire.frames()[-1]
    assert content["origin"] == "python" and content["id"] is None
    assert content["state"]["strengths"] == [1.5, 0.0, -2.0]
    assert torch.allclose(shown(content, buffers), ex.image, atol=0.5 / 255 + 1e-6)


def test_bad_strengths_name_the_fix(ex):
    with pytest.raises(traitlets.TraitError, match="needs 3 values"):
        ex.strengths = [1.0]
    with pytest.raises(traitlets.TraitError, match="finite"):
        ex.strengths = [float("nan"), 0, 0]


def test_front_end_request_updates_python_state(ex, model):
    wire = Wire(ex)
    seen, changes = [], []
    ex.on_change(lambda w: seen.append(list(w.strengths)))
    ex.observe(lambda ch: changes.append(ch["new"]), names="strengths")
    content, buffers = wire.request({"strengths": [0.0, 2.5, 0.0], "seed": 7, "view_mode": "edited"})
    assert content["type"] == "lw:frame" and content["id"] == "t:1" and content["origin"] == "front"
    assert ex.strengths == [0.0, 2.5, 0.0] and ex.seed == 7
    assert seen == [[0.0, 2.5, 0.0]] and changes == [[0.0, 2.5, 0.0]]
    assert torch.equal(ex.z, model.sample_z(2, seed=7))
    assert torch.allclose(ex.image, render_edits(model, ex.z, [Edit(ex.directions, 1, 2.5, layers=(0, 4))])[1])
    # raw RGBA frames: what the browser draws is .image to the nearest 8-bit level
    assert [f["format"] for f in content["frames"]] == ["raw", "raw"]
    assert torch.allclose(shown(content, buffers), ex.image, atol=0.5 / 255 + 1e-6)
    assert content["state"] == ex.state()


def test_state_and_front_fields_come_from_the_frame_state_tags(ex):
    assert ex.state() == {"n": 2, "seed": 3, "strengths": [0.0, 0.0, 0.0], "truncation": 1.0, "view_mode": "edited"}
    assert ex._front_fields == ["seed", "strengths", "truncation", "view_mode"]  # n is set from Python only
    ex.state()["strengths"].append(9.0)  # a copy
    assert ex.strengths == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("state, message", [
    ({"strengths": "1234"}, "'strengths' trait"),
    ({"strengths": ["1", 0, 0]}, "'strengths' trait"),
    ({"view_mode": "sideways"}, "'view_mode' trait"),
    ({"view_mode": True}, "'view_mode' trait"),
    ({"seed": "7"}, "'seed' trait"),
    ({"strengths": [1.0, 0.0, 0.0], "seed": 1.5}, "'seed' trait"),
    ({"n": 4}, "may set only ['seed', 'strengths', 'truncation', 'view_mode']; got ['n']"),
    ({"gain": 1, "strengths": [1.0, 0.0, 0.0]}, "got ['gain']"),
])
def test_front_end_values_are_checked_by_their_traits_not_coerced(ex, state, message):
    wire = Wire(ex)
    before, image = ex.state(), ex.image
    content, _ = wire.request(state)
    assert content["type"] == "lw:error" and message in content["message"] and message in ex.error
    assert ex.state() == before and torch.equal(ex.image, image), "a refused request sets nothing"
    content, _ = wire.request({"strengths": [0.5, 0.0, 0.0]})
    assert content["type"] == "lw:frame" and ex.error == ""


def test_front_end_values_are_not_echoed_back(ex, monkeypatch):
    model_msgs = []
    monkeypatch.setattr(ex, "_send", lambda msg, buffers=None: model_msgs.append(msg))
    Wire(ex).request({"strengths": [0, 1.5, 0], "seed": 4, "view_mode": "edited"})
    assert ex.strengths == [0.0, 1.5, 0.0] and ex.seed == 4
    updates = [m for m in model_msgs if m.get("method") in ("update", "echo_update")]
    assert [m for m in updates if set(m["state"]) & set(ex.state())] == []  # (`_code`, for copy code, is news)
    ex.strengths = [1.0, 0.0, 0.0]  # from Python the widget model is told, as usual
    assert any(m.get("method") == "update" and m["state"].get("strengths") == [1.0, 0.0, 0.0] for m in model_msgs)


def test_frames_carry_the_kernel_timeline(ex):
    """The page splits each round trip into hops with these (benchmarks/frames.py, the e2e test)."""
    import time

    before = time.time() * 1e3
    content, _ = Wire(ex).request({"strengths": [0.5, 0.0, 0.0]})
    after = time.time() * 1e3
    timing = content["timing"]
    assert before <= timing["kernel_in"] <= timing["kernel_out"] <= after
    assert timing["compute_ms"] <= timing["kernel_out"] - timing["kernel_in"]


def test_sync_request_returns_current_frame_without_recomputing(ex):
    ex.strengths = [1.0, 0.0, 0.0]
    wire = Wire(ex)
    calls = []
    ex.on_change(lambda w: calls.append(1))
    content, buffers = wire.request(None)
    assert content["state"]["strengths"] == [1.0, 0.0, 0.0] and calls == []
    assert torch.allclose(shown(content, buffers), ex.image, atol=0.5 / 255 + 1e-6)


def test_view_modes_show_original_or_each_sample_before_and_after(ex, model):
    wire = Wire(ex)
    original = render_edits(model, model.sample_z(2, seed=3), [])[1]
    content, buffers = wire.request({"strengths": [2.0, 0.0, 0.0], "seed": 3, "view_mode": "original"})
    assert torch.allclose(shown(content, buffers), original, atol=0.5 / 255 + 1e-6)
    assert ex.show_original and not torch.allclose(ex.image, original)  # .image stays the edited result
    content, buffers = wire.request({"view_mode": "side by side"})
    pairs = shown(content, buffers)
    assert pairs.shape[0] == 4 and content["state"]["view_mode"] == "side by side" and not ex.show_original
    # sample by sample: its original, then its edited image
    assert torch.allclose(pairs[0::2], original, atol=0.5 / 255 + 1e-6)
    assert torch.allclose(pairs[1::2], ex.image, atol=0.5 / 255 + 1e-6)
    ex.show_original = False  # from Python: the old switch picks "edited"
    assert ex.view_mode == "edited" and len(wire.frames()[-1][0]["frames"]) == 2
    ex.show_original = True
    assert ex.view_mode == "original" and wire.frames()[-1][0]["state"]["view_mode"] == "original"


def test_variance_share_beside_each_slider_from_the_record(model):
    g = torch.Generator().manual_seed(4)
    vecs = torch.randn(4, model.w_dim, generator=g)
    pca = Directions(vecs, "w", method="pca", model_id=model.name,
                     info={"explained_variance_ratio": [0.4, 0.3, 0.2, 0.1]})
    ex = DirectionExplorer(model, pca)
    assert [c["variance"] for c in ex.controls] == [0.4, 0.3, 0.2, 0.1]
    assert {c["variance_label"] for c in ex.controls} == {"explained variance"}
    ex.close()
    # a slice carries its own directions' shares, renamed or not
    assert variance_shares(pca[[3, 1]]) == ([0.1, 0.3], "explained variance")
    renamed = pca[:2]
    renamed.rename(0, "pose")
    assert variance_shares(renamed) == ([0.4, 0.3], "explained variance")
    # a record whose info lists more shares than directions (a file saved by an older slice): the
    # default names say which component each direction is
    sefa = Directions(vecs[:2], "w", method="closed_form", info={"eigenvalue_ratio": [0.7, 0.2, 0.1]})
    assert variance_shares(sefa) == ([0.7, 0.2], "share of the eigenvalues")
    sefa.rename(0, "pose")
    assert variance_shares(sefa) == ([None, 0.2], "share of the eigenvalues")
    ex = DirectionExplorer(model, Directions(vecs[:2], "w", method="manual"))
    assert [(c["variance"], c["variance_label"]) for c in ex.controls] == [(None, "")] * 2  # none: nothing shown
    ex.close()


def test_rename_from_python_and_the_page_keeps_names_in_the_saved_record(model, directions, tmp_path):
    record = directions[:]  # (a copy: the explorer renames the record it is given)
    ex = DirectionExplorer(model, record)
    ex.rename(0, "  pose ")
    ex.rename("c", "hue")
    assert ex.directions.names == ["pose", "b", "hue"] and [c["name"] for c in ex.controls] == ["pose", "b", "hue"]
    ex.strengths = [1.0, 0.0, 0.0]
    assert ex.edits[0].name == "E(pose, all)"
    with pytest.raises(ValueError, match="already named 'b'"):
        ex.rename(0, "b")
    with pytest.raises(ValueError, match="cannot be empty"):
        ex.rename(1, "   ")
    with pytest.raises(KeyError, match="no direction named 'zz'"):
        ex.rename("zz", "x")
    with pytest.raises(TypeError, match="is a string; got int"):
        ex.rename(1, 5)  # type: ignore[arg-type]
    # the page asks with a message; a name it refuses shows in the widget and changes nothing
    ex._handle_custom_msg({"type": "lw:rename", "index": 1, "name": "hue"}, [])
    assert "already named 'hue'" in ex.error and ex.directions.names[1] == "b"
    ex._handle_custom_msg({"type": "lw:rename", "index": 1, "name": "size"}, [])
    assert ex.error == "" and ex.controls[1]["name"] == "size"
    ex._handle_custom_msg({"type": "lw:rename", "index": "1", "name": "x"}, [])
    assert "by its index" in ex.error and ex.directions.names[1] == "size"
    assert record.names == ["pose", "size", "hue"]
    ex.directions.save(tmp_path / "named")
    assert Directions.load(tmp_path / "named").names == ["pose", "size", "hue"]
    ex.close()


def test_export_edits_json_round_trip_and_import(ex, model, directions):
    ex.strengths = [1.5, 0.0, -2.0]
    records = ex.export_edits()
    assert json.loads(json.dumps(records)) == records
    assert [(r["name"], r["strength"], r["layers"], r["value"], r["unit"]) for r in records] == [
        ("a", 1.5, None, 1.5, "\u03c3"), ("c", -2.0, [4, 10], -2.0, "\u03c3")]
    assert [Edit.from_record(r, directions).strength for r in records] == [1.5, -2.0]
    image = ex.image
    ex.reset()
    ex.import_edits(records)
    assert ex.strengths == [1.5, 0.0, -2.0] and torch.allclose(ex.image, image)
    # LayerwiseEditor-style records and Edit objects set sigma sliders from their strength
    ex.import_edits([Edit(directions, "b", 0.75, layers=(0, 4))])
    assert ex.strengths == [0.0, 0.75, 0.0]
    with pytest.raises(ValueError, match="edits it at layers 0-3, the record at 0-9"):
        ex.import_edits([{"name": "b", "strength": 1.0, "layers": None}])
    with pytest.raises(ValueError, match="two records for direction 'a'"):
        ex.import_edits([records[0], records[0]])
    assert ex.strengths == [0.0, 0.75, 0.0], "a refused import sets nothing"


def test_export_and_import_of_a_calibrated_slider_use_its_value(model):
    cal = {"unit": "x shift, px", "alpha": [-5.0, 0.0, 5.0], "t": [-20.0, 0.0, 20.0]}
    d = Directions(torch.randn(1, model.w_dim, generator=torch.Generator().manual_seed(2)), "w", names=["x"],
                   calibration=[cal], method="factors", model_id=model.name)
    ex = DirectionExplorer(model, d, n=2)
    ex.strengths = [8.0]
    (rec,) = ex.export_edits()
    assert rec["mode"] == "set" and len(rec["strength"]) == 2 and (rec["value"], rec["unit"]) == (8.0, "x shift, px")
    ex.reset()
    ex.import_edits([rec])
    assert ex.strengths == [8.0]
    with pytest.raises(ValueError, match="without a slider 'value'"):
        ex.import_edits([{k: v for k, v in rec.items() if k != "value"}])
    ex.close()


def test_truncation_pulls_every_frame_towards_the_average_latent(ex, model, directions):
    ex.strengths = [1.0, 0.0, 0.0]
    Wire(ex).request({"truncation": 0.5, "view_mode": "side by side"})
    ws = model.broadcast(model.to_synthesis(ex.z))
    avg = model.w_avg()
    truncated = avg + 0.5 * (ws - avg)
    assert torch.allclose(ex.image, render_edits(model, ex.z, ex.edits, ws=truncated)[1], atol=1e-5)
    assert torch.allclose(ex.original, render_edits(model, ex.z, [], ws=truncated)[1], atol=1e-5)
    assert "truncation=0.5" in ex.code()


def test_code_reproduces_the_view_in_a_fresh_namespace():
    model = lw.load("sprites-style")
    d = lw.find_directions(model, "pca", n_components=4, n_samples=2000, progress=False)
    ex = DirectionExplorer(model, d[[1, 3]], seed=5, n=2)
    ex.rename(1, "size")
    ex.strengths = [1.25, -0.5]
    ex.truncation = 0.8
    code = ex.code()
    assert "lw.load('sprites-style')" in code and "lw.find_directions(model, 'pca'" in code
    ns: dict = {}
    exec(code, ns)  # noqa: S102 - the code under test
    again = ns["ex"]
    assert again.directions.names == ["pca 1", "size"] and again.strengths == [1.25, -0.5]
    assert again.truncation == 0.8 and torch.allclose(again.image, ex.image, atol=1e-5)
    ex.rename(0, "tilt")
    assert "d.rename(0, 'tilt')" in ex._code  # the copy-code button has it without a new frame
    again.close()
    ex.close()


def test_code_of_a_saved_record_loads_it_picks_and_renames(model, directions, tmp_path, monkeypatch):
    import latentwidgets

    directions[:].save(tmp_path / "mine")     # (a copy; method "test": find_directions cannot make it)
    loaded = Directions.load(tmp_path / "mine", model)
    ex = DirectionExplorer(model, loaded[["c", "a"]], seed=2, n=2)
    ex.rename(0, "hue")
    ex.strengths = [0.75, -1.0]
    code = ex.code()
    assert f"lw.Directions.load({str(tmp_path / 'mine')!r}, model)" in code
    assert "d = d[['c', 'a']]" in code and "d.rename(0, 'hue')" in code
    monkeypatch.setattr(latentwidgets, "load", lambda name: model if name == model.name else None)
    ns: dict = {}
    exec(code, ns)  # noqa: S102 - the code under test
    again = ns["ex"]
    assert again.directions.names == ["hue", "a"] and again.strengths == [0.75, -1.0]
    assert torch.equal(again.directions.vectors, ex.directions.vectors) and torch.equal(again.image, ex.image)
    again.close()
    ex.close()
    # a record neither saved nor made by find_directions: the code says to save it and load it
    fresh = Directions(directions.vectors, "w", method="test", model_id=model.name)
    ex = DirectionExplorer(model, fresh)
    assert "save it in this kernel" in ex.code()
    ex.close()
    # nor a find_directions record renamed before the widget was made (its call names them otherwise)
    pca = Directions(directions.vectors, "w", method="pca", options={"n_components": 3}, model_id=model.name)
    pca.rename(2, "hue")
    ex = DirectionExplorer(model, pca[[2, 0]])
    assert "save it in this kernel" in ex.code() and "lw.find_directions(" not in ex.code()
    ex.close()


def test_error_shows_in_widget_and_widget_keeps_working(model, directions, monkeypatch):
    ex = DirectionExplorer(model, directions, seed=0, n=1)
    wire = Wire(ex)
    real = model.synthesize

    def flaky(latents):
        if ex.strengths[0] > 2:
            raise RuntimeError("the generator blew up at this strength")
        return real(latents)

    monkeypatch.setattr(model, "synthesize", flaky)
    content, _ = wire.request({"strengths": [2.5, 0.0, 0.0], "seed": 0, "view_mode": "edited"})
    assert content["type"] == "lw:error" and content["id"] == "t:1"
    assert "the generator blew up" in content["message"] and "RuntimeError" in content["message"]
    assert "blew up" in ex.error
    assert "Traceback" in ex._server.last_traceback
    content, buffers = wire.request({"strengths": [1.0, 0.0, 0.0], "seed": 0, "view_mode": "edited"})
    assert content["type"] == "lw:frame" and ex.error == ""
    assert torch.allclose(ex.image, render_edits(model, ex.z, ex.edits)[1])
    # from Python the error shows in the widget too, and the assignment raises
    with pytest.raises(RuntimeError, match="blew up"):
        ex.strengths = [3.0, 0.0, 0.0]
    assert wire.sent[-1][0]["type"] == "lw:error" and "blew up" in ex.error
    ex.strengths = [0.5, 0.0, 0.0]
    assert ex.error == "" and wire.sent[-1][0]["type"] == "lw:frame"
    ex.close()


def test_close_releases_handlers_and_callbacks(model, directions):
    ex = DirectionExplorer(model, directions)
    wire = Wire(ex)
    calls = []
    ex.on_change(lambda w: calls.append(1))
    image = ex.image
    ex.close()
    assert ex.closed
    ex._handle_custom_msg({"type": "lw:request", "id": "t:9", "state": {"strengths": [1, 0, 0]}}, [])
    with pytest.raises(RuntimeError, match="closed"):  # refused: .image would go stale
        ex.strengths = [1.0, 0.0, 0.0]
    assert ex.strengths == [0.0, 0.0, 0.0] and wire.sent == [] and calls == []
    assert torch.equal(ex.image, image)
    assert ex._server._on_msg not in ex._msg_callbacks.callbacks


def test_grid_of_n_samples_edited_together(model, directions):
    ex = DirectionExplorer(model, directions, seed=5, n=4)
    wire = Wire(ex)
    ex.strengths = [0.0, 1.0, 0.0]
    content, buffers = wire.frames()[-1]
    assert len(content["frames"]) == 4 and ex.image.shape == (4, 3, model.resolution, model.resolution)
    ex.n = 2
    assert wire.frames()[-1][0]["state"]["n"] == 2 and ex.image.shape[0] == 2
    assert torch.equal(ex.z, model.sample_z(2, seed=5))
    ex.close()


def test_jpeg_on_request_and_above_threshold(ex):
    wire = Wire(ex)
    content, buffers = wire.request({"strengths": [1.0, 0.0, 0.0], "seed": 3, "view_mode": "edited"},
                                    format="jpeg")
    assert [f["format"] for f in content["frames"]] == ["jpeg", "jpeg"]
    err = (shown(content, buffers) - ex.image).abs().mean()
    assert err < 0.03
    ex.encoding = "jpeg"
    ex.strengths = [0.0, 0.0, 1.0]
    assert wire.frames()[-1][0]["frames"][0]["format"] == "jpeg"


def test_calibrated_direction_slider_in_factor_units(model):
    g = torch.Generator().manual_seed(2)
    # t = 4 * alpha (px per latent unit) on [-5, 5]
    cal = {"unit": "x shift, px", "alpha": [-5.0, 0.0, 5.0], "t": [-20.0, 0.0, 20.0]}
    d = Directions(torch.randn(2, model.w_dim, generator=g), "w", names=["x", "pca"], calibration=[cal, None],
                   method="factors", model_id=model.name)
    ex = DirectionExplorer(model, d, n=3)
    spec = ex.controls[0]
    assert spec["calibrated"] and spec["unit"] == "x shift, px" and spec["min"] == -20 and spec["max"] == 20
    v = d.vectors[0]
    before = ex.latent @ v
    ex.strengths = [8.0, 0.0]
    (e,) = ex.edits
    assert e.mode == "set" and e.strength.shape == (3,)
    moved = ex.latent @ v
    assert torch.allclose(moved - before, torch.full_like(before, 2.0), atol=1e-4)  # 8 px = 2 latent units
    assert torch.allclose(ex.image, render_edits(model, ex.z, ex.edits)[1])
    ex.close()


def test_exported_from_package():
    assert lw.DirectionExplorer is DirectionExplorer


def test_served_module_is_one_valid_es_module():
    src = esm_source("explorer.js")
    assert 'from "./' not in src and "createTransport" in src and "export default" in src
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (needed to syntax-check the served module)")
    out = subprocess.run([node, "--input-type=module", "--check"], input=src, text=True, capture_output=True)
    assert out.returncode == 0, out.stderr


def test_esm_inliner_aliases_and_rejects_unsupported_syntax(tmp_path, monkeypatch):
    import latentwidgets.widgets.esm as esm

    (tmp_path / "a.js").write_text('export function f() { return 1; }\nexport const k = 2;\n')
    (tmp_path / "main.js").write_text('import { f as g, k } from "./a.js";\nexport default { v: g() + k };\n')
    (tmp_path / "bad.js").write_text('export { f };\nfunction f() {}\n')
    (tmp_path / "uses_bad.js").write_text('import { f } from "./bad.js";\n')
    monkeypatch.setattr(esm, "STATIC", tmp_path)
    src = esm.esm_source("main.js")
    assert "const { f: g, k } = __lw_a;" in src and "return { f, k };" in src
    with pytest.raises(ValueError, match="not supported"):
        esm.esm_source("uses_bad.js")
