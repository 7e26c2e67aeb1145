"""Locust constant-rate shape: hold ``-u`` users for ``-t`` seconds, paced to ``--target-rps`` task runs/s in all.

::

    locust -f loadtest/locustfile.py,loadtest/shape_constant.py --headless \\
        -u 40 -r 20 -t 60s --target-rps 2000 ...

Each user runs ``--target-rps / -u`` tasks a second (Locust's
``constant_pacing``; a task is one request). When the users cannot keep up
(the node or the load generator is saturated) the rate falls short, and the
shape logs the achieved rate against the target at the end. Open-loop
latency belongs to ``idnode bench``; this is the operators' steady load.
"""

from __future__ import annotations

import logging

from locust import LoadTestShape

from idnode.loadtest import _locust_support  # noqa: F401  (registers --target-rps)

log = logging.getLogger(__name__)


class ConstantRateShape(LoadTestShape):
    """``-u`` users at ``-r`` per second for ``-t`` seconds; the users pace themselves to ``--target-rps``."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options
        if not options.target_rps or options.target_rps <= 0:
            log.error("the constant-rate shape needs --target-rps > 0")
            return None
        if not options.run_time:
            log.error("the constant-rate shape needs --run-time (-t)")
            return None
        run_time = self.get_run_time()
        if run_time >= options.run_time:
            total = self.runner.stats.total
            log.info(
                "constant rate: target %.0f req/s, achieved %.0f req/s over %.0f s (%d requests, %d failures)",
                options.target_rps,
                total.num_requests / run_time if run_time else 0.0,
                run_time,
                total.num_requests,
                total.num_failures,
            )
            return None
        return options.num_users, options.spawn_rate
