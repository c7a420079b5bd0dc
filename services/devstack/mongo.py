"""MongoDB wire protocol from FerretDB v1.24, on 127.0.0.1:27017, or ``PARLEY_MONGO_URL``.

FerretDB stores its documents with one of two handlers, chosen by the ``ferretdb_handler``
setting (``PARLEY_FERRETDB_HANDLER``): ``sqlite`` (the default; files in ``data/ferretdb``) or
``postgresql`` (the database ``ferretdb`` of Parley's own PostgreSQL cluster,
``services/devstack/postgres.py``, which ``up`` then starts first). Only the chosen backend runs.
Switching leaves the other's data where it is; stop the services first (``parley services
down``), since a FerretDB started with the other command line is no longer recognised as ours.

Why SQLite stays the default (bench/HISTORY.md, "FerretDB's handler", measured 2026-12-07 on
the shared 2-core machine at load average 4 to 17). The default was to be the handler that is
faster and correct, and PostgreSQL is not more correct: eight clients racing
``update_one({"_id": x, "state": "a"}, ...)`` had exactly one winner in 8 of 200 rounds on
SQLite and in 12 and 4 of 200 on PostgreSQL. FerretDB v1 checks an update's filter and then
rewrites the document by ``_id`` as two steps on both, so Parley's unique-``_id`` claims stay
necessary either way; exactly one of eight racing inserts of one ``_id`` wins on both, and the
race tests pass on both (three runs each). Nor is it clearly faster: R2, eight interleaved
quick runs each, carried a median 2.6 msg/s on PostgreSQL against 2.0 on SQLite, but the runs
of each spread more than fourfold (1.0 to 4.9, 1.0 to 4.4), and R2's ratio to the bare
chain, run beside it under the same load, had medians of 0.039 and 0.035. Its p50 latency was
lower in seven runs of eight (median 2.3 s against 3.7 s). PostgreSQL takes 16 threads'
inserts about 1.4 times as fast, while a single insert, find or update by ``_id`` costs it 1.2
to 1.5 times SQLite's. A second service to install, run as another account and
keep in step with its binaries' major version buys no throughput beyond the machine's noise and
no correctness, so SQLite stays the default; PostgreSQL is selectable and tested
(tests/services/devstack/test_postgres.py).

FerretDB is built from source into ``<home>/bin/ferretdb``. Not with ``go install …@v1.24.2``:
the module zip lacks the generated ``build/version/version.txt``, and a binary built that way
panics at start-up. We unpack the module, write that file and ``go build`` it.

Two places of FerretDB are changed before the build, one for each handler's ``_id`` lookups.
``_ID_LOOKUP_PATCH``: its SQLite backend builds the unique ``_id`` index on the expression
``_ferretdb_sjson->"_id"`` but finds, updates and deletes by ``_ferretdb_sjson->'$._id'``. Both
yield the same value, yet SQLite uses an index only for the expression it was built on, so
every lookup by ``_id`` scanned the whole table: 227 ms at 20,000 documents instead of 0.5 ms
(bench/HISTORY.md). Lookups now use the index's own expression; the data files are unchanged,
so an existing database keeps working. ``_PG_ID_LOOKUP_PATCH``: its PostgreSQL backend builds
the unique btree index on ``_jsonb->'_id'`` but finds by ``_jsonb->$1 @> $2`` (the field name a
parameter, the test jsonb containment), which no btree answers: a find by ``_id`` read the whole
table, 70 ms at 20,000 documents (``EXPLAIN``: a sequential scan, 2.2 ms at 5,000 against
0.03 ms by the index). A find by a string or ObjectID ``_id`` now asks ``_jsonb->'_id' = $1``
(for such scalars the same rows as ``@>``), 1.2 ms at 20,000; FerretDB still checks every
document it gets back against the whole filter. Updates and deletes already used ``=``. The
marker file beside the binary names the build, and a binary built without the patches is
rebuilt.
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
from typing import Literal, TextIO

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from services.devstack import paths, postgres
from services.devstack.errors import DevstackError
from services.devstack.process import ManagedProcess
from services.devstack.service import Service, tcp_open

HOST = "127.0.0.1"
PORT = 27017
LOCAL_URL = f"mongodb://{HOST}:{PORT}/?directConnection=true"

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# Names what ``build_ferretdb`` makes: bump it whenever the patch changes, so binaries rebuild.
FERRETDB_BUILD = f"{FERRETDB_VERSION}+parley.2"
_ID_LOOKUP_PATCH = (
    Path("internal/backends/sqlite/metadata/metadata.go"),
    "IDColumn = DefaultColumn + \"->'$._id'\"",
    'IDColumn = DefaultColumn + `->"_id"`',
)
_PG_EQUALS = (
    "\t\tfilter = fmt.Sprintf(sql, metadata.DefaultColumn, operator, p.Next(), p.Next())\n"
    "\t\targs = append(args, k, string(must.NotFail(sjson.MarshalSingleValue(v))))\n"
)
_PG_ID_LOOKUP_PATCH = (
    Path("internal/backends/postgresql/query.go"),
    _PG_EQUALS,
    '\t\tif k == "_id" { // Parley: the unique index\'s expression, and `=`, not `@>`\n'
    "\t\t\tfilter = fmt.Sprintf(`%s = %s`, metadata.IDColumn, p.Next())\n"
    "\t\t\targs = append(args, string(must.NotFail(sjson.MarshalSingleValue(v))))\n"
    "\t\t\tbreak\n"
    "\t\t}\n" + _PG_EQUALS,
)
_PATCHES = (_ID_LOOKUP_PATCH, _PG_ID_LOOKUP_PATCH)
_PROGRESS_EVERY_SECONDS = 15.0
Handler = Literal["sqlite", "postgresql"]

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
        argv=ferretdb_argv(binary, handler(), data=data, state=state, port=PORT),
        cwd=state,
    )
    return Service(
        name="mongo",
        address=f"{HOST}:{PORT}",
        answers=lambda: tcp_open(HOST, PORT) and _pings(LOCAL_URL, timeout_ms=2000),
        process=process,
        prepare=lambda: _prepare(binary, data, state),
    )


def handler() -> Handler:
    """The storage our FerretDB runs on: the ``ferretdb_handler`` setting."""
    from core.settings import get_settings

    return get_settings().ferretdb_handler


def needs_postgres() -> bool:
    """Whether ``up`` must start PostgreSQL before FerretDB (we run it, on that handler)."""
    return not os.environ.get("PARLEY_MONGO_URL", "").strip() and handler() == "postgresql"


def ferretdb_argv(
    binary: Path,
    handler: Handler,
    *,
    data: Path,
    state: Path,
    port: int,
    postgresql_url: str = postgres.url(),
) -> tuple[str, ...]:
    """FerretDB's command line (flag names as v1.24's ``--help`` gives them) on that handler:
    SQLite files in ``data``, or the database ``postgresql_url`` names."""
    backend = (
        (f"--postgresql-url={postgresql_url}",)
        if handler == "postgresql"
        else (f"--sqlite-url=file:{data}/",)
    )
    return (
        str(binary),
        f"--listen-addr={HOST}:{port}",
        f"--handler={handler}",
        *backend,
        "--telemetry=disable",
        f"--state-dir={state}",
        "--debug-addr=-",  # no metrics/pprof HTTP listener
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
    for patch in _PATCHES:
        _patch(source, *patch)


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
