"""Batches on Ray: the local engine's bytes, workers killed mid-asset, a killed driver, failing
seeds, and the messages for a missing Ray or a bad engine setting. Every test here runs a real
local Ray instance (2 CPUs, loopback)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from aware3d.app.batch import run_batch
from aware3d.app.settings import EngineSettings, ModelSelection
from aware3d.exporters import ExportSettings

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'aware3d[ray]')")

TINY = ["--resolution", "32", "--texture-size", "16", "--faces", "400"]
TINY_EXPORT = ExportSettings(resolution=32, texture_size=16, target_faces=400)
DEMO = ModelSelection(model="demo")
RAY2 = EngineSettings(engine="ray", workers=2)

_FAULTS = textwrap.dedent('''
    """Faults injected into every Ray worker process (``worker_process_setup_hook``), read from
    the plan file named by AWARE3D_FAULT_PLAN at each field query or GLB write."""
    import json, os, signal, tempfile
    from pathlib import Path


    def _plan():
        return json.loads(Path(os.environ["AWARE3D_FAULT_PLAN"]).read_text())


    def _die_once(plan, kind, seed):
        marker = Path(plan["markers"]) / f"{kind}-{seed}"
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)


    def install():
        import aware3d.exporters.pipeline as pipeline
        from aware3d.fields import BaseField

        real_density, real_write = BaseField.query_density, pipeline.write_atomic

        def query_density(self, points):
            plan, seed = _plan(), self.identity.get("seed")
            if seed in plan.get("raise", []):
                raise RuntimeError(f"injected failure for seed {seed}")
            if seed in plan.get("kill_always", []):
                os.kill(os.getpid(), signal.SIGKILL)
            if seed in plan.get("kill_once", []):
                _die_once(plan, "query", seed)
            return real_density(self, points)

        def write_atomic(path, data):
            plan, path = _plan(), Path(path)
            for seed in plan.get("kill_in_write_once", []):
                if path.name == f"demo_seed{seed}.glb" and not (Path(plan["markers"]) / f"write-{seed}").exists():
                    handle, _ = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
                    os.write(handle, data[: len(data) // 2])  # half a file, as a kill mid-write leaves
                    _die_once(plan, "write", seed)
            return real_write(path, data)

        BaseField.query_density = query_density
        pipeline.write_atomic = write_atomic
''')


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _comparable(manifest: dict) -> dict:
    """The manifest without what may differ between engines: timings and worker names."""
    manifest = json.loads(json.dumps(manifest))
    for entry in manifest["assets"].values():
        entry.pop("worker")
        if entry.get("stats"):
            entry["stats"].pop("seconds")
    return manifest


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "aware3d", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


# This test starts its own Ray instances (through the CLI), so it runs before the module's shared one exists.
@needs_ray
def test_a_killed_driver_resumes_from_the_manifest_on_disk(tmp_path, validate_glb):
    out = tmp_path / "out"
    args = ["batch", "--model", "demo", "--seeds", "0-9", *TINY, "-o", str(out), "--engine", "ray", "--workers", "2"]
    driver = _cli(*args, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None:
            if (out / "manifest.json").exists() and sum(e["status"] == "ok" for e in _manifest(out)["assets"].values()) >= 3:
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the batch ended before it could be killed: " + driver.stderr.read()
    finally:  # the driver and the Ray processes it started (one process group); its actors die with its raylet
        os.killpg(driver.pid, signal.SIGKILL)
        driver.communicate()
    done_before = {seed for seed, entry in _manifest(out)["assets"].items() if entry["status"] == "ok"}
    assert 3 <= len(done_before) < 10
    mtimes = {seed: (out / f"demo_seed{seed}.glb").stat().st_mtime_ns for seed in done_before}

    rerun = _cli(*args, start_new_session=True)
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert f"{10 - len(done_before)} written, {len(done_before)} already done, 0 failed" in stdout
    manifest = _manifest(out)
    assert sorted(int(s) for s in manifest["assets"]) == list(range(10))
    assert all(entry["status"] == "ok" and entry["worker"].startswith("ray:") for entry in manifest["assets"].values())
    assert {seed: (out / f"demo_seed{seed}.glb").stat().st_mtime_ns for seed in done_before} == mtimes  # not redone
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"demo_seed{s}.glb" for s in range(10)), "manifest.json"])
    report = validate_glb(out / "demo_seed9.glb")["issues"]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0


# Before the module's shared instance too: a process already connected to Ray stays on it.
@needs_ray
@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_an_unreachable_cluster_gets_one_sentence_at_once(tmp_path, capsys, address):
    from aware3d.app.cli import main

    started = time.monotonic()
    assert main(["batch", "--model", "demo", "--seeds", "0", "-o", str(tmp_path / "out"), "--engine", "ray", "--address", address]) == 2
    assert f"cannot reach the Ray cluster at {address}" in capsys.readouterr().err
    assert time.monotonic() - started < 30  # Ray alone would retry for minutes
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local Ray instance whose workers run the fault hook; yields the fault plan's path."""
    ray = pytest.importorskip("ray")
    hooks = tmp_path_factory.mktemp("ray-hooks")
    (hooks / "aware3d_faults.py").write_text(_FAULTS)
    (hooks / "markers").mkdir()
    plan = hooks / "plan.json"
    plan.write_text(json.dumps({"markers": str(hooks / "markers")}))
    runtime_env = {"worker_process_setup_hook": "aware3d_faults.install",
                   "env_vars": {"PYTHONPATH": str(hooks), "AWARE3D_FAULT_PLAN": str(plan)}}
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False, runtime_env=runtime_env)
    yield plan
    ray.shutdown()


def _set_faults(plan: Path, **faults: list[int]) -> Path:
    markers = Path(json.loads(plan.read_text())["markers"])
    plan.write_text(json.dumps({"markers": str(markers), **faults}))
    return markers


@needs_ray
def test_ray_writes_the_local_engines_bytes_and_manifest(ray_cluster, tmp_path, validate_glb):
    local = run_batch(tmp_path / "local", list(range(4)), DEMO, 0.7, TINY_EXPORT)
    remote = run_batch(tmp_path / "ray", list(range(4)), DEMO, 0.7, TINY_EXPORT, engine=RAY2)
    assert (local.num_written, remote.num_written, remote.failures) == (4, 4, {})
    for seed in range(4):
        name = f"demo_seed{seed}.glb"
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    manifest = _manifest(tmp_path / "ray")
    assert _comparable(manifest) == _comparable(_manifest(tmp_path / "local"))
    workers = {entry["worker"] for entry in manifest["assets"].values()}
    assert len(workers) == 2 and all(w.startswith("ray:") for w in workers)  # both actors worked
    assert {entry["worker"] for entry in _manifest(tmp_path / "local")["assets"].values()} == {f"{os.uname().nodename}:{os.getpid()}"}
    report = validate_glb(tmp_path / "ray" / "demo_seed0.glb")["issues"]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0
    again = run_batch(tmp_path / "ray", list(range(4)), DEMO, 0.7, TINY_EXPORT)  # the local engine resumes a Ray batch
    assert (again.num_written, again.num_skipped) == (0, 4)


@needs_ray
def test_killed_workers_are_restarted_and_failing_seeds_recorded(ray_cluster, tmp_path, capsys):
    from aware3d.app.cli import main

    markers = _set_faults(ray_cluster, kill_once=[1], kill_in_write_once=[2], kill_always=[4], **{"raise": [3]})
    out = tmp_path / "out"
    try:
        code = main(["batch", "--model", "demo", "--seeds", "0-5", *TINY, "-o", str(out), "--engine", "ray", "--workers", "2"])
    finally:
        _set_faults(ray_cluster)
    assert code == 1  # some seeds failed: exit code 1 at the end, the rest written
    assert {p.name for p in markers.iterdir()} == {"query-1", "write-2"}  # the workers really were killed
    manifest = _manifest(out)
    status = {int(seed): entry["status"] for seed, entry in manifest["assets"].items()}
    assert status == {0: "ok", 1: "ok", 2: "ok", 3: "failed", 4: "failed", 5: "ok"}
    assert "RuntimeError: injected failure for seed 3" in manifest["assets"]["3"]["error"]
    assert manifest["assets"]["4"]["error"].startswith("WorkerDied: the worker exporting it died 3 times")
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"demo_seed{s}.glb" for s in (0, 1, 2, 5)), "manifest.json"])
    captured = capsys.readouterr()
    assert "4 written, 0 already done, 2 failed" in captured.out
    assert "seed 3 failed: RuntimeError: injected failure for seed 3" in captured.err
    reference = tmp_path / "reference"
    run_batch(reference, [1, 2], DEMO, 0.7, TINY_EXPORT)  # retried assets are the same bytes as undisturbed ones
    for seed in (1, 2):
        assert (out / f"demo_seed{seed}.glb").read_bytes() == (reference / f"demo_seed{seed}.glb").read_bytes()


@needs_ray
def test_the_worker_runs_a_batch_on_ray(ray_cluster, tmp_path):
    from aware3d.app.serve import Worker

    request = {"id": 1, "method": "batch", "params": {"model": "demo", "seeds": "0-2", "folder": str(tmp_path / "out"),
                                                       "resolution": 32, "texture_size": 16, "target_faces": 400,
                                                       "engine": "ray", "workers": 2}}
    stdout = io.StringIO()
    Worker(io.StringIO(json.dumps(request) + "\n"), stdout).serve()
    events = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [e["done"] for e in events if e["event"] == "progress"] == [1, 2, 3]
    result = events[-1]["result"]
    assert (result["written"], result["skipped"], result["failures"]) == (3, 0, {})
    assert {entry["worker"][:4] for entry in _manifest(tmp_path / "out")["assets"].values()} == {"ray:"}


@needs_ray
def test_a_model_that_cannot_load_stops_the_batch_with_its_own_message(ray_cluster, tmp_path):
    from aware3d.errors import CheckpointError

    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        run_batch(tmp_path / "out", [0], ModelSelection(model="pigan", checkpoint=tmp_path / "missing.pth"), engine=RAY2)
    assert not (tmp_path / "out").exists()


def test_without_ray_the_ray_engine_says_how_to_install_it(tmp_path):
    script = ("import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
              "from aware3d.app.cli import main\n"
              f"sys.exit(main(['batch', '--model', 'demo', '--seeds', '0-1', '-o', {str(tmp_path / 'out')!r}, '--engine', 'ray']))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "aware3d batch: error: the Ray engine needs Ray, which is not installed here: pip install 'aware3d[ray]'\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--workers", "2"], "--workers is a Ray setting; choose the ray engine or leave it out"),
    (["--address", "auto"], "--address is a Ray setting; choose the ray engine or leave it out"),
    (["--engine", "ray", "--gpus-per-worker", "-1"], "--gpus-per-worker must be at least 0.0"),
])
def test_bad_engine_settings_get_one_sentence(tmp_path, capsys, flags, message):
    from aware3d.app.cli import main

    assert main(["batch", "--model", "demo", "--seeds", "0", "-o", str(tmp_path / "out"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("url", ["s3://bucket/faces", "gs://bucket/faces"])
def test_object_store_urls_are_refused(tmp_path, capsys, url, monkeypatch):
    from aware3d.app.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["batch", "--model", "demo", "--seeds", "0", "-o", url]) == 2
    assert "object stores are not supported" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_serve_keeps_stray_prints_off_the_protocol():
    script = ("import aware3d.app.serve as serve\n"
              "real = serve.Worker._ping\n"
              "def ping(self, params, progress):\n"
              "    print('a library printing to stdout')\n"  # as Ray's driver does with its workers' errors
              "    return real(self, params, progress)\n"
              "serve.Worker._ping = ping\n"
              "serve.serve()\n")
    lines = '{"id": 1, "method": "ping"}\n{"id": 2, "method": "shutdown"}\n'
    result = subprocess.run([sys.executable, "-c", script], input=lines, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [1, 2]
    assert "a library printing to stdout" in result.stderr


def test_the_manifest_is_rewritten_at_most_a_tenth_of_the_time(tmp_path, monkeypatch):
    """A write that takes 0.3 s (a 10 000-asset manifest) waits 2.7 s before the next; a 1 ms write
    (a small manifest) happens after every asset; a forced write always happens."""
    import aware3d.app.batch as batch

    clock = {"now": 0.0, "write": 0.3}

    def write_atomic(path, data):
        clock["now"] += clock["write"]
        Path(path).write_bytes(data)

    monkeypatch.setattr(batch.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(batch, "write_atomic", write_atomic)
    writer = batch.ManifestWriter(tmp_path / "manifest.json")
    written = []
    for asset in range(20):  # an asset finishes every 0.5 s
        written.append(writer.write({"assets": asset}))
        clock["now"] += 0.5
    assert [i for i, w in enumerate(written) if w] == [0, 6, 12, 18]  # each 0.3 s write, then 2.7 s without one
    assert writer.write({"assets": "last"}, force=True) and json.loads((tmp_path / "manifest.json").read_text()) == {"assets": "last"}
    clock["write"] = 0.001  # a small manifest
    writer.write({"assets": "small"}, force=True)
    written = []
    for asset in range(5):
        clock["now"] += 0.5
        written.append(writer.write({"assets": asset}))
    assert written == [True] * 5



@needs_ray
def test_a_folder_of_images_on_ray_gives_the_local_bytes(ray_cluster, tmp_path):
    from unsup3d_official import face_image, make_networks, save_checkpoint, save_png

    checkpoint = save_checkpoint(tmp_path / "pretrained_celeba" / "checkpoint030.pth", make_networks(seed=1))
    images = [save_png(tmp_path / f"face{i}.png", face_image(80, seed=i)) for i in range(3)]
    selection = ModelSelection(checkpoint=checkpoint)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray worker of one CPU: convolutions sum in another order at other thread counts
    try:
        local = run_batch(tmp_path / "local", [], selection, images=images)
    finally:
        torch.set_num_threads(threads)
    remote = run_batch(tmp_path / "ray", [], selection, engine=RAY2, images=images)
    assert (local.num_written, remote.num_written, remote.failures) == (3, 3, {})
    for i in range(3):
        name = f"unsup3d_face{i}.glb"
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert _comparable(_manifest(tmp_path / "ray")) == _comparable(_manifest(tmp_path / "local"))
