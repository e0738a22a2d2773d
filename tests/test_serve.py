"""The worker checks every request's params against the settings groups: a bad one ends that
request with an error of kind ``BadRequest`` naming the key, never ``InternalError``, and the
worker keeps serving."""

from __future__ import annotations

import json

import pytest
from support import serve_lines

from aware3d.app.serve import accepted_keys
from aware3d.app.settings import EngineSettings, ModelSelection, PreviewSettings
from aware3d.exporters import ExportSettings

BAD_PARAMS = {
    "a string for an int": ({"size": "big"}, "size"),
    "an infinite seed": ({"seed": 1e400}, "seed"),  # JSON's 1e400 reads as inf
    "a float seed": ({"seed": 1.5}, "seed"),
    "a negative seed": ({"seed": -1}, "seed"),
    "an unknown key": ({"bogus": 1}, "bogus"),
    "a huge preview": ({"size": 1_000_000_000}, "size"),
    "a truncation out of range": ({"truncation": 7}, "truncation"),
    "a bool for a number": ({"yaw": True}, "yaw"),
    "an unknown device": ({"device": "tpu"}, "device"),
    "options that are not a mapping": ({"options": "ema=none"}, "options"),
    "an option the family lacks": ({"options": {"ema": "none"}}, "options.ema"),
    "an output that is not a path": ({"output": 3}, "output"),
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_bad_preview_params_are_bad_requests_naming_the_key(case, tmp_path):
    extra, key = BAD_PARAMS[case]
    params = {"model": "demo", "size": 8, "output": str(tmp_path / "p.png"), **extra}
    finals = serve_lines([json.dumps({"id": "bad", "method": "preview", "params": params}),
                     json.dumps({"id": "ok", "method": "ping"})])
    assert finals["bad"]["event"] == "error" and finals["bad"]["kind"] == "BadRequest", finals["bad"]
    assert finals["bad"]["key"] == key and key.split(".")[-1] in finals["bad"]["message"]
    assert finals["ok"]["event"] == "result"  # still serving
    assert not (tmp_path / "p.png").exists()


def test_bad_export_and_batch_params(tmp_path):
    finals = serve_lines([
        json.dumps({"id": 1, "method": "generate", "params": {"model": "demo", "texture_size": 1000, "output": str(tmp_path / "a.glb")}}),
        json.dumps({"id": 2, "method": "batch", "params": {"model": "demo", "seed": 3, "seeds": "0-1", "folder": str(tmp_path / "b")}}),
        json.dumps({"id": 3, "method": "batch", "params": {"model": "demo", "seeds": 5, "folder": str(tmp_path / "b")}}),
        json.dumps({"id": 4, "method": "preview", "params": ["not", "an", "object"]}),
    ])
    assert [(finals[i]["kind"], finals[i]["key"]) for i in (1, 2, 3, 4)] == [
        ("BadRequest", "texture_size"), ("BadRequest", "seed"), ("BadRequest", "seeds"), ("BadRequest", "params")
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_request_without_a_method_is_answered_with_its_id():
    finals = serve_lines([json.dumps({"id": "x7"}), "not json"])
    assert (finals["x7"]["kind"], finals["x7"]["key"]) == ("BadRequest", "method")
    assert (finals[None]["kind"], finals[None]["key"]) == ("BadRequest", None)


def test_accepted_keys_are_the_settings_groups():
    model, preview, export = set(ModelSelection.keys()), set(PreviewSettings.keys()), set(ExportSettings.keys())
    assert accepted_keys("preview") == model | preview | {"output", "image"}
    assert accepted_keys("generate") == model | preview | export | {"output", "preview", "image", "fit_settings"}
    assert accepted_keys("batch") == model | {"truncation"} | export | set(EngineSettings.keys()) | {"folder", "seeds", "images", "fit_settings"}
    assert accepted_keys("ping") == frozenset()
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        accepted_keys("nope")
