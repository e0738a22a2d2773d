"""The ``aware3d`` command line.

Every option comes from a settings group (:class:`~aware3d.app.settings.ModelSelection`,
:class:`~aware3d.app.settings.PreviewSettings`, :class:`~aware3d.exporters.ExportSettings`): the
flag, its type, choices, default and help are read from the dataclass field, and the family
options (``--ema``) from the registry. Each command only calls library functions.
Exit codes: 0 success, 1 failure, 2 bad input, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NoReturn

from ..errors import Aware3DError, InputError
from ..settings import Settings, SettingsError
from .settings import EngineSettings, ModelSelection, PreviewSettings

_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130

_OPTIONS_DEST = "family_option_"
"""Prefix of the argparse destinations that collect family loader options."""


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


# --- flags derived from the settings groups ----------------------------------------------------


def flag_name(key: str) -> str:
    """The command-line spelling of a settings key: ``texture_size`` -> ``--texture-size``."""
    return "--" + key.replace("_", "-")


def _argument_type(kind: Any) -> tuple[Any, tuple | None]:
    """argparse ``type`` and ``choices`` for a field annotation."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        words = [w for k in options if typing.get_origin(k) is Literal for w in typing.get_args(k)]
        numbers = [k for k in options if k in (int, float)]
        if words and numbers:  # a number or a word: --level 12.5 or --level auto
            return _number_or_word(numbers[0], tuple(words)), None
        kind = options[0]
    if typing.get_origin(kind) is Literal:
        return str, typing.get_args(kind)
    return kind, None


def _number_or_word(number: type, words: tuple[str, ...]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if text in words:
            return text
        try:
            return number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number or {' or '.join(words)}, got {text!r}") from None

    parse.__name__ = f"{number.__name__} or {'/'.join(words)}"
    return parse


def add_settings_arguments(parser: argparse.ArgumentParser, group: type[Settings], keys: tuple[str, ...] | None = None) -> None:
    """Add one flag per field of ``group`` (or of ``keys``), with its type, choices, default and help."""
    hints = typing.get_type_hints(group)
    for f in dataclasses.fields(group):
        if (keys is not None and f.name not in keys) or f.name == "options":
            continue
        flags = (flag_name(f.name), *f.metadata.get("flags", ()))
        default = f.default
        if hints[f.name] is bool:
            parser.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=f.metadata["help"])
            continue
        kind, choices = _argument_type(hints[f.name])
        parser.add_argument(*flags, dest=f.name, type=kind, choices=choices, default=default,
                            help=f"{f.metadata['help']} (default: {default})")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--checkpoint``, ``--device`` and one flag per family loader option in the registry."""
    from ..models import all_options

    add_settings_arguments(parser, ModelSelection)
    for option in all_options().values():
        parser.add_argument(flag_name(option.name), dest=_OPTIONS_DEST + option.name, choices=option.choices, default=None,
                            help=f"{option.help} (families that take it; default: {option.default})")


def settings_from_args(group: type[Settings], args: argparse.Namespace) -> Any:
    """The ``group`` instance the parsed flags describe (validated: a SettingsError names the key)."""
    values = {k: getattr(args, k) for k in group.keys() if hasattr(args, k)}
    if "options" in group.keys():
        values["options"] = {k[len(_OPTIONS_DEST):]: v for k, v in vars(args).items() if k.startswith(_OPTIONS_DEST) and v is not None}
    return group(**values)


def _selection(args: argparse.Namespace) -> ModelSelection:
    from ..models import builtin_families

    selection = settings_from_args(ModelSelection, args)
    if selection.model is None and selection.checkpoint is None:
        examples = " or ".join(f"--model {name}" for name in builtin_families()) or "--model NAME"
        raise InputError(f"give --model (for example {examples}) or --checkpoint")
    return selection


# --- commands --------------------------------------------------------------------------------


def _preview(args: argparse.Namespace) -> int:
    """Render a preview PNG of one identity seen from a chosen pose."""
    from ..io import check_output_path, encode_png, write_atomic
    from .export import render_preview

    preview = settings_from_args(PreviewSettings, args)
    output = check_output_path(args.output, ".png")
    image = render_preview(_selection(args).load(), preview, args.image, progress=_make_progress())
    write_atomic(output, encode_png(image))
    print(output)
    return 0


def _generate(args: argparse.Namespace) -> int:
    """Generate one identity as a textured GLB (and optionally a preview PNG)."""
    from ..exporters import ExportSettings
    from ..io import check_output_path
    from .export import generate_asset

    preview = settings_from_args(PreviewSettings, args)
    export = settings_from_args(ExportSettings, args)
    if args.report:
        export = dataclasses.replace(export, fidelity=True, uv_report=export.textured)
    output = check_output_path(args.output, ".glb")
    if args.preview is not None:
        check_output_path(args.preview, ".png")
    result = generate_asset(_selection(args).load(), preview, export, output, args.preview, progress=_make_progress(), image=args.image)
    stats = result.stats
    if args.as_json:
        print(json.dumps({"output": str(output), **stats.to_dict()}, indent=2))
    elif stats.level_source == "relief":
        print(f"{output}: {stats.num_faces} faces, {stats.num_vertices} vertices, an open relief {stats.height_m:.3f} m tall, "
              f"{stats.texture_size}^2 albedo texture, {stats.file_size / 1e6:.1f} MB; "
              + ", ".join(f"{k} {v:.2f} s" for k, v in stats.seconds.items()))
    else:
        print(
            f"{output}: {stats.num_faces} faces, {stats.num_vertices} vertices, "
            f"{'watertight' if stats.watertight else 'not watertight'}, {stats.height_m:.3f} m tall, "
            f"{stats.file_size / 1e6:.1f} MB; {stats.num_queries} field queries "
            f"({stats.num_dense_queries / max(stats.num_queries, 1):.0f}x fewer than dense); "
            + ", ".join(f"{k} {v:.2f} s" for k, v in stats.seconds.items())
        )
        print(_level_line(stats))
        if stats.fidelity is not None:
            print(_fidelity_line(stats.fidelity))
        if stats.uv_layout is not None:
            print(_uv_layout_line(stats.uv_layout))
    return 0


def _level_line(stats) -> str:
    """How the surface level was chosen, in one line."""
    line = f"level {stats.level:.6g} ({stats.level_source}"
    search = stats.level_search
    if search is not None:
        depth = "n/a" if search["depth_error"] is None else f"{search['depth_error'] * stats.scale * 1000:.2f} mm"
        line += (f": silhouette IoU {search['iou']:.3f} and depth within {depth} of the model's volume renderer; "
                 f"equally good from {search['plateau'][0]:.6g} to {search['plateau'][1]:.6g}; {search['seconds']:.2f} s")
    return line + ")"


def _uv_layout_line(layout: dict) -> str:
    """The UV atlas figures (:meth:`aware3d.exporters.uvquality.UVLayoutReport.to_dict`) in one line."""
    face = ("the face in one chart" if layout["front_charts"] == 1 else f"the face across {layout['front_charts']} charts")
    return (f"UV layout: {layout['num_charts']} charts, {face} ({layout['front_seam_m']:.2f} m of seams on it), "
            f"{layout['seam_length_m']:.2f} m of seams, texel density {layout['density_low']:.2f}-{layout['density_high']:.2f}x "
            f"the mean ({layout['texels_per_metre']:.0f} texels/m), {layout['utilisation']:.0%} of the atlas used, "
            f"{layout['flipped_faces']} flipped faces")


def _fidelity_line(fidelity: dict) -> str:
    """The fidelity figures (:meth:`aware3d.exporters.fidelity.Fidelity.to_dict`) in one line."""
    poses = ", ".join(f"({p['yaw']:+.2f}, {p['pitch']:+.2f})" for p in fidelity["poses"])
    figures = (f"silhouette IoU {fidelity['iou']:.3f}, depth {_number(fidelity['depth_mm'], '.2f')} mm, "
               f"colour PSNR {_number(fidelity['psnr_db'], '.2f')} dB")
    return f"fidelity vs the model's previews at (yaw, pitch) {poses}: {figures} ({fidelity['seconds']:.1f} s)"


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _batch(args: argparse.Namespace) -> int:
    """Export many identities to a folder of GLBs with a manifest; re-running skips finished ones."""
    from ..exporters import ExportSettings
    from .batch import list_images, parse_seeds, run_batch

    export = settings_from_args(ExportSettings, args)
    if (args.seeds is None) == (args.images is None):
        raise InputError("give --seeds (models that sample identities) or --images FOLDER (models that lift images), one of them")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else []
    images = list_images(args.images) if args.images is not None else None
    preview = settings_from_args(PreviewSettings, args)
    engine = settings_from_args(EngineSettings, args)
    result = run_batch(args.output, seeds, _selection(args), preview.truncation, export, progress=_make_progress(), engine=engine,
                       images=images)
    print(f"{result.num_written} written, {result.num_skipped} already done, {len(result.failures)} failed in {result.seconds:.1f} s "
          f"({result.startup_seconds:.1f} s starting); manifest: {result.manifest}")
    for key, message in sorted(result.failures.items()):  # all seeds, or all image names
        sys.stderr.write(f"aware3d batch: {'seed' if isinstance(key, int) else 'image'} {key} failed: {message}\n")
    return 1 if result.failures else 0


def _models(args: argparse.Namespace) -> int:
    """List the model families, the files each expects, their options and licences."""
    from ..models import FAMILIES

    rows = [spec.to_dict() for spec in FAMILIES.values()]
    if args.as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for spec in FAMILIES.values():
        status = "ready" if spec.implemented else "not yet loadable"
        print(f"{spec.name:<8} {spec.title} [{status}]")
        print(f"{'':<8} files:   {spec.files}")
        for option in spec.options:
            print(f"{'':<8} --{option.name} {'|'.join(option.choices)} (default {option.default}): {option.help}")
        print(f"{'':<8} licence: {spec.licence.name}")
    return 0


def _info(args: argparse.Namespace) -> int:
    """Identify a checkpoint's family, variant and sha256, and say whether it loads, running nothing from it.

    Exit code 2 when the loader would refuse the file or a companion file it reads (``loadable no: ...``).
    """
    from ..models import inspect_checkpoint

    info = inspect_checkpoint(args.checkpoint)
    record = {
        "path": str(info.path), "family": info.family, "variant": info.variant, "format": info.format,
        "size": info.size, "sha256": info.sha256, "loadable": info.loadable, "refusal": info.refusal,
    }
    if args.as_json:
        print(json.dumps(record, indent=2))
    else:
        for key, value in record.items():
            if key == "loadable":
                value = "yes" if info.loadable else f"no: {info.refusal}"
            if key != "refusal":
                print(f"{key:<9} {value if value is not None else '-'}")
    return 0 if info.loadable else _EXIT_USAGE


def _serve(args: argparse.Namespace) -> int:
    """Run the JSON-lines worker on stdin/stdout (the Blender add-on starts this; see README)."""
    from .serve import serve

    return serve()


def _download(args: argparse.Namespace) -> int:
    """Fetch official weights onto this machine (never run by aware3d itself); prints each licence first."""
    from .download import run_download

    return run_download(args.names, list_only=args.list, dry_run=args.dry_run, force=args.force, cache=args.cache)


def _configure_preview(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--image", type=Path, default=None, help="the face image to lift, for models that lift images into reliefs (unsup3d)")
    _add_model_arguments(parser)
    add_settings_arguments(parser, PreviewSettings)


def _configure_generate(parser: argparse.ArgumentParser) -> None:
    from ..exporters import ExportSettings

    parser.add_argument("-o", "--output", type=Path, required=True, help="GLB file to write")
    parser.add_argument("--preview", type=Path, default=None, help="also render a preview PNG at --yaw/--pitch")
    parser.add_argument("--image", type=Path, default=None, help="the face image to lift, for models that lift images into reliefs (unsup3d)")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the mesh statistics as JSON")
    _add_model_arguments(parser)
    add_settings_arguments(parser, PreviewSettings)
    add_settings_arguments(parser, ExportSettings)
    parser.add_argument("--no-texture", dest="textured", action="store_false", help="same as --no-textured")
    parser.add_argument("--report", action="store_true", help="measure the asset: --fidelity and --uv-report together")


def _configure_batch(parser: argparse.ArgumentParser) -> None:
    from ..exporters import ExportSettings

    parser.add_argument("-o", "--output", required=True, help="folder for the GLBs and manifest.json (every Ray worker must see it)")
    parser.add_argument("--seeds", help="seeds: a range 0-19, a list 1,5,9, or both 0-4,10")
    parser.add_argument("--images", type=Path, help="a folder of face images, for models that lift images into reliefs (unsup3d)")
    _add_model_arguments(parser)
    add_settings_arguments(parser, PreviewSettings, keys=("truncation",))
    add_settings_arguments(parser, ExportSettings)
    parser.add_argument("--no-texture", dest="textured", action="store_false", help="same as --no-textured")
    add_settings_arguments(parser, EngineSettings)


def _configure_models(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON instead of a table")


def _configure_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint file")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON instead of text")


def _configure_download(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="releases to fetch as family/variant (see --list)")
    parser.add_argument("--list", action="store_true", help="list the official releases and their licences")
    parser.add_argument("--dry-run", action="store_true", help="say what would be fetched and where; touch nothing")
    parser.add_argument("--force", action="store_true", help="fetch again even if the file is present and verified")
    parser.add_argument("--cache", type=Path, default=None, help="folder for the weights (default: $AWARE3D_CACHE or ~/.cache/aware3d/weights)")


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "preview": (_configure_preview, _preview),
    "generate": (_configure_generate, _generate),
    "batch": (_configure_batch, _batch),
    "models": (_configure_models, _models),
    "info": (_configure_info, _info),
    "serve": (lambda parser: None, _serve),
    "download": (_configure_download, _download),
}
"""Each subcommand: how to configure its parser, and what runs it (its docstring is its help)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``aware3d`` argument parser, one subparser per command."""
    from ..version import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser = _Parser(prog="aware3d", description="Turn 3D-aware face generators into textured 3D assets.", parents=[common])
    parser.add_argument("--version", action="version", version=f"aware3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (configure, run) in COMMANDS.items():
        child = sub.add_parser(name, help=run.__doc__.splitlines()[0], description=run.__doc__, parents=[common])
        configure(child)
        child.set_defaults(_run=run)
    return parser


def _user_message(err: Aware3DError) -> str:
    """The error's sentence, with a settings key spelled as the flag the user typed."""
    message = str(err)
    if isinstance(err, SettingsError) and message.startswith(err.key):
        message = flag_name(err.key) + message[len(err.key):]
    return message.replace("options.", "--") if isinstance(err, SettingsError) else message


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args._run(args)
    except KeyboardInterrupt:
        sys.stderr.write("aware3d: interrupted\n")
        return _EXIT_INTERRUPTED
    except Aware3DError as err:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"aware3d {args.command}: error: {_user_message(err)}\n")
        return err.exit_code
