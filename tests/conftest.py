"""Shared fixtures: a real store, writer and registry in a temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=20000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def registry_factory(tmp_path):
    """Open (and reopen) a registry on one temporary data folder."""
    from idnode.registry.service import Registry
    from idnode.registry.store import Store
    from idnode.registry.writer import Writer

    opened = []

    def open_registry(map_size: int = 1 << 20, node_prefix: str = "88.118", start: bool = True):
        store = Store(tmp_path / "data", map_size=map_size)
        writer = Writer(store)
        registry = Registry(store, writer, node_prefix)
        if start:
            writer.start()
        opened.append((store, writer))
        return registry

    def close_all():
        while opened:
            store, writer = opened.pop()
            writer.stop()
            store.close()

    open_registry.close_all = close_all  # type: ignore[attr-defined]
    yield open_registry
    close_all()


@pytest.fixture
def registry(registry_factory):
    return registry_factory()


def debian_tool(command: str, package: str) -> str:
    """The path of ``command``, installing Debian ``package`` with apt-get when it is missing and we are root.

    When it stays missing the calling test fails under ``CI=true`` (CI must
    prove the real tool works) and is skipped elsewhere, with the command to
    run either way.
    """
    path = shutil.which(command)
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", package]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        path = shutil.which(command)
    if path is None:
        message = f"{command} not found and not installable here: run `apt-get install -y {package}` as root"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    """``promtool`` from Debian's ``prometheus`` package (alert rules, Prometheus config)."""
    return debian_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def systemd_analyze() -> str:
    """``systemd-analyze`` from Debian's ``systemd`` package (unit files)."""
    return debian_tool("systemd-analyze", "systemd")
