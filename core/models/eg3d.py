"""EG3D (Chan et al., CVPR 2022): NVIDIA's network pickles, read safely.

What is here: recognising a snapshot, reading it without running its embedded code
(:mod:`aware3d.models.persistence`) and naming its variant for ``aware3d info``. The clean-room
inference (mapping, StyleGAN2 synthesis, tri-plane field, renderer, super-resolution) is not
written yet, so the registry entry has no loader and ``load_generator`` says so.

Facts (NVlabs/eg3d ``training/triplane.py``, ``train.py``): ``G_ema`` is a persistent
``TriPlaneGenerator`` whose state holds ``_init_kwargs`` (an EasyDict), ``rendering_kwargs`` (a
dict: box_warp, ray range, avg_camera_radius and pivot, ...) and ``neural_rendering_resolution``
(64 or 128); its ``superresolution`` child's class (``SuperresolutionHybrid2X/4X/8XDC``) tells
the output size. Classes pickled by reference are listed in :data:`BY_REFERENCE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cameras import EG3D_CONVENTION
from ..checkpoints import PickleSummary
from ..errors import CheckpointError
from . import releases
from .persistence import PersistentRecord, code_hashes, read_network_pickle, reader_globals
from .registry import FamilySpec

BY_REFERENCE = (
    "training.triplane.OSGDecoder",
    "training.volumetric_rendering.renderer.ImportanceRenderer",
    "training.volumetric_rendering.ray_marcher.MipRayMarcher2",
    "training.volumetric_rendering.ray_sampler.RaySampler",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.activation.Softplus",
    "torch.nn.modules.linear.Linear",
)
"""The non-persistent classes an EG3D snapshot pickles by reference (``training/triplane.py``)."""


def read_snapshot_generator(path: Path) -> PersistentRecord:
    """``G_ema`` of an EG3D snapshot, as an inert record (``G``, ``D`` and ``augment_pipe`` are dropped).

    Raises:
        CheckpointError: for a file that is not a snapshot with a persistent ``G_ema``.
    """
    snapshot = read_network_pickle(path, BY_REFERENCE)
    generator = snapshot.get("G_ema")
    if not isinstance(generator, PersistentRecord):
        keys = ", ".join(sorted(map(str, snapshot))) or "nothing"
        raise CheckpointError(f"{path} is not an EG3D snapshot with a G_ema network (it holds {keys})")
    return generator


def describe(generator: PersistentRecord) -> str:
    """Class, output size, super-resolution, neural-rendering resolution and a code hash."""
    state = generator.state
    init = state.get("_init_kwargs") or {}
    modules: dict[str, Any] = state.get("_modules") or {}
    upsampler = modules.get("superresolution")
    parts = [generator.class_name]
    if isinstance(init, dict) and init.get("img_resolution"):
        parts.append(f"{init['img_resolution']}px")
    if isinstance(upsampler, PersistentRecord):
        parts.append(upsampler.class_name)
    if state.get("neural_rendering_resolution"):
        parts.append(f"neural rendering {state['neural_rendering_resolution']}")
    parts.append(f"code {code_hashes(generator)[generator.class_name][:12]}")
    return ", ".join(parts)


def variant(path: Path, summary: PickleSummary) -> str | None:
    """What ``aware3d info`` names: read from the snapshot's ``G_ema``, running nothing."""
    return describe(read_snapshot_generator(path))


FAMILY = FamilySpec(
    name="eg3d",
    title="EG3D (Chan et al., CVPR 2022)",
    files="the network .pkl from NVIDIA NGC (e.g. ffhq512-128.pkl)",
    licence=releases.EG3D_LICENCE,
    loader=None,
    convention=EG3D_CONVENTION,
    pickle_globals=("torch_utils.persistence", "training.triplane"),
    variant=variant,
    standins=reader_globals(BY_REFERENCE),
    releases=releases.EG3D_RELEASES,
)
