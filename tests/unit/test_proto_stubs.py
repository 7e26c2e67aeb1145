"""The committed gRPC stubs match a fresh generation from the .proto files."""

from __future__ import annotations

import importlib.util
import pathlib

PROTO = pathlib.Path(__file__).resolve().parents[2] / "proto"


def test_stubs_are_in_step_with_the_protos(tmp_path):
    spec = importlib.util.spec_from_file_location("proto_generate", PROTO / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.generate(tmp_path)
    assert len(written) == 15
    for fresh in written:
        committed = PROTO / fresh.name
        assert committed.exists(), f"{fresh.name} is not committed; run python proto/generate.py"
        assert committed.read_text() == fresh.read_text(), f"{fresh.name} is stale; run python proto/generate.py"
