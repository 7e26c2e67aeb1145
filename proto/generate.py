"""Regenerate the Python stubs from the .proto files (run after editing them).

The .proto files live in this folder but are compiled under the virtual path
``idnode/proto/`` so the generated imports land in the installed namespace
(``from idnode.proto import common_pb2``). tests/unit/test_proto_stubs.py
checks that the committed stubs match a fresh generation.
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PROTOS = ("common.proto", "resolver.proto", "registry.proto", "toplevel.proto", "replication.proto")


def generate(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Compile every .proto into ``out_dir``; return the files written."""
    from grpc_tools import protoc  # test/dev dependency only

    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-Iidnode/proto={HERE}",
            f"-I{protoc._get_resource_file_name('grpc_tools', '_proto')}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
        ] + [f"{HERE / name}" for name in PROTOS]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
        produced = sorted((pathlib.Path(tmp) / "idnode" / "proto").glob("*_pb2*.py*"))
        written = []
        for path in produced:
            target = out_dir / path.name
            shutil.copyfile(path, target)
            written.append(target)
        return written


if __name__ == "__main__":
    for path in generate(HERE if len(sys.argv) < 2 else pathlib.Path(sys.argv[1])):
        print(path)
