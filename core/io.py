"""The one place output files are written: atomically, so a failure leaves nothing behind."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InputError, ShapeError

_OUTPUT_KINDS = {".png": "a PNG image", ".glb": "a binary glTF"}


def check_output_path(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """Return ``path`` if a file can be written there (and, given ``suffix``, if it ends in it).

    Checking the suffix means an output can never overwrite a checkpoint or any other file that is
    not an aware3d output.

    Raises:
        InputError: when the path is a directory, its folder does not exist, or it does not end in ``suffix``.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"output path {path} is a directory; give a file name such as {path / 'out.png'}")
    if not path.parent.exists():
        raise InputError(f"output folder {path.parent} does not exist; create it first")
    if suffix is not None and path.suffix.lower() != suffix:
        kind = _OUTPUT_KINDS.get(suffix, f"a {suffix} file")
        raise InputError(f"the output is {kind}; give a file name ending in {suffix}, not {path.name}")
    return path


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, then rename it over ``path``."""
    path = check_output_path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs follow the umask
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def encode_png(image: np.ndarray) -> bytes:
    """Encode an [H,W,3] or [H,W,4] uint8 image as PNG bytes (no timestamps, so bytes are stable)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ShapeError(f"image must be uint8 [H,W,3] or [H,W,4], got {image.dtype} {list(image.shape)}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
