"""The Edit value beside Directions: layer specs as the layer-wise editor takes them, names, records."""

from __future__ import annotations

import pytest
import torch

import latentwidgets as lw
from latentwidgets.directions import Directions
from latentwidgets.directions.edits import Edit
from latentwidgets.directions.layers import check_layers, layer_groups, layer_range, resolve_layers
from latentwidgets.edit import render_edits
from latentwidgets.testing.direction_models import one_thread, tiny_style

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


def _record(model) -> Directions:
    return Directions(vectors=torch.eye(model.w_dim)[:2], space="w", names=["a", "b"], method="test",
                      model_id=model.name)


def test_edit_is_the_same_class_everywhere():
    from latentwidgets.edit import Edit as EditFromEdit

    assert EditFromEdit is Edit and lw.Edit is Edit


def test_group_name_is_kept_and_resolved_when_applied():
    model = tiny_style()
    d = _record(model)
    e = Edit(d, "b", 2.0, layers="coarse")
    assert e.layers == "coarse" and e.name == "E(b, coarse)"
    rng = layer_groups(model.num_layers)["coarse"]
    assert e.layer_range(model.num_layers) == rng
    z = model.sample_z(2, seed=0)
    ws, img = render_edits(model, z, [e])
    ws_r, img_r = render_edits(model, z, [Edit(d, "b", 2.0, layers=rng)])
    assert torch.equal(ws, ws_r) and torch.equal(img, img_r)
    assert not torch.equal(img, render_edits(model, z, [])[1])


def test_record_round_trip_keeps_the_layer_spec():
    model = tiny_style()
    d = _record(model)
    for layers in ("fine", (1, 3), None):
        e = Edit(d, 1, 1.5, layers=layers, mode="add")
        back = Edit.from_record(e.to_record(), d)
        assert back.layers == e.layers and back.direction == 1 and back.strength == 1.5


def test_layer_specs_are_checked():
    model = tiny_style()
    d = _record(model)
    assert Edit(d, 0, layers=[0, 2]).layers == (0, 2) and Edit(d, 0, layers="all").layers is None
    with pytest.raises(ValueError, match="unknown layer group"):
        Edit(d, 0, 1.0, layers="coarsest")
    with pytest.raises(ValueError, match="does not fit"):
        Edit(d, 0, 1.0, layers=(3, 3))
    e = Edit(d, 0, 1.0, layers=(0, model.num_layers + 1))
    with pytest.raises(ValueError, match=r"E\(a, 0-\d+\): layer range .* does not fit a model"):
        render_edits(model, model.sample_z(1, seed=0), [e])


def test_the_one_parser():
    assert check_layers("middle") == "middle" and check_layers((2, 5)) == (2, 5) and check_layers(None) is None
    assert resolve_layers("middle", 10) == (4, 8) and resolve_layers("all", 10) is None
    assert layer_range(None, 10) == (0, 10) and layer_range("fine", 18) == (8, 18)
    with pytest.raises(ValueError, match="does not fit a model with 10"):
        resolve_layers((3, 11), 10)
    with pytest.raises(ValueError, match="group name"):
        check_layers(3)
