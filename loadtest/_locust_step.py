"""The step shape's search for the saturation point, without Locust: steps, per-step figures, the verdict.

The shape (``shape_step.py``) raises the users by ``step_users`` every
``step_time`` seconds. Each step is measured from its own requests only: a
snapshot of Locust's totals (requests, failures, response-time histogram)
``settle`` seconds into the step and another at its end; the difference
gives the step's requests/s, failure ratio and p50/p95/p99. The search stops
at the first step whose failure ratio or p99 passes its limit (saturated),
or after the step at ``max_users``. The saturation point is the last step
within both limits: the most users (and the requests/s they got) the node
served acceptably. Pure: Locust is not imported here (importing it
monkey-patches the process with gevent), so it is unit tested directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["CLIENT_BOUND_CORES", "Limits", "Snapshot", "StepResult", "StepSearch", "histogram_percentile", "measure"]


CLIENT_BOUND_CORES = 0.9  # a Locust process at this much CPU is itself the bottleneck (gevent: one core)


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """Locust's running totals at one moment (``StatsEntry``: num_requests, num_failures, response_times)."""

    at: float
    requests: int
    failures: int
    histogram: Mapping[int, int]  # rounded response time in ms -> count
    client_cpu: float = 0.0  # CPU seconds used by the Locust process so far
    machine_cpu: float = 0.0  # CPU seconds the whole machine has been busy (all cores)

    @classmethod
    def of(cls, entry: Any, at: float, client_cpu: float = 0.0, machine_cpu: float = 0.0) -> Snapshot:
        return cls(at, entry.num_requests, entry.num_failures, dict(entry.response_times), client_cpu, machine_cpu)


def histogram_percentile(histogram: Mapping[int, int], fraction: float) -> float:
    """The smallest response time at or below which ``fraction`` of the counted requests finished (0 if none)."""
    total = sum(histogram.values())
    if total <= 0:
        return 0.0
    needed = fraction * total
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= needed:
            return float(value)
    return float(max(histogram))


@dataclasses.dataclass(frozen=True, slots=True)
class StepResult:
    """One step's figures, from its measured window only."""

    users: int
    seconds: float
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    client_cores: float = 0.0  # the Locust process's CPU over the step (the master's only, when distributed)
    machine_cores: float = 0.0  # the whole machine's busy CPU over the step

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "failures": self.failures,
            "rps": round(self.rps, 1),
            "failure_ratio": round(self.failure_ratio, 5),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "client_cores": round(self.client_cores, 2),
            "machine_cores": round(self.machine_cores, 2),
        }


def measure(users: int, start: Snapshot, end: Snapshot) -> StepResult:
    """The step between two snapshots of the same run."""
    window = {k: end.histogram.get(k, 0) - start.histogram.get(k, 0) for k in end.histogram}
    window = {k: v for k, v in window.items() if v > 0}
    seconds = end.at - start.at
    return StepResult(
        users=users,
        seconds=seconds,
        requests=end.requests - start.requests,
        failures=end.failures - start.failures,
        p50_ms=histogram_percentile(window, 0.50),
        p95_ms=histogram_percentile(window, 0.95),
        p99_ms=histogram_percentile(window, 0.99),
        client_cores=(end.client_cpu - start.client_cpu) / seconds if seconds > 0 else 0.0,
        machine_cores=(end.machine_cpu - start.machine_cpu) / seconds if seconds > 0 else 0.0,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The step plan and what counts as saturated."""

    step_users: int = 10
    step_time: float = 15.0
    settle: float = 3.0
    max_users: int = 400
    max_failure_ratio: float = 0.01
    max_p99_ms: float = 200.0

    def __post_init__(self) -> None:
        if self.step_users < 1 or self.max_users < self.step_users:
            raise ValueError("step users must be at least 1 and at most the maximum users")
        if not 0 <= self.settle < self.step_time:
            raise ValueError("the settle time must be at least 0 and shorter than a step")

    def why_saturated(self, step: StepResult) -> str:
        """Which limit ``step`` passed ("" if none); a step without a single request is saturated too."""
        if step.requests == 0:
            return "no request completed"
        if step.failure_ratio > self.max_failure_ratio:
            return f"failure ratio {step.failure_ratio:.4f} > {self.max_failure_ratio}"
        if step.p99_ms > self.max_p99_ms:
            return f"p99 {step.p99_ms:g} ms > {self.max_p99_ms:g} ms"
        return ""


class StepSearch:
    """The step shape's state: call :meth:`tick` about once a second with the run time and a snapshot source.

    ``tick`` returns the users wanted now, or None once the search is over;
    then :attr:`steps`, :attr:`saturation`, :attr:`beyond` and :meth:`report` tell the outcome.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps: list[StepResult] = []
        self.beyond: StepResult | None = None  # the first step past a limit
        self.reason = ""
        self._index = 0
        self._started = 0.0
        self._window_start: Snapshot | None = None
        self._done = False

    @property
    def users(self) -> int:
        return self.limits.step_users * (self._index + 1)

    @property
    def saturation(self) -> StepResult | None:
        """The last step within the limits (None when even the first one passed them)."""
        return self.steps[-1] if self.steps else None

    def tick(self, now: float, snapshot: Callable[[float], Snapshot]) -> int | None:
        if self._done:
            return None
        limits = self.limits
        elapsed = now - self._started
        if self._window_start is None:
            if elapsed >= limits.settle:
                self._window_start = snapshot(now)
            return self.users
        if elapsed < limits.step_time:
            return self.users
        step = measure(self.users, self._window_start, snapshot(now))
        reason = limits.why_saturated(step)
        if reason:
            self.beyond, self.reason, self._done = step, reason, True
            return None
        self.steps.append(step)
        if self.users + limits.step_users > limits.max_users:
            self.reason, self._done = f"reached {self.users} users (--step-max-users) within the limits", True
            return None
        self._index += 1
        self._started, self._window_start = now, None
        return self.users

    def report(self) -> dict[str, Any]:
        """The outcome as JSON: limits, every step, the saturation point and the first step beyond it."""
        peak = max(self.steps, key=lambda s: s.rps, default=None)
        return {
            "limits": dataclasses.asdict(self.limits),
            "steps": [s.to_json() for s in self.steps] + ([self.beyond.to_json()] if self.beyond else []),
            "saturation": self.saturation.to_json() if self.saturation else None,
            "beyond": self.beyond.to_json() if self.beyond else None,
            "peak_rps_step": peak.to_json() if peak else None,
            "reason": self.reason,
        }

    def summary(self) -> str:
        """One line for the log."""
        sat = self.saturation
        head = (
            f"saturation point: {sat.users} users, {sat.rps:.0f} req/s, p50/p95/p99 {sat.p50_ms:g}/{sat.p95_ms:g}/"
            f"{sat.p99_ms:g} ms, failures {sat.failure_ratio:.2%}"
            if sat
            else "saturation point: below the first step"
        )
        tail = ""
        if self.beyond:
            b = self.beyond
            tail = (
                f"; next step {b.users} users: {b.rps:.0f} req/s, p99 {b.p99_ms:g} ms, failures {b.failure_ratio:.2%}"
            )
        last = self.beyond or sat
        note = ""
        if last is not None and last.client_cores >= CLIENT_BOUND_CORES:
            note = (
                f"; Locust used {last.client_cores:.2f} core in the last step: the load generator, not the node, "
                "may be the limit (run Locust distributed)"
            )
        return f"{head}{tail} ({self.reason}){note}"
