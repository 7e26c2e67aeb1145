"""What the Locust users share: their command-line arguments, the key file and Zipf picker, pacing and reporting.

Imported only by the locustfiles (``locustfile.py``, ``shape_*.py``), inside
the Locust process, where gevent is in charge; never by the node.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from typing import Any

from locust import events
from locust.user.wait_time import constant_pacing

from idnode.loadtest._locust_step import Limits
from idnode.loadtest.keyfile import KeyFile, Registration, ZipfPicker, read_keys, unknown_handle

__all__ = ["Context", "ReplyError", "context", "host_port", "paced_wait", "report"]


class ReplyError(Exception):
    """A reply arrived but is wrong (wrong code, handle, count): the request is reported as failed."""


_STEP = Limits()
# (flag, default, help): the type is the default's. Step-shape defaults are Limits' own.
_ARGUMENTS: tuple[tuple[str, Any, str], ...] = (
    ("--grpc-target", os.environ.get("IDNODE_GRPC", "127.0.0.1:50051"), "gRPC HOST:PORT of the node [env IDNODE_GRPC]"),
    (
        "--dns-target",
        os.environ.get("IDNODE_DNS", "127.0.0.1:8053"),
        "DNS (UDP) HOST:PORT of the node [env IDNODE_DNS]",
    ),
    ("--dns-zone", "id.local.", "the node's DNS zone apex"),
    (
        "--keys",
        os.environ.get("IDNODE_LOADTEST_KEYS", "keys.json"),
        "key file from `idnode loadtest seed`, or one handle per line [env IDNODE_LOADTEST_KEYS]",
    ),
    ("--zipf", 1.0, "Zipf exponent of key popularity; 0 = uniform"),
    ("--unknown-fraction", 0.1, "share of gRPC Resolves of unknown handles"),
    ("--batch-size", 100, "handles per BatchResolve / stream message"),
    ("--stream-messages", 5, "messages per ResolveStream call"),
    ("--reg-batch", 100, "identifiers per registration batchCreate"),
    ("--reg-prefix", "", "registration prefix (default: from the key file)"),
    ("--target-rps", 0.0, "task runs/s of all users together (each paces at target / users); 0 = unpaced"),
    ("--request-timeout", 10.0, "seconds per gRPC call or DNS query"),
    ("--step-users", _STEP.step_users, "step shape: users added per step"),
    ("--step-time", _STEP.step_time, "step shape: seconds per step"),
    ("--step-settle", _STEP.settle, "step shape: seconds not measured at the start of a step"),
    ("--step-max-users", _STEP.max_users, "step shape: the last step's users"),
    ("--max-failure-ratio", _STEP.max_failure_ratio, "step shape: saturated above this failure ratio"),
    ("--max-p99-ms", _STEP.max_p99_ms, "step shape: saturated above this p99"),
    ("--step-report", "", "step shape: write the steps and the saturation point here (JSON)"),
)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    for flag, default, text in _ARGUMENTS:
        parser.add_argument(flag, type=type(default), default=default, help=f"{text} [default {default!r}]")
    parser.add_argument("--reg-token", default="", is_secret=True, help="registration token (default: key file)")


@events.init.add_listener
def _select_users_by_tags(environment: Any, **_kwargs: Any) -> None:
    """``--tags``/``--exclude-tags`` select users: a user class left without tasks is not spawned at all
    (Locust would spawn it and fail), so ``--tags dns`` runs only the DNS user."""
    options = environment.parsed_options
    if options is None or not (getattr(options, "tags", None) or getattr(options, "exclude_tags", None)):
        return
    environment._filter_tasks_by_tags()
    environment.user_classes[:] = [cls for cls in environment.user_classes if cls.tasks]
    if not environment.user_classes:
        raise SystemExit("error: no user class has a task with the tags given")


def host_port(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` split; a clear error names the argument."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{what}: expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


@dataclasses.dataclass(slots=True)
class Context:
    """Per-process state read once from the options: keys, the Zipf picker, the registration credentials."""

    options: Any
    keys: KeyFile
    picker: ZipfPicker
    rng: random.Random

    def unknown_handle(self) -> str:
        """A handle the node does not hold, shaped like the seeded ones."""
        return unknown_handle(self.keys, self.rng)

    @property
    def registration(self) -> Registration:
        reg = self.keys.registration
        prefix = self.options.reg_prefix or (reg.prefix if reg else "")
        token = self.options.reg_token or (reg.token if reg else "")
        if not prefix or not token:
            raise ValueError("the registration user needs --reg-prefix and --reg-token (or a key file from seed)")
        return Registration(prefix, token)


def context(environment: Any) -> Context:
    """The process's :class:`Context`, built on first use (each Locust worker reads its own key file)."""
    ctx = getattr(environment, "_idnode_context", None)
    if ctx is None:
        options = environment.parsed_options
        keys = read_keys(options.keys)
        rng = random.Random()
        ctx = Context(options, keys, ZipfPicker(keys.handles, options.zipf, rng), rng)
        environment._idnode_context = ctx
    return ctx


def report(
    environment: Any, request_type: str, name: str, started: float, length: int = 0, exception: Exception | None = None
) -> None:
    """Report one request to Locust's statistics; ``started`` is a ``time.perf_counter()`` reading."""
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=(time.perf_counter() - started) * 1000.0,
        response_length=length,
        exception=exception,
        context={},
    )


def paced_wait(user: Any) -> float:
    """The users' wait time: none, or paced so that all users together run ``--target-rps`` tasks/s."""
    options = user.environment.parsed_options
    rate = getattr(options, "target_rps", 0.0) if options is not None else 0.0
    if not rate:
        return 0.0
    users = max(1, getattr(options, "num_users", 0) or 1)
    return constant_pacing(users / rate)(user)
