"""The committed protobuf and gRPC modules match a fresh generation from the .proto files."""

from __future__ import annotations

from protos.codegen import stale_files


def test_generated_protos_are_fresh() -> None:
    stale = stale_files()

    assert stale == [], f"regenerate with `python -m protos.codegen`: {stale}"
