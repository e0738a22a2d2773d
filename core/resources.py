"""Memory estimates checked before work starts, so that a request too large for the machine is
refused with a sentence (the estimate and the limit) instead of being killed by the kernel.

The limit is ``$AWARE3D_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) when set, else the
memory the machine reports as available. Estimates are upper bounds from the arrays each stage
allocates (see each function); they are deliberately simple, not exact.
"""

from __future__ import annotations

import os
import re

from .settings import SettingsError

MEMORY_LIMIT_ENV = "AWARE3D_MEMORY_LIMIT"

_SUFFIXES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

RENDER_BYTES_PER_PIXEL = 64
"""Per-image buffers of a preview: ray origins and directions (24), colour and opacity (16), box
entry/exit and the index of rays that hit (16), plus the uint8 result; per-chunk buffers are bounded."""

RENDER_CHUNK_BYTES = 512 << 20
"""A bound on what one chunk of rays allocates (points, samples, the model's activations)."""

MARCHING_BYTES_PER_CELL2 = 600
"""Sparse marching cubes keeps about 12 R^2 queried lattice points (values and sorted keys, ~20 B
each) and about 4 R^2 faces with their vertices (~60 B each) for a head-like surface: ~600 R^2 B."""

MARCHING_BLOCK_BYTES = 256 << 20
"""The finest level's 257^3 float32 block (68 MB) and PyMCubes' float64 copy of it."""

TEXTURE_BYTES_PER_TEXEL = 120
"""Baking keeps, per texel: the float32 image and coverage (13 B), and for covered texels the
raster's rows, columns, faces and barycentrics, the surface points and colours (~100 B)."""


class ResourceError(SettingsError):
    """A request whose memory estimate exceeds the limit; ``key`` names the setting to lower."""


def parse_bytes(text: str) -> int:
    """``"512M"`` -> 536870912.

    Example:
        >>> parse_bytes("1.5G") == int(1.5 * 2**30)
        True
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
    if not match:
        raise SettingsError(MEMORY_LIMIT_ENV, f"{MEMORY_LIMIT_ENV} must be a size such as 8G or 512M, got {text!r}")
    return int(float(match.group(1)) * _SUFFIXES[match.group(2).lower()])


def memory_limit() -> int:
    """Bytes a single request may use: ``$AWARE3D_MEMORY_LIMIT``, else the machine's available memory."""
    configured = os.environ.get(MEMORY_LIMIT_ENV)
    if configured:
        return parse_bytes(configured)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # not Linux: fall back to the physical memory size
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gib(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:.1f} GiB"


def check_memory(key: str, what: str, estimate: int, limit: int | None = None) -> int:
    """Return ``estimate`` if it fits under the limit.

    Raises:
        ResourceError: naming ``key``, with the estimate and the limit.
    """
    limit = memory_limit() if limit is None else limit
    if estimate > limit:
        raise ResourceError(
            key, f"{what} needs about {_gib(estimate)} of memory, more than the {_gib(limit)} available "
            f"(set {MEMORY_LIMIT_ENV} to change the limit); lower {key}"
        )
    return estimate


def render_estimate(height: int, width: int) -> int:
    """Bytes a preview of ``height`` x ``width`` pixels may need."""
    return RENDER_BYTES_PER_PIXEL * height * width + RENDER_CHUNK_BYTES


def marching_estimate(resolution: int) -> int:
    """Bytes sparse marching cubes at ``resolution`` may need for a head-like surface."""
    return MARCHING_BYTES_PER_CELL2 * resolution * resolution + MARCHING_BLOCK_BYTES


def texture_estimate(texture_size: int) -> int:
    """Bytes baking a ``texture_size``^2 texture may need."""
    return TEXTURE_BYTES_PER_TEXEL * texture_size * texture_size
