"""Every file goes through clamd over INSTREAM; no clear answer is never "clean"."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from processors.media.scan import CHUNK_BYTES, Clamd, ScanFailed, verdict
from services.devstack import clamav
from services.devstack.service import bring_up
from tests.processors.media.samples import image


@pytest.fixture(scope="module")
def clamd() -> Clamd:
    """The devstack's clamd, with the project's own signature database."""
    bring_up(clamav.service())
    return Clamd(clamav.HOST, clamav.PORT, timeout=10.0)


def test_a_clean_image_is_clean(clamd: Clamd) -> None:
    assert clamd.scan(image("JPEG")) is None


def test_the_eicar_test_file_is_found_by_the_projects_signature(clamd: Clamd) -> None:
    assert clamd.scan(clamav.EICAR) == "Parley.Test.EICAR.UNOFFICIAL"


def test_the_test_marker_is_found_past_the_first_chunk(clamd: Clamd) -> None:
    data = image("PNG") + bytes(3 * CHUNK_BYTES) + clamav.TEST_MARKER
    assert clamd.scan(data) == "Parley.Test.Marker.UNOFFICIAL"


def test_answers_other_than_ok_or_found_are_failures() -> None:
    assert verdict("stream: OK") is None
    assert verdict("stream: Win.Test.EICAR_HDB-1 FOUND") == "Win.Test.EICAR_HDB-1"
    with pytest.raises(ScanFailed, match="INSTREAM size limit exceeded"):
        verdict("INSTREAM size limit exceeded. ERROR")
    with pytest.raises(ScanFailed, match="an empty answer"):
        verdict("")


def test_no_daemon_is_a_failure_not_a_clean_file() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ScanFailed, match="did not answer"):
        Clamd("127.0.0.1", port, timeout=2.0).scan(b"anything")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that takes the stream and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_daemon_that_never_answers_is_a_failure_after_the_timeout(silent_server: int) -> None:
    with pytest.raises(ScanFailed, match="did not answer"):
        Clamd("127.0.0.1", silent_server, timeout=0.5).scan(b"small file")
