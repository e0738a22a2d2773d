"""The installed aware3d version, in a module of its own so every layer can read it without
importing the package root (which would close an import cycle)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aware3d")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
