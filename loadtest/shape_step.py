"""Locust step shape: add users by steps until failures or p99 pass a limit; report the saturation point.

Use it beside the users' locustfile and pick one user class, so the point
belongs to one front end::

    locust -f loadtest/locustfile.py,loadtest/shape_step.py --headless GrpcResolveUser \\
        --step-users 10 --step-time 15 --max-p99-ms 200 --max-failure-ratio 0.01 --step-report grpc.json ...

Every ``--step-time`` seconds the users rise by ``--step-users`` (spawned
within a second); each step is measured after ``--step-settle`` seconds to
its end. The first step past ``--max-failure-ratio`` or ``--max-p99-ms``
(or the step at ``--step-max-users``) ends the run; the saturation point,
the last step within the limits, is logged and written with every step to
``--step-report`` (JSON). The search itself is ``_locust_step.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psutil
from locust import LoadTestShape

from idnode.loadtest import _locust_support  # noqa: F401  (registers the --step-* arguments)
from idnode.loadtest._locust_step import Limits, Snapshot, StepSearch

log = logging.getLogger(__name__)
_PROCESS = psutil.Process()


def _cpu() -> tuple[float, float]:
    """CPU seconds of this Locust process, and of the whole machine busy (for the step's core counts)."""
    own = _PROCESS.cpu_times()
    machine = psutil.cpu_times()
    busy = (
        machine.user + machine.nice + machine.system + getattr(machine, "irq", 0.0) + getattr(machine, "softirq", 0.0)
    )
    return own.user + own.system, busy


class StepShape(LoadTestShape):
    """Raise users by steps until saturated (see the module docstring)."""

    search: StepSearch | None = None

    def tick(self) -> tuple[int, float] | None:
        if self.search is None:
            options = self.runner.environment.parsed_options
            self.search = StepSearch(
                Limits(
                    step_users=options.step_users,
                    step_time=options.step_time,
                    settle=options.step_settle,
                    max_users=options.step_max_users,
                    max_failure_ratio=options.max_failure_ratio,
                    max_p99_ms=options.max_p99_ms,
                )
            )
        stats = self.runner.stats.total
        users = self.search.tick(self.get_run_time(), lambda now: Snapshot.of(stats, now, *_cpu()))
        if users is None:
            self._finish()
            return None
        return users, float(self.search.limits.step_users)

    def _finish(self) -> None:
        assert self.search is not None
        for step in self.search.report()["steps"]:
            log.info("step: %s", step)
        log.info("%s", self.search.summary())
        path = self.runner.environment.parsed_options.step_report
        if path:
            Path(path).write_text(json.dumps(self.search.report(), indent=2) + "\n", encoding="utf-8")
