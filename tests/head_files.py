"""Head-planted official-format test files, one per field family: the official formats with weights set
so the field is one smooth closed head, as trained models' fields are (random weights give froth).
The fidelity and UV layout requirements are measured on these (``tests/test_head_files.py``,
``scripts/bench.py``)."""

from __future__ import annotations

from pathlib import Path

import cips3d_official
import eg3d_official
import graf_official
import official_formats as of
import panohead_official

FIELD_FAMILIES = ["pigan", "gram", "graf", "cips3d", "eg3d", "panohead"]


def write_head_file(family: str, folder: Path) -> Path:
    """Write ``family``'s head file (one of :data:`FIELD_FAMILIES`) into ``folder``; its path."""
    if family == "pigan":
        return of.save_pigan(folder, head=True)
    if family == "gram":
        return of.save_gram(folder, head=True)
    if family == "cips3d":
        path = folder / "G_ema.pth"
        cips3d_official.save_g_ema(path, cips3d_official.make_generator(seed=0, head=True, **cips3d_official.SMALL))
        return path
    if family == "graf":
        path = folder / "celebA_64.pt"
        graf_official.save_checkpoint(path, graf_official.make_nerf(seed=1, head=True))
        return path
    if family == "eg3d":
        path = folder / "ffhq512-128.pkl"
        eg3d_official.save_snapshot(path, eg3d_official.make_generator("ffhq512-128", sr_width_scale=0.25, head=True))
        return path
    path = folder / "easy-khair-180-gpc0.8-trans10-025000.pkl"
    panohead_official.save_snapshot(path, panohead_official.make_generator(head=True))
    return path
