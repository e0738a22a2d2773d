"""Families aware3d recognises (``aware3d info`` names them) but cannot load yet.

Each entry moves to a module of its own, with a loader, when its family is written.
"""

from __future__ import annotations

from ..cameras import PIGAN_CONVENTION
from . import releases
from .registry import FamilySpec

FAMILIES = (
    FamilySpec(
        name="cips3d",
        title="CIPS-3D (Zhou et al., 2021)",
        files="G_ema.pth from the release zip",
        licence=releases.CIPS3D_LICENCE,
        loader=None,
        convention=PIGAN_CONVENTION,
        state_keys=("nerf_net.", "inr_net."),
        releases=releases.CIPS3D_RELEASES,
    ),
)
