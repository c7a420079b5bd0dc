"""MongoDB wire protocol from FerretDB v1.24 on SQLite, on 127.0.0.1:27017, or ``PARLEY_MONGO_URL``.

FerretDB is built from source into ``<home>/bin/ferretdb``. Not with ``go install …@v1.24.2``:
the module zip lacks the generated ``build/version/version.txt``, and a binary built that way
panics at start-up. We unpack the module, write that file and ``go build`` it.

One line of FerretDB is changed before the build (``_ID_LOOKUP_PATCH``). Its SQLite backend
builds the unique ``_id`` index on the expression ``_ferretdb_sjson->"_id"`` but finds, updates
and deletes by ``_ferretdb_sjson->'$._id'``. Both yield the same value, yet SQLite uses an index
only for the expression it was built on, so every lookup by ``_id`` scanned the whole table:
227 ms at 20,000 documents instead of 0.5 ms (bench/HISTORY.md). Lookups now use the index's own
expression; the data files are unchanged, so an existing database keeps working. The marker
file beside the binary names the build, and a binary built without the patch is rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import TextIO

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from services.devstack import paths
from services.devstack.errors import DevstackError
from services.devstack.process import ManagedProcess
from services.devstack.service import Service, tcp_open

HOST = "127.0.0.1"
PORT = 27017
LOCAL_URL = f"mongodb://{HOST}:{PORT}/?directConnection=true"

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# Names what ``build_ferretdb`` makes: bump it whenever the patch changes, so binaries rebuild.
FERRETDB_BUILD = f"{FERRETDB_VERSION}+parley.1"
_ID_LOOKUP_PATCH = (
    Path("internal/backends/sqlite/metadata/metadata.go"),
    "IDColumn = DefaultColumn + \"->'$._id'\"",
    'IDColumn = DefaultColumn + `->"_id"`',
)
_PROGRESS_EVERY_SECONDS = 15.0

logger = logging.getLogger(__name__)


def service() -> Service:
    """FerretDB we run ourselves, or the server ``PARLEY_MONGO_URL`` names (nothing built)."""
    external_url = os.environ.get("PARLEY_MONGO_URL", "").strip()
    if external_url:
        return Service(
            name="mongo",
            address=_without_password(external_url),
            answers=lambda: _pings(external_url, timeout_ms=3000),
        )
    binary = paths.bin_dir() / "ferretdb"
    data = paths.data_dir("ferretdb")
    state = paths.data_dir("ferretdb-state")
    process = ManagedProcess(
        name="mongo",
        argv=(
            str(binary),
            f"--listen-addr={HOST}:{PORT}",
            "--handler=sqlite",
            f"--sqlite-url=file:{data}/",
            "--telemetry=disable",
            f"--state-dir={state}",
            "--debug-addr=-",  # no metrics/pprof HTTP listener
        ),
        cwd=state,
    )
    return Service(
        name="mongo",
        address=f"{HOST}:{PORT}",
        answers=lambda: tcp_open(HOST, PORT) and _pings(LOCAL_URL, timeout_ms=2000),
        process=process,
        prepare=lambda: _prepare(binary, data, state),
    )


def _pings(url: str, *, timeout_ms: int) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        return bool(client.admin.command("ping").get("ok"))
    except PyMongoError:
        return False
    finally:
        client.close()


def _without_password(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def _prepare(binary: Path, data: Path, state: Path) -> None:
    paths.ensure_dir(data)
    paths.ensure_dir(state)
    if not _runs(binary) or _built_as(binary) != FERRETDB_BUILD:
        build_ferretdb(binary)


def _marker(binary: Path) -> Path:
    return binary.with_name(binary.name + ".build")


def _built_as(binary: Path) -> str:
    marker = _marker(binary)
    return marker.read_text().strip() if marker.exists() else ""


def _runs(binary: Path) -> bool:
    """True if the binary exists and reports a version (a bad build panics instead)."""
    if not binary.exists():
        return False
    probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return probe.returncode == 0 and "version: v" in probe.stdout


def build_ferretdb(binary: Path) -> None:
    """Build FerretDB into ``binary``; a few minutes with a cold Go cache, seconds when warm."""
    go = shutil.which("go")
    if go is None:
        raise DevstackError("building FerretDB needs the Go toolchain (`go`) on PATH")
    log_file = paths.ensure_dir(paths.logs_dir()) / "ferretdb-build.log"
    source = paths.home() / "build" / f"ferretdb-{FERRETDB_VERSION}"
    logger.info("building FerretDB %s into %s (log: %s)", FERRETDB_BUILD, binary, log_file)
    # GOFLAGS from the caller (e.g. -mod=vendor) would break a build outside Parley's tree.
    env = {key: value for key, value in os.environ.items() if key != "GOFLAGS"}
    with log_file.open("a") as log:
        paths.ensure_dir(source.parent)
        download = subprocess.run(
            [go, "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"],
            cwd=source.parent,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        log.write(download.stdout + download.stderr)
        if download.returncode != 0:
            raise DevstackError(f"go mod download of FerretDB failed; see {log_file}")
        _unpack(Path(json.loads(download.stdout)["Zip"]), source)
        partial = binary.with_name(binary.name + ".partial")
        paths.ensure_dir(binary.parent)
        build = [go, "build", "-v", "-o", str(partial), "./cmd/ferretdb"]
        if _stream(build, source, env, log) != 0:
            raise DevstackError(f"building FerretDB failed; see {log_file}")
    partial.replace(binary)
    if not _runs(binary):
        raise DevstackError(f"the FerretDB build at {binary} does not start; see {log_file}")
    _marker(binary).write_text(FERRETDB_BUILD + "\n")
    logger.info("FerretDB %s built", FERRETDB_BUILD)


def _unpack(module_zip: Path, source: Path) -> None:
    """Extract the module zip (writable, unlike the module cache) and add its version file."""
    shutil.rmtree(source, ignore_errors=True)
    prefix = f"{FERRETDB_MODULE}@{FERRETDB_VERSION}/"
    with zipfile.ZipFile(module_zip) as archive:
        for member in archive.infolist():
            relative = member.filename.removeprefix(prefix)
            if member.is_dir() or relative == member.filename or ".." in Path(relative).parts:
                continue
            target = source / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
    (source / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
    _patch(source, *_ID_LOOKUP_PATCH)


def _patch(source: Path, relative: Path, old: str, new: str) -> None:
    """Replace one line of FerretDB's source; fail loudly if the line is not there exactly once
    (another FerretDB version must be checked by hand, not built unpatched)."""
    path = source / relative
    text = path.read_text()
    if text.count(old) != 1:
        raise DevstackError(f"FerretDB {FERRETDB_VERSION}: expected `{old}` once in {relative}")
    path.write_text(text.replace(old, new))


def _stream(argv: list[str], cwd: Path, env: dict[str, str], log: TextIO) -> int:
    """Run the build, copying its output to the log and reporting progress now and then."""
    packages = 0
    last_report = time.monotonic()
    with subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as build:
        assert build.stdout is not None
        for line in build.stdout:
            log.write(line)
            packages += 1
            if time.monotonic() - last_report >= _PROGRESS_EVERY_SECONDS:
                last_report = time.monotonic()
                logger.info("still building FerretDB: %d packages compiled", packages)
    return build.returncode
