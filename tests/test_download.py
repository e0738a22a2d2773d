"""aware3d download: the release table, and downloads from a local HTTP server only.

Files are served from ``tmp_path`` by an ``http.server`` on 127.0.0.1 in a thread, which counts the
requests it answers; an autouse fixture refuses every socket connection to any other address, so
no test reaches the outside network. Google Drive is simulated by replacing ``gdown.download``.
"""

from __future__ import annotations

import ast
import hashlib
import http.server
import io
import json
import socket
import stat
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from aware3d.app.download import run_download
from aware3d.errors import Aware3DError, InputError
from aware3d.models import FAMILIES
from aware3d.models.releases import Licence, Release, RemoteFile

REPO = Path(__file__).resolve().parents[1]
FAMILY = "graf"  # a real registry family (MIT); its licence is what test releases must print
MISSING = "aware3d download needs the optional packages pooch and gdown: pip install 'aware3d[download]'"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def local_network_only(monkeypatch):
    """Refuse socket connections to anything but 127.0.0.1; clear proxies and $AWARE3D_CACHE."""
    connect = socket.socket.connect

    def guarded(sock, address):
        if not (isinstance(address, tuple) and address[0] == "127.0.0.1"):
            raise AssertionError(f"a test tried to reach {address!r}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("AWARE3D_CACHE", raising=False)


class Server:
    """A static file server on 127.0.0.1 that records each request (and the report so far)."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        self.report_at_request: list[str] = []
        self.stream = io.StringIO()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                server.requests.append(self.path)
                server.report_at_request.append(server.stream.getvalue())
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def put(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return self.url(name)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    srv = Server(root)
    yield srv
    srv.close()


# --- helpers ----------------------------------------------------------------------------------


def make_release(variant: str, files, checkpoint: str, family: str = FAMILY) -> Release:
    return Release(
        family=family,
        variant=variant,
        title=f"test release {variant}",
        files=tuple(files),
        checkpoint=checkpoint,
        page="https://example.invalid/official-page",
    )


def download(server: Server | None, cache: Path, *releases: Release, names=None, **kwargs) -> tuple[int, str]:
    stream = server.stream if server is not None else io.StringIO()
    start = len(stream.getvalue())
    table = {r.key: r for r in releases} if releases else None
    rc = run_download(names or [r.key for r in releases], cache=cache, stream=stream, releases=table, **kwargs)
    return rc, stream.getvalue()[start:]


def build_zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path.read_bytes()


def manifest(cache: Path) -> dict:
    return json.loads((cache / "manifest.json").read_text())["files"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def part_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".part" in p.name] if root.exists() else []


def random_bytes(n: int, seed: int = 0) -> bytes:
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


MEMBERS = {
    "CelebA/generator.pth": b"generator " * 500,
    "CelebA/ema.pth": b"ema " * 500,
    "CelebA/ema2.pth": b"ema2 " * 500,
}


# --- plain downloads --------------------------------------------------------------------------


def test_download_records_sha256_size_url_and_licence(server, tmp_path):
    data = random_bytes(3 * (1 << 20) + 123)
    url = server.put("weights.pt", data)
    release = make_release("test-plain", [RemoteFile("weights.pt", url, "test fixture")], "weights.pt")
    cache = tmp_path / "cache"

    rc, out = download(server, cache, release)

    assert rc == 0, out
    dest = cache / FAMILY / "test-plain" / "weights.pt"
    assert dest.read_bytes() == data
    assert server.requests == ["/weights.pt"]
    assert part_files(cache) == []
    record = manifest(cache)[f"{FAMILY}/test-plain/weights.pt"]
    assert record["sha256"] == sha(data)
    assert record["size"] == len(data)
    assert record["url"] == url
    assert record["licence"] == FAMILIES[FAMILY].licence.name
    assert record["origin"] == "download"
    assert record["downloaded_at"].endswith("+00:00")
    assert f"--checkpoint {dest}" in out


def test_licence_is_printed_before_the_first_request(server, tmp_path):
    url = server.put("w.pt", b"weights")
    release = make_release("test-licence", [RemoteFile("w.pt", url, "test fixture")], "w.pt")
    rc, _ = download(server, tmp_path / "cache", release)
    assert rc == 0
    assert len(server.report_at_request) == 1
    assert FAMILIES[FAMILY].licence.summary in server.report_at_request[0]


def test_second_run_skips_without_a_request_and_force_fetches_again(server, tmp_path):
    url = server.put("w.pt", b"weights v1" * 1000)
    release = make_release("test-skip", [RemoteFile("w.pt", url, "test fixture")], "w.pt")
    cache = tmp_path / "cache"
    dest = cache / FAMILY / "test-skip" / "w.pt"
    assert download(server, cache, release)[0] == 0
    first = manifest(cache)[f"{FAMILY}/test-skip/w.pt"]

    rc, out = download(server, cache, release)
    assert rc == 0
    assert len(server.requests) == 1  # nothing reached the server
    assert "present, sha256 matches the manifest" in out
    assert manifest(cache)[f"{FAMILY}/test-skip/w.pt"] == first

    server.put("w.pt", b"weights v2")
    rc, _ = download(server, cache, release, force=True)
    assert rc == 0
    assert len(server.requests) == 2
    assert dest.read_bytes() == b"weights v2"
    assert manifest(cache)[f"{FAMILY}/test-skip/w.pt"]["sha256"] == sha(b"weights v2")


def test_a_changed_local_copy_is_fetched_again(server, tmp_path):
    data = b"good weights" * 100
    url = server.put("w.pt", data)
    release = make_release("test-heal", [RemoteFile("w.pt", url, "test fixture")], "w.pt")
    cache = tmp_path / "cache"
    assert download(server, cache, release)[0] == 0
    dest = cache / FAMILY / "test-heal" / "w.pt"
    dest.write_bytes(b"X" * len(data))  # same size, other content
    rc, out = download(server, cache, release)
    assert rc == 0 and "present" not in out
    assert len(server.requests) == 2
    assert dest.read_bytes() == data


def test_sha256_mismatch_is_an_error_and_leaves_no_file(server, tmp_path):
    url = server.put("w.pt", b"tampered weights")
    release = make_release("test-hash", [RemoteFile("w.pt", url, "test fixture", sha256="0" * 64)], "w.pt")
    cache = tmp_path / "cache"
    dest = cache / FAMILY / "test-hash" / "w.pt"

    rc, out = download(server, cache, release)

    assert rc == 1
    assert "error:" in out and "w.pt" in out and "0" * 64 in out
    assert server.requests == ["/w.pt"]
    assert not dest.exists()
    assert part_files(cache) == []
    assert not (cache / "manifest.json").exists()
    assert "--checkpoint" not in out


def test_published_sha256_that_matches_is_accepted(server, tmp_path):
    data = b"published weights"
    url = server.put("w.pt", data)
    release = make_release("test-hash-ok", [RemoteFile("w.pt", url, "test fixture", sha256=sha(data))], "w.pt")
    rc, out = download(server, tmp_path / "cache", release)
    assert rc == 0, out
    assert manifest(tmp_path / "cache")[f"{FAMILY}/test-hash-ok/w.pt"]["sha256"] == sha(data)


def test_git_blob_pin_accepts_the_official_blob_and_rejects_another(server, tmp_path):
    data = b"state dict bytes"
    url = server.put("g.pth", data)
    good = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    pinned = make_release("test-pinned", [RemoteFile("g.pth", url, "test fixture", git_blob_sha1=good)], "g.pth")
    moved = make_release("test-moved", [RemoteFile("g.pth", url, "test fixture", git_blob_sha1="1" * 40)], "g.pth")
    cache = tmp_path / "cache"
    old = cache / FAMILY / "test-moved" / "g.pth"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old content")  # present but never recorded: a failed fetch must not harm it

    assert download(server, cache, pinned)[0] == 0
    assert manifest(cache)[f"{FAMILY}/test-pinned/g.pth"]["git_blob_sha1"] == good

    rc, out = download(server, cache, moved)
    assert rc == 1
    assert "git blob" in out and "1" * 40 in out
    assert old.read_bytes() == b"old content"
    assert f"{FAMILY}/test-moved/g.pth" not in manifest(cache)
    assert part_files(cache) == []


def test_http_error_names_the_official_page(server, tmp_path):
    release = make_release("test-gone", [RemoteFile("w.pt", server.url("missing.pt"), "test fixture")], "w.pt")
    cache = tmp_path / "cache"
    rc, out = download(server, cache, release)
    assert rc == 1
    assert "404" in out and "https://example.invalid/official-page" in out
    assert not (cache / FAMILY / "test-gone" / "w.pt").exists()
    assert part_files(cache) == []


def test_corrupt_manifest_is_one_clear_error(server, tmp_path):
    url = server.put("w.pt", b"abc")
    release = make_release("test-manifest", [RemoteFile("w.pt", url, "test fixture")], "w.pt")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "manifest.json").write_text("{not json")
    with pytest.raises(Aware3DError, match="manifest.json"):
        download(server, cache, release)
    assert server.requests == []


# --- archives ---------------------------------------------------------------------------------


def test_zip_is_extracted_and_every_member_recorded(server, tmp_path):
    url = server.put("model.zip", build_zip(tmp_path / "model.zip", MEMBERS))
    release = make_release(
        "test-zip", [RemoteFile("model.zip", url, "test fixture", archive=True)], "generator.pth"
    )
    cache = tmp_path / "cache"
    folder = cache / FAMILY / "test-zip"

    rc, out = download(server, cache, release)

    assert rc == 0, out
    records = manifest(cache)
    assert records[f"{FAMILY}/test-zip/model.zip"]["sha256"] == sha((tmp_path / "model.zip").read_bytes())
    for name, data in MEMBERS.items():
        assert (folder / name).read_bytes() == data
        record = records[f"{FAMILY}/test-zip/{name}"]
        assert record["sha256"] == sha(data) and record["size"] == len(data)
        assert record["extracted_from"] == f"{FAMILY}/test-zip/model.zip"
    # the checkpoint sits one level down in the zip: the shallowest generator.pth is found
    assert f"--checkpoint {folder / 'CelebA' / 'generator.pth'}" in out
    assert part_files(cache) == []

    rc, out = download(server, cache, release)
    assert rc == 0 and "already extracted" in out
    assert len(server.requests) == 1


def test_download_that_is_not_a_zip_is_rejected(server, tmp_path):
    url = server.put("m.zip", b"<html>sign in</html>")
    release = make_release("test-notzip", [RemoteFile("m.zip", url, "test fixture", archive=True)], "g.pth")
    cache = tmp_path / "cache"
    rc, out = download(server, cache, release)
    assert rc == 1 and "not a zip" in out
    assert not (cache / FAMILY / "test-notzip" / "m.zip").exists()


@pytest.mark.parametrize(
    ("members", "symlinks", "reason"),
    [
        ({"../evil": b"pwned"}, {}, "'..'"),
        ({"sub/../../evil": b"pwned"}, {}, "'..'"),
        ({"..\\evil": b"pwned"}, {}, "'..'"),
        ({"/tmp/aware3d_abs_evil": b"pwned"}, {}, "absolute"),
        ({"C:/evil": b"pwned"}, {}, "absolute"),
        ({}, {"evil_link": "../../../outside"}, "symbolic link"),
        ({"../evil": b"pwned", "/tmp/aware3d_abs_evil": b"pwned"}, {"evil_link": "/etc/passwd"}, "refusing"),
    ],
    ids=["dotdot", "nested-dotdot", "backslash-dotdot", "absolute", "drive-letter", "symlink", "all-three"],
)
def test_zip_with_an_unsafe_member_is_refused_whole(server, tmp_path, members, symlinks, reason):
    archive = build_zip(tmp_path / "zips" / "bad.zip", {"good/generator.pth": b"fine", **members}, symlinks)
    url = server.put("bad.zip", archive)
    release = make_release("test-unsafe", [RemoteFile("bad.zip", url, "test fixture", archive=True)], "generator.pth")
    cache = tmp_path / "deep" / "down" / "cache"
    folder = cache / FAMILY / "test-unsafe"

    rc, out = download(server, cache, release)

    assert rc == 1
    assert "refusing bad.zip" in out and reason in out
    # nothing inside: only the archive itself is in the folder
    assert sorted(p.name for p in folder.rglob("*")) == ["bad.zip"]
    # nothing outside
    written = [p for p in tmp_path.rglob("*") if "evil" in p.name or "outside" in p.name]
    assert written == []
    assert not Path("/tmp/aware3d_abs_evil").exists()
    assert not any("extracted_from" in record for record in manifest(cache).values())
    assert "--checkpoint" not in out


def test_zip_member_through_a_symlinked_folder_is_refused(server, tmp_path):
    url = server.put("sly.zip", build_zip(tmp_path / "sly.zip", {"a.pth": b"a", "sub/g.pth": b"escape"}))
    release = make_release("test-sly", [RemoteFile("sly.zip", url, "test fixture", archive=True)], "a.pth")
    cache = tmp_path / "cache"
    folder = cache / FAMILY / "test-sly"
    outside = tmp_path / "outside"
    outside.mkdir()
    folder.mkdir(parents=True)
    (folder / "sub").symlink_to(outside, target_is_directory=True)

    rc, out = download(server, cache, release)

    assert rc == 1 and "outside" in out
    assert list(outside.iterdir()) == []
    assert not (folder / "a.pth").exists()


# --- dry run, names, cache folder -------------------------------------------------------------


def test_dry_run_makes_no_request_and_writes_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # a dry run does not even need pooch
    url = server.put("w.pt", b"weights")
    release = make_release("test-dry", [RemoteFile("w.pt", url, "test fixture")], "w.pt")
    before = sorted(tmp_path.rglob("*"))
    cache = tmp_path / "cache"

    rc, out = download(server, cache, release, dry_run=True)

    assert rc == 0
    assert server.requests == []
    assert sorted(tmp_path.rglob("*")) == before
    assert url in out and str(cache / FAMILY / "test-dry" / "w.pt") in out
    assert FAMILIES[FAMILY].licence.summary in out


def test_dry_run_of_the_real_table_names_urls_and_manual_pages(tmp_path):
    cache = tmp_path / "cache"
    names = ["pigan/celeba", "gram/ffhq", "graf/celebA_128", "cips3d/ffhq_r256", "eg3d/ffhq512-128"]
    rc, out = download(None, cache, names=names, dry_run=True)
    assert rc == 0
    table = {r.key: r for spec in FAMILIES.values() for r in spec.releases}
    for name in names:
        for f in table[name].files:
            if f.url:
                assert f.url in out
            assert str(cache / table[name].family / table[name].variant / f.name) in out
    assert "Google Drive file id 1bRB4-KxQplJryJvqyEa8Ixkf_BVm4Nn6" in out
    assert "catalog.ngc.nvidia.com" in out
    assert FAMILIES["gram"].licence.summary in out
    assert not cache.exists()


def test_cache_folder_comes_from_env_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AWARE3D_CACHE", str(tmp_path / "envcache"))
    rc, out = download(None, None, names=["graf/celebA_128"], dry_run=True)
    assert rc == 0
    assert str(tmp_path / "envcache" / "graf" / "celebA_128" / "celebA_128.pt") in out
    monkeypatch.delenv("AWARE3D_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    rc, out = download(None, None, names=["graf/celebA_128"], dry_run=True)
    assert str(tmp_path / "home" / ".cache" / "aware3d" / "weights" / "graf" / "celebA_128") in out
    assert not (tmp_path / "envcache").exists() and not (tmp_path / "home").exists()


def test_unknown_name_is_an_input_error_naming_it_and_close_matches(tmp_path):
    with pytest.raises(InputError, match=r"'nope/x'"):
        download(None, tmp_path, names=["graf/celebA_128", "nope/x"])
    with pytest.raises(InputError, match=r"'graf/celebA_12'.*graf/celebA_128"):
        download(None, tmp_path, names=["graf/celebA_12"])
    with pytest.raises(InputError, match=r"pigan/celeba"):
        download(None, tmp_path, names=["pigan"])
    assert list(tmp_path.iterdir()) == []


def test_names_ignore_case():
    rc, out = download(None, None, names=["GRAF/CELEBA_128"], dry_run=True)
    assert rc == 0 and "== graf/celebA_128:" in out


def test_list_shows_every_release_with_its_licence():
    rc, out = download(None, None, names=[], list_only=True)
    assert rc == 0
    for spec in FAMILIES.values():
        for release in spec.releases:
            line = next(line for line in out.splitlines() if line.startswith(release.key + " "))
            assert spec.licence.name in line
            assert ("manual" in line) == release.manual
    assert "eg3d/ffhq512-128" in out and "pigan/celeba" in out


# --- optional packages, manual releases, Google Drive -----------------------------------------


@pytest.mark.parametrize("package", ["pooch", "gdown"])
def test_missing_optional_package_is_one_sentence(server, tmp_path, monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)
    url = server.put("w.pt", b"weights")
    release = make_release("test-nopkg", [RemoteFile("w.pt", url, "test fixture")], "w.pt")
    with pytest.raises(InputError) as caught:
        download(server, tmp_path / "cache", release)
    assert str(caught.value) == MISSING
    assert server.requests == []
    assert not (tmp_path / "cache").exists()


def test_manual_release_prints_instructions_then_records_the_placed_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # manual releases never need the fetchers
    cache = tmp_path / "cache"
    dest = cache / "eg3d" / "ffhq512-128" / "ffhq512-128.pkl"

    rc, out = download(None, cache, names=["eg3d/ffhq512-128"])

    assert rc == 1
    assert FAMILIES["eg3d"].licence.summary in out
    assert "https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/eg3d" in out
    assert str(dest) in out and "MANUAL STEP" in out
    assert not cache.exists() or [p for p in cache.rglob("*") if p.is_file()] == []

    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(b"pickled network")
    rc, out = download(None, cache, names=["eg3d/ffhq512-128"])

    assert rc == 0, out
    record = manifest(cache)["eg3d/ffhq512-128/ffhq512-128.pkl"]
    assert record["sha256"] == sha(b"pickled network")
    assert record["origin"] == "placed by hand"
    assert record["licence"] == FAMILIES["eg3d"].licence.name
    assert f"--checkpoint {dest}" in out


VIEW = "https://drive.google.com/file/d/FILE_id-123/view?usp=sharing"


def test_gdrive_file_id_is_extracted_and_the_zip_extracted(tmp_path, monkeypatch):
    gdown = pytest.importorskip("gdown")
    zipped = build_zip(tmp_path / "z.zip", MEMBERS)
    calls = []

    def fake_download(*, id, output, quiet, **kwargs):
        calls.append((id, kwargs))
        Path(output).write_bytes(zipped)
        return output

    monkeypatch.setattr(gdown, "download", fake_download)
    release = make_release(
        "test-drive", [RemoteFile("drive.zip", VIEW, "test fixture", host="gdrive", archive=True)], "generator.pth"
    )
    cache = tmp_path / "cache"

    rc, out = download(None, cache, release)

    assert rc == 0, out
    assert [c[0] for c in calls] == ["FILE_id-123"]
    folder = cache / FAMILY / "test-drive"
    assert (folder / "CelebA" / "generator.pth").read_bytes() == MEMBERS["CelebA/generator.pth"]
    assert manifest(cache)[f"{FAMILY}/test-drive/drive.zip"]["url"] == VIEW
    assert part_files(cache) == []


def test_gdrive_refusal_prints_manual_steps_then_adopts_a_hand_download(tmp_path, monkeypatch):
    gdown = pytest.importorskip("gdown")

    def refuse(**kwargs):
        raise gdown.exceptions.FileURLRetrievalError("Too many users have viewed or downloaded this file recently")

    monkeypatch.setattr(gdown, "download", refuse)
    release = make_release(
        "test-quota", [RemoteFile("drive.zip", VIEW, "test fixture", host="gdrive", archive=True)], "generator.pth"
    )
    cache = tmp_path / "cache"
    dest = cache / FAMILY / "test-quota" / "drive.zip"

    rc, out = download(None, cache, release)

    assert rc == 1
    assert "MANUAL STEP" in out and "Too many users" in out
    assert VIEW in out and str(dest) in out
    assert not dest.exists() and part_files(cache) == []

    build_zip(dest, MEMBERS)  # the user fetches it in a browser and saves it there
    rc, out = download(None, cache, release)
    assert rc == 0, out
    records = manifest(cache)
    assert records[f"{FAMILY}/test-quota/drive.zip"]["origin"] == "placed by hand"
    assert records[f"{FAMILY}/test-quota/CelebA/generator.pth"]["sha256"] == sha(MEMBERS["CelebA/generator.pth"])


# --- the real table ---------------------------------------------------------------------------


def test_every_release_belongs_to_a_registered_family_and_names_its_source():
    keys = []
    for name, spec in FAMILIES.items():
        for release in spec.releases:
            assert isinstance(release, Release)
            assert release.family == name and release.family in FAMILIES
            assert release.page.startswith("https://")
            assert release.files and release.checkpoint
            keys.append(release.key)
            for f in release.files:
                assert f.source.strip(), f"{release.key}/{f.name} has no recorded source"
                if f.host == "manual":
                    assert f.url is None and release.manual
                else:
                    assert f.url.startswith("https://"), f.url
                if f.host == "gdrive":
                    assert "/file/d/" in f.url
    assert len(keys) == len(set(keys)) == 32
    assert {key.split("/")[0] for key in keys} == {"pigan", "gram", "graf", "cips3d", "eg3d", "panohead", "unsup3d", "liftedgan"}
    assert all(f.git_blob_sha1 for f in FAMILIES["gram"].releases[0].files)
    assert all(r.manual for r in FAMILIES["eg3d"].releases) and all(r.manual for r in FAMILIES["panohead"].releases)
    assert not any(r.manual for name in ("pigan", "gram", "graf", "cips3d", "unsup3d", "liftedgan") for r in FAMILIES[name].releases)


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_licence_text_is_written_once_in_releases_py():
    from aware3d.models import releases as releases_module

    assert "licence" not in {f for f in Release.__dataclass_fields__} | {f for f in RemoteFile.__dataclass_fields__}
    summaries = {
        value.summary for value in vars(releases_module).values() if isinstance(value, Licence)
    }
    assert {spec.licence.summary for spec in FAMILIES.values()} <= summaries
    releases_py = Path(releases_module.__file__)
    sources = [
        p
        for folder in ("core", "exporters", "scripts", "addon")
        for p in (REPO / folder).rglob("*.py")
        if "__pycache__" not in p.parts
    ]
    for summary in summaries:
        fragment = summary[:48]  # long enough to be the licence text, short enough to catch a copy
        holders = [(p, s) for p in sources for s in _string_constants(p) if fragment in s]
        assert [p for p, _ in holders] == [releases_py], summary
        assert [s for _, s in holders] == [summary]


def test_releases_module_is_pure_data():
    tree = ast.parse((REPO / "core" / "models" / "releases.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported <= {"__future__", "dataclasses", "typing"}, imported


def test_old_script_is_gone():
    assert not (REPO / "scripts" / "download_weights.py").exists()
    assert not (REPO / "tests" / "test_download_weights.py").exists()


def test_the_aware3d_download_command(tmp_path, capsys):
    """The CLI subcommand runs run_download: --list reads the registry's table, --dry-run writes nothing."""
    from aware3d.app.cli import main
    from aware3d.models import FAMILIES

    assert main(["download", "--list"]) == 0
    listed = capsys.readouterr().out
    for spec in FAMILIES.values():
        for release in spec.releases:
            assert release.key in listed
    cache = tmp_path / "cache"
    assert main(["download", "--dry-run", "--cache", str(cache), "gram/ffhq"]) == 0
    out = capsys.readouterr().out
    assert "non-commercial" in out.lower() and "generator.pth" in out and not cache.exists()
    assert main(["download", "--cache", str(cache), "nope/x"]) == 2
    assert "unknown release 'nope/x'" in capsys.readouterr().err and not cache.exists()
