"""The ``aware3d`` command line. Each subcommand is a dataclass whose field help becomes ``--help``;
its ``run()`` only calls library functions. Exit codes: 0 success, 1 failure, 2 bad input, 130 Ctrl-C."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from .errors import Aware3DError, InputError

_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130


def _option(*flags: str, help: str, type: Callable | None = None, choices=None, required: bool = False, **kw) -> Any:
    """A dataclass field that describes its command-line option."""
    meta = {"flags": flags, "help": help, "type": type, "choices": choices, "required": required}
    return field(metadata=meta, **kw)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(_EXIT_USAGE)


def _make_progress() -> Callable[[str, int, int], None]:
    """A ``progress(stage, done, total)`` callback that draws a tqdm bar on stderr, only on a TTY."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, disable=None, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


# --- subcommands ------------------------------------------------------------------------


@dataclass
class PreviewCommand:
    """Render a preview PNG of one identity seen from a chosen pose."""

    name: ClassVar[str] = "preview"
    output: Path = _option("-o", "--output", type=Path, required=True, help="PNG file to write", default=None)
    model: str | None = _option("--model", help="model family (see `aware3d models`); detected from --checkpoint when left out", default=None)
    checkpoint: Path | None = _option("--checkpoint", type=Path, help="official checkpoint file (not needed for demo)", default=None)
    seed: int = _option("--seed", type=int, help="identity seed", default=0)
    truncation: float = _option("--truncation", type=float, help="truncation psi: 1 keeps the sample, 0 is the average identity", default=0.7)
    yaw: float = _option("--yaw", type=float, help="radians; positive shows the head turned toward its own left", default=0.0)
    pitch: float = _option("--pitch", type=float, help="radians, |pitch| < pi/2; positive looks from below", default=0.0)
    radius: float | None = _option("--radius", type=float, help="camera distance in world units (default: the model's own)", default=None)
    fov: float | None = _option("--fov", type=float, help="field of view in degrees (default: the model's own)", default=None)
    size: int = _option("--size", type=int, help="image width and height in pixels", default=256)
    device: str = _option("--device", choices=("auto", "cpu", "cuda"), help="where to run the model", default="auto")
    ema: str = _option("--ema", choices=("ema", "ema2", "none"), help="pi-GAN/GRAM: which EMA file beside the generator to apply", default="ema")

    def run(self) -> int:
        from . import load_generator
        from .cameras import Pose
        from .io import check_output_path, encode_png, write_atomic

        if self.size <= 0:
            raise InputError(f"--size must be a positive number of pixels, got {self.size}")
        check_output_path(self.output)
        if self.output.suffix.lower() != ".png":
            raise InputError(f"the preview is a PNG image; give an output name ending in .png, not {self.output.name}")
        pose = Pose(yaw=self.yaw, pitch=self.pitch, radius=self.radius, fov=self.fov)
        if self.model is None and self.checkpoint is None:
            raise InputError("give --model (for example --model demo) or --checkpoint")
        gen = load_generator(self.checkpoint, self.model, self.device, ema=self.ema)
        field_ = gen.field(seed=self.seed, truncation=self.truncation)
        image = gen.render(field_, pose, size=self.size, progress=_make_progress())
        write_atomic(self.output, encode_png(image))
        print(self.output)
        return 0


@dataclass
class ModelsCommand:
    """List the model families, the files each expects and their licences."""

    name: ClassVar[str] = "models"
    as_json: bool = _option("--json", help="print JSON instead of a table", default=False)

    def run(self) -> int:
        from .models import FAMILIES

        rows = [
            {"family": s.name, "title": s.title, "loads": s.implemented, "files": s.files, "licence": s.licence}
            for s in FAMILIES.values()
        ]
        if self.as_json:
            print(json.dumps(rows, indent=2))
            return 0
        for row in rows:
            status = "ready" if row["loads"] else "not yet loadable"
            print(f"{row['family']:<8} {row['title']} [{status}]")
            print(f"{'':<8} files:   {row['files']}")
            print(f"{'':<8} licence: {row['licence']}")
        return 0


@dataclass
class InfoCommand:
    """Identify a checkpoint file's family and sha256 without building the model or running its code."""

    name: ClassVar[str] = "info"
    checkpoint: Path = _option("checkpoint", type=Path, help="checkpoint file", default=None)
    as_json: bool = _option("--json", help="print JSON instead of text", default=False)

    def run(self) -> int:
        from .checkpoints import inspect_checkpoint
        from .models import get_family

        info = inspect_checkpoint(self.checkpoint)
        record = {
            "path": str(info.path),
            "family": info.family,
            "variant": info.variant,
            "format": info.format,
            "size": info.size,
            "sha256": info.sha256,
            "loadable": get_family(info.family).implemented,
        }
        if self.as_json:
            print(json.dumps(record, indent=2))
        else:
            for key, value in record.items():
                print(f"{key:<9} {value if value is not None else '-'}")
        return 0


@dataclass
class _ExportOptions:
    """Options shared by ``generate`` and ``batch``."""

    model: str | None = _option("--model", help="model family (see `aware3d models`); detected from --checkpoint when left out", default=None)
    checkpoint: Path | None = _option("--checkpoint", type=Path, help="official checkpoint file (not needed for demo)", default=None)
    truncation: float = _option("--truncation", type=float, help="truncation psi: 1 keeps the sample, 0 is the average identity", default=0.7)
    resolution: int = _option("--resolution", type=int, help="marching-cubes cells per axis: 128, 256, 512 or 1024", default=256)
    level: float | None = _option("--level", type=float, help="density level of the surface (default: the family's own, see README)", default=None)
    faces: int = _option("--faces", type=int, help="decimate to about this many faces", default=50_000)
    texture_size: int = _option("--texture-size", type=int, help="texture side in pixels, a power of two up to 4096", default=1024)
    material: str = _option("--material", choices=("unlit", "pbr"), help="unlit shows the generator's colour as is; pbr is lit (metallic 0)", default="unlit")
    bake: str = _option("--bake", choices=("surface", "ray"), help="read colour at the surface, or composite a short ray through it", default="surface")
    view: str = _option("--view", choices=("canonical", "average"), help="view direction(s) for colour: frontal, or averaged over five views", default="canonical")
    vertex_colors: bool = _option("--vertex-colors", help="also write per-vertex colours (COLOR_0)", default=False)
    no_texture: bool = _option("--no-texture", help="skip UVs and the texture (use with --vertex-colors)", default=False)
    device: str = _option("--device", choices=("auto", "cpu", "cuda"), help="where to run the model", default="auto")
    ema: str = _option("--ema", choices=("ema", "ema2", "none"), help="pi-GAN/GRAM: which EMA file beside the generator to apply", default="ema")

    def _check_export(self) -> None:
        from aware3d.exporters.texture import check_texture_size

        if self.model is None and self.checkpoint is None:
            raise InputError("give --model (for example --model demo) or --checkpoint")
        if self.resolution <= 0:
            raise InputError(f"--resolution must be positive, got {self.resolution}")
        if self.faces < 100:
            raise InputError(f"--faces must be at least 100, got {self.faces}")
        if not self.no_texture:
            check_texture_size(self.texture_size)

    def _export_kwargs(self) -> dict[str, Any]:
        return {
            "resolution": self.resolution,
            "texture_size": self.texture_size,
            "level": self.level,
            "target_faces": self.faces,
            "material": self.material,
            "bake_mode": self.bake,
            "view": self.view,
            "textured": not self.no_texture,
            "vertex_colors": self.vertex_colors,
        }


@dataclass
class GenerateCommand(_ExportOptions):
    """Generate one identity as a textured GLB (and optionally a preview PNG)."""

    name: ClassVar[str] = "generate"
    output: Path = _option("-o", "--output", type=Path, required=True, help="GLB file to write", default=None)
    seed: int = _option("--seed", type=int, help="identity seed", default=0)
    preview: Path | None = _option("--preview", type=Path, help="also render a preview PNG at --yaw/--pitch", default=None)
    yaw: float = _option("--yaw", type=float, help="preview yaw in radians (recorded in the metadata)", default=0.0)
    pitch: float = _option("--pitch", type=float, help="preview pitch in radians, |pitch| < pi/2", default=0.0)
    fov: float | None = _option("--fov", type=float, help="preview field of view in degrees (default: the model's own)", default=None)
    size: int = _option("--size", type=int, help="preview width and height in pixels", default=256)
    as_json: bool = _option("--json", help="print the mesh statistics as JSON", default=False)

    def run(self) -> int:
        from . import load_generator
        from .cameras import Pose
        from .exporters import export_glb
        from .io import check_output_path, encode_png, write_atomic

        self._check_export()
        check_output_path(self.output)
        if self.output.suffix.lower() != ".glb":
            raise InputError(f"the output is a binary glTF; give a file name ending in .glb, not {self.output.name}")
        pose = Pose(yaw=self.yaw, pitch=self.pitch, fov=self.fov)
        if self.preview is not None:
            check_output_path(self.preview)
            if self.size <= 0:
                raise InputError(f"--size must be a positive number of pixels, got {self.size}")
        gen = load_generator(self.checkpoint, self.model, self.device, ema=self.ema)
        field_ = gen.field(seed=self.seed, truncation=self.truncation)
        progress = _make_progress()
        metadata = {"pose": {"yaw": pose.yaw, "pitch": pose.pitch, "fov": gen.camera.resolve(pose).fov}}
        stats = export_glb(field_, self.output, metadata=metadata, progress=progress, **self._export_kwargs())
        if self.preview is not None:
            image = gen.render(field_, pose, size=self.size, progress=progress)
            write_atomic(self.preview, encode_png(image))
        record = {"output": str(self.output), **stats.to_dict()}
        if self.as_json:
            print(json.dumps(record, indent=2))
        else:
            print(
                f"{self.output}: {stats.num_faces} faces, {stats.num_vertices} vertices, "
                f"{'watertight' if stats.watertight else 'not watertight'}, {stats.height_m:.3f} m tall, "
                f"{stats.file_size / 1e6:.1f} MB; {stats.num_queries} field queries "
                f"({stats.num_dense_queries / stats.num_queries:.0f}x fewer than dense); "
                + ", ".join(f"{k} {v:.2f} s" for k, v in stats.seconds.items())
            )
        return 0


@dataclass
class BatchCommand(_ExportOptions):
    """Export many identities to a folder of GLBs with a manifest; re-running skips finished ones."""

    name: ClassVar[str] = "batch"
    output: Path = _option("-o", "--output", type=Path, required=True, help="folder for the GLBs and manifest.json", default=None)
    seeds: str = _option("--seeds", required=True, help="seeds: a range 0-19, a list 1,5,9, or both 0-4,10", default=None)

    def run(self) -> int:
        from .batch import parse_seeds, run_batch

        self._check_export()
        seeds = parse_seeds(self.seeds)
        result = run_batch(
            self.output, seeds, model=self.model, checkpoint=self.checkpoint, truncation=self.truncation,
            device=self.device, export_options=self._export_kwargs(), progress=_make_progress(), ema=self.ema,
        )
        print(f"{result.num_written} written, {result.num_skipped} already done, {len(result.failures)} failed; manifest: {result.manifest}")
        for seed, message in result.failures.items():
            sys.stderr.write(f"aware3d batch: seed {seed} failed: {message}\n")
        return 1 if result.failures else 0


@dataclass
class ServeCommand:
    """Run the JSON-lines worker on stdin/stdout (the Blender add-on starts this; see README)."""

    name: ClassVar[str] = "serve"

    def run(self) -> int:
        from .serve import serve

        return serve()


COMMANDS = (PreviewCommand, GenerateCommand, BatchCommand, ModelsCommand, InfoCommand, ServeCommand)


def _add_options(parser: argparse.ArgumentParser, command: type) -> None:
    for f in dataclasses.fields(command):
        meta = f.metadata
        flags = meta["flags"]
        if f.type in ("bool", bool):
            parser.add_argument(*flags, dest=f.name, action="store_true", help=meta["help"])
            continue
        kwargs = {"help": f"{meta['help']} (default: {f.default})" if not meta["required"] else meta["help"]}
        if meta["type"] is not None:
            kwargs["type"] = meta["type"]
        if meta["choices"] is not None:
            kwargs["choices"] = meta["choices"]
        if flags[0].startswith("-"):
            kwargs.update(dest=f.name, default=f.default, required=meta["required"])
        parser.add_argument(*flags, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The ``aware3d`` argument parser, one subparser per command dataclass."""
    from . import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser = _Parser(prog="aware3d", description="Turn 3D-aware face generators into textured 3D assets.", parents=[common])
    parser.add_argument("--version", action="version", version=f"aware3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.__doc__.splitlines()[0], description=command.__doc__, parents=[common])
        _add_options(child, command)
        child.set_defaults(_command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    command_cls = args._command
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(command_cls)}
    try:
        return command_cls(**values).run()
    except KeyboardInterrupt:
        sys.stderr.write("aware3d: interrupted\n")
        return _EXIT_INTERRUPTED
    except Aware3DError as err:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"aware3d {command_cls.name}: error: {err}\n")
        return err.exit_code
