"""scripts/download_weights.py: the release table, the CLI, and downloads from local sources only.

No test touches the network: an autouse fixture makes every socket connection fail, downloads
come from ``file://`` URLs in ``tmp_path`` or from a fake session that serves bytes from memory.
"""

from __future__ import annotations

import ast
import email.message
import hashlib
import importlib.util
import io
import json
import os
import socket
import stat
import subprocess
import sys
import urllib.error
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "download_weights.py"
FAMILIES = ("pigan", "gram", "graf", "cips3d", "eg3d")


def _load_script():
    spec = importlib.util.spec_from_file_location("aware3d_download_weights_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


dw = _load_script()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a socket connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.delenv("AWARE3D_CACHE", raising=False)


# --- helpers ---------------------------------------------------------------------------------


class FakeResponse:
    """Just enough of an http.client response: headers, read(n), close()."""

    def __init__(self, body: bytes, content_type="application/octet-stream", length: int | None = -1,
                 fail_after: int | None = None):
        self._buf = io.BytesIO(body)
        self._fail_after = fail_after
        self._sent = 0
        self.headers = email.message.Message()
        self.headers["Content-Type"] = content_type
        if length is not None:
            self.headers["Content-Length"] = str(len(body) if length == -1 else length)
        self.closed = False

    def read(self, n=-1):
        if self._fail_after is not None and self._sent >= self._fail_after:
            raise ConnectionResetError("connection reset by peer")
        block = self._buf.read(n if n >= 0 else None)
        self._sent += len(block)
        return block

    def close(self):
        self.closed = True


class FakeSession:
    """Serves URL -> response factory; records the URLs asked for."""

    def __init__(self, routes: dict, cookies: dict | None = None):
        self.routes = routes
        self.cookies = cookies or {}
        self.calls: list[str] = []

    def open(self, url):
        self.calls.append(url)
        if url not in self.routes:
            raise urllib.error.URLError(f"no route for {url}")
        return self.routes[url]()

    def cookie(self, prefix):
        for name, value in self.cookies.items():
            if name.startswith(prefix):
                return value
        return None


def make_release(variant, files, checkpoint, family="testfam"):
    return dw.Release(
        family=family,
        variant=variant,
        title=f"test release {variant}",
        files=tuple(files),
        licence="Test Licence 1.0",
        licence_text="TEST LICENCE TEXT: do what the test says",
        checkpoint=checkpoint,
        page="https://example.invalid/official-page",
    )


def register(monkeypatch, release):
    monkeypatch.setitem(dw.RELEASES, release.key, release)
    return release


def build_zip(path: Path, members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def part_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")] if root.exists() else []


def manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())["files"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(argv, capsys):
    rc = dw.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def forbid_sessions(monkeypatch):
    def fail():
        raise AssertionError("no session may be opened here")

    monkeypatch.setattr(dw, "_make_session", fail)


# --- the table -----------------------------------------------------------------------------


def test_list_shows_every_family_with_licence_and_status(capsys):
    rc, out, err = run(["--list"], capsys)
    assert rc == 0 and err == ""
    for family in FAMILIES:
        assert f"{family}/" in out
    for key in dw.RELEASES:
        assert key in out
    assert "downloadable" in out and "manual" in out
    assert "MIT" in out and "non-commercial" in out and "all rights reserved" in out


def test_table_entries_are_complete_and_sourced():
    assert {r.family for r in dw.RELEASES.values()} == set(FAMILIES)
    assert len(dw.RELEASES) == len(dw._RELEASE_LIST)  # no duplicate keys
    for key, release in dw.RELEASES.items():
        assert key == f"{release.family}/{release.variant}"
        assert release.licence and release.licence_text and release.checkpoint
        assert release.page.startswith("https://")
        assert release.files
        for f in release.files:
            assert f.source, f"{key}/{f.name} has no recorded source"
            if f.host == "manual":
                assert f.url is None
            else:
                assert f.url.startswith("https://"), f.url
            if f.host == "gdrive":
                assert dw.gdrive_file_id(f.url)
    assert all(r.status == "manual" for r in dw.RELEASES.values() if r.family == "eg3d")
    assert all(r.status == "downloadable" for r in dw.RELEASES.values() if r.family != "eg3d")
    assert all(f.archive for r in dw.RELEASES.values() if r.family in ("pigan", "cips3d") for f in r.files)
    gram = dw.RELEASES["gram/ffhq"]
    assert [f.url for f in gram.files] == [
        "https://raw.githubusercontent.com/microsoft/GRAM/main/pretrained_models/FFHQ_default/generator.pth",
        "https://raw.githubusercontent.com/microsoft/GRAM/main/pretrained_models/FFHQ_default/ema.pth",
    ]
    assert all(f.git_blob_sha1 for r in dw.RELEASES.values() if r.family == "gram" for f in r.files)


def test_script_uses_only_the_standard_library():
    tree = ast.parse(SCRIPT.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert "aware3d" not in roots
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots - set(sys.stdlib_module_names)


def test_variant_lookup_ignores_case():
    assert dw.find_release("GRAF/CELEBA_128").key == "graf/celebA_128"
    assert dw.find_release("pigan/celeba").key == "pigan/celeba"
    assert dw.find_release("pigan") is None


# --- CLI -----------------------------------------------------------------------------------


def test_dry_run_prints_urls_and_touches_nothing(tmp_path, capsys, monkeypatch):
    forbid_sessions(monkeypatch)
    cache = tmp_path / "cache"
    names = ["pigan/celeba", "gram/ffhq", "graf/celebA_128", "cips3d/ffhq_r256", "eg3d/ffhq512-128"]
    rc, out, err = run([*names, "--cache", cache, "--dry-run"], capsys)
    assert rc == 0
    for name in names:
        for f in dw.RELEASES[name].files:
            if f.url:
                assert f.url in out
            assert str(cache / dw.RELEASES[name].family / dw.RELEASES[name].variant / f.name) in out
    assert "drive.google.com/uc?export=download&id=1bRB4-KxQplJryJvqyEa8Ixkf_BVm4Nn6" in out
    assert "catalog.ngc.nvidia.com" in out
    assert dw.RELEASES["gram/ffhq"].licence_text in out
    assert not cache.exists()
    assert list(tmp_path.iterdir()) == []


def test_dry_run_uses_aware3d_cache_env(tmp_path, capsys, monkeypatch):
    forbid_sessions(monkeypatch)
    monkeypatch.setenv("AWARE3D_CACHE", str(tmp_path / "envcache"))
    rc, out, _ = run(["graf/celebA_128", "--dry-run"], capsys)
    assert rc == 0
    assert str(tmp_path / "envcache" / "graf" / "celebA_128" / "celebA_128.pt") in out
    assert not (tmp_path / "envcache").exists()


def test_default_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert dw.default_cache() == tmp_path / ".cache" / "aware3d" / "weights"


def test_unknown_variant_is_one_line_and_exit_2(capsys, monkeypatch):
    forbid_sessions(monkeypatch)
    rc, out, err = run(["pigan/celeba", "nope/x"], capsys)
    assert rc == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "nope/x" in err


def test_script_runs_standalone(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AWARE3D_CACHE"}
    listed = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=60)
    assert listed.returncode == 0 and "eg3d/ffhq512-128" in listed.stdout
    bad = subprocess.run([sys.executable, str(SCRIPT), "nope/x", "--cache", str(tmp_path / "c")],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


# --- plain downloads -----------------------------------------------------------------------


def test_download_from_file_url_writes_atomically_and_records_sha256(tmp_path, capsys, monkeypatch):
    data = os.urandom(3 * (1 << 20) + 123)  # several read chunks
    src = tmp_path / "src" / "weights.pt"
    src.parent.mkdir()
    src.write_bytes(data)
    release = register(monkeypatch, make_release("plain", [dw.RemoteFile("weights.pt", src.as_uri(), "test")], "weights.pt"))
    cache = tmp_path / "cache"

    rc, out, err = run([release.key, "--cache", cache], capsys)

    assert rc == 0, err
    dest = cache / "testfam" / "plain" / "weights.pt"
    assert dest.read_bytes() == data
    assert part_files(cache) == []
    record = manifest(cache)["testfam/plain/weights.pt"]
    assert record["sha256"] == sha(data)
    assert record["size"] == len(data)
    assert record["url"] == src.as_uri()
    assert (record["family"], record["variant"], record["file"]) == ("testfam", "plain", "testfam/plain/weights.pt")
    assert record["licence"] == "Test Licence 1.0"
    assert record["downloaded_at"]
    assert out.index("TEST LICENCE TEXT") < out.index("fetching")
    assert f"Point aware3d at: {dest}" in out
    assert "weights.pt" in err  # progress on stderr


def test_interrupted_download_leaves_no_file(tmp_path, capsys, monkeypatch):
    release = register(monkeypatch, make_release("cut", [dw.RemoteFile("w.pt", "https://example.invalid/w.pt", "test")], "w.pt"))
    body = os.urandom(3 << 20)
    session = FakeSession({"https://example.invalid/w.pt": lambda: FakeResponse(body, fail_after=1 << 20)})
    monkeypatch.setattr(dw, "_make_session", lambda: session)
    cache = tmp_path / "cache"
    dest = cache / "testfam" / "cut" / "w.pt"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"old content")  # present but never recorded: must survive a failed fetch

    rc, out, err = run([release.key, "--cache", cache], capsys)

    assert rc == 1
    assert "connection reset" in err
    assert dest.read_bytes() == b"old content"
    assert part_files(cache) == []
    assert not (cache / "manifest.json").exists()


def test_truncated_download_is_rejected(tmp_path, capsys, monkeypatch):
    release = register(monkeypatch, make_release("short", [dw.RemoteFile("w.pt", "https://example.invalid/w.pt", "test")], "w.pt"))
    session = FakeSession({"https://example.invalid/w.pt": lambda: FakeResponse(b"x" * 100, length=1000)})
    monkeypatch.setattr(dw, "_make_session", lambda: session)
    cache = tmp_path / "cache"
    rc, _, err = run([release.key, "--cache", cache], capsys)
    assert rc == 1 and "received 100 bytes" in err
    assert not (cache / "testfam" / "short" / "w.pt").exists()
    assert part_files(cache) == []


def test_http_error_is_reported_with_official_page(tmp_path, capsys, monkeypatch):
    release = register(monkeypatch, make_release("gone", [dw.RemoteFile("w.pt", "https://example.invalid/w.pt", "test")], "w.pt"))

    def not_found():
        raise urllib.error.HTTPError("https://example.invalid/w.pt", 403, "Forbidden", None, None)

    monkeypatch.setattr(dw, "_make_session", lambda: FakeSession({"https://example.invalid/w.pt": not_found}))
    rc, _, err = run([release.key, "--cache", tmp_path / "cache"], capsys)
    assert rc == 1
    assert "HTTP 403" in err and "https://example.invalid/official-page" in err


def test_skip_if_present_unless_force(tmp_path, capsys, monkeypatch):
    data = b"weights v1" * 1000
    src = tmp_path / "src.pt"
    src.write_bytes(data)
    release = register(monkeypatch, make_release("skip", [dw.RemoteFile("w.pt", src.as_uri(), "test")], "w.pt"))
    cache = tmp_path / "cache"
    dest = cache / "testfam" / "skip" / "w.pt"
    assert run([release.key, "--cache", cache], capsys)[0] == 0
    first = manifest(cache)["testfam/skip/w.pt"]

    src.unlink()  # a second fetch would now fail
    rc, out, _ = run([release.key, "--cache", cache], capsys)
    assert rc == 0
    assert "present, sha256 matches" in out
    assert manifest(cache)["testfam/skip/w.pt"] == first

    rc, _, err = run([release.key, "--cache", cache, "--force"], capsys)
    assert rc == 1  # --force really fetched (and failed: the source is gone) ...
    assert dest.read_bytes() == data  # ... without harming the copy in place

    src.write_bytes(b"weights v2")
    rc, _, _ = run([release.key, "--cache", cache, "--force"], capsys)
    assert rc == 0
    assert dest.read_bytes() == b"weights v2"
    assert manifest(cache)["testfam/skip/w.pt"]["sha256"] == sha(b"weights v2")


def test_corrupted_local_copy_is_fetched_again(tmp_path, capsys, monkeypatch):
    data = b"good weights" * 100
    src = tmp_path / "src.pt"
    src.write_bytes(data)
    release = register(monkeypatch, make_release("heal", [dw.RemoteFile("w.pt", src.as_uri(), "test")], "w.pt"))
    cache = tmp_path / "cache"
    assert run([release.key, "--cache", cache], capsys)[0] == 0
    dest = cache / "testfam" / "heal" / "w.pt"
    dest.write_bytes(b"X" * len(data))  # same size, wrong content
    rc, out, _ = run([release.key, "--cache", cache], capsys)
    assert rc == 0 and "present" not in out
    assert dest.read_bytes() == data


def test_git_blob_pin(tmp_path, capsys, monkeypatch):
    assert dw.git_blob_sha1(_write(tmp_path / "empty", b"")) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    data = b"state dict bytes"
    src = _write(tmp_path / "src.pth", data)
    good = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    ok = register(monkeypatch, make_release("pinned", [dw.RemoteFile("g.pth", src.as_uri(), "test", git_blob_sha1=good)], "g.pth"))
    bad = register(monkeypatch, make_release("moved", [dw.RemoteFile("g.pth", src.as_uri(), "test", git_blob_sha1="0" * 40)], "g.pth"))
    cache = tmp_path / "cache"

    assert run([ok.key, "--cache", cache], capsys)[0] == 0
    assert manifest(cache)["testfam/pinned/g.pth"]["git_blob_sha1"] == good

    rc, _, err = run([bad.key, "--cache", cache], capsys)
    assert rc == 1 and "--accept-changed" in err
    assert not (cache / "testfam" / "moved" / "g.pth").exists()
    assert part_files(cache) == []

    rc, _, err = run([bad.key, "--cache", cache, "--accept-changed"], capsys)
    assert rc == 0 and "warning" in err
    assert (cache / "testfam" / "moved" / "g.pth").read_bytes() == data


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_corrupt_manifest_is_an_error_not_a_crash(tmp_path, capsys, monkeypatch):
    src = _write(tmp_path / "src.pt", b"abc")
    release = register(monkeypatch, make_release("m", [dw.RemoteFile("w.pt", src.as_uri(), "test")], "w.pt"))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "manifest.json").write_text("{not json")
    rc, _, err = run([release.key, "--cache", cache], capsys)
    assert rc == 1 and "manifest.json" in err


# --- archives ------------------------------------------------------------------------------

MEMBERS = {
    "CelebA/generator.pth": b"generator " * 500,
    "CelebA/ema.pth": b"ema " * 500,
    "CelebA/ema2.pth": b"ema2 " * 500,
}


def test_zip_is_extracted_and_every_file_recorded(tmp_path, capsys, monkeypatch):
    archive = build_zip(tmp_path / "src" / "model.zip", MEMBERS)
    release = register(monkeypatch, make_release(
        "zipped", [dw.RemoteFile("model.zip", archive.as_uri(), "test", archive=True)], "generator.pth"))
    cache = tmp_path / "cache"

    rc, out, err = run([release.key, "--cache", cache], capsys)

    assert rc == 0, err
    folder = cache / "testfam" / "zipped"
    records = manifest(cache)
    assert records["testfam/zipped/model.zip"]["sha256"] == sha(archive.read_bytes())
    for name, data in MEMBERS.items():
        path = folder / name
        assert path.read_bytes() == data
        record = records[f"testfam/zipped/{name}"]
        assert record["sha256"] == sha(data) and record["size"] == len(data)
        assert record["extracted_from"] == "testfam/zipped/model.zip"
    assert f"Point aware3d at: {folder / 'CelebA' / 'generator.pth'}" in out
    assert part_files(cache) == []

    # second run: archive verified, nothing extracted again
    monkeypatch.setattr(dw, "safe_extract", lambda *a: pytest.fail("extracted twice"))
    rc, out, _ = run([release.key, "--cache", cache], capsys)
    assert rc == 0 and "already extracted" in out


def test_download_that_is_not_a_zip_is_rejected(tmp_path, capsys, monkeypatch):
    src = _write(tmp_path / "page.html", b"<html>sign in</html>")
    release = register(monkeypatch, make_release(
        "notzip", [dw.RemoteFile("m.zip", src.as_uri(), "test", archive=True)], "generator.pth"))
    cache = tmp_path / "cache"
    rc, _, err = run([release.key, "--cache", cache], capsys)
    assert rc == 1 and "not a zip" in err
    assert not (cache / "testfam" / "notzip" / "m.zip").exists()


@pytest.mark.parametrize("evil", ["../evil", "sub/../../evil", "/abs_evil", "..\\evil", "C:/evil"])
def test_zip_with_escaping_entry_is_refused_whole(tmp_path, capsys, monkeypatch, evil):
    archive = build_zip(tmp_path / "src" / "bad.zip", {"good.txt": b"fine", evil: b"pwned"})
    release = register(monkeypatch, make_release(
        "evil", [dw.RemoteFile("bad.zip", archive.as_uri(), "test", archive=True)], "good.txt"))
    cache = tmp_path / "cache"

    rc, out, err = run([release.key, "--cache", cache], capsys)

    assert rc == 1
    assert "refusing archive entry" in err
    folder = cache / "testfam" / "evil"
    assert not (folder / "good.txt").exists()  # nothing of an unsafe archive is extracted
    assert [p for p in tmp_path.rglob("*evil") if p.is_file() and p.name != "bad.zip"] == []
    assert not Path("/abs_evil").exists()
    assert "Point aware3d at" not in out


def test_zip_with_symlink_entry_is_refused(tmp_path):
    archive = build_zip(tmp_path / "link.zip", {"a.txt": b"a"}, symlinks=("link",))
    with pytest.raises(dw.UnsafeArchiveError, match="symbolic link"):
        dw.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_locate_checkpoint_prefers_expected_path_then_shallowest(tmp_path):
    for rel in ("run/resume_iter_1/G_ema.pth", "deep/er/still/G_ema.pth", "x/G_ema.pth"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"w")
    assert dw.locate_checkpoint(tmp_path, "run/resume_iter_1/G_ema.pth") == tmp_path / "run/resume_iter_1/G_ema.pth"
    assert dw.locate_checkpoint(tmp_path, "other/G_ema.pth") == tmp_path / "x/G_ema.pth"
    assert dw.locate_checkpoint(tmp_path, "missing.pth") is None


# --- Google Drive --------------------------------------------------------------------------

VIEW = "https://drive.google.com/file/d/FILE_id-123/view?usp=sharing"
DIRECT = "https://drive.google.com/uc?export=download&id=FILE_id-123"

FORM_PAGE = b"""<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><p class="uc-warning-subcaption">Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Download anyway"/>
<input type="hidden" name="id" value="FILE_id-123"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="0a1b-2c3d">
</form></div></body></html>"""


def _gdrive_release(monkeypatch):
    return register(monkeypatch, make_release(
        "drive", [dw.RemoteFile("drive.zip", VIEW, "test", host="gdrive", archive=True)], "generator.pth"))


def test_gdrive_confirmation_form_is_followed(tmp_path, capsys, monkeypatch):
    release = _gdrive_release(monkeypatch)
    zipped = build_zip(tmp_path / "z.zip", MEMBERS).read_bytes()
    confirmed = "https://drive.usercontent.google.com/download?id=FILE_id-123&export=download&confirm=t&uuid=0a1b-2c3d"
    session = FakeSession({
        DIRECT: lambda: FakeResponse(FORM_PAGE, content_type="text/html; charset=utf-8"),
        confirmed: lambda: FakeResponse(zipped, length=None),  # Drive often sends no length
    })
    monkeypatch.setattr(dw, "_make_session", lambda: session)
    cache = tmp_path / "cache"

    rc, out, err = run([release.key, "--cache", cache], capsys)

    assert rc == 0, err
    assert session.calls == [DIRECT, confirmed]
    assert (cache / "testfam" / "drive" / "CelebA" / "generator.pth").read_bytes() == MEMBERS["CelebA/generator.pth"]
    assert manifest(cache)["testfam/drive/drive.zip"]["url"] == VIEW


def test_gdrive_small_file_is_served_directly(tmp_path, capsys, monkeypatch):
    release = _gdrive_release(monkeypatch)
    zipped = build_zip(tmp_path / "z.zip", MEMBERS).read_bytes()
    session = FakeSession({DIRECT: lambda: FakeResponse(zipped)})
    monkeypatch.setattr(dw, "_make_session", lambda: session)
    assert run([release.key, "--cache", tmp_path / "cache"], capsys)[0] == 0
    assert session.calls == [DIRECT]


def test_gdrive_confirm_url_variants():
    assert dw.gdrive_direct_url(VIEW) == DIRECT
    old_link = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=AbC1&amp;id=FILE_id-123">Download anyway</a>'
    assert dw.gdrive_confirm_url(old_link, DIRECT) == "https://drive.google.com/uc?export=download&confirm=AbC1&id=FILE_id-123"
    assert dw.gdrive_confirm_url("<html>no form</html>", DIRECT, cookie_token="TOK") == DIRECT + "&confirm=TOK"
    assert dw.gdrive_confirm_url("<html>no form</html>", DIRECT) is None
    foreign = FORM_PAGE.decode().replace("https://drive.usercontent.google.com", "https://evil.example.com")
    assert dw.gdrive_confirm_url(foreign, DIRECT) is None


def test_gdrive_cookie_token_is_used(tmp_path, capsys, monkeypatch):
    release = _gdrive_release(monkeypatch)
    zipped = build_zip(tmp_path / "z.zip", MEMBERS).read_bytes()
    session = FakeSession({
        DIRECT: lambda: FakeResponse(b"<html>warning</html>", content_type="text/html"),
        DIRECT + "&confirm=TOK": lambda: FakeResponse(zipped),
    }, cookies={"download_warning_13058876669334088843_FILE": "TOK"})
    monkeypatch.setattr(dw, "_make_session", lambda: session)
    assert run([release.key, "--cache", tmp_path / "cache"], capsys)[0] == 0
    assert session.calls == [DIRECT, DIRECT + "&confirm=TOK"]


def test_gdrive_unreadable_page_prints_manual_steps_then_adopts_hand_download(tmp_path, capsys, monkeypatch):
    release = _gdrive_release(monkeypatch)
    quota = b"<html><title>Google Drive - Quota exceeded</title><body>Too many users have viewed or downloaded this file recently.</body></html>"
    session = FakeSession({DIRECT: lambda: FakeResponse(quota, content_type="text/html")})
    monkeypatch.setattr(dw, "_make_session", lambda: session)
    cache = tmp_path / "cache"
    dest = cache / "testfam" / "drive" / "drive.zip"

    rc, out, err = run([release.key, "--cache", cache], capsys)

    assert rc == 1
    assert "MANUAL STEP" in out and "quota exceeded" in out
    assert VIEW in out and str(dest) in out
    assert not dest.exists() and part_files(cache) == []

    build_zip(dest, MEMBERS)  # the user downloads it in a browser and saves it there
    rc, out, err = run([release.key, "--cache", cache], capsys)
    assert rc == 0, err
    records = manifest(cache)
    assert records["testfam/drive/drive.zip"]["origin"] == "placed by hand"
    assert records["testfam/drive/CelebA/generator.pth"]["sha256"] == sha(MEMBERS["CelebA/generator.pth"])
    assert "Point aware3d at" in out


# --- manual entries ------------------------------------------------------------------------


def test_manual_entry_prints_instructions_then_registers_the_file(tmp_path, capsys, monkeypatch):
    forbid_sessions(monkeypatch)
    cache = tmp_path / "cache"
    dest = cache / "eg3d" / "ffhq512-128" / "ffhq512-128.pkl"

    rc, out, err = run(["eg3d/ffhq512-128", "--cache", cache], capsys)

    assert rc == 1
    assert "NVIDIA Source Code License for EG3D" in out
    assert "https://catalog.ngc.nvidia.com/orgs/nvidia/teams/research/models/eg3d" in out
    assert str(dest) in out
    assert not cache.exists() or [p for p in cache.rglob("*") if p.is_file()] == []

    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"pickled network")
    rc, out, err = run(["eg3d/ffhq512-128", "--cache", cache], capsys)
    assert rc == 0, err
    record = manifest(cache)["eg3d/ffhq512-128/ffhq512-128.pkl"]
    assert record["sha256"] == sha(b"pickled network") and record["origin"] == "placed by hand"
    assert record["licence"] == dw.RELEASES["eg3d/ffhq512-128"].licence
    assert f"--checkpoint {dest}" in out
