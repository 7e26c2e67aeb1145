"""The Locust load test's pure parts: key file, Zipf key choice, unknown handles, the step shape's search.

Locust itself is not imported here (it monkey-patches the process with
gevent); tests/node/test_locust_node.py runs it against a live node.
"""

from __future__ import annotations

import collections
import json
import random

import pytest

from idnode.loadtest import datagen
from idnode.loadtest._locust_step import Limits, Snapshot, StepSearch, histogram_percentile, measure
from idnode.loadtest.keyfile import FORMAT, KeyFile, Registration, ZipfPicker, read_keys, unknown_handle, write_keys


def _keys(count: int = 50) -> KeyFile:
    return KeyFile(
        handles=tuple(datagen.handle_of(n) for n in range(count)),
        prefix=datagen.DEFAULT_PREFIX,
        seed=datagen.DEFAULT_SEED,
        count=count,
        registration=Registration("88.118.99", "idn1.abc.def", "91440300MA5LT0001G"),
    )


def test_key_file_round_trip_is_private(tmp_path):
    path = tmp_path / "keys.json"
    write_keys(path, _keys())
    assert read_keys(path) == _keys()
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["format"] == FORMAT
    assert not (tmp_path / "keys.json.partial").exists()


def test_plain_text_key_file(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("88.118.8/A1\n\n  88.118.8/B2  \n", encoding="utf-8")
    keys = read_keys(path)
    assert keys.handles == ("88.118.8/A1", "88.118.8/B2")
    assert keys.registration is None and keys.seed is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no handles"),
        ("\n \n", "no handles"),
        ('{"format": "other"}', "not an idnode"),
        ("{nope", "not valid JSON"),
    ],
)
def test_bad_key_files_are_named(tmp_path, text, message):
    path = tmp_path / "keys"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_keys(path)


def test_zipf_exponent_zero_is_uniform_and_one_is_skewed():
    items = [f"k{n}" for n in range(100)]
    uniform = collections.Counter(ZipfPicker(items, 0.0, random.Random(1)).sample(20_000))
    assert set(uniform) == set(items)
    assert max(uniform.values()) < 2 * min(uniform.values())

    picker = ZipfPicker(items, 1.0, random.Random(1))
    counts = collections.Counter(picker.sample(20_000))
    # H(100) = 5.187: the hottest key takes 1/H = 19.3% of the choices, the top 10 H(10)/H(100) = 56.5%.
    assert picker.rank_share(1) == pytest.approx(1 / sum(1 / k for k in range(1, 101)))
    assert picker.rank_share(10) == pytest.approx(0.5646, abs=1e-4)
    top = counts.most_common(10)
    assert top[0][1] / 20_000 == pytest.approx(picker.rank_share(1), abs=0.02)
    assert sum(c for _, c in top) / 20_000 == pytest.approx(picker.rank_share(10), abs=0.02)


def test_zipf_hot_keys_are_spread_not_the_first_seeded():
    items = [f"k{n:03d}" for n in range(1000)]
    picker = ZipfPicker(items, 1.2, random.Random(3))
    hottest = [key for key, _ in collections.Counter(picker.sample(5000)).most_common(5)]
    assert hottest != items[:5]
    assert ZipfPicker(items, 1.2, random.Random(3)).sample(50) == ZipfPicker(items, 1.2, random.Random(3)).sample(50)


@pytest.mark.parametrize(("items", "exponent"), [([], 1.0), (["a"], -0.5)])
def test_zipf_rejects_bad_input(items, exponent):
    with pytest.raises(ValueError):
        ZipfPicker(items, exponent)


def test_unknown_handles_are_never_seeded_and_look_alike():
    keys = _keys(1000)
    rng = random.Random(5)
    unknown = {unknown_handle(keys, rng) for _ in range(200)}
    assert not unknown & set(keys.handles)
    assert all(h.startswith("88.118.8/") for h in unknown)
    plain = KeyFile(("88.200.1/X",))
    assert unknown_handle(plain, rng).startswith("88.200.1/LOADTEST-UNKNOWN-")


def test_histogram_percentile():
    assert histogram_percentile({}, 0.99) == 0.0
    hist = {1: 90, 5: 9, 40: 1}
    assert histogram_percentile(hist, 0.5) == 1
    assert histogram_percentile(hist, 0.95) == 5
    assert histogram_percentile(hist, 0.99) == 5
    assert histogram_percentile(hist, 1.0) == 40


def test_measure_uses_only_the_window():
    start = Snapshot(10.0, 1000, 3, {1: 900, 50: 100})
    end = Snapshot(20.0, 3000, 3, {1: 900 + 1980, 50: 100, 90: 20})
    step = measure(30, start, end)
    assert (step.users, step.requests, step.failures, step.rps) == (30, 2000, 0, 200.0)
    assert (step.p50_ms, step.p99_ms) == (1.0, 1.0)
    assert histogram_percentile({1: 1980, 90: 20}, 0.995) == 90


class FakeRun:
    """Locust's totals as a node answering ``rps(users)`` requests/s with ``p99(users)`` ms and no failures."""

    def __init__(self, rps, p99, failing=lambda users: 0.0) -> None:
        self.rps, self.p99, self.failing = rps, p99, failing
        self.requests = self.failures = 0
        self.hist: collections.Counter[int] = collections.Counter()

    def advance(self, users: int, seconds: float) -> None:
        n = int(self.rps(users) * seconds)
        slow = n // 100 + 1
        self.hist[1] += n - slow
        self.hist[int(self.p99(users))] += slow
        self.requests += n
        self.failures += int(n * self.failing(users))

    def snapshot(self, now: float) -> Snapshot:
        return Snapshot(now, self.requests, self.failures, dict(self.hist))


def _drive(search: StepSearch, run: FakeRun, limit: float = 10_000) -> list[int]:
    now, users, seen = 0.0, 0, []
    while now < limit:
        wanted = search.tick(now, run.snapshot)
        if wanted is None:
            return seen
        if wanted != users:
            seen.append(wanted)
            users = wanted
        run.advance(users, 1.0)
        now += 1.0
    raise AssertionError("the search never ended")


def test_step_search_stops_at_the_p99_limit():
    limits = Limits(step_users=10, step_time=10, settle=2, max_users=200, max_p99_ms=100)
    search = StepSearch(limits)
    run = FakeRun(rps=lambda u: min(u, 40) * 100.0, p99=lambda u: 20 if u <= 40 else 20 + (u - 40) * 4)
    assert _drive(search, run) == [10, 20, 30, 40, 50, 60, 70]
    sat = search.saturation
    assert sat is not None and (sat.users, sat.p99_ms) == (60, 100.0)
    assert sat.rps == pytest.approx(4000, rel=0.02)
    assert search.beyond is not None and search.beyond.users == 70 and search.beyond.p99_ms == 140
    assert "p99 140 ms > 100 ms" in search.reason
    report = search.report()
    assert [s["users"] for s in report["steps"]] == [10, 20, 30, 40, 50, 60, 70]
    assert report["saturation"]["users"] == 60 and report["beyond"]["users"] == 70
    assert report["peak_rps_step"]["rps"] == pytest.approx(4000, rel=0.02)
    assert "saturation point: 60 users" in search.summary()


def test_step_search_stops_at_the_failure_limit_and_at_max_users():
    failing = StepSearch(Limits(step_users=5, step_time=4, settle=1, max_users=100, max_failure_ratio=0.01))
    run = FakeRun(rps=lambda u: 100.0 * u, p99=lambda u: 5, failing=lambda u: 0.05 if u >= 15 else 0.0)
    assert _drive(failing, run) == [5, 10, 15]
    assert failing.saturation is not None and failing.saturation.users == 10
    assert failing.reason.startswith("failure ratio 0.05")

    capped = StepSearch(Limits(step_users=5, step_time=4, settle=1, max_users=15))
    assert _drive(capped, FakeRun(rps=lambda u: 100.0 * u, p99=lambda u: 5)) == [5, 10, 15]
    assert capped.beyond is None and capped.saturation is not None and capped.saturation.users == 15
    assert "within the limits" in capped.reason


def test_step_search_saturated_from_the_first_step_or_without_requests():
    first = StepSearch(Limits(step_users=5, step_time=4, settle=1, max_p99_ms=10))
    assert _drive(first, FakeRun(rps=lambda u: 100.0, p99=lambda u: 50)) == [5]
    assert first.saturation is None and "below the first step" in first.summary()

    idle = StepSearch(Limits(step_users=5, step_time=4, settle=1))
    assert _drive(idle, FakeRun(rps=lambda u: 0.0, p99=lambda u: 1)) == [5]
    assert idle.reason == "no request completed"


@pytest.mark.parametrize(
    "kwargs", [{"step_users": 0}, {"step_users": 10, "max_users": 5}, {"settle": 20, "step_time": 10}]
)
def test_limits_are_checked(kwargs):
    with pytest.raises(ValueError):
        Limits(**kwargs)


def test_step_cpu_figures_and_the_load_generator_note():
    start = Snapshot(0.0, 0, 0, {1: 0}, client_cpu=5.0, machine_cpu=100.0)
    end = Snapshot(10.0, 1000, 0, {1: 1000}, client_cpu=14.5, machine_cpu=118.0)
    step = measure(8, start, end)
    assert (step.client_cores, step.machine_cores) == (0.95, 1.8)
    assert step.to_json()["client_cores"] == 0.95 and step.to_json()["machine_cores"] == 1.8

    class CpuRun(FakeRun):
        def __init__(self, client_cores: float) -> None:
            super().__init__(rps=lambda u: 100.0, p99=lambda u: 5)
            self.client_cores, self.cpu = client_cores, 0.0

        def advance(self, users: int, seconds: float) -> None:
            super().advance(users, seconds)
            self.cpu += self.client_cores * seconds

        def snapshot(self, now: float) -> Snapshot:
            return Snapshot(now, self.requests, self.failures, dict(self.hist), self.cpu, 2 * self.cpu)

    busy = StepSearch(Limits(step_users=5, step_time=4, settle=1, max_users=10))
    _drive(busy, CpuRun(0.97))
    assert busy.saturation is not None and busy.saturation.client_cores == pytest.approx(0.97)
    assert "Locust used 0.97 core in the last step" in busy.summary()
    idle = StepSearch(Limits(step_users=5, step_time=4, settle=1, max_users=10))
    _drive(idle, CpuRun(0.3))
    assert "Locust used" not in idle.summary()
