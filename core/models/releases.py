"""Official releases as data: licences (written once, here) and the files each family published.

The registry entries point at these; ``aware3d models``, ``aware3d info`` and ``aware3d download``
all read this one table. aware3d never downloads anything by itself: ``aware3d download`` runs
only when a user asks for it, on their own machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Licence:
    """The licence of a family's official code and weights.

    Attributes:
        name: short name (the ``aware3d models`` column).
        summary: what it allows, printed before anything is fetched.
    """

    name: str
    summary: str


AWARE3D_LICENCE = Licence("MIT (part of aware3d)", "MIT License: the demo model is part of aware3d itself.")

UNSUP3D_LICENCE = Licence(
    "MIT (Copyright (c) 2020 elliottwu)",
    "Unsup3d (elliottwu/unsup3d) is under the MIT License: use, copy, modify and redistribute freely, "
    "keeping its copyright notice.",
)

LIFTEDGAN_LICENCE = Licence(
    "MIT (Copyright (c) 2021 Yichun Shi)",
    "LiftedGAN (seasonSH/LiftedGAN) is under the MIT License; its vendored CUDA ops (not used by "
    "aware3d) carry NVIDIA's non-commercial licence.",
)

PIGAN_LICENCE = Licence(
    "no licence file in the official repository: all rights reserved by its authors",
    "pi-GAN (marcoamonteiro/pi-GAN) has NO licence file: the code and the released weights are "
    "all rights reserved by their authors by default. No licence grants you use or redistribution; "
    "ask the authors before any use that the law does not already allow you.",
)
GRAM_LICENCE = Licence(
    "Microsoft Research License: non-commercial research only, no redistribution",
    "Microsoft Research License Agreement for GRAM (microsoft/GRAM LICENSE; README: 'research-only "
    "license'): use, copy and modify for NON-COMMERCIAL purposes only (teaching, academic research, "
    "public demonstrations, personal experimentation); you may NOT distribute the software, the "
    "weights or derivative works, nor use them for commercial hosting services.",
)
GRAF_LICENCE = Licence(
    "MIT",
    "MIT License, Copyright (c) 2020 autonomousvision (autonomousvision/graf LICENSE): use, copy, "
    "modify and redistribute, keeping the copyright and permission notice.",
)
CIPS3D_LICENCE = Licence(
    "MIT",
    "MIT License, Copyright (c) 2021 Peng Zhou (PeterouZh/CIPS-3D LICENSE): use, copy, modify and "
    "redistribute, keeping the copyright and permission notice.",
)
EG3D_LICENCE = Licence(
    "NVIDIA Source Code License for EG3D: non-commercial research and evaluation only",
    "NVIDIA Source Code License for EG3D (NVlabs/eg3d LICENSE.txt): NON-COMMERCIAL use only "
    "(research or evaluation); redistribution only under the same licence. The weights are served "
    "from NVIDIA NGC under the terms shown on that page; read and accept them there.",
)

PANOHEAD_LICENCE = Licence(
    "CC BY-NC-SA 4.0 (PanoHead) and the NVIDIA Source Code License for EG3D: non-commercial only",
    "SizheAn/PanoHead LICENSES/LICENSE.md: Creative Commons Attribution-NonCommercial-ShareAlike 4.0; "
    "its EG3D-derived code stays under LICENSES/LICENSE_EG3D (NVIDIA, non-commercial research and "
    "evaluation only). Use the weights non-commercially, with attribution.",
)

# --- what a release is -------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """One file of an official release.

    Attributes:
        name: file name inside ``<cache>/<family>/<variant>/``.
        url: where to fetch it; None for a file the user must download by hand.
        source: the official repository file the URL (or, for manual files, the name) was read from.
        host: ``"http"`` (a plain GET), ``"gdrive"`` (a Google Drive ``/file/d/<id>/view`` link) or
            ``"manual"`` (a page that needs a browser; never fetched).
        archive: a zip archive, extracted beside itself after download.
        sha256: the expected sha256 of the file, where the authors published one.
        git_blob_sha1: for a file committed to a git repository, its blob id in the official tree;
            the download is checked against it (this catches a changed file, or a Git LFS pointer
            served instead of the weights).
    """

    name: str
    url: str | None
    source: str
    host: Literal["http", "gdrive", "manual"] = "http"
    archive: bool = False
    sha256: str | None = None
    git_blob_sha1: str | None = None

    def __post_init__(self) -> None:
        if self.host not in ("http", "gdrive", "manual"):
            raise ValueError(f"host must be 'http', 'gdrive' or 'manual', got {self.host!r} for {self.name}")
        if (self.url is None) != (self.host == "manual"):
            raise ValueError(f"{self.name}: a manual file has no URL and every other file has one")


@dataclass(frozen=True)
class Release:
    """One official checkpoint release. Its licence is its family's registry entry's ``licence``.

    Attributes:
        family: aware3d family name (the ``--model`` value).
        variant: the name after ``family/`` on the command line.
        title: one-line description.
        files: what to fetch.
        checkpoint: the file to pass to ``--checkpoint``, relative to the variant folder. For an
            archive this is the expected path inside it; ``aware3d download`` falls back to the
            shallowest file with the same base name if the archive is laid out differently.
        page: the official page to point users at (manual steps, errors).
        manual_steps: extra instructions for files that cannot be fetched automatically.
    """

    family: str
    variant: str
    title: str
    files: tuple[RemoteFile, ...]
    checkpoint: str
    page: str
    manual_steps: str = ""

    @property
    def key(self) -> str:
        """``family/variant``, the name given to ``aware3d download``."""
        return f"{self.family}/{self.variant}"

    @property
    def manual(self) -> bool:
        """Whether any file must be downloaded by hand (in a browser)."""
        return any(f.host == "manual" for f in self.files)


# --- the release tables ---------------------------------------------------------------------
# Every URL below was copied from the official repository file named beside it; none is guessed.
# No release publishes a sha256; GRAM's files are pinned by their git blob ids instead.

# pi-GAN: Google Drive zips, each with generator.pth, ema.pth and ema2.pth.
# Source: marcoamonteiro/pi-GAN @ 0800af72b8a9 (master), README.md, section "Pretrained Models".
_PIGAN_SRC = "marcoamonteiro/pi-GAN@0800af72b8a9 README.md ('Pretrained Models')"
_PIGAN_PAGE = "https://github.com/marcoamonteiro/pi-GAN#pretrained-models"

# GRAM: plain git blobs (no .gitattributes, so not Git LFS) on the default branch `main`.
# Source: microsoft/GRAM @ 5a5ac8e11306 (main), README.md "Pretrained models" table links to
# https://github.com/microsoft/GRAM/tree/main/pretrained_models/<CONFIG>/; file names and blob
# ids from that commit's tree (git ls-tree).
_GRAM_SRC = "microsoft/GRAM@5a5ac8e11306 (branch main) README.md table -> tree pretrained_models/{cfg}/"
_GRAM_RAW = "https://raw.githubusercontent.com/microsoft/GRAM/main/pretrained_models/{cfg}/{name}"
_GRAM_PAGE = "https://github.com/microsoft/GRAM#pretrained-models"

# GRAF: Amazon S3 .pt files. Source: autonomousvision/graf @ c50d342fb567 (master),
# configs/pretrained_models.yaml (read by eval.py --pretrained).
_GRAF_SRC = "autonomousvision/graf@c50d342fb567 configs/pretrained_models.yaml"
_GRAF_PAGE = "https://github.com/autonomousvision/graf#generate-images-using-a-pretrained-model"

# CIPS-3D: GitHub release zips. Source: PeterouZh/CIPS-3D @ 5956813a465c (main), README.md,
# section "Pre-trained checkpoints"; the G_ema.pth path inside each zip from
# configs/web_demo.yaml (paths under cache_pretrained/, where the zips are unpacked).
_CIPS3D_SRC = "PeterouZh/CIPS-3D@5956813a465c README.md ('Pre-trained checkpoints')"
_CIPS3D_PAGE = "https://github.com/PeterouZh/CIPS-3D#pre-trained-checkpoints"

# EG3D: NVIDIA NGC catalog (browser download / sign-in); never fetched automatically.
# Source: NVlabs/eg3d @ 7cf1fd1e99e1 (main), docs/models.md (NGC link and the .pkl names),
# linked from README.md ("See Models for download links").
_EG3D_SRC = "NVlabs/eg3d@7cf1fd1e99e1 docs/models.md"
_EG3D_PAGE = "https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/eg3d"
_EG3D_STEPS = (
    "EG3D weights are published on the NVIDIA NGC catalog, which needs a browser download (and may "
    "ask you to sign in and accept NVIDIA's terms); aware3d download does not fetch them."
)


# PanoHead: a Google Drive folder (``models``) linked from the README; never fetched automatically.
# Source: SizheAn/PanoHead @ 17ad915941c7 (main), README.md ("Download the whole models folder").
_PANOHEAD_SRC = "SizheAn/PanoHead@17ad915941c7 README.md ('Download the whole models folder')"
_PANOHEAD_PAGE = "https://drive.google.com/drive/folders/1m517-F1NCTGA159dePs5R5qj02svtX1_"
_PANOHEAD_STEPS = (
    "PanoHead's weights are a Google Drive folder ('models'); download it in a browser (or with "
    "`gdown --folder`); aware3d download does not fetch folders."
)


def _pigan(variant: str, title: str, url: str) -> Release:
    files = (RemoteFile(f"{variant}.zip", url, _PIGAN_SRC, host="gdrive", archive=True),)
    return Release("pigan", variant, title, files, checkpoint="generator.pth", page=_PIGAN_PAGE)


def _gram(variant: str, cfg: str, title: str, blobs: dict[str, str]) -> Release:
    files = tuple(
        RemoteFile(name, _GRAM_RAW.format(cfg=cfg, name=name), _GRAM_SRC.format(cfg=cfg), git_blob_sha1=blob)
        for name, blob in blobs.items()
    )
    return Release("gram", variant, title, files, checkpoint="generator.pth", page=_GRAM_PAGE)


def _graf(variant: str, title: str, url: str) -> Release:
    name = url.rsplit("/", 1)[-1]
    return Release("graf", variant, title, (RemoteFile(name, url, _GRAF_SRC),), checkpoint=name, page=_GRAF_PAGE)


def _cips3d(variant: str, title: str, url: str, checkpoint: str) -> Release:
    files = (RemoteFile(url.rsplit("/", 1)[-1], url, _CIPS3D_SRC, archive=True),)
    return Release("cips3d", variant, title, files, checkpoint=checkpoint, page=_CIPS3D_PAGE)


def _manual(family: str, name: str, title: str, source: str, page: str, steps: str) -> Release:
    """A network pickle the user fetches in a browser (NGC, a Drive folder); aware3d records it once in place."""
    files = (RemoteFile(name, None, source, host="manual"),)
    return Release(family, name.removesuffix(".pkl"), title, files, checkpoint=name, page=page, manual_steps=steps)


def _eg3d(name: str, title: str) -> Release:
    return _manual("eg3d", name, title, _EG3D_SRC, _EG3D_PAGE, _EG3D_STEPS)


def _panohead(name: str, title: str) -> Release:
    return _manual("panohead", name, title, _PANOHEAD_SRC, _PANOHEAD_PAGE, _PANOHEAD_STEPS)


PIGAN_RELEASES: tuple[Release, ...] = (
    # marcoamonteiro/pi-GAN@0800af72b8a9 README.md: "CelebA: https://drive.google.com/file/d/1bRB4-..."
    _pigan("celeba", "pi-GAN CelebA 64/128 (faces)",
           "https://drive.google.com/file/d/1bRB4-KxQplJryJvqyEa8Ixkf_BVm4Nn6/view?usp=sharing"),
    # marcoamonteiro/pi-GAN@0800af72b8a9 README.md: "Cats: https://drive.google.com/file/d/1WBA-..."
    _pigan("cats", "pi-GAN Cats",
           "https://drive.google.com/file/d/1WBA-WI8DA7FqXn7__0TdBO0eO08C_EhG/view?usp=sharing"),
    # marcoamonteiro/pi-GAN@0800af72b8a9 README.md: "CARLA: https://drive.google.com/file/d/1n4e..."
    _pigan("carla", "pi-GAN CARLA (cars)",
           "https://drive.google.com/file/d/1n4eXijbSD48oJVAbAV4hgdcTbT3Yv4xO/view?usp=sharing"),
)

GRAM_RELEASES: tuple[Release, ...] = (
    # microsoft/GRAM@5a5ac8e11306 tree pretrained_models/FFHQ_default/{generator,ema}.pth
    _gram("ffhq", "FFHQ_default", "GRAM FFHQ 256x256 (faces)", {
        "generator.pth": "6ecbe6c590390242de6dfe0733d745d26d1bc365",
        "ema.pth": "f73f67fee46af713b9178eb7b5c94e5650666b0d",
    }),
    # microsoft/GRAM@5a5ac8e11306 tree pretrained_models/CATS_default/{generator,ema}.pth
    _gram("cats", "CATS_default", "GRAM Cats 256x256", {
        "generator.pth": "c49aaf01497a1d9ef29cee6f0fdff4d673787804",
        "ema.pth": "1fede1ff9537f45ae0657195dd09a2bd803d951b",
    }),
    # microsoft/GRAM@5a5ac8e11306 tree pretrained_models/CARLA_default/{generator,ema}.pth
    _gram("carla", "CARLA_default", "GRAM CARLA 128x128 (cars)", {
        "generator.pth": "091783326faf478e8ae4359a98d20f7ec95cc434",
        "ema.pth": "596c2800213d51bd6c512bb2ce631f228de36b7f",
    }),
)

GRAF_RELEASES: tuple[Release, ...] = (
    # autonomousvision/graf@c50d342fb567 configs/pretrained_models.yaml: celebA: 64 / 128
    _graf("celebA_64", "GRAF CelebA 64x64 (faces)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/faces/celebA_64.pt"),
    _graf("celebA_128", "GRAF CelebA 128x128 (faces)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/faces/celebA_128.pt"),
    # autonomousvision/graf@c50d342fb567 configs/pretrained_models.yaml: celebA_hq: 256 / 512
    _graf("celebA_hq_256", "GRAF CelebA-HQ 256x256 (faces)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/faces/celebA_hq_256.pt"),
    _graf("celebA_hq_512", "GRAF CelebA-HQ 512x512 (faces)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/faces/celebA_hq_512.pt"),
    # autonomousvision/graf@c50d342fb567 configs/pretrained_models.yaml: cats: 64
    _graf("cats_64", "GRAF Cats 64x64",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/cats/cats_64.pt"),
    # autonomousvision/graf@c50d342fb567 configs/pretrained_models.yaml: carla: 64/128/256/512
    _graf("carla_64", "GRAF CARLA 64x64 (cars)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/carla/carla_64.pt"),
    _graf("carla_128", "GRAF CARLA 128x128 (cars)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/carla/carla_128.pt"),
    _graf("carla_256", "GRAF CARLA 256x256 (cars)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/carla/carla_256.pt"),
    _graf("carla_512", "GRAF CARLA 512x512 (cars)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/carla/carla_512.pt"),
    # autonomousvision/graf@c50d342fb567 configs/pretrained_models.yaml: cub: 64
    _graf("cub_64", "GRAF CUB-200 64x64 (birds)",
          "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/birds/cub_64.pt"),
)

CIPS3D_RELEASES: tuple[Release, ...] = (
    # PeterouZh/CIPS-3D@5956813a465c README.md "Pre-trained checkpoints": FFHQ_r256;
    # checkpoint path from configs/web_demo.yaml ("FFHQ_r256_v1: cache_pretrained/train_ffhq_high-...")
    _cips3d("ffhq_r256", "CIPS-3D FFHQ 256x256 (faces)",
            "https://github.com/PeterouZh/CIPS-3D/releases/download/v0.0.2/train_ffhq_high-20220105_143314_190.zip",
            "train_ffhq_high-20220105_143314_190/resume_iter_645500/G_ema.pth"),
    # PeterouZh/CIPS-3D@5956813a465c README.md "Pre-trained checkpoints": AFHQ_r256;
    # checkpoint path from configs/web_demo.yaml ("AFHQ_r256_v1: cache_pretrained/finetune_afhq-...")
    _cips3d("afhq_r256", "CIPS-3D AFHQ 256x256 (animal faces, fine-tuned from FFHQ)",
            "https://github.com/PeterouZh/CIPS-3D/releases/download/v0.0.3/finetune_afhq-20220124_193407_473_r256.zip",
            "finetune_afhq-20220124_193407_473/resume_iter200000/G_ema.pth"),
    # PeterouZh/CIPS-3D@5956813a465c README.md "Pre-trained checkpoints": CartoonFaces_r256;
    # checkpoint path from configs/web_demo.yaml ("Cartoon_r256_v1: cache_pretrained/finetune_photo2cartoon-...")
    _cips3d("cartoonfaces_r256", "CIPS-3D cartoon faces 256x256 (fine-tuned from FFHQ)",
            "https://github.com/PeterouZh/CIPS-3D/releases/download/v0.0.3/finetune_photo2cartoon-20220107_172255_454_r256.zip",
            "finetune_photo2cartoon-20220107_172255_454/resume_iter29050/G_ema.pth"),
)

EG3D_RELEASES: tuple[Release, ...] = (
    # NVlabs/eg3d@7cf1fd1e99e1 docs/models.md: file names; the NGC catalog page is the only source.
    _eg3d("ffhq512-64.pkl", "EG3D FFHQ 512, neural rendering 64x64 (faces)"),
    _eg3d("ffhq512-128.pkl", "EG3D FFHQ 512, neural rendering 128x128 (faces)"),
    _eg3d("ffhqrebalanced512-64.pkl", "EG3D FFHQ-rebalanced 512, rendering 64x64 (faces)"),
    _eg3d("ffhqrebalanced512-128.pkl", "EG3D FFHQ-rebalanced 512, rendering 128x128 (faces)"),
    _eg3d("afhqcats512-128.pkl", "EG3D AFHQ cats 512, rendering 128x128"),
    _eg3d("shapenetcars128-64.pkl", "EG3D ShapeNet cars 128, rendering 64x64"),
)

PANOHEAD_RELEASES: tuple[Release, ...] = (
    # SizheAn/PanoHead@17ad915941c7 README.md: the models folder holds these two networks.
    _panohead("easy-khair-180-gpc0.8-trans10-025000.pkl", "PanoHead full-head 512 (tri-grid depth 3)"),
    _panohead("ablation-trigridD-1-025000.pkl", "PanoHead ablation, tri-grid depth 1"),
)


# Unsup3d: zips on the authors' VGG page. Source: elliottwu/unsup3d @ dc96141 (master),
# pretrained/download_pretrained_{celeba,cat,synface,syncar}.sh; the checkpoint names from
# experiments/test_{celeba,cat,synface,syncar}.yml and the demo's default path.
_UNSUP3D_SRC = "elliottwu/unsup3d@dc96141 pretrained/download_pretrained_{variant}.sh"
_UNSUP3D_PAGE = "https://github.com/elliottwu/unsup3d#pretrained-models"


def _unsup3d(variant: str, title: str, checkpoint: str) -> Release:
    url = f"https://www.robots.ox.ac.uk/~vgg/research/unsup3d/data/pretrained_{variant}.zip"
    files = (RemoteFile(f"pretrained_{variant}.zip", url, _UNSUP3D_SRC.format(variant=variant), archive=True),)
    return Release("unsup3d", variant, title, files, checkpoint=f"pretrained_{variant}/{checkpoint}", page=_UNSUP3D_PAGE)


UNSUP3D_RELEASES: tuple[Release, ...] = (
    _unsup3d("celeba", "Unsup3d CelebA faces (image to relief)", "checkpoint030.pth"),
    _unsup3d("cat", "Unsup3d cat faces (image to relief)", "checkpoint100.pth"),
    _unsup3d("synface", "Unsup3d synthetic faces (image to relief)", "checkpoint030.pth"),
    _unsup3d("syncar", "Unsup3d synthetic cars (image to relief)", "checkpoint100.pth"),
)


# LiftedGAN: two Google Drive files linked from the README. Source: seasonSH/LiftedGAN @ bd996e3
# (master), README.md: "Pre-trained Models: [Google Drive](...1-44Eivt7...)" (the checkpoint and
# its config.py) and "Download our pre-trained StyleGAN and face embedding network from [here]
# (...1qVoWu_f...) ... Unzip them into the `pretrained/` folder". Both are taken to be zips and
# the checkpoint to be checkpoint_010.pth (the released config trains 10 epochs): inferred, the
# README lists neither archive's contents.
_LIFTEDGAN_SRC = "seasonSH/LiftedGAN@bd996e3 README.md ('{section}')"
_LIFTEDGAN_PAGE = "https://github.com/seasonSH/LiftedGAN#testing"

LIFTEDGAN_RELEASES: tuple[Release, ...] = (
    Release("liftedgan", "ffhq", "LiftedGAN FFHQ 256 (z to relief), with the StyleGAN2 it lifts", (
        RemoteFile("liftedgan_ffhq.zip", "https://drive.google.com/file/d/1-44Eivt7GHINkX6zox89HHttujYWThz2/view?usp=sharing",
                   _LIFTEDGAN_SRC.format(section="Pre-trained Models"), host="gdrive", archive=True),
        RemoteFile("pretrained.zip", "https://drive.google.com/file/d/1qVoWu_fps17iTzYptwuN3ptgYeCpIl2e/view?usp=sharing",
                   _LIFTEDGAN_SRC.format(section="Training"), host="gdrive", archive=True),
    ), checkpoint="checkpoint_010.pth", page=_LIFTEDGAN_PAGE),
)
