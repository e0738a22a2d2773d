"""What every model family provides: a Generator that samples identities as fields."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch

from ..cameras import Camera, CameraSpec, Pose, pose_to_camera
from ..errors import InputError
from ..fields import BaseField, WorldFrame
from ..progress import ProgressCallback
from ..render import RenderResult, RenderSettings, VolumeSamples, box_samples, camera_rays, render_image, render_samples, select_rays

TRUNCATION_NUM_SAMPLES = 10000
"""z samples averaged for truncation, as pi-GAN and GRAM do (``generate_avg_frequencies``)."""

TRUNCATION_SEED = 0
"""Fixed seed for those samples, so truncation is reproducible (the papers redraw them every call)."""

MAX_SEED = 2**63 - 1

BOX_SAMPLES = 96
"""Density samples per ray through the field's box where a preview renderer shares none of its own
(:meth:`Generator.volume_samples`): one per 2.7 marching-cubes cells at 256^3."""


def check_seed(seed: int) -> int:
    """Return ``seed`` as an int, or raise InputError for anything but an integer in [0, 2**63-1]."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be an integer between 0 and 2**63-1, got {seed!r}")
    return int(seed)


def check_truncation(truncation: float) -> float:
    """``truncation`` (psi) as a float, or InputError for anything but a finite number >= 0."""
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not math.isfinite(truncation) or truncation < 0:
        raise InputError(f"truncation must be a non-negative number, got {truncation!r}")
    return float(truncation)


def z_from_seed(seed: int, z_dim: int) -> torch.Tensor:
    """Return the [z_dim] float32 standard-normal latent for ``seed`` (CPU, independent of device).

    Example:
        >>> bool(torch.equal(z_from_seed(3, 4), z_from_seed(3, 4)))
        True
    """
    rng = torch.Generator(device="cpu").manual_seed(check_seed(seed))
    return torch.randn(z_dim, generator=rng, dtype=torch.float32)


def z_sha256(z: torch.Tensor) -> str:
    """Return a short hex digest identifying a latent (recorded in exported metadata)."""
    data = z.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


class Generator:
    """A loaded model: samples identities (fields) and renders previews of them.

    Subclasses set ``family``, ``z_dim``, ``camera``, ``render_settings``, ``device`` and ``info``
    and implement ``_make_field(z, truncation, conditioning)``.
    """

    family: str
    z_dim: int
    camera: CameraSpec
    render_settings: RenderSettings
    device: torch.device
    info: dict[str, Any]
    frame: WorldFrame | None = None
    """The world frame of this checkpoint when it differs from the family's (EG3D's cats and
    cars); None: the registry entry's. Fields carry the same frame."""

    def _make_field(self, z: torch.Tensor, truncation: float, conditioning: Any) -> BaseField:
        raise NotImplementedError

    def _z_from_seed(self, seed: int) -> torch.Tensor:
        """The latent of ``seed``; a family whose official scripts draw z another way overrides this."""
        return z_from_seed(seed, self.z_dim)

    def field(
        self,
        seed: int | None = None,
        z: torch.Tensor | np.ndarray | None = None,
        truncation: float = 0.7,
        conditioning: Any = None,
    ) -> BaseField:
        """Sample one identity.

        Args:
            seed: picks the latent deterministically (``torch.Generator`` seeded on the CPU, or
                the family's official scripts' own draw, e.g. EG3D's numpy RandomState);
                used when ``z`` is None; None with no ``z`` means seed 0.
            z: an explicit latent, [z_dim] or [1,z_dim].
            truncation: psi; 1 keeps the sample, 0 gives the average identity.
            conditioning: model-specific (EG3D's camera label); None for models without one.

        Returns:
            A field with ``query``, ``bounds`` and ``identity`` (seed, z hash, truncation).

        Raises:
            InputError: for both seed and z, a latent of the wrong size, or a bad truncation.
        """
        seed, z = self.latent(seed, z)
        field = self._make_field(z, check_truncation(truncation), conditioning)
        field.identity = {**self.identity(seed, z, truncation), **field.identity}  # the family's additions (EG3D: its label)
        return field

    def latent(self, seed: int | None, z: torch.Tensor | np.ndarray | None) -> tuple[int | None, torch.Tensor]:
        """The (seed, [z_dim] CPU latent) an identity is sampled from: ``z`` as given, else the
        latent of ``seed`` (0 when neither is given).

        Raises:
            InputError: for both seed and z, a bad seed, or a latent of the wrong size.
        """
        if seed is not None and z is not None:
            raise InputError("give either seed or z, not both")
        if z is None:
            seed = 0 if seed is None else seed
            return seed, self._z_from_seed(check_seed(seed))
        z = torch.as_tensor(z, dtype=torch.float32).detach().cpu().reshape(-1)
        if z.numel() != self.z_dim:
            raise InputError(f"z must have {self.z_dim} values for the {self.family} model, got {z.numel()}")
        return None, z

    def identity(self, seed: int | None, z: torch.Tensor, truncation: float) -> dict[str, Any]:
        """Who a sampled identity is, as exported metadata records it."""
        return {
            "family": self.family,
            "variant": self.info.get("variant"),
            "seed": seed,
            "z_sha256": z_sha256(z),
            "truncation": float(truncation),
            "checkpoint_sha256": self.info.get("checkpoint_sha256"),
        }

    def render_result(
        self,
        field: BaseField,
        pose: Pose,
        size: int | tuple[int, int] = 256,
        settings: RenderSettings | None = None,
        progress: ProgressCallback | None = None,
    ) -> RenderResult:
        """Render ``field`` at ``pose`` and keep the opacity, with the family's preview renderer."""
        return self._render_preview(field, pose_to_camera(pose, self.camera), size, settings, progress)

    def _render_preview(
        self,
        field: BaseField,
        camera: Camera,
        size: int | tuple[int, int],
        settings: RenderSettings | None,
        progress: ProgressCallback | None,
    ) -> RenderResult:
        """The preview-renderer hook: deterministic volume rendering (:func:`aware3d.render.render_image`)
        with the family's settings unless others are given. A family with a renderer of its own
        (GRAM's manifolds, EG3D's neural renderer) overrides this, and must honour ``settings``
        or reject them, never ignore them."""
        return render_image(field, camera, size, settings or self.render_settings, self.device, progress)

    image_size: int = 256
    """Side in pixels of the model's own final images (EG3D: its super-resolved output), at which
    view bakes render it."""

    full_circle: bool = False
    """The model shows the head from every side (PanoHead): previews, fidelity poses and view bakes
    go round the whole circle instead of staying within the front half."""

    @torch.inference_mode()
    def volume_samples(self, field: BaseField, pose: Pose, size: int = 48, pixels: torch.Tensor | None = None) -> VolumeSamples:
        """The 3-D volume renderer's opacity and expected depth at ``pose`` on a ``size``^2 image,
        with the density at the samples it took: what the automatic level matches level sets to,
        in one pass through the model. The default renderer (:func:`aware3d.render.render_samples`)
        shares its samples, as GRAF's, CIPS-3D's and the tri-plane renderers do in their overrides;
        a preview renderer that keeps none (GRAM's manifolds) is paired with
        :data:`BOX_SAMPLES` density samples evenly through the field's box along the same pixels' rays.

        Args:
            field: the identity to render.
            pose: where the camera looks from.
            size: image side in pixels.
            pixels: row-major indices of the pixels to render (default all): a caller refining an
                outline renders only the rays it needs. Every renderer here treats rays independently.
        """
        camera = pose_to_camera(pose, self.camera)
        if type(self)._render_preview is Generator._render_preview:
            return render_samples(field, camera, size, self.render_settings, pixels)
        result = self.render_result(field, pose, size)
        alpha, depth = select_rays(pixels, result.alpha.reshape(-1).to(field.device), result.depth.reshape(-1).to(field.device))
        depths, density = box_samples(field, *select_rays(pixels, *camera_rays(camera, size, size, field.device)), BOX_SAMPLES)
        return VolumeSamples(alpha, depth, depths, density)

    def render(
        self,
        field: BaseField,
        pose: Pose,
        size: int | tuple[int, int] = 256,
        settings: RenderSettings | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Render a preview of ``field`` at ``pose``.

        Returns:
            [H,W,3] uint8 image, row 0 at the top.
        """
        return self.render_result(field, pose, size, settings, progress).to_uint8()
