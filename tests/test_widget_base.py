"""What every widget gets from widgets/base.py (issue 20): "copy as code" (``code()`` over ``_code_lines()``,
carried to the page in the synced ``_code`` once the frames rest, on the kernel's event loop), the ``debug``
switch, and truncation on the
models that have a truncation trick (a mapping network, or a ``truncation`` setting as BigGAN's), for
every ``FrameWidget``, sampled or not.

The front end is played by calling the widget's message handler, as in tests/test_bad_input_widgets.py.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest
import torch
import traitlets as t

from latentwidgets.directions.record import Directions
from latentwidgets.edit import Edit, render_edits
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.testing.direction_models import OwnTruncationDecoder, plain_decoder_net
from latentwidgets.widgets.base import CODE_IDLE_S, FrameWidget, SampledFrameWidget, frame_state, has_truncation


class Sketch(SampledFrameWidget):
    """The smallest sampled widget: one w-space edit of strength ``gain`` along ``directions`` 0."""

    gain = frame_state(t.Float(0.0))

    def __init__(self, model, directions=None, **kwargs):
        self.model = model
        self.directions = directions
        self.computes = 0
        super().__init__(**kwargs)
        self._refresh()
        self._serve()

    def _edits(self):
        return [] if self.directions is None else [Edit(self.directions, 0, self.gain)]

    def _compute(self):
        self.computes += 1
        self._latent, self._image = self._render_edits(self._latents(), self._edits())

    def _frames(self, initial):
        return self._image

    def _code_lines(self):
        self.code_calls = getattr(self, "code_calls", 0) + 1
        args = ", ".join(self._state_code_args())
        return self._model_code_lines() + [f"w = Sketch(model, {args}, gain={self.gain!r})"]


class Uncodable(Sketch):
    """A widget that cannot write its code (the base hook)."""

    _code_lines = SampledFrameWidget._code_lines


class Still(FrameWidget):
    """A widget that is not sampled (as CollageCanvas): two samples of seed 0 drawn by ``_generate``."""

    def __init__(self, model, **kwargs):
        self.model = model
        super().__init__(**kwargs)
        self._refresh()
        self._serve()

    def _compute(self):
        self._image = self._generate(self.model.sample_z(2, seed=0))

    def _frames(self, initial):
        return self._image


_ids = itertools.count(1)


def request(widget, state):
    """Play the page: one frame request; returns the reply's content."""
    sent = []
    widget.send = lambda content, buffers=None: sent.append(content)
    widget._handle_custom_msg({"type": "lw:request", "id": f"t:{next(_ids)}", "state": state}, [])
    return sent[-1]


@pytest.fixture(scope="module")
def model(untrained_style_model):
    return untrained_style_model


@pytest.fixture
def directions(model):
    g = torch.Generator().manual_seed(1)
    return Directions(torch.randn(2, model.w_dim, generator=g), "w", sigma=torch.ones(2), names=["a", "b"],
                      method="test")


# ---------------------------------------------------------------------------------- copy as code
def kernel_loop(coro_fn):
    """Run ``coro_fn()`` on a fresh event loop in its own thread (the kernel's loop), whatever loop this
    thread may already run (playwright's sync API keeps one running in pytest's main thread)."""
    out: dict = {}

    def run():
        try:
            out["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_code_makes_the_view_again_and_reaches_the_page_once_the_frames_rest(model):
    async def kernel():  # (the kernel's event loop: cells and the page's requests run on it)
        w = Sketch(model, seed=3, n=2)
        assert w._code == w.code(), "the page has the code from the start"
        w.gain = 1.5
        assert w.code() == ("import latentwidgets as lw\nmodel = lw.load('sprites-style')\n"
                            "w = Sketch(model, seed=3, n=2, gain=1.5)\n")
        await asyncio.sleep(CODE_IDLE_S + 0.2)
        assert w._code == w.code()
        reply = request(w, {"seed": 11, "gain": 0.5, "truncation": 0.6})
        assert reply["type"] == "lw:frame"
        await asyncio.sleep(CODE_IDLE_S + 0.2)
        assert "seed=11" in w._code and "truncation=0.6" in w._code and "gain=0.5" in w._code
        return w

    w = kernel_loop(kernel)
    namespace = {"Sketch": Sketch}
    exec(w.code(), namespace)  # a fresh kernel: the model by name, the widget, its values
    again = namespace["w"]
    assert again.state() == w.state()
    again.close()
    w.close()


def test_a_drag_writes_the_code_once_when_it_rests_not_per_frame(model):
    async def drag():
        w = Sketch(model)
        calls = w.code_calls
        for i in range(20):
            request(w, {"gain": i / 10})
            await asyncio.sleep(0.01)
        assert w.code_calls == calls, "no code is written while frames keep coming"
        await asyncio.sleep(CODE_IDLE_S + 0.2)
        assert w.code_calls == calls + 1 and "gain=1.9" in w._code
        w.close()

    kernel_loop(drag)


def test_a_widget_without_code_lines_sends_no_code(model):
    async def kernel():
        w = Uncodable(model)
        with pytest.raises(NotImplementedError):
            w.code()
        request(w, {"seed": 2})
        await asyncio.sleep(CODE_IDLE_S + 0.2)
        assert w._code == "", "the page hides its copy-code button"
        w.close()

    kernel_loop(kernel)


# ---------------------------------------------------------------------------------- debug
def test_debug_is_a_synced_switch_that_does_not_recompute(model):
    w = Sketch(model)
    assert w.debug is False, "developer timings are off by default"
    assert "debug" in w.keys and "debug" not in w.state()
    before = w.computes
    w.debug = True
    assert w.computes == before
    w.close()


# ---------------------------------------------------------------------------------- truncation
def test_truncation_pulls_the_samples_towards_the_average_latent(model, directions):
    assert has_truncation(model)
    w = Sketch(model, directions, seed=5, n=3, gain=1.0)
    assert "truncation" in w.state() and "truncation" in w._front_fields
    z = w.z
    plain = render_edits(model, z, [Edit(directions, 0, 1.0)])
    assert torch.equal(w.image, plain[1]) and torch.equal(w.latent, plain[0]), "no truncation: render_edits itself"
    w.truncation = 0.5
    avg = model.w_avg()
    ws = model.broadcast(avg + 0.5 * (model.to_synthesis(z) - avg))
    expected = render_edits(model, z, [Edit(directions, 0, 1.0)], ws=ws)
    assert torch.allclose(w.latent, expected[0], atol=1e-6) and torch.allclose(w.image, expected[1], atol=1e-6)
    assert not torch.allclose(w.image, plain[1], atol=1e-3)
    w.truncation = 0.0
    w.gain = 0.0
    assert torch.allclose(w.latent, avg.expand_as(w.latent), atol=1e-6), "0: every sample is the average"
    w.close()


def test_z_space_edits_move_z_before_it_is_mapped_and_truncated(model):
    g = torch.Generator().manual_seed(2)
    dz = Directions(torch.randn(1, model.z_dim, generator=g), "z", sigma=torch.ones(1), names=["zz"], method="test")
    w = Sketch(model, dz, seed=1, n=2, gain=2.0, truncation=0.7)
    z = w.z
    moved = render_edits(model, z, [Edit(dz, 0, 2.0)])[0]  # mapped from the moved z, untruncated
    avg = model.w_avg()
    assert torch.allclose(w.latent, avg + 0.7 * (moved - avg), atol=1e-6)
    w.close()


def test_the_page_sets_truncation_within_zero_to_one(model):
    w = Sketch(model)
    request(w, {"truncation": 0.8})
    assert w.truncation == 0.8 and w.error == ""
    reply = request(w, {"truncation": 1.5})
    assert reply["type"] == "lw:error" and "truncation must be in [0, 1]" in reply["message"]
    assert w.truncation == 0.8, "refused, not applied"
    with pytest.raises(t.TraitError, match=r"\[0, 1\]"):
        w.truncation = -0.1
    w.close()


def test_a_model_without_truncation_has_no_truncation_state():
    torch.manual_seed(0)
    m = DecoderModel(plain_decoder_net(4, 4), z_dim=4, output_range=(0.0, 1.0))
    assert not has_truncation(m)
    w = Sketch(m)
    assert "truncation" not in w.state() and "truncation" not in w._front_fields
    assert "truncation" not in w.code()
    assert "lw.load" not in w.code() and "is not a model latentwidgets loads by name" in w.code(), \
        "a model that is not the zoo's is not loaded by a name that does not exist"
    with pytest.raises(t.TraitError, match="no truncation"):
        w.truncation = 0.5
    reply = request(w, {"truncation": 0.5})
    assert reply["type"] == "lw:error"
    w.close()


def test_a_model_with_its_own_truncation_renders_with_the_widgets_and_keeps_its_own():
    m = OwnTruncationDecoder()
    assert has_truncation(m)
    w = Sketch(m, seed=2, n=2)
    assert w.truncation == 0.4, "the widget starts at the model's setting"
    assert torch.allclose(w.z, m.sample_z(2, seed=2))
    w.truncation = 0.8
    assert m.truncation == 0.4, "the model's own setting is put back"
    assert torch.allclose(w.z, DecoderModel.sample_z(m, 2, seed=2) * 0.8)
    assert torch.allclose(w.image, m.generate(DecoderModel.sample_z(m, 2, seed=2) * 0.8))
    with pytest.raises(t.TraitError, match=r"\(0, 1\]"):
        w.truncation = 0.0
    w.close()


def test_a_widget_that_is_not_sampled_has_the_same_truncation(model):
    z = model.sample_z(2, seed=0)
    w = Still(model)
    assert "truncation" in w._front_fields and w._state_code_args() == []
    assert torch.equal(w.image, model.generate(z)), "no truncation: the model's generate itself"
    request(w, {"truncation": 0.5})
    assert torch.allclose(w.image, model.generate(z, truncation=0.5), atol=1e-6)
    assert w._state_code_args() == ["truncation=0.5"]
    assert request(w, {"truncation": 1.5})["type"] == "lw:error" and w.truncation == 0.5
    w.close()
    m = OwnTruncationDecoder()
    w = Still(m, truncation=0.8)
    assert m.truncation == 0.4 and torch.allclose(w.image, m.generate(DecoderModel.sample_z(m, 2, seed=0) * 0.8))
    w.close()
