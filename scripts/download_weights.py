"""Fetch the official released weights of 3D-aware face generators onto YOUR OWN machine.

This script is a convenience for users. aware3d itself never downloads weights: not when it
runs, not when it is installed, and not in CI (this script is never run there; its tests use
local files only). You run it yourself, once, on a machine with internet access:

    python scripts/download_weights.py --list
    python scripts/download_weights.py pigan/celeba gram/ffhq [--cache DIR] [--dry-run] [--force]

THE LICENCES APPLY. Each release keeps its authors' licence, which the script prints before it
fetches anything; several are non-commercial, and pi-GAN's repository has no licence at all (all
rights reserved). Downloading does not grant you any rights the licence does not. Read the
licence on the official page before you use the weights.

What it does:

* Files go to ``<cache>/<family>/<variant>/``. ``<cache>`` is ``--cache DIR``, else the
  environment variable ``AWARE3D_CACHE``, else ``~/.cache/aware3d/weights``.
* Each file is written to a temporary name in the destination folder and renamed into place when
  complete (an interrupted download never leaves a half file under the real name). Its sha256 and
  size are recorded in ``<cache>/manifest.json`` with the family, variant, URL, licence and time.
* A file already present whose sha256 matches the manifest is skipped (``--force`` fetches again).
* Zip archives (pi-GAN, CIPS-3D) are extracted beside the zip; an archive with an entry that is
  absolute, contains ``..`` or is a symbolic link is refused and nothing of it is extracted.
* Google Drive links (pi-GAN) go through Drive's "can't scan this file for viruses" confirmation
  page when it can be parsed; when it cannot (quota exceeded, page changed) the script prints
  manual instructions instead.
* Entries marked "manual" (EG3D, on NVIDIA NGC, which wants a browser download/sign-in) are never
  fetched: the script prints where to get the file and where to put it; run it again afterwards
  and it records the file's sha256 and prints the ``--checkpoint`` path.
* ``--dry-run`` prints what would be fetched and where, and touches nothing (no network, no files).

Exit status: 0 when every requested checkpoint is in place (or on ``--dry-run``/``--list``); 1 when
a download failed or a manual step is still needed; 2 for a usage error (e.g. an unknown variant).

Every URL below was copied from the official repository named in the comment beside it; none is
guessed. Standard library only (Python 3.9 or later), and it does not import aware3d, so it
runs on any machine, with or without aware3d installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import html.parser
import http.cookiejar
import json
import os
import re
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterable

USER_AGENT = "aware3d-download-weights/1"
TIMEOUT_S = 60
CHUNK = 1 << 20
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "aware3d-weights-manifest"


# --- the release table -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of a release.

    Attributes:
        name: file name inside ``<cache>/<family>/<variant>/``.
        url: where to fetch it; None for a file the user must download by hand.
        source: the official repository file the URL (or file name) was read from.
        host: ``"http"`` (plain GET), ``"gdrive"`` (a Google Drive "view" link) or ``"manual"``.
        archive: a zip to extract after download.
        git_blob_sha1: for files committed to a git repository, the blob id recorded in the
            official tree; the download is checked against it (catches a changed file, or a Git
            LFS pointer served instead of the weights).
    """

    name: str
    url: str | None
    source: str
    host: str = "http"
    archive: bool = False
    git_blob_sha1: str | None = None


@dataclasses.dataclass(frozen=True)
class Release:
    """One downloadable (or manual) checkpoint release.

    Attributes:
        family: aware3d family name (the ``--model`` value).
        variant: the name after ``family/`` on the command line.
        title: one-line description.
        files: what to fetch.
        licence: short licence name (the ``--list`` column and the manifest's ``licence``).
        licence_text: the summary printed before downloading.
        checkpoint: the file to pass to ``aware3d --checkpoint``, relative to the variant folder.
            For archives this is the expected path; if the archive is laid out differently the
            script looks for a file with the same base name anywhere under the folder.
        page: the official page to point users at (manual instructions, errors).
        manual_steps: extra instructions for entries that cannot be fetched over plain HTTP.
    """

    family: str
    variant: str
    title: str
    files: tuple[RemoteFile, ...]
    licence: str
    licence_text: str
    checkpoint: str
    page: str
    manual_steps: str = ""

    @property
    def key(self) -> str:
        return f"{self.family}/{self.variant}"

    @property
    def status(self) -> str:
        return "manual" if any(f.host == "manual" for f in self.files) else "downloadable"


# Licence summaries: from /work/shared/reference/official-generators.md (sections 0 and x(f)),
# checked against each repository's LICENSE file at the snapshot commits named below.
_PIGAN_LICENCE = (
    "pi-GAN (marcoamonteiro/pi-GAN) has NO licence file: the code and the released weights are "
    "all rights reserved by their authors by default. No licence grants you use or redistribution; "
    "ask the authors before any use that the law does not already allow you."
)
_GRAM_LICENCE = (
    "Microsoft Research License Agreement for GRAM (microsoft/GRAM LICENSE; README: 'research-only "
    "license'): use, copy and modify for NON-COMMERCIAL purposes only (teaching, academic research, "
    "public demonstrations, personal experimentation); you may NOT distribute the software, the "
    "weights or derivative works, nor use them for commercial hosting services."
)
_GRAF_LICENCE = (
    "MIT License, Copyright (c) 2020 autonomousvision (autonomousvision/graf LICENSE): use, copy, "
    "modify and redistribute, keeping the copyright and permission notice."
)
_CIPS3D_LICENCE = (
    "MIT License, Copyright (c) 2021 Peng Zhou (PeterouZh/CIPS-3D LICENSE): use, copy, modify and "
    "redistribute, keeping the copyright and permission notice."
)
_EG3D_LICENCE = (
    "NVIDIA Source Code License for EG3D (NVlabs/eg3d LICENSE.txt): NON-COMMERCIAL use only "
    "(research or evaluation); redistribution only under the same licence. The weights are served "
    "from NVIDIA NGC under the terms shown on that page; read and accept them there."
)

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

# EG3D: NVIDIA NGC catalog (browser download / sign-in); never fetched by this script.
# Source: NVlabs/eg3d @ 7cf1fd1e99e1 (main), docs/models.md (NGC link and the .pkl names),
# linked from README.md ("See Models for download links").
_EG3D_SRC = "NVlabs/eg3d@7cf1fd1e99e1 docs/models.md"
_EG3D_PAGE = "https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/eg3d"


def _pigan(variant: str, title: str, url: str) -> Release:
    return Release(
        family="pigan",
        variant=variant,
        title=title,
        files=(RemoteFile(f"{variant}.zip", url, _PIGAN_SRC, host="gdrive", archive=True),),
        licence="none (all rights reserved)",
        licence_text=_PIGAN_LICENCE,
        checkpoint="generator.pth",
        page=_PIGAN_PAGE,
    )


def _gram(variant: str, cfg: str, title: str, blobs: dict[str, str]) -> Release:
    files = tuple(
        RemoteFile(
            name,
            _GRAM_RAW.format(cfg=cfg, name=name),
            _GRAM_SRC.format(cfg=cfg),
            git_blob_sha1=blob,
        )
        for name, blob in blobs.items()
    )
    return Release(
        family="gram",
        variant=variant,
        title=title,
        files=files,
        licence="Microsoft Research License (non-commercial)",
        licence_text=_GRAM_LICENCE,
        checkpoint="generator.pth",
        page=_GRAM_PAGE,
    )


def _graf(variant: str, title: str, url: str) -> Release:
    name = url.rsplit("/", 1)[-1]
    return Release(
        family="graf",
        variant=variant,
        title=title,
        files=(RemoteFile(name, url, _GRAF_SRC),),
        licence="MIT",
        licence_text=_GRAF_LICENCE,
        checkpoint=name,
        page=_GRAF_PAGE,
    )


def _cips3d(variant: str, title: str, url: str, checkpoint: str) -> Release:
    return Release(
        family="cips3d",
        variant=variant,
        title=title,
        files=(RemoteFile(url.rsplit("/", 1)[-1], url, _CIPS3D_SRC, archive=True),),
        licence="MIT",
        licence_text=_CIPS3D_LICENCE,
        checkpoint=checkpoint,
        page=_CIPS3D_PAGE,
    )


def _eg3d(name: str, title: str) -> Release:
    return Release(
        family="eg3d",
        variant=name.removesuffix(".pkl"),
        title=title,
        files=(RemoteFile(name, None, _EG3D_SRC, host="manual"),),
        licence="NVIDIA EG3D licence (non-commercial)",
        licence_text=_EG3D_LICENCE,
        checkpoint=name,
        page=_EG3D_PAGE,
        manual_steps=(
            "EG3D weights are published on the NVIDIA NGC catalog, which needs a browser download "
            "(and may ask you to sign in and accept NVIDIA's terms); this script does not fetch "
            "them."
        ),
    )


_RELEASE_LIST: tuple[Release, ...] = (
    # marcoamonteiro/pi-GAN@0800af72b8a9 README.md: "CelebA: https://drive.google.com/file/d/1bRB4-..."
    _pigan("celeba", "pi-GAN CelebA 64/128 (faces)",
           "https://drive.google.com/file/d/1bRB4-KxQplJryJvqyEa8Ixkf_BVm4Nn6/view?usp=sharing"),
    # marcoamonteiro/pi-GAN@0800af72b8a9 README.md: "Cats: https://drive.google.com/file/d/1WBA-..."
    _pigan("cats", "pi-GAN Cats",
           "https://drive.google.com/file/d/1WBA-WI8DA7FqXn7__0TdBO0eO08C_EhG/view?usp=sharing"),
    # marcoamonteiro/pi-GAN@0800af72b8a9 README.md: "CARLA: https://drive.google.com/file/d/1n4e..."
    _pigan("carla", "pi-GAN CARLA (cars)",
           "https://drive.google.com/file/d/1n4eXijbSD48oJVAbAV4hgdcTbT3Yv4xO/view?usp=sharing"),
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
    # NVlabs/eg3d@7cf1fd1e99e1 docs/models.md: file names; the NGC catalog page is the only source.
    _eg3d("ffhq512-64.pkl", "EG3D FFHQ 512, neural rendering 64x64 (faces)"),
    _eg3d("ffhq512-128.pkl", "EG3D FFHQ 512, neural rendering 128x128 (faces)"),
    _eg3d("ffhqrebalanced512-64.pkl", "EG3D FFHQ-rebalanced 512, rendering 64x64 (faces)"),
    _eg3d("ffhqrebalanced512-128.pkl", "EG3D FFHQ-rebalanced 512, rendering 128x128 (faces)"),
    _eg3d("afhqcats512-128.pkl", "EG3D AFHQ cats 512, rendering 128x128"),
    _eg3d("shapenetcars128-64.pkl", "EG3D ShapeNet cars 128, rendering 64x64"),
)

RELEASES: dict[str, Release] = {r.key: r for r in _RELEASE_LIST}
FAMILY_ORDER = ("pigan", "gram", "graf", "cips3d", "eg3d")


def find_release(name: str, releases: dict[str, Release] | None = None) -> Release | None:
    """Look up ``family/variant``, exactly or ignoring case."""
    releases = RELEASES if releases is None else releases
    if name in releases:
        return releases[name]
    folded = {key.lower(): rel for key, rel in releases.items()}
    return folded.get(name.strip().lower())


# --- errors -------------------------------------------------------------------------------


class DownloadError(Exception):
    """A download or extraction that failed; the message is for the user."""


class IntegrityError(DownloadError):
    """The received bytes are not what the official source holds (size or hash mismatch)."""


class UnsafeArchiveError(DownloadError):
    """A zip with an entry that would land outside its folder (absolute path, ``..``, symlink)."""


class ManualDownloadRequired(DownloadError):
    """The file cannot be fetched with plain HTTP requests; the message says what to do."""


# --- small helpers ------------------------------------------------------------------------


def default_cache() -> Path:
    """``$AWARE3D_CACHE`` if set, else ``~/.cache/aware3d/weights``."""
    env = os.environ.get("AWARE3D_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "aware3d" / "weights"


def _human(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The git object id of ``path``'s content (what ``git hash-object`` prints)."""
    digest = hashlib.sha1()
    digest.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


class _Progress:
    """A byte counter on stderr: redrawn in place on a terminal, a few lines otherwise."""

    def __init__(self, label: str, total: int | None, stream: IO[str]):
        self.label, self.total, self.stream = label, total, stream
        self.done = 0
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._last_quarter = -1
        self._started = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= 0.2:
                self._last_draw = now
                self.stream.write("\r" + self._text())
                self.stream.flush()
        elif self.total:
            quarter = min(4, self.done * 4 // self.total)
            if quarter != self._last_quarter and quarter < 4:
                self._last_quarter = quarter
                self.stream.write(self._text() + "\n")

    def close(self) -> None:
        self.stream.write(("\r" if self.tty else "") + self._text(final=True) + "\n")
        self.stream.flush()

    def _text(self, final: bool = False) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = f"{_human(self.done / elapsed)}/s"
        if self.total:
            pct = 100.0 * self.done / self.total
            body = f"{pct:5.1f}% {_human(self.done)} / {_human(self.total)}"
        else:
            body = f"{_human(self.done)}"
        return f"  {self.label}: {body} {rate}{' done' if final else ''}"


def _write_stream_atomic(
    read: Callable[[int], bytes],
    dest: Path,
    *,
    total: int | None = None,
    progress: _Progress | None = None,
    verify: Callable[[Path, str, int], None] | None = None,
) -> tuple[str, int]:
    """Copy ``read`` into ``dest`` through a temporary file in the same folder, then rename.

    Returns (sha256, size). On any error (including ``verify`` raising) the temporary file is
    removed and ``dest`` is left as it was.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                block = read(CHUNK)
                if not block:
                    break
                out.write(block)
                digest.update(block)
                size += len(block)
                if progress is not None:
                    progress.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if total is not None and size != total:
            raise IntegrityError(f"{dest.name}: received {size} bytes, the server announced {total} (connection cut?)")
        sha = digest.hexdigest()
        if verify is not None:
            verify(tmp, sha, size)
        os.replace(tmp, dest)
        return sha, size
    finally:
        if tmp.exists():
            tmp.unlink()


# --- HTTP and Google Drive ----------------------------------------------------------------


class _Session:
    """A urllib opener with a cookie jar (Google Drive's confirmation uses cookies)."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def open(self, url: str):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        return self._opener.open(request, timeout=TIMEOUT_S)

    def cookie(self, prefix: str) -> str | None:
        for c in self.cookies:
            if c.name.startswith(prefix) and c.value:
                return c.value
        return None


def _make_session() -> _Session:
    """The session factory; tests replace it to serve local bytes."""
    return _Session()


def _content_length(resp) -> int | None:
    value = resp.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _is_html(resp) -> bool:
    ctype = resp.headers.get("Content-Type") or ""
    return ctype.split(";")[0].strip().lower() == "text/html"


_GDRIVE_ID = re.compile(r"/file/d/([A-Za-z0-9_-]+)")
_GOOGLE_HOSTS = re.compile(r"(^|\.)(google\.com|googleusercontent\.com)$")


def gdrive_file_id(url: str) -> str:
    """The file id of a ``https://drive.google.com/file/d/<id>/view`` link (or ``?id=<id>``)."""
    match = _GDRIVE_ID.search(url)
    if match:
        return match.group(1)
    ids = urllib.parse.parse_qs(urllib.parse.urlparse(url).query).get("id")
    if ids:
        return ids[0]
    raise ValueError(f"not a Google Drive file link: {url}")


def gdrive_direct_url(url: str) -> str:
    """Google Drive's public direct-download endpoint for the file of a "view" link."""
    query = urllib.parse.urlencode({"export": "download", "id": gdrive_file_id(url)})
    return f"https://drive.google.com/uc?{query}"


class _ConfirmPageParser(html.parser.HTMLParser):
    """Collect the forms (action, method, inputs) and confirm= links of a Drive warning page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.links: list[str] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {"id": a.get("id", ""), "action": a.get("action", ""),
                          "method": a.get("method", "get").lower(), "inputs": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text").lower() in ("hidden", "text"):
                self._form["inputs"].append((a["name"], a.get("value", "")))
        elif tag == "a" and "confirm=" in a.get("href", ""):
            self.links.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def gdrive_confirm_url(page: str, base_url: str, cookie_token: str | None = None) -> str | None:
    """The URL behind the "Download anyway" button of Drive's virus-scan warning, or None.

    Handles the current form (``<form id="download-form" action=".../download">`` with hidden
    ``id``/``export``/``confirm``/``uuid`` inputs), the older ``href="/uc?export=download&confirm=..."``
    link, and the older ``download_warning_*`` cookie. Only Google hosts are followed.
    """
    parser = _ConfirmPageParser()
    try:
        parser.feed(page)
    except Exception:  # malformed HTML: fall through to the other ways
        pass
    candidates: list[str] = []
    forms = sorted(parser.forms, key=lambda f: (f["id"] != "download-form", "download" not in f["action"]))
    for form in forms:
        if form["method"] != "get" or not form["inputs"] or not form["action"]:
            continue
        names = {name for name, _ in form["inputs"]}
        if "id" not in names:
            continue
        action = urllib.parse.urljoin(base_url, form["action"])
        candidates.append(action + ("&" if "?" in action else "?") + urllib.parse.urlencode(form["inputs"]))
    candidates += [urllib.parse.urljoin(base_url, href) for href in parser.links]
    if cookie_token:
        parts = urllib.parse.urlsplit(base_url)
        query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "confirm"]
        query.append(("confirm", cookie_token))
        candidates.append(urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query))))
    for url in candidates:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https" and _GOOGLE_HOSTS.search(parts.hostname or ""):
            return url
    return None


def _open_gdrive(session, view_url: str):
    """Open a Google Drive file, stepping through the confirmation page; return the response."""
    url = gdrive_direct_url(view_url)
    seen = {url}
    for _ in range(4):
        resp = session.open(url)
        if not _is_html(resp):
            return resp
        try:
            page = resp.read(4_000_000).decode("utf-8", "replace")
        finally:
            resp.close()
        next_url = gdrive_confirm_url(page, url, session.cookie("download_warning"))
        if next_url is None or next_url in seen:
            reason = "quota exceeded" if "quota" in page.lower() else "the confirmation page could not be read"
            raise ManualDownloadRequired(f"Google Drive did not serve the file ({reason})")
        seen.add(next_url)
        url = next_url
    raise ManualDownloadRequired("Google Drive kept answering with web pages instead of the file")


# --- zip extraction -----------------------------------------------------------------------

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


def _safe_member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The path parts of a zip entry, or UnsafeArchiveError for one that could escape."""
    name = info.filename
    if name.startswith(("/", "\\")) or _DRIVE_LETTER.match(name):
        raise UnsafeArchiveError(f"refusing archive entry with an absolute path: {name!r}")
    parts = tuple(p for p in re.split(r"[\\/]", name) if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchiveError(f"refusing archive entry with '..' in its path: {name!r}")
    mode = (info.external_attr >> 16) & 0xFFFF
    if mode and stat.S_ISLNK(mode):
        raise UnsafeArchiveError(f"refusing archive entry that is a symbolic link: {name!r}")
    return parts


def safe_extract(archive: Path, dest_dir: Path) -> list[tuple[Path, str, int]]:
    """Extract ``archive`` into ``dest_dir``; return [(path, sha256, size)] of the files written.

    Every entry is checked before anything is written: one unsafe entry (absolute path, ``..``,
    symbolic link) refuses the whole archive. Each file is written atomically.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive} is not a valid zip archive ({exc})") from None
    with zf:
        plan = [(info, _safe_member_parts(info)) for info in zf.infolist()]
        root = dest_dir.resolve()
        written = []
        for info, parts in plan:
            if not parts:
                continue
            target = dest_dir.joinpath(*parts)
            if not target.resolve().is_relative_to(root):  # belt and braces
                raise UnsafeArchiveError(f"refusing archive entry outside the folder: {info.filename!r}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(info) as src:
                sha, size = _write_stream_atomic(src.read, target, total=info.file_size)
            written.append((target, sha, size))
        return written


def locate_checkpoint(folder: Path, checkpoint: str) -> Path | None:
    """``folder/checkpoint`` if present, else the shallowest file with the same base name."""
    direct = folder / checkpoint
    if direct.is_file():
        return direct
    name = PurePosixPath(checkpoint).name
    found = [p for p in folder.rglob(name) if p.is_file() and "__MACOSX" not in p.parts]
    found.sort(key=lambda p: (len(p.parts), str(p)))
    return found[0] if found else None


# --- manifest ------------------------------------------------------------------------------


def load_manifest(root: Path) -> dict:
    path = root / MANIFEST_NAME
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "version": 1, "files": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DownloadError(f"cannot read {path} ({exc}); move it away and run again") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise DownloadError(f"{path} is not a manifest written by this script; move it away and run again")
    return data


def save_manifest(root: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    data = iter([text.encode("utf-8")])
    _write_stream_atomic(lambda _n: next(data, b""), root / MANIFEST_NAME)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _is_current(root: Path, manifest: dict, path: Path) -> bool:
    """Whether ``path`` exists and matches the sha256 and size recorded for it."""
    record = manifest["files"].get(_rel(root, path))
    if record is None or not path.is_file():
        return False
    if path.stat().st_size != record.get("size"):
        return False
    return sha256_file(path) == record.get("sha256")


def _record(manifest: dict, root: Path, release: Release, path: Path, sha: str, size: int, **extra) -> None:
    rel = _rel(root, path)
    entry = {
        "family": release.family,
        "variant": release.variant,
        "file": rel,
        "url": None,
        "sha256": sha,
        "size": size,
        "licence": release.licence,
        "downloaded_at": _now(),
    }
    entry.update(extra)
    manifest["files"][rel] = entry


# --- one release ----------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """What happened to one release: ``ok``, ``manual`` (user action needed) or ``failed``."""

    status: str
    checkpoint: Path | None = None
    message: str = ""


def _manual_text(release: Release, f: RemoteFile, dest: Path) -> str:
    lines = []
    if release.manual_steps:
        lines.append(f"     {release.manual_steps}")
    where = f.url if f.url else release.page
    lines += [
        f"     1. Open {where} in a web browser" + ("" if f.url else f" (official page; from {f.source})") + ".",
        f"     2. Download {'the zip' if f.archive else f.name} from there.",
        f"     3. Save it as {dest}",
        f"     4. Run this script again with {release.key}: it records the file's sha256"
        + (", extracts it" if f.archive else "")
        + " and prints the path for aware3d --checkpoint.",
    ]
    return "\n".join(lines)


def _verifier(f: RemoteFile, accept_changed: bool, err: IO[str]) -> Callable[[Path, str, int], None] | None:
    if f.git_blob_sha1 is None and not f.archive:
        return None

    def verify(tmp: Path, sha: str, size: int) -> None:
        if f.archive and not zipfile.is_zipfile(tmp):
            raise DownloadError(f"{f.name}: the server sent something that is not a zip archive")
        if f.git_blob_sha1 is not None:
            got = git_blob_sha1(tmp)
            if got != f.git_blob_sha1:
                msg = (f"{f.name}: content differs from the official commit (git blob {got}, expected "
                       f"{f.git_blob_sha1}; see {f.source})")
                if not accept_changed:
                    raise IntegrityError(msg + "; pass --accept-changed to keep it anyway")
                print(f"warning: {msg}; kept because of --accept-changed", file=err)

    return verify


def fetch_release(
    release: Release,
    root: Path,
    *,
    force: bool = False,
    accept_changed: bool = False,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> Outcome:
    """Download (or register) every file of ``release`` under ``root``; extract its archives."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    folder = root / release.family / release.variant
    print(f"== {release.key}: {release.title}", file=out)
    print(f"   Licence: {release.licence_text}", file=out)
    manifest = load_manifest(root)
    session = None
    pending: list[str] = []
    failures: list[str] = []
    extract: list[tuple[RemoteFile, Path, bool]] = []  # (file, archive path, fresh)

    for f in release.files:
        dest = folder / f.name
        if not force and _is_current(root, manifest, dest):
            print(f"   present, sha256 matches the manifest: {dest}", file=out)
            if f.archive:
                extract.append((f, dest, False))
            continue
        manual_hint = _manual_text(release, f, dest)
        if f.host == "manual" or f.url is None:
            if dest.is_file():
                sha = sha256_file(dest)
                _record(manifest, root, release, dest, sha, dest.stat().st_size,
                        origin="placed by hand", source=f.source, page=release.page)
                save_manifest(root, manifest)
                print(f"   found {dest} (placed by hand); sha256 {sha} recorded", file=out)
                if f.archive:
                    extract.append((f, dest, True))
            else:
                pending.append(f"{f.name}: manual download needed.\n{manual_hint}")
            continue
        try:
            if session is None:
                session = _make_session()
            print(f"   fetching {f.url}\n         -> {dest}", file=out)
            out.flush()
            if f.host == "gdrive":
                resp = _open_gdrive(session, f.url)
            else:
                resp = session.open(f.url)
            try:
                total = _content_length(resp)
                progress = _Progress(f.name, total, err)
                sha, size = _write_stream_atomic(
                    resp.read, dest, total=total, progress=progress,
                    verify=_verifier(f, accept_changed, err),
                )
                progress.close()
            finally:
                resp.close()
        except ManualDownloadRequired as exc:
            if dest.is_file():
                sha = sha256_file(dest)
                _record(manifest, root, release, dest, sha, dest.stat().st_size,
                        origin="placed by hand", url=f.url, source=f.source)
                save_manifest(root, manifest)
                print(f"   {exc}\n   using the file already at {dest}; sha256 {sha} recorded", file=out)
                if f.archive:
                    extract.append((f, dest, True))
            else:
                pending.append(f"{f.name}: {exc}\n{manual_hint}")
            continue
        except (DownloadError, urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else None
            if isinstance(exc, urllib.error.HTTPError):
                reason = f"HTTP {exc.code} {exc.reason}"
            failures.append(f"{f.name}: {reason or exc} (URL {f.url}; official page {release.page})")
            continue
        _record(manifest, root, release, dest, sha, size, origin="download", url=f.url, source=f.source,
                **({"git_blob_sha1": f.git_blob_sha1} if f.git_blob_sha1 else {}))
        save_manifest(root, manifest)
        print(f"   sha256 {sha} ({_human(size)})", file=out)
        if f.archive:
            extract.append((f, dest, True))

    for f, archive, fresh in extract:
        rel = _rel(root, archive)
        members = [(root / r) for r, e in manifest["files"].items() if e.get("extracted_from") == rel]
        if not (fresh or force) and members and all(
            m.is_file() and m.stat().st_size == manifest["files"][_rel(root, m)]["size"] for m in members
        ):
            print(f"   already extracted: {archive.name}", file=out)
            continue
        try:
            written = safe_extract(archive, folder)
        except DownloadError as exc:
            failures.append(f"{archive.name}: {exc}")
            continue
        for path, sha, size in written:
            _record(manifest, root, release, path, sha, size, origin="extracted", url=f.url,
                    source=f.source, extracted_from=rel)
        save_manifest(root, manifest)
        print(f"   extracted {len(written)} file(s) from {archive.name} into {folder}", file=out)

    for text in pending:
        print(f"   MANUAL STEP for {release.key}: {text}", file=out)
    for text in failures:
        print(f"error: {release.key}: {text}", file=err)
    if failures:
        return Outcome("failed", message="; ".join(failures))
    if pending:
        return Outcome("manual", message="manual download needed")
    checkpoint = locate_checkpoint(folder, release.checkpoint)
    if checkpoint is None:
        msg = f"{release.checkpoint} not found under {folder} after download"
        print(f"error: {release.key}: {msg}", file=err)
        return Outcome("failed", message=msg)
    print(f"   Point aware3d at: {checkpoint}", file=out)
    print(f"     aware3d generate --model {release.family} --checkpoint {checkpoint} -o head.glb", file=out)
    return Outcome("ok", checkpoint=checkpoint)


def dry_run(release: Release, root: Path, out: IO[str] | None = None) -> None:
    """Print what ``fetch_release`` would do; no network, no file written or created."""
    out = sys.stdout if out is None else out
    folder = root / release.family / release.variant
    print(f"== {release.key}: {release.title} [{release.status}]", file=out)
    print(f"   Licence: {release.licence_text}", file=out)
    for f in release.files:
        dest = folder / f.name
        if f.host == "manual" or f.url is None:
            print(f"   manual: {f.name} (not fetched by this script; source {f.source})", file=out)
            print(_manual_text(release, f, dest), file=out)
            continue
        print(f"   would fetch {f.url}", file=out)
        if f.host == "gdrive":
            print(f"      (Google Drive; direct link {gdrive_direct_url(f.url)})", file=out)
        print(f"      -> {dest}", file=out)
        print(f"      (URL from {f.source})", file=out)
        if f.archive:
            print(f"   would extract {f.name} into {folder}", file=out)
    where = folder / release.checkpoint
    if any(f.archive for f in release.files):
        print(f"   then point aware3d at: {where} (or the {where.name} found inside the archive)", file=out)
    else:
        print(f"   then point aware3d at: {where}", file=out)


# --- command line ---------------------------------------------------------------------------


def print_table(out: IO[str] | None = None, releases: Iterable[Release] | None = None) -> None:
    out = sys.stdout if out is None else out
    rows = list(RELEASES.values() if releases is None else releases)
    order = {fam: i for i, fam in enumerate(FAMILY_ORDER)}
    rows.sort(key=lambda r: order.get(r.family, len(order)))
    headers = ("VARIANT", "FAMILY", "STATUS", "LICENCE", "CHECKPOINT")
    table = [(r.key, r.family, r.status, r.licence, PurePosixPath(r.checkpoint).name) for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*headers).rstrip(), file=out)
    for row in table:
        print(line.format(*row).rstrip(), file=out)
    print("\nmanual = not fetched by this script (run it with the variant for instructions).", file=out)
    print("Licences apply to the weights; the script prints each one in full before downloading.", file=out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="download_weights.py",
        description="Fetch official 3D-aware GAN weights onto your own machine (never run in CI). "
        "The authors' licences apply; each is printed before downloading.",
    )
    p.add_argument("variants", nargs="*", metavar="FAMILY/VARIANT", help="e.g. pigan/celeba gram/ffhq (see --list)")
    p.add_argument("--list", action="store_true", help="print the table of releases and exit")
    p.add_argument("--cache", type=Path, default=None,
                   help="download folder (default: $AWARE3D_CACHE or ~/.cache/aware3d/weights)")
    p.add_argument("--dry-run", action="store_true", help="print URLs and destinations; touch nothing")
    p.add_argument("--force", action="store_true", help="fetch again even if a verified copy is present")
    p.add_argument("--accept-changed", action="store_true",
                   help="keep a git-hosted file whose content differs from the commit recorded here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        print_table()
        return 0
    if not args.variants:
        print("error: name at least one FAMILY/VARIANT (see --list)", file=sys.stderr)
        return 2
    releases = []
    for name in args.variants:
        release = find_release(name)
        if release is None:
            print(f"error: unknown variant {name!r}; run with --list to see the choices", file=sys.stderr)
            return 2
        if release not in releases:
            releases.append(release)
    root = (args.cache.expanduser() if args.cache is not None else default_cache()).absolute()
    if args.dry_run:
        print(f"Dry run: nothing is downloaded or written. Cache folder: {root}")
        for release in releases:
            dry_run(release, root)
        return 0
    print(f"Cache folder: {root}")
    outcomes = []
    try:
        for release in releases:
            try:
                outcomes.append((release, fetch_release(release, root, force=args.force,
                                                        accept_changed=args.accept_changed)))
            except DownloadError as exc:  # e.g. unreadable manifest
                print(f"error: {release.key}: {exc}", file=sys.stderr)
                outcomes.append((release, Outcome("failed", message=str(exc))))
    except KeyboardInterrupt:
        print("\ninterrupted; partial downloads were removed", file=sys.stderr)
        return 130
    print("\nSummary:")
    for release, outcome in outcomes:
        detail = str(outcome.checkpoint) if outcome.checkpoint else outcome.message
        print(f"  {release.key:<28} {outcome.status:<7} {detail}")
    return 0 if all(o.status == "ok" for _, o in outcomes) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        sys.exit(1)
