"""Shared fixtures: a real store, writer and registry in a temporary folder."""

from __future__ import annotations

import os

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
