"""A checked and indexed knowledge base kept on disk, so that a restart with unchanged
knowledge does not load, check and index it again.

The cache file is keyed by the knowledge files (names and bytes), today's date (checks warn
about entries past their review date), this code (every source file of the package) and the
versions of the libraries that shape the index. Any change gives a new key, so a stale file is
never read; a file that cannot be read is removed and rebuilt. The folder is created 0700 and
the file 0600: a pickle runs code when it is read, so only the bot may write there.
"""

from __future__ import annotations

import contextlib
import copyreg
import datetime as dt
import hashlib
import logging
import os
import pickle
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from types import MappingProxyType

from policybot.config import private_dir
from policybot.knowledge.loader import SUFFIXES, load
from policybot.knowledge.problems import LoadResult
from policybot.matching.matcher import Matcher

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the layout of what is cached changes in a way the code hash misses
PREFIX = "knowledge-"
SUFFIX = ".pickle"
# Libraries whose version changes what an index holds (segmentation, readings, arrays).
LIBRARIES = ("jieba", "pypinyin", "opencc", "rapidfuzz", "numpy", "pyahocorasick", "PyYAML", "snowballstemmer")


@dataclass
class Prepared:
    result: LoadResult
    matcher: Matcher | None  # None when the knowledge has errors
    from_cache: bool = False


@lru_cache(maxsize=1)
def code_version() -> str:
    """Every source file of the package, the Python version and the libraries' versions."""
    digest = hashlib.sha256(f"{FORMAT}\0{platform.python_version()}\0".encode())
    for name in LIBRARIES:
        try:
            digest.update(f"{name}={metadata.version(name)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=-\0".encode())
    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(directory: Path, today: dt.date) -> str | None:
    """None when the knowledge directory cannot be read (the loader then says why)."""
    digest = hashlib.sha256(f"{code_version()}\0{today.isoformat()}\0".encode())
    try:
        paths = sorted(p for p in directory.iterdir()
                       if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file())
        for path in paths:
            data = path.read_bytes()
            digest.update(f"{path.name}\0{len(data)}\0".encode())
            digest.update(data)
    except OSError:
        return None
    return digest.hexdigest()


def prepare(directory: str | Path, cache_dir: Path | None, today: dt.date | None = None) -> Prepared:
    """The loaded knowledge and its matcher (built with matching.yaml's settings), from the
    cache when the same knowledge was prepared by the same code today; else built and cached.
    Without `cache_dir`, always built."""
    directory = Path(directory)
    today = today or dt.date.today()
    key = cache_key(directory, today) if cache_dir is not None else None
    # one file per knowledge directory: the bot's and an editor's copy do not evict each other
    place = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:8]
    path = cache_dir / f"{PREFIX}{place}-{key[:32]}{SUFFIX}" if cache_dir is not None and key else None
    if path is not None:
        cached = _read(path, key or "")
        if cached is not None:
            return cached
    result = load(directory, today)
    prepared = Prepared(result, Matcher(result.kb) if result.kb is not None else None)
    if path is not None and prepared.matcher is not None:
        _write(path, key or "", prepared)
    return prepared


def _read(path: Path, key: str) -> Prepared | None:
    try:
        with path.open("rb") as f:
            stored_key, result, matcher = pickle.load(f)  # noqa: S301 (our own file: 0600 in a 0700 folder, keyed by content)
    except FileNotFoundError:
        return None
    except Exception as exc:  # damaged, truncated, written by other code: build again
        log.warning("knowledge cache %s unreadable (%s); rebuilding it", path, exc)
        _discard(path)
        return None
    if stored_key != key or not isinstance(matcher, Matcher) or not isinstance(result, LoadResult):
        log.warning("knowledge cache %s does not hold this knowledge; rebuilding it", path)
        _discard(path)
        return None
    return Prepared(result, matcher, from_cache=True)


def _discard(path: Path) -> None:
    # writing the new one will say what is wrong with the folder
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _write(path: Path, key: str, prepared: Prepared) -> None:
    """Atomically (a crash leaves no half file), 0600; older cache files are removed."""
    try:
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
                # the knowledge base's read-only mappings are written as what they wrap
                pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _proxy}
                pickler.dump((key, prepared.result, prepared.matcher))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        place = path.name.split("-")[1]
        for old in path.parent.glob(f"{PREFIX}{place}-*{SUFFIX}"):
            if old != path:
                old.unlink(missing_ok=True)
    except Exception as exc:  # a read-only or full disk costs start-up time, nothing else
        log.warning("could not write the knowledge cache in %s (%s)", path.parent, exc)


def _proxy(m: MappingProxyType[object, object]) -> tuple[Callable[..., object], tuple[dict[object, object]]]:
    return read_only, (dict(m),)


def read_only(d: dict[object, object]) -> MappingProxyType[object, object]:
    """How a cached read-only mapping is rebuilt (pickle names this function)."""
    return MappingProxyType(d)
