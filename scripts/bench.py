"""Performance figures: the demo field (field queries, preview, dense vs sparse marching cubes,
seconds per stage of one ``generate``) and EG3D at its full ffhq512-128 size with random weights
(backbone seconds per identity, field points per second, a 512x512 preview). Runs on the CPU and,
when present, on CUDA.

    python scripts/bench.py [--skip-dense-512] [--device cpu|cuda|all] [--family demo|eg3d|panohead|...|all] [--no-fidelity] [--no-uv]
                            [--fidelity-size N] [--batch-seeds N]

With fidelity (the default), each family also reports, for one asset at 256^3 with a 1024^2
texture: the automatic level's seconds and share of the export, and the asset's fidelity to the
model's previews (5 held-out poses) with the field bake and with ``--bake views``, and what the
views cost. These and the UV figures run on the tests' head-planted official-format files
(``tests/head_files.py``, seed 0); EG3D's and PanoHead's speed figures on full-size random weights.
With the UV figures (the default), each family also reports one asset's UV atlas at the default
50k faces and 1024^2 (:mod:`aware3d.exporters.uvquality`) and the unwrap's seconds.
The batch figures (demo; ``--batch-seeds 0`` skips them) time fresh ``aware3d batch`` runs of
N assets: the local engine at one torch thread and at the default, and Ray (``--engine ray``, a
fresh local instance) with 1 and 2 workers of one CPU thread each; start-up (Ray, workers
loading the model) is reported apart from the per-asset time.

Speed targets (2-core CPU): demo ``generate`` end to end <= 15 s (256^3, 1024^2 texture); sparse
marching cubes >= 15x fewer queries than dense at 256^3 and >= 40x at 512^3; EG3D backbone <= 3 s
per identity and >= 1 M field points per second; the automatic level <= 20 % of an export's time;
unwrapping 50k faces <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

import aware3d
from aware3d.exporters import build_asset, extract_mesh, extract_mesh_dense
from aware3d.models import demo


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def bench_device(device: str, skip_dense_512: bool) -> dict:
    gen = aware3d.load_generator(family="demo", device=device)
    field = gen.field(seed=7)
    points = torch.rand(1_000_000, 3, generator=torch.Generator().manual_seed(0)) * 0.3 - 0.15
    field.query(points[:1000])
    _, seconds = _timed(lambda: field.query(points))
    out = {"device": str(gen.device), "field_points_per_second": round(len(points) / seconds)}
    _, out["preview_256_seconds"] = _timed(lambda: gen.render(field, aware3d.Pose(yaw=0.4), size=256))
    for resolution in (256, 512):
        sparse = extract_mesh(field, demo.DEFAULT_LEVEL, resolution=resolution)
        row = {
            "sparse_queries": sparse.num_queries,
            "sparse_seconds": round(sparse.seconds, 2),
            "dense_queries": sparse.num_dense_queries,
            "query_ratio": round(sparse.num_dense_queries / sparse.num_queries, 1),
            "faces": len(sparse.mesh.faces),
        }
        if resolution == 256 or not skip_dense_512:
            dense = extract_mesh_dense(field, demo.DEFAULT_LEVEL, resolution=resolution)
            row.update(dense_seconds=round(dense.seconds, 2), dense_faces=len(dense.mesh.faces))
        out[f"marching_{resolution}"] = row
    asset, seconds = _timed(lambda: build_asset(gen.field(seed=7), resolution=256, texture_size=1024))
    out["generate_stages_seconds"] = asset.stats.seconds
    out["generate_in_process_seconds"] = round(seconds, 2)
    out["preview_256_seconds"] = round(out["preview_256_seconds"], 2)
    return out


def full_size_snapshot(family: str, path: Path) -> Path:
    """An EG3D ffhq512-128 or PanoHead (tri-grid depth 3) snapshot at the released size (channel_base
    32768, channel_max 512, z and w 512) with random weights, written in the official format by the
    tests' builders."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    if not path.exists():
        if family == "eg3d":
            from eg3d_official import make_generator, save_snapshot

            save_snapshot(path, make_generator("ffhq512-128", channel_base=32768, channel_max=512, z_dim=512, w_dim=512))
        else:
            from panohead_official import make_generator, save_snapshot

            save_snapshot(path, make_generator(channel_base=32768, channel_max=512, z_dim=512, sr_width_scale=1.0))
    return path


def bench_triplane(device: str, path: Path) -> dict:
    gen = aware3d.load_generator(path, device=device)
    gen.field(seed=0)  # warm-up
    sync = torch.cuda.synchronize if gen.device.type == "cuda" else (lambda: None)
    seconds = []
    for seed in (1, 2, 3):
        field, elapsed = _timed(lambda seed=seed: (gen.field(seed=seed), sync())[0])
        seconds.append(elapsed)
    points = torch.rand(2_000_000, 3, generator=torch.Generator().manual_seed(0)) - 0.5
    field.query(points[:1000])
    _, query_seconds = _timed(lambda: (field.query(points), sync()))
    _, preview_seconds = _timed(lambda: gen.render(field, aware3d.Pose(yaw=0.3), size=512))
    return {
        "device": str(gen.device), "variant": gen.info["variant"],
        "backbone_seconds_per_identity": round(min(seconds), 2),
        "field_points_per_second": round(len(points) / query_seconds),
        "preview_512_seconds": round(preview_seconds, 2),
    }


def bench_fidelity(gen, seed: int = 7, size: int = 256) -> dict:
    """Automatic level, fidelity of the field bake and of the view bake, for one identity (or the
    sentence of the error that stopped it: random-weight test files need not hold a surface at a
    family's exact level)."""
    try:
        return _bench_fidelity(gen, seed, size)
    except aware3d.Aware3DError as err:
        return {"device": str(gen.device), "error": f"{type(err).__name__}: {err}"}


def _bench_fidelity(gen, seed: int, size: int) -> dict:
    field = gen.field(seed=seed)
    common = {"generator": gen, "resolution": 256, "texture_size": 1024, "fidelity": True, "fidelity_size": size}
    surface = build_asset(field, **common).stats
    views = build_asset(field, level=surface.level, bake_mode="views", **common).stats
    export_seconds = sum(v for k, v in surface.seconds.items() if k != "fidelity")
    summary = {k: surface.fidelity[k] for k in ("iou", "depth_mm", "psnr_db")}
    return {
        "device": str(gen.device), "level": round(surface.level, 4), "level_source": surface.level_source,
        "level_search_seconds": surface.seconds.get("level"),
        "level_share_of_export": None if "level" not in surface.seconds else round(surface.seconds["level"] / export_seconds, 3),
        "export_seconds": round(export_seconds, 2), "fidelity_seconds": surface.seconds["fidelity"],
        "fidelity_field_bake": summary,
        "fidelity_views_bake": {k: views.fidelity[k] for k in ("iou", "depth_mm", "psnr_db")},
        "views_psnr_gain_db": None if None in (views.fidelity["psnr_db"], summary["psnr_db"])
        else round(views.fidelity["psnr_db"] - summary["psnr_db"], 2),
        "bake_seconds_field": surface.seconds["bake"], "bake_seconds_views": views.seconds["bake"],
        "poses": [(p["yaw"], p["pitch"]) for p in surface.fidelity["poses"]],
    }


def bench_uv_layout(gen, seed: int = 7) -> dict:
    """One asset's UV atlas (256^3, the default 50k faces, 1024^2): charts, seams, the face chart,
    texel density and atlas use, and the unwrap's seconds (median of 3 warm runs); or the
    sentence of the error that stopped it."""
    from aware3d.exporters import cleanup, marching, pipeline, texture
    from aware3d.exporters.raycast import open3d
    from aware3d.exporters.uvquality import measure_uv_layout

    open3d()  # imported once per process; not the unwrap's cost
    field = gen.field(seed=seed)
    try:
        level, _, _ = pipeline.choose_level(field, pipeline.resolve_settings(), gen)
        mesh, _ = cleanup.clean_mesh(marching.extract_mesh(field, level, 256).mesh, cleanup.DEFAULT_TARGET_FACES)
    except aware3d.Aware3DError as err:
        return {"error": f"{type(err).__name__}: {err}"}
    seconds = []
    for _ in range(3):
        atlas, elapsed = _timed(lambda: texture.unwrap(mesh, 1024, field.world_to_asset))
        seconds.append(elapsed)
    positions = atlas.vertices.astype("float64") @ field.world_to_asset[:3, :3].T
    report = measure_uv_layout(positions, atlas.faces, atlas.uv, atlas.source_vertex, 1024).to_dict()
    report.pop("seconds")
    return {"faces": len(mesh.faces), "unwrap_seconds": round(sorted(seconds)[1], 2), **report}


def head_test_file(family: str, folder: Path) -> Path:
    """The tests' head-planted official-format file of a field family (``tests/head_files.py``): one
    smooth closed head, as trained weights give, so the fidelity and UV figures mean something
    (random weights give froth)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from head_files import write_head_file

    folder = folder / f"aware3d-bench-head-{family}"
    folder.mkdir(parents=True, exist_ok=True)
    return write_head_file(family, folder)


def bench_cli(tmp: str = "/tmp/aware3d-bench.glb") -> float:
    """End to end as a user runs it: a fresh process, imports included."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "aware3d", "generate", "--model", "demo", "--seed", "7", "--device", "cpu", "-o", tmp],
        check=True, capture_output=True,
    )
    return round(time.perf_counter() - started, 2)


_BATCH_LINE = re.compile(r"(\d+) written, \d+ already done, (\d+) failed in ([\d.]+) s \(([\d.]+) s starting\)")


def _batch_run(seeds: int, folder: Path, engine: list[str], threads: int | None) -> dict:
    """One fresh ``aware3d batch`` of the demo at the default export settings; its seconds, split
    into start-up (Ray, workers loading the model) and assets."""
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, "-m", "aware3d", "batch", "--model", "demo", "--device", "cpu", "--seeds", f"0-{seeds - 1}",
               "-o", str(folder), *engine]
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    written, failed, seconds, starting = _BATCH_LINE.search(output).groups()
    assert int(written) == seeds and int(failed) == 0, output
    working = float(seconds) - float(starting)
    assets = json.loads((folder / "manifest.json").read_text())["assets"].values()
    exporting = sum(sum(entry["stats"]["seconds"].values()) for entry in assets) / seeds
    return {"seconds": float(seconds), "startup_seconds": float(starting), "seconds_per_asset": round(working / seeds, 2),
            "export_stages_seconds_per_asset": round(exporting, 2), "outside_stages_seconds_per_asset": round(working / seeds - exporting, 3),
            "assets_per_minute": round(60 * seeds / working, 2), "assets_per_minute_with_startup": round(60 * seeds / float(seconds), 2)}


def bench_batch(seeds: int, folder: Path) -> dict:
    """Assets per minute on the demo (256^3, 50k faces, 1024^2): the local engine with one torch
    thread and with the default threads, Ray with 1 and 2 single-thread workers (a fresh local Ray
    each), and Ray's overhead per asset: the time per asset outside the export's own stages
    (sampling the identity, scheduling, results, the manifest) on Ray with one worker minus the same
    on the single-thread local engine. Differencing the outside time, not the totals, keeps the
    export stages' run-to-run noise (about +-15 % on 2 cores) out of the overhead."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return {"error": "Ray is not installed: pip install 'aware3d[ray]'"}
    out = {"seeds": seeds, "local_1_thread": _batch_run(seeds, folder, [], threads=1),
           "local_default_threads": _batch_run(seeds, folder, [], threads=None)}
    for workers in (1, 2):
        out[f"ray_{workers}_workers"] = _batch_run(seeds, folder, ["--engine", "ray", "--workers", str(workers), "--cpus-per-worker", "1"], 1)
    out["ray_2_workers"].pop("outside_stages_seconds_per_asset")  # two workers overlap: no per-asset outside time
    outside = {key: out[key]["outside_stages_seconds_per_asset"] for key in ("ray_1_workers", "local_1_thread")}
    out["ray_overhead_seconds_per_asset"] = round(outside["ray_1_workers"] - outside["local_1_thread"], 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-dense-512", action="store_true", help="skip the dense 512^3 reference (about 2 minutes on 2 cores)")
    parser.add_argument("--device", default="all", choices=("all", "cpu", "cuda"))
    parser.add_argument("--family", default="all", choices=("all", "demo", "eg3d", "panohead", "pigan", "gram", "graf", "cips3d"))
    parser.add_argument("--no-fidelity", dest="fidelity", action="store_false", help="skip the automatic level and fidelity figures")
    parser.add_argument("--no-uv", dest="uv", action="store_false", help="skip the UV layout figures")
    parser.add_argument("--fidelity-size", type=int, default=256,
                        help="side in pixels of the fidelity previews (GRAF's renderer takes about 6 min per asset at 256 on 2 cores)")
    parser.add_argument("--batch-seeds", type=int, default=6, help="assets per batch run in the engine comparison (0 skips it)")
    parser.add_argument("--snapshots", type=Path, default=Path("/tmp"),
                        help="where the full-size random-weight EG3D and PanoHead snapshots are written (kept for the next run)")
    args = parser.parse_args()
    devices = [d for d in (["cpu", "cuda"] if args.device == "all" else [args.device]) if d == "cpu" or torch.cuda.is_available()]
    report: dict = {
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "torch": torch.__version__},
    }
    if args.family in ("all", "demo"):
        report["demo"] = [bench_device(d, args.skip_dense_512) for d in devices]
        report["generate_cli_seconds"] = bench_cli()
        if args.fidelity:
            report["demo_fidelity"] = [bench_fidelity(aware3d.load_generator(family="demo", device=d)) for d in devices]
        if args.uv:
            report["demo_uv_layout"] = bench_uv_layout(aware3d.load_generator(family="demo", device="cpu"))
        if args.batch_seeds > 0:
            report["batch_engines"] = bench_batch(args.batch_seeds, args.snapshots / "aware3d-bench-batch")
    for family in ("eg3d", "panohead"):
        if args.family in ("all", family):
            snapshot = full_size_snapshot(family, args.snapshots / f"aware3d-bench-{family}.pkl")
            report[family] = [bench_triplane(d, snapshot) for d in devices]
    for family in ("pigan", "gram", "graf", "cips3d", "eg3d", "panohead"):
        if (args.fidelity or args.uv) and args.family in ("all", family):
            path = head_test_file(family, args.snapshots)
            if args.fidelity:
                report[f"{family}_fidelity"] = [bench_fidelity(aware3d.load_generator(path, device=d), seed=0, size=args.fidelity_size)
                                                for d in devices]
            if args.uv:
                report[f"{family}_uv_layout"] = bench_uv_layout(aware3d.load_generator(path, device="cpu"), seed=0)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
