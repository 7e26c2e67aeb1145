"""The normal install builds the compiled fast path and the selector picks it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from idnode import _fastpath

REQUIRED = bool(os.environ.get("CI") or os.environ.get("IDNODE_REQUIRE_EXTENSIONS"))


def test_compiled_fast_path_is_selected():
    if not _fastpath.COMPILED and not REQUIRED:
        pytest.skip(f"compiled fast path not built here: {_fastpath.BUILD_ERROR}")
    assert _fastpath.COMPILED, f"the install did not build the extensions: {_fastpath.BUILD_ERROR}"
    assert _fastpath.IMPLEMENTATION == "cython" and _fastpath.BUILD_ERROR == ""
    assert _fastpath.parse_handle.__module__ == "idnode._fastpath._identifiers_c"


@pytest.mark.parametrize("value, compiled", [("1", False), ("0", None), ("", None)])
def test_environment_variable_forces_the_twins(value, compiled):
    code = "from idnode import _fastpath as f; print(f.COMPILED, f.IMPLEMENTATION, repr(f.BUILD_ERROR))"
    env = dict(os.environ, IDNODE_NO_EXTENSIONS=value)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    got = out.split()[0] == "True"
    built = importlib.util.find_spec("idnode._fastpath._identifiers_c") is not None
    expected = built if compiled is None else compiled
    assert got is expected, out
    if value == "1":
        assert "python" in out and "IDNODE_NO_EXTENSIONS" in out


def test_version_command_names_the_implementation():
    out = subprocess.run([sys.executable, "-m", "idnode", "version"], capture_output=True, text=True, check=True).stdout
    assert f"fast path: {_fastpath.IMPLEMENTATION}" in out
