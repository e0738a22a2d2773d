"""The worker survives any line: generated lines (not JSON, JSON that is not an object, missing or
wrongly typed ids, methods and params, unknown keys, wrong types, NaN, infinite, huge and negative
numbers, 100 000-character strings, output paths in missing folders, on folders and on files that
are not outputs, cancels of unknown and finished ids, lines after shutdown) each get exactly one
answer, never an InternalError; no partial or clobbered file is left, and a valid preview works
afterwards."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aware3d.app.serve import Worker, accepted_keys

METHODS = ["ping", "models", "preview", "generate", "batch", "cancel"]
KEYS = sorted(set().union(*(accepted_keys(m) for m in METHODS)))
LINES_PER_EXAMPLE = 35
EXAMPLES = 12
"""12 examples of 35 generated lines each (a quarter of them cut short by a shutdown): about 380 lines answered."""

_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e400, -0.0, 1e308, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_texts = st.one_of(st.text(max_size=30), st.just("x" * 100_000), st.sampled_from(["demo", "nope", "0-3", "9-1", "a,b", "ema=none"]))
_values = st.recursive(
    st.one_of(st.none(), st.booleans(), _numbers, _texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)
# Small valid values, so that the requests that do pass validation stay cheap to run.
_small_valid = {
    "size": st.integers(1, 12), "resolution": st.just(32), "coarse_resolution": st.just(32), "texture_size": st.just(16),
    "target_faces": st.integers(100, 300), "seed": st.integers(0, 3), "truncation": st.floats(0, 1), "model": st.just("demo"),
}


def _paths(folder: Path) -> st.SearchStrategy:
    return st.sampled_from([
        str(folder / "missing" / "x.png"), str(folder), str(folder / "precious.pth"), str(folder / "out.png"),
        str(folder / "out.glb"), str(folder / "batch"), "", str(folder / "out.txt"),
    ])


@st.composite
def _request(draw, folder: Path) -> str:
    kind = draw(st.sampled_from(["garbage", "not an object", "request", "request", "request", "request"]))
    if kind == "garbage":
        return draw(st.sampled_from(["{", "nul", "[1,", "{'id': 1}", "\x00\x01", "}{"])) + draw(st.text(max_size=5)).replace("\n", "")
    if kind == "not an object":
        return json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=10))))
    request: dict = {}
    if draw(st.booleans()) or draw(st.booleans()):
        request["id"] = draw(st.one_of(st.integers(0, 50), st.text(max_size=4), _values))
    if draw(st.integers(0, 9)) > 0:
        request["method"] = draw(st.one_of(st.sampled_from(METHODS), _values))
    if draw(st.integers(0, 9)) == 0:
        request[draw(st.text(min_size=1, max_size=6))] = draw(_values)
    if draw(st.integers(0, 4)) == 0:
        request["params"] = draw(_values)
    else:
        params = {}
        for key in draw(st.lists(st.sampled_from([*KEYS, "bogus"]), max_size=6, unique=True)):
            if key in ("output", "preview", "folder", "checkpoint"):
                params[key] = draw(st.one_of(_paths(folder), _values))
            elif key in _small_valid and draw(st.booleans()):
                params[key] = draw(_small_valid[key])
            else:
                params[key] = draw(_values)
        request["params"] = params
    return json.dumps(request)  # json writes NaN and Infinity, which json.loads reads back


def _answers(lines: list[str]) -> list[dict]:
    stdout = io.StringIO()
    assert Worker(io.StringIO("".join(line + "\n" for line in lines)), stdout).serve() == 0
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_line_gets_exactly_one_answer(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    precious = folder / "precious.pth"
    precious.write_bytes(b"the user's checkpoint")
    lines = [data.draw(_request(folder)) for _ in range(LINES_PER_EXAMPLE)]
    valid = json.dumps({"id": "final", "method": "preview", "params": {"model": "demo", "size": 8, "output": str(folder / "final.png")}})
    lines = [*lines, valid]
    if data.draw(st.integers(0, 3)) == 0:  # sometimes a shutdown in the middle: the lines after it are not read
        lines.insert(data.draw(st.integers(0, len(lines))), json.dumps({"id": "bye", "method": "shutdown"}))
    cut = next((i for i, line in enumerate(lines) if _is_shutdown(line)), None)
    answered = lines if cut is None else lines[: cut + 1]  # the worker stops reading after shutdown

    finals = [a for a in _answers(lines) if a["event"] in ("result", "error")]
    assert len(finals) == len(answered), (len(finals), len(answered))
    assert not [a for a in finals if a.get("kind") == "InternalError"], [a for a in finals if a.get("kind") == "InternalError"]
    for answer in finals:
        if answer.get("kind") == "BadRequest":
            assert answer["key"] is None or isinstance(answer["key"], str)
    assert precious.read_bytes() == b"the user's checkpoint"
    assert not list(folder.rglob("*.part")) and not list(folder.rglob(".*"))
    if cut is None:
        assert finals[-1]["id"] == "final" and finals[-1]["event"] == "result"
        assert Image.open(folder / "final.png").size == (8, 8)
    follow_up = _answers([valid.replace("final.png", "again.png")])
    assert follow_up[-1]["event"] == "result"  # a fresh worker after all that serves a preview


def _is_shutdown(line: str) -> bool:
    try:
        request = json.loads(line)
    except ValueError:
        return False
    if not isinstance(request, dict) or request.get("method") != "shutdown":
        return False
    request_id = request.get("id")
    if "id" not in request or isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
        return False
    return set(request) <= {"id", "method", "params"} and isinstance(request.get("params", {}), (dict, type(None)))


def test_cancel_a_queued_request_and_an_unknown_one(tmp_path):
    preview = {"model": "demo", "size": 48, "output": str(tmp_path / "a.png")}
    answers = _answers([
        json.dumps({"id": "slow", "method": "preview", "params": preview}),
        json.dumps({"id": "queued", "method": "preview", "params": {**preview, "output": str(tmp_path / "b.png")}}),
        json.dumps({"id": "c1", "method": "cancel", "params": {"target": "queued"}}),
        json.dumps({"id": "c2", "method": "cancel", "params": {"target": "zzz"}}),
    ])
    finals = {a["id"]: a for a in answers if a["event"] in ("result", "error")}
    assert finals["c1"]["result"] == {"cancelled": "queued"}
    assert finals["queued"]["kind"] == "Cancelled" and not (tmp_path / "b.png").exists()
    assert finals["slow"]["event"] == "result" and (tmp_path / "a.png").exists()
    assert (finals["c2"]["kind"], finals["c2"]["key"]) == ("BadRequest", "target") and "no request 'zzz'" in finals["c2"]["message"]
