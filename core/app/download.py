"""``aware3d download``: fetch the official released weights onto the user's own machine.

aware3d never downloads anything by itself: not when it runs, not when it is installed, not in CI.
This module runs only when a user asks for a release by name. The release table (URLs, the
official file each URL was copied from, hashes) lives in :mod:`aware3d.models.releases` and
reaches this module through the registry, with each family's licence.

The authors' licences apply: each family's licence summary is printed before anything is fetched.

* Files go to ``<cache>/<family>/<variant>/``. ``<cache>`` is the ``cache`` argument, else
  ``$AWARE3D_CACHE``, else ``~/.cache/aware3d/weights`` (on Linux, ``pooch.os_cache("aware3d")``
  plus ``weights``).
* HTTP files are fetched with ``pooch.retrieve`` (hash check, progress bar on a terminal), Google
  Drive files with ``gdown.download``; each lands in a private temporary folder and is renamed into
  place only once verified (the published sha256 where known, the git blob id for GRAM's files).
* ``<cache>/manifest.json`` (written atomically) records every file's sha256, size, URL, licence
  and time; a file whose sha256 still matches it is not fetched again unless ``force``.
* Zip archives are extracted beside themselves; an archive with any member that is absolute,
  contains ``..``, is a symbolic link or would land outside the folder is refused whole.
* Manual releases (EG3D on NVIDIA NGC) print where to get the file and where to put it; once it is
  there, a second run records its sha256 and prints the ``--checkpoint`` path.
"""

from __future__ import annotations

import contextlib
import datetime
import difflib
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from ..checkpoints import MAX_ZIP_RATIO
from ..errors import Aware3DError, InputError
from ..io import write_atomic

if TYPE_CHECKING:
    from ..models.registry import FamilySpec
    from ..models.releases import Release, RemoteFile

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
"""The record of every file under the cache folder, at ``<cache>/manifest.json``."""

MANIFEST_FORMAT = "aware3d-weights-manifest"
"""The manifest's ``format`` field, so a foreign JSON file is never taken for one."""

_MISSING_PACKAGES = (
    "aware3d download needs the optional packages pooch and gdown: pip install 'aware3d[download]'"
)
_CHUNK = 1 << 20
"""Read size when hashing and extracting: 1 MiB keeps memory flat for multi-GiB files."""

_GDRIVE_ID = re.compile(r"/file/d/([A-Za-z0-9_-]+)")
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class _Fetchers:
    """The optional packages, imported once per run."""

    pooch: ModuleType
    gdown: ModuleType


@dataclass(frozen=True)
class _Outcome:
    """What became of one release: ``ok``, ``manual`` (user action needed) or ``failed``."""

    status: str
    detail: str


class _FetchFailed(Exception):
    """One file could not be fetched or verified; the message is for the user."""


class _ManualNeeded(Exception):
    """Google Drive would not serve the file to a script; the user must fetch it in a browser."""


def run_download(
    names: list[str],
    *,
    list_only: bool = False,
    dry_run: bool = False,
    force: bool = False,
    cache: Path | None = None,
    stream: IO[str] | None = None,
    releases: Mapping[str, Release] | None = None,
) -> int:
    """Fetch (or list, or describe) official releases; the body of ``aware3d download``.

    Args:
        names: releases as ``family/variant`` (case-insensitive); with ``list_only``, restricts
            the table to these (all when empty).
        list_only: print the table of releases with their licences and fetch nothing.
        dry_run: print what would be fetched and where; no network access, no file written.
        force: fetch again even when a copy matching the manifest is present.
        cache: the cache folder; None uses ``$AWARE3D_CACHE``, else ``~/.cache/aware3d/weights``.
        stream: where the report goes; None means ``sys.stdout`` at call time.
        releases: ``{"family/variant": Release}`` replacing the registry's table (tests); licences
            still come from the registry entry of each release's family.

    Returns:
        0 when every release asked for is in place (always, for ``list_only`` and ``dry_run``);
        1 when a download failed or a manual step is still needed.

    Raises:
        InputError: for an unknown release name (naming close matches), no name at all, a family
            missing from the registry, an unusable cache folder, or pooch/gdown not installed.
        Aware3DError: when the manifest exists but cannot be read.
    """
    out = sys.stdout if stream is None else stream
    table = _registry_releases() if releases is None else dict(releases)
    if list_only:
        chosen = _find_all(table, names) if names else list(table.values())
        _print_table(chosen, out)
        return 0
    if not names:
        example = next(iter(table), "family/variant")
        raise InputError(f"name at least one release to download, such as {example}; `aware3d download --list` shows them all")
    chosen = _find_all(table, names)
    families = {release.family: _family(release.family) for release in chosen}
    root = _cache_root(cache)

    if dry_run:
        print(f"Dry run: nothing is downloaded or written. Cache folder: {root}", file=out)
        _print_licences(families.values(), out)
        for release in chosen:
            _describe(release, root, out)
        return 0

    needs_network = any(f.host != "manual" for release in chosen for f in release.files)
    fetchers = _import_fetchers() if needs_network else None
    print(f"Cache folder: {root}", file=out)
    _print_licences(families.values(), out)
    manifest = _load_manifest(root)
    outcomes = []
    for release in chosen:
        licence_name = families[release.family].licence.name
        outcomes.append(_fetch_release(release, root, manifest, licence_name, force=force, out=out, fetchers=fetchers))
    print("\nSummary:", file=out)
    for release, outcome in zip(chosen, outcomes):
        print(f"  {release.key:<28} {outcome.status:<7} {outcome.detail}", file=out)
    return 0 if all(outcome.status == "ok" for outcome in outcomes) else 1


# --- the table --------------------------------------------------------------------------------


def _registry_releases() -> dict[str, Release]:
    from ..models import FAMILIES

    return {release.key: release for spec in FAMILIES.values() for release in spec.releases}


def _family(name: str) -> FamilySpec:
    from ..models import FAMILIES

    spec = FAMILIES.get(name)
    if spec is None:
        raise InputError(
            f"release family {name!r} is not in the model registry, so its licence is unknown; "
            f"registered families: {', '.join(FAMILIES)}"
        )
    return spec


def _find_all(table: Mapping[str, Release], names: list[str]) -> list[Release]:
    """The releases named, in order, without repeats."""
    found: dict[str, Release] = {}
    for name in names:
        release = _find_release(table, name)
        found.setdefault(release.key, release)
    return list(found.values())


def _find_release(table: Mapping[str, Release], name: str) -> Release:
    if name in table:
        return table[name]
    wanted = name.strip().lower()
    folded = {key.lower(): key for key in table}
    if wanted in folded:
        return table[folded[wanted]]
    close = [key for key in table if key.lower().startswith(wanted.rstrip("/") + "/")]
    close += [folded[k] for k in difflib.get_close_matches(wanted, folded, n=5, cutoff=0.6) if folded[k] not in close]
    hint = f"did you mean {', '.join(close[:8])}? " if close else ""
    raise InputError(f"unknown release {name!r}; {hint}`aware3d download --list` shows them all")


def _print_table(chosen: list[Release], out: IO[str]) -> None:
    headers = ("RELEASE", "HOW", "LICENCE", "CHECKPOINT")
    rows = [
        (
            release.key,
            "manual" if release.manual else "download",
            _family(release.family).licence.name,
            PurePosixPath(release.checkpoint).name,
        )
        for release in chosen
    ]
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print(line.format(*headers).rstrip(), file=out)
    for row in rows:
        print(line.format(*row).rstrip(), file=out)
    print(
        "\nmanual = needs a browser download; `aware3d download NAME` says where to get it and "
        "where to put it.\nThe licences apply to the weights; each is printed in full before "
        "anything is fetched.",
        file=out,
    )


def _print_licences(families: Iterable[FamilySpec], out: IO[str]) -> None:
    for spec in families:
        print(f"Licence of {spec.title} [{spec.licence.name}]:\n  {spec.licence.summary}", file=out)


def _describe(release: Release, root: Path, out: IO[str]) -> None:
    """The dry-run report of one release: URLs, destinations, manual steps; touches nothing."""
    folder = root / release.family / release.variant
    print(f"== {release.key}: {release.title} [{'manual' if release.manual else 'download'}]", file=out)
    for f in release.files:
        dest = folder / f.name
        if f.host == "manual":
            print(f"   manual: {f.name} (not fetched automatically; named in {f.source})", file=out)
            print(_manual_text(release, f, dest), file=out)
            continue
        print(f"   would fetch {f.url}", file=out)
        if f.host == "gdrive":
            print(f"      (Google Drive file id {_gdrive_file_id(f.url)})", file=out)
        print(f"      -> {dest}\n      (URL from {f.source})", file=out)
        if f.archive:
            print(f"   would extract {f.name} into {folder}", file=out)
    print(f"   then: --checkpoint {folder / release.checkpoint}", file=out)


def _manual_text(release: Release, f: RemoteFile, dest: Path) -> str:
    lines = [f"     {release.manual_steps}"] if release.manual_steps else []
    where = f.url if f.url else f"{release.page} (official page; from {f.source})"
    lines += [
        f"     1. Open {where} in a web browser.",
        f"     2. Download {'the zip' if f.archive else f.name} from there.",
        f"     3. Save it as {dest}",
        f"     4. Run `aware3d download {release.key}` again: it records the file's sha256"
        + (", extracts it" if f.archive else "")
        + " and prints the path for --checkpoint.",
    ]
    return "\n".join(lines)


# --- cache folder and manifest ----------------------------------------------------------------


def _cache_root(cache: Path | None) -> Path:
    if cache is not None:
        path = Path(cache)
    elif os.environ.get("AWARE3D_CACHE"):
        path = Path(os.environ["AWARE3D_CACHE"])
    else:
        path = Path.home() / ".cache" / "aware3d" / "weights"
    path = path.expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise InputError(f"cache folder {path} is a file; choose a folder with --cache or $AWARE3D_CACHE")
    return path


def _load_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_NAME
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "version": 1, "files": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise Aware3DError(f"cannot read the download manifest {path} ({err}); move it away and run again") from err
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
        raise Aware3DError(f"{path} is not an aware3d download manifest; move it away and run again")
    return data


def _save_manifest(root: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_atomic(root / MANIFEST_NAME, text.encode("utf-8"))


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _is_current(root: Path, manifest: dict[str, Any], path: Path) -> bool:
    """Whether ``path`` exists with the size and sha256 the manifest records for it."""
    record = manifest["files"].get(_rel(root, path))
    if record is None or not path.is_file() or path.stat().st_size != record.get("size"):
        return False
    return _digests(path)[0] == record.get("sha256")


def _record(manifest: dict[str, Any], root: Path, release: Release, path: Path, licence: str, **extra: Any) -> str:
    """Hash ``path`` and record it in ``manifest``; return its sha256."""
    sha, _, size = _digests(path)
    rel = _rel(root, path)
    entry = {
        "family": release.family,
        "variant": release.variant,
        "file": rel,
        "url": None,
        "sha256": sha,
        "size": size,
        "licence": licence,
        "downloaded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    entry.update(extra)
    manifest["files"][rel] = entry
    return sha


def _digests(path: Path) -> tuple[str, str, int]:
    """(sha256, git blob sha1, size) of a file, in one pass."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            sha256.update(block)
            blob.update(block)
    return sha256.hexdigest(), blob.hexdigest(), size


# --- one release ------------------------------------------------------------------------------


def _fetch_release(
    release: Release,
    root: Path,
    manifest: dict[str, Any],
    licence: str,
    *,
    force: bool,
    out: IO[str],
    fetchers: _Fetchers | None,
) -> _Outcome:
    """Fetch (or adopt) every file of ``release``, extract its archives, report the checkpoint."""
    folder = root / release.family / release.variant
    print(f"== {release.key}: {release.title}", file=out)
    pending: list[str] = []
    failures: list[str] = []
    archives: list[tuple[RemoteFile, Path, bool]] = []  # (file, archive path, freshly placed)

    for f in release.files:
        dest = folder / f.name
        if not force and _is_current(root, manifest, dest):
            print(f"   present, sha256 matches the manifest: {dest}", file=out)
            if f.archive:
                archives.append((f, dest, False))
            continue
        if f.host == "manual":
            if _adopt(release, f, dest, root, manifest, licence, out, failures):
                if f.archive:
                    archives.append((f, dest, True))
            elif not dest.is_file():
                pending.append(f"{f.name}: manual download needed.\n{_manual_text(release, f, dest)}")
            continue
        try:
            _fetch_file(f, dest, fetchers, out)
        except _ManualNeeded as err:
            if dest.is_file():
                print(f"   {err}; using the file already at {dest}", file=out)
                if _adopt(release, f, dest, root, manifest, licence, out, failures) and f.archive:
                    archives.append((f, dest, True))
            else:
                pending.append(f"{f.name}: {err}.\n{_manual_text(release, f, dest)}")
            continue
        except _FetchFailed as err:
            failures.append(f"{err} (URL {f.url}; official page {release.page})")
            continue
        extra = {"git_blob_sha1": f.git_blob_sha1} if f.git_blob_sha1 else {}
        sha = _record(manifest, root, release, dest, licence, origin="download", url=f.url, source=f.source, **extra)
        _save_manifest(root, manifest)
        print(f"   sha256 {sha} recorded", file=out)
        if f.archive:
            archives.append((f, dest, True))

    for f, archive, fresh in archives:
        _extract_recorded(release, f, archive, folder, root, manifest, licence, fresh or force, out, failures)

    for text in pending:
        print(f"   MANUAL STEP for {release.key}: {text}", file=out)
    for text in failures:
        print(f"   error: {release.key}: {text}", file=out)
    if failures:
        return _Outcome("failed", "; ".join(failures))
    if pending:
        return _Outcome("manual", "manual download needed (see above)")
    checkpoint = _locate_checkpoint(folder, release.checkpoint)
    if checkpoint is None:
        message = f"{release.checkpoint} not found under {folder}; the release may have changed, see {release.page}"
        print(f"   error: {release.key}: {message}", file=out)
        return _Outcome("failed", message)
    print(f"   Point aware3d at it with: --checkpoint {checkpoint}", file=out)
    print(f"     aware3d generate --model {release.family} --checkpoint {checkpoint} -o head.glb", file=out)
    return _Outcome("ok", str(checkpoint))


def _adopt(
    release: Release,
    f: RemoteFile,
    dest: Path,
    root: Path,
    manifest: dict[str, Any],
    licence: str,
    out: IO[str],
    failures: list[str],
) -> bool:
    """Record a file the user placed by hand; False when there is none or it fails verification."""
    if not dest.is_file():
        return False
    try:
        _verify(f, dest)
    except _FetchFailed as err:
        failures.append(f"{err}; the file at {dest} was placed by hand and is left as it is")
        return False
    sha = _record(manifest, root, release, dest, licence, origin="placed by hand", url=f.url, source=f.source)
    _save_manifest(root, manifest)
    print(f"   found {dest} (placed by hand); sha256 {sha} recorded", file=out)
    return True


def _fetch_file(f: RemoteFile, dest: Path, fetchers: _Fetchers | None, out: IO[str]) -> None:
    """Download ``f`` into a private temporary folder, verify it, then rename it to ``dest``.

    Raises:
        _FetchFailed: on a network error or a file that fails verification (nothing is kept).
        _ManualNeeded: when Google Drive will not serve the file to a script.
    """
    if fetchers is None:  # run_download imports them whenever a file has a URL
        raise _FetchFailed(_MISSING_PACKAGES)
    print(f"   fetching {f.url}\n         -> {dest}", file=out)
    out.flush()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    except OSError as err:
        raise _FetchFailed(f"{f.name}: cannot write to {dest.parent} ({err})") from err
    try:
        part = staging / dest.name
        if f.host == "gdrive":
            _fetch_gdrive(fetchers.gdown, f, part)
        else:
            _fetch_http(fetchers.pooch, f, part)
        _verify(f, part)
        os.replace(part, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_http(pooch: ModuleType, f: RemoteFile, part: Path) -> None:
    known_hash = f"sha256:{f.sha256}" if f.sha256 else None
    try:
        with _quiet_pooch(pooch):
            pooch.retrieve(
                f.url, known_hash=known_hash, fname=part.name, path=part.parent, progressbar=_progress_on_tty()
            )
    except ValueError as err:  # pooch's hash mismatch (it has deleted the download) or a bad URL
        deleted = " The download was deleted." if f.sha256 else ""
        raise _FetchFailed(f"{f.name}: {err}{deleted}") from err
    except OSError as err:  # requests' errors (HTTP status, connection) are OSErrors
        raise _FetchFailed(f"{f.name}: {err}") from err


def _fetch_gdrive(gdown: ModuleType, f: RemoteFile, part: Path) -> None:
    file_id = _gdrive_file_id(f.url)
    try:
        result = gdown.download(id=file_id, output=str(part), quiet=not _progress_on_tty())
    except gdown.exceptions.DownloadError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _ManualNeeded(f"Google Drive did not serve the file ({reason})") from err
    except (OSError, ValueError) as err:
        raise _FetchFailed(f"{f.name}: {err}") from err
    if result is None or not part.is_file():
        raise _ManualNeeded("Google Drive did not serve the file")


def _gdrive_file_id(url: str) -> str:
    """The file id of a ``https://drive.google.com/file/d/<id>/view`` link."""
    match = _GDRIVE_ID.search(url)
    if match is None:
        raise InputError(f"{url} is not a Google Drive file link (https://drive.google.com/file/d/<id>/view)")
    return match.group(1)


def _verify(f: RemoteFile, path: Path) -> None:
    """Check ``path`` against what the table knows of ``f`` (sha256, git blob id, zip)."""
    sha, blob, _ = _digests(path)
    if f.sha256 is not None and sha != f.sha256.lower():
        raise _FetchFailed(f"{f.name}: sha256 {sha} differs from the published {f.sha256} (see {f.source})")
    if f.git_blob_sha1 is not None and blob != f.git_blob_sha1:
        raise _FetchFailed(
            f"{f.name}: content differs from the official commit (git blob {blob}, expected "
            f"{f.git_blob_sha1}; see {f.source})"
        )
    if f.archive and not zipfile.is_zipfile(path):
        raise _FetchFailed(f"{f.name}: the file is not a zip archive (a web page served instead of the file?)")


def _import_fetchers() -> _Fetchers:
    try:
        import gdown
        import pooch
    except ImportError as err:
        raise InputError(_MISSING_PACKAGES) from err
    return _Fetchers(pooch=pooch, gdown=gdown)


def _progress_on_tty() -> bool:
    """Progress bars (tqdm, on stderr) only when a person is watching."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


@contextlib.contextmanager
def _quiet_pooch(pooch: ModuleType) -> Iterator[None]:
    """Hold pooch's own INFO lines back (they suggest pooch API calls); this module reports instead."""
    pooch_logger = pooch.get_logger()
    level = pooch_logger.level
    pooch_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        pooch_logger.setLevel(level)


# --- archives ---------------------------------------------------------------------------------


def _extract_recorded(
    release: Release,
    f: RemoteFile,
    archive: Path,
    folder: Path,
    root: Path,
    manifest: dict[str, Any],
    licence: str,
    again: bool,
    out: IO[str],
    failures: list[str],
) -> None:
    """Extract ``archive`` unless its recorded members are all in place; record what it writes."""
    rel = _rel(root, archive)
    members = [root / key for key, entry in manifest["files"].items() if entry.get("extracted_from") == rel]
    if not again and members and all(
        m.is_file() and m.stat().st_size == manifest["files"][_rel(root, m)]["size"] for m in members
    ):
        print(f"   already extracted: {archive.name}", file=out)
        return
    try:
        written = _extract_zip(archive, folder)
    except _FetchFailed as err:
        failures.append(str(err))
        return
    for path in written:
        _record(manifest, root, release, path, licence, origin="extracted", url=f.url, source=f.source,
                extracted_from=rel)
    _save_manifest(root, manifest)
    print(f"   extracted {len(written)} file(s) from {archive.name} into {folder}", file=out)


def _extract_zip(archive: Path, folder: Path) -> list[Path]:
    """Extract ``archive`` into ``folder`` after checking every member; return the files written.

    One unsafe member (absolute path, ``..``, symbolic link, or a path that resolves outside
    ``folder``) refuses the whole archive before anything is written.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise _FetchFailed(f"{archive.name} is not a readable zip archive ({err})") from err
    with zf:
        plan = _plan_extraction(zf, archive, folder)
        written = []
        for info, target in plan:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            try:
                with zf.open(info) as src, os.fdopen(handle, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            written.append(target)
        return written


def _plan_extraction(zf: zipfile.ZipFile, archive: Path, folder: Path) -> list[tuple[zipfile.ZipInfo, Path]]:
    """Every member with its target path, or _FetchFailed naming the first unsafe member."""
    base = folder.resolve()
    declared = sum(info.file_size for info in zf.infolist())
    free = shutil.disk_usage(folder if folder.exists() else folder.parent).free
    if declared > MAX_ZIP_RATIO * archive.stat().st_size + (1 << 20) or declared > free:
        raise _FetchFailed(
            f"refusing {archive.name}: its members declare {declared / 2**30:.1f} GiB, "
            f"{'more than the free disk space' if declared > free else 'far more than the archive holds'}; "
            "nothing was extracted"
        )
    plan = []
    for info in zf.infolist():
        name = info.filename
        refuse = f"refusing {archive.name}: member {name!r}"
        if name.startswith(("/", "\\")) or _DRIVE_LETTER.match(name):
            raise _FetchFailed(f"{refuse} has an absolute path; nothing was extracted")
        parts = [part for part in re.split(r"[\\/]", name) if part not in ("", ".")]
        if ".." in parts:
            raise _FetchFailed(f"{refuse} contains '..'; nothing was extracted")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _FetchFailed(f"{refuse} is a symbolic link; nothing was extracted")
        if not parts:
            continue
        target = folder.joinpath(*parts)
        resolved = target.resolve()
        if not resolved.is_relative_to(base) or resolved == archive.resolve():
            raise _FetchFailed(f"{refuse} would land outside {folder} or over the archive; nothing was extracted")
        plan.append((info, target))
    return plan


def _locate_checkpoint(folder: Path, checkpoint: str) -> Path | None:
    """``folder/checkpoint`` if present, else the shallowest file with the same base name."""
    direct = folder / checkpoint
    if direct.is_file():
        return direct
    name = PurePosixPath(checkpoint).name
    found = [p for p in folder.rglob(name) if p.is_file() and "__MACOSX" not in p.parts]
    found.sort(key=lambda p: (len(p.parts), str(p)))
    return found[0] if found else None
