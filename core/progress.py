"""The progress callback type: library functions report, callers decide how to show it.

It lives in a module of its own so that the renderer, the exporters and the application all
share it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called after each chunk of a long stage."""
