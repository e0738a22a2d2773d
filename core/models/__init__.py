"""The registry of model families: adding a family is one module plus one entry here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import UnknownFamilyError, UnsupportedFamilyError


@dataclass(frozen=True)
class FamilySpec:
    """What aware3d knows about a family before loading anything.

    Attributes:
        name: registry key and ``--model`` value.
        title: paper / project name.
        files: what the user points ``--checkpoint`` at.
        licence: the licence of the official weights and code.
        module: the aware3d module implementing it (with a ``load(path, device)``), or None if
            the loader is not written yet.
        pickle_globals: module prefixes of pickled classes that identify the family's files.
        state_keys: state-dict key prefixes that identify the family's files.
    """

    name: str
    title: str
    files: str
    licence: str
    module: str | None
    pickle_globals: tuple[str, ...] = ()
    state_keys: tuple[str, ...] = ()

    @property
    def implemented(self) -> bool:
        """Whether ``load_generator`` can build this family yet."""
        return self.module is not None


FAMILIES: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        FamilySpec(
            name="demo",
            title="aware3d procedural demo heads (not learned)",
            files="none: built in",
            licence="MIT (part of aware3d)",
            module="aware3d.models.demo",
        ),
        FamilySpec(
            name="pigan",
            title="pi-GAN (Chan et al., CVPR 2021)",
            files="generator.pth with ema.pth beside it (CelebA, Cats, CARLA zips)",
            licence="no licence file in the official repository: all rights reserved by its authors",
            module="aware3d.models.pigan",
            pickle_globals=("siren.siren", "generators.generators"),
        ),
        FamilySpec(
            name="gram",
            title="GRAM (Deng et al., CVPR 2022)",
            files="generator.pth (a state dict) with ema.pth beside it (FFHQ, CATS, CARLA)",
            licence="Microsoft Research License: non-commercial research only, no redistribution",
            module="aware3d.models.gram",
            state_keys=("representation.sample_network", "representation.rf_network"),
        ),
        FamilySpec(
            name="graf",
            title="GRAF (Schwarz et al., NeurIPS 2020)",
            files="the released .pt checkpoint (a dict with 'generator' and 'generator_test')",
            licence="MIT",
            module=None,
            state_keys=("generator_test",),
        ),
        FamilySpec(
            name="cips3d",
            title="CIPS-3D (Zhou et al., 2021)",
            files="G_ema.pth from the release zip",
            licence="MIT",
            module=None,
            state_keys=("nerf_net.", "inr_net."),
        ),
        FamilySpec(
            name="eg3d",
            title="EG3D (Chan et al., CVPR 2022)",
            files="the network .pkl from NVIDIA NGC (e.g. ffhq512-128.pkl)",
            licence="NVIDIA Source Code License for EG3D: non-commercial research and evaluation only",
            module=None,
            pickle_globals=("torch_utils.persistence", "training.triplane"),
        ),
    )
}


def get_family(name: str) -> FamilySpec:
    """Return the spec of family ``name``.

    Raises:
        UnknownFamilyError: naming the known families.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(FAMILIES)
        raise UnknownFamilyError(f"unknown model family {name!r}; choose one of: {known}") from None


def family_module(spec: FamilySpec):
    """Import and return the module that implements ``spec``.

    Raises:
        UnsupportedFamilyError: for a family whose loader is not written yet.
    """
    if spec.module is None:
        raise UnsupportedFamilyError(
            f"the {spec.name} family is recognised but this version of aware3d cannot load it yet; "
            "see `aware3d models` for the families it can load"
        )
    return importlib.import_module(spec.module)
