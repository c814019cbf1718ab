"""Bad input gets a clear error that names the fix, or a stated rule, never a silently wrong result: records
(names with dots, files that do not match), model loading (trust, pickled modules, corrupt files, unknown
names), generators (output range, NaN/inf, batch size, tuples), latents, and the attribute method on a
model without a ground truth."""

from __future__ import annotations

import json

import pytest
import torch

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
