"""Model families: one module per family, each declaring one registry entry.

The registry (:mod:`aware3d.models.registry`) is the only plug-in point: adding a family means
adding its module and registering its :class:`FamilySpec`, here for the built-in ones or with
:func:`register_family` from anywhere else.
"""

from __future__ import annotations

from . import cips3d, demo, eg3d, graf, gram, liftedgan, panohead, pigan, unsup3d
from .registry import (
    FAMILIES,
    CheckpointInfo,
    FamilySpec,
    LoaderOption,
    all_options,
    builtin_families,
    detect_family,
    family_loader,
    get_family,
    inspect_checkpoint,
    register_family,
    unregister_family,
)

for _spec in (demo.FAMILY, pigan.FAMILY, gram.FAMILY, graf.FAMILY, cips3d.FAMILY, panohead.FAMILY, eg3d.FAMILY, unsup3d.FAMILY, liftedgan.FAMILY):
    register_family(_spec)

__all__ = [
    "FAMILIES",
    "CheckpointInfo",
    "FamilySpec",
    "LoaderOption",
    "all_options",
    "builtin_families",
    "detect_family",
    "family_loader",
    "get_family",
    "inspect_checkpoint",
    "register_family",
    "unregister_family",
]
