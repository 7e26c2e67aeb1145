"""`idnode bench --dns`: idnode's DNS front end against PowerDNS Authoritative with its LMDB backend.

Both serve the same identifiers' NAPTR records, side by side, on 127.0.0.1:

- **idnode**: ``idnode serve --workers W --dns-listen 127.0.0.1:PORT`` on the
  data folder the bench loaded (every answer read from LMDB in one read
  transaction: the latest commit, no cache);
- **PowerDNS 4.x + LMDB backend**, twice: caches off (``cache-ttl=0
  query-cache-ttl=0 negquery-cache-ttl=0``: the same freshness as idnode) and
  with its stock caches. The zone is exported from the same generated values
  by the same rule as idnode's answers (:func:`naptr_records`) under the same
  names (``handle_to_name``), written as a BIND zone file and loaded with
  ``pdnsutil load-zone`` into an LMDB file in the bench's work folder.

``dnsperf`` (``-c`` clients, ``-q`` outstanding, UDP) runs shuffled query
files: every name an existing identifier (NAPTR), and a mix with
``--unknown-fraction`` names of identifiers never written (NXDOMAIN). Rounds
interleave the three servers (who goes first rotates); every run is preceded by
a warm-up pass with another shuffle of the same names (not counted), and
every run is checked: loss (<= 0.1%), the response code of *every* answer
(``dnsperf -v`` prints one line per query: NOERROR for existing names,
NXDOMAIN for unknown ones), the server's CPU (process tree) and dnsperf's.
p50/p99 come from those per-query lines (dnsperf 2.10 has no latency
histogram option). Before the rounds a sample of names is resolved with
dnspython from each server and the answers compared with the expected
records, so both serve the same data.

The pure parts (record rule, zone file, query files, dnsperf output parsing,
PowerDNS configuration, targets, table) are unit tested without the tools.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from idnode.loadtest import _bench_report as report
from idnode.loadtest._bench_proc import Server, system_busy_seconds, tree_cpu_seconds

HOST = "127.0.0.1"
ZONE = "id.local."
PACKAGES = ("dnsperf", "pdns-server", "pdns-backend-lmdb")
INSTALL_COMMAND = "apt-get install -y " + " ".join(PACKAGES)
MAX_LOSS = 0.001  # a run losing more than 0.1% of its queries is flagged "loss"
TARGET_RATIO = 1.0  # idnode >= 1.0x PowerDNS-LMDB queries/s with its caches off
TARGET_COUNT, TARGET_WORKERS = 1_000_000, 2  # the setting the target is defined for
MIN_QUERY_LINES, MAX_QUERY_LINES = 100_000, 1_000_000
CONTENT_SAMPLE = 40  # existing names resolved with dnspython per server before the rounds (+ a quarter unknown)
DNSPERF_TIMEOUT = 2  # seconds before dnsperf counts a query lost
RUN_SLACK = 60.0  # seconds a dnsperf run may take beyond its -l before it is killed

# What idnode answers (resolver/dns/answer.py): NAPTR order/preference, the SOA timers, the negative TTL.
NAPTR_ORDER, NAPTR_PREFERENCE, NAPTR_FLAGS = 100, 10, "U"
SOA_TTL, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, NEGATIVE_TTL = 3600, 3600, 600, 1209600, 60

TARGETS = ("idnode", "pdns-nocache", "pdns-cache")
LABELS = {
    "idnode": "idnode",
    "idnode-nometrics": "idnode --no-metrics",
    "pdns-nocache": "PowerDNS-LMDB caches off",
    "pdns-cache": "PowerDNS-LMDB stock caches",
}
MIXES = ("existing", "mix")


class DnsBenchError(RuntimeError):
    """The DNS comparison cannot go on (a tool is missing, a server would not start)."""


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# -- the records: the rule idnode answers by ----------------------------------------------


class Naptr(NamedTuple):
    ttl: int
    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str


def is_url_value(value: Any) -> bool:
    """A value idnode answers NAPTR for: public-readable, string data, type ``URL`` or ``URL.<sub>``."""
    return (
        bool(value.permissions & 0b0010)
        and value.format == "string"
        and (value.type == "URL" or value.type.startswith("URL."))
    )


def naptr_regexp(url: str) -> str:
    """``!^.*$!<url>!`` with ``\\`` and ``!`` in the URL escaped (RFC 3402 section 3.2)."""
    return "!^.*$!" + url.replace("\\", "\\\\").replace("!", "\\!") + "!"


def naptr_records(values: Iterable[Any]) -> list[Naptr]:
    """The NAPTR RRset of an identifier's values: one record per public URL value, order 100,
    preference 10, flags ``U``, service the value type, replacement ``.``; the RRset's TTL is the
    smallest of its values' TTLs (one TTL per RRset, as idnode answers)."""
    urls = [v for v in values if is_url_value(v)]
    if not urls:
        return []
    ttl = min(min(v.ttl, 2**31 - 1) for v in urls)
    return [
        Naptr(ttl, NAPTR_ORDER, NAPTR_PREFERENCE, NAPTR_FLAGS, v.type, naptr_regexp(v.data.decode()), ".") for v in urls
    ]


# -- the zone file -------------------------------------------------------------------------


def zone_string(text: str) -> str:
    """A character-string in zone file syntax: quoted, ``"`` and ``\\`` escaped, bytes outside
    printable ASCII as ``\\DDD``."""
    out = []
    for byte in text.encode():
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def zone_header(zone: str = ZONE, address: str = HOST, serial: int = 1) -> list[str]:
    """Apex SOA and NS and the name server's address, as idnode answers them."""
    zone = zone if zone.endswith(".") else zone + "."
    ns, hostmaster = f"ns.{zone}", f"hostmaster.{zone}"
    return [
        f"$ORIGIN {zone}",
        f"{zone} {SOA_TTL} IN SOA {ns} {hostmaster} {serial} {SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {NEGATIVE_TTL}",
        f"{zone} {SOA_TTL} IN NS {ns}",
        f"{ns} {SOA_TTL} IN A {address}",
    ]


def naptr_lines(name: str, records: Iterable[Naptr]) -> Iterator[str]:
    for r in records:
        yield (
            f"{name} {r.ttl} IN NAPTR {r.order} {r.preference} {zone_string(r.flags)} {zone_string(r.service)} "
            f"{zone_string(r.regexp)} {r.replacement}"
        )


def write_zone(path: Path, items: Iterable[Any], zone: str = ZONE, names_out: list[str] | None = None) -> int:
    """Write the zone file of ``items`` (``IdentifierWrite``); return the number of NAPTR records.
    The name of each item is appended to ``names_out`` when given (in item order)."""
    from idnode.resolver.dns.names import handle_to_name

    count = 0
    with open(path, "w", encoding="ascii") as out:
        out.write("\n".join(zone_header(zone)) + "\n")
        for item in items:
            name = handle_to_name(item.handle, zone)
            if names_out is not None:
                names_out.append(name)
            lines = list(naptr_lines(name, naptr_records(item.values)))
            count += len(lines)
            if lines:
                out.write("\n".join(lines) + "\n")
    return count


# -- query files -----------------------------------------------------------------------------


def query_line_count(count: int) -> int:
    """Lines in a query file: every loaded name once, within 100,000 .. 1,000,000 (a run at
    ~100k qps for 4 s does not wrap around)."""
    return max(MIN_QUERY_LINES, min(count, MAX_QUERY_LINES))


def query_names(existing: list[str], unknown: list[str], lines: int, unknown_fraction: float, seed: int) -> list[str]:
    """``lines`` names, shuffled: ``round(lines * unknown_fraction)`` taken from ``unknown`` (each
    at most once while it lasts), the rest from ``existing`` (each name once before any repeats)."""
    rnd = random.Random(seed)
    n_unknown = round(lines * unknown_fraction) if unknown else 0
    out: list[str] = []
    while len(out) < lines - n_unknown:
        batch = existing[:]
        rnd.shuffle(batch)
        out.extend(batch[: lines - n_unknown - len(out)])
    pool = unknown[:]
    while n_unknown > 0:
        rnd.shuffle(pool)
        out.extend(pool[:n_unknown])
        n_unknown -= min(n_unknown, len(pool))
    rnd.shuffle(out)
    return out


def write_query_file(path: Path, names: Iterable[str], qtype: str = "NAPTR") -> None:
    with open(path, "w", encoding="ascii") as out:
        out.writelines(f"{name} {qtype}\n" for name in names)


def prepare(
    work: str, count: int, prefix: str, seed: int, zone: str, unknown_fraction: float, unknown_base: int
) -> dict[str, Any]:
    """The DNS side of the data set, in a process of its own while the bench loads the node:
    the zone file, the query files (existing and mix, each with a warm-up shuffle), the unknown
    names, and PowerDNS's LMDB (``pdnsutil load-zone``), copied for the second server."""
    from idnode.loadtest import datagen
    from idnode.resolver.dns.names import handle_to_name

    folder = Path(work)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    names: list[str] = []
    records = write_zone(folder / "zone.db", datagen.generate(count, prefix, seed), zone, names)
    lines = query_line_count(count)
    n_unknown = round(lines * unknown_fraction)
    unknown = [handle_to_name(datagen.handle_of(unknown_base + i, prefix, seed), zone) for i in range(n_unknown)]
    (folder / "unknown.txt").write_text("".join(n + "\n" for n in unknown), encoding="ascii")
    for kind, fraction in (("existing", 0.0), ("mix", unknown_fraction)):
        for suffix, salt in (("", 1), ("-warm", 2)):
            chosen = query_names(names, unknown, lines, fraction, seed * 10 + salt + (5 if kind == "mix" else 0))
            write_query_file(folder / f"{kind}{suffix}.txt", chosen)
    exported = time.perf_counter() - started
    pdns = folder / "pdns-nocache"
    pdns.mkdir(exist_ok=True)
    (pdns / "pdns.conf").write_text(pdns_config(pdns, 0, caches=False))
    started = time.perf_counter()
    done = subprocess.run(
        ["pdnsutil", f"--config-dir={pdns}", "load-zone", zone.rstrip("."), str(folder / "zone.db")],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise DnsBenchError(f"pdnsutil load-zone failed ({done.returncode}): {(done.stderr or done.stdout)[-800:]}")
    loaded = time.perf_counter() - started
    size = sum(p.stat().st_size for p in pdns.glob("pdns.lmdb*") if not p.name.endswith("-lock"))
    cached = folder / "pdns-cache"
    cached.mkdir(exist_ok=True)
    for path in pdns.glob("pdns.lmdb*"):
        if not path.name.endswith("-lock"):
            shutil.copyfile(path, cached / path.name)
    return {
        "records": records,
        "names": len(names),
        "query_lines": lines,
        "unknown_names": n_unknown,
        "zone_file_bytes": (folder / "zone.db").stat().st_size,
        "export_s": exported,
        "load_zone_s": loaded,
        "lmdb_bytes": size,
    }


# -- PowerDNS ---------------------------------------------------------------------------------


def pdns_config(folder: Path, port: int, *, caches: bool, receivers: int = 2, distributors: int = 3) -> str:
    """``pdns.conf`` for one server: the LMDB backend in ``folder``, 127.0.0.1:``port``, in the
    foreground, no guardian, no security poll (no traffic beyond loopback), no web server or API;
    caches off (``cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0``) or the stock ones."""
    lines = [
        "launch=lmdb",
        f"lmdb-filename={folder / 'pdns.lmdb'}",
        f"local-address={HOST}",
        f"local-port={port}",
        "guardian=no",
        "daemon=no",
        f"socket-dir={folder}",
        "disable-syslog=yes",
        "log-timestamp=no",
        "loglevel=4",
        "security-poll-suffix=",
        "primary=no",
        "secondary=no",
        "webserver=no",
        "api=no",
        "reuseport=yes",
        f"receiver-threads={receivers}",
        f"distributor-threads={distributors}",
    ]
    if not caches:
        lines += ["cache-ttl=0", "query-cache-ttl=0", "negquery-cache-ttl=0"]
    return "\n".join(lines) + "\n"


PDNS_READY = re.compile(r"UDP server bound to (?:\[[^\]]+\]|[^ :]+):(\d+)")


def pdns_server(folder: Path, port: int, caches: bool, receivers: int, distributors: int) -> Server:
    (folder / "pdns.conf").write_text(
        pdns_config(folder, port, caches=caches, receivers=receivers, distributors=distributors)
    )
    name = f"pdns_server ({'stock caches' if caches else 'caches off'})"
    return Server(name, ["pdns_server", f"--config-dir={folder}"], ready=PDNS_READY)


def pdns_counters(folder: Path) -> dict[str, int]:
    """PowerDNS's statistics (``pdns_control show '*'``); empty when it cannot say."""
    try:
        done = subprocess.run(
            ["pdns_control", f"--config-dir={folder}", "show", "*"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out = {}
    for part in done.stdout.strip().split(","):
        key, _, value = part.partition("=")
        if value.strip().isdigit():
            out[key.strip()] = int(value)
    return out


# -- tools: present, installed, or the exact command ----------------------------------------------


def _lmdb_backend_present() -> bool:
    patterns = (
        "/usr/lib/*/pdns/liblmdbbackend.so",
        "/usr/lib*/pdns/liblmdbbackend.so",
        "/usr/local/lib*/pdns/liblmdb*",
    )
    return any(glob.glob(p) for p in patterns)


def missing_packages() -> list[str]:
    """The Debian packages whose programs are not here."""
    missing = []
    if shutil.which("dnsperf") is None:
        missing.append("dnsperf")
    if shutil.which("pdns_server") is None or shutil.which("pdnsutil") is None or shutil.which("pdns_control") is None:
        missing.append("pdns-server")
    if not _lmdb_backend_present():
        missing.append("pdns-backend-lmdb")
    return missing


def ensure_tools(install: bool = True) -> list[str]:
    """dnsperf, pdns_server/pdnsutil and the LMDB backend, installed with apt-get when missing and
    running as root; return notes on what was done.

    Debian's pdns-server starts a system ``pdns`` service on port 53 when installed: the install
    runs under a ``policy-rc.d`` that forbids starting services (Docker images already have one),
    and on a systemd machine the service this installed is disabled and stopped. The bench never
    uses it: its servers run with their own configuration on free loopback ports.

    Raises:
        DnsBenchError: something is missing and cannot be installed here; the message holds the
        exact command to run.
    """
    missing = missing_packages()
    if not missing:
        return []
    command = "apt-get install -y " + " ".join(missing)
    can = install and os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not can:
        how = "sudo " + command if shutil.which("apt-get") else f"install {', '.join(missing)} (Debian package names)"
        raise DnsBenchError(
            f"--dns needs dnsperf and PowerDNS Authoritative with its LMDB backend; missing: {', '.join(missing)}. "
            f"Run: {how}"
        )
    _say(f"installing {' '.join(missing)} ({command})")
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\n# written by idnode bench --dns while installing pdns-server\nexit 101\n")
        policy.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        done = subprocess.run(["apt-get", "install", "-y", *missing], env=env, capture_output=True, text=True)
        if done.returncode != 0:  # stale package lists: refresh once
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True)
            done = subprocess.run(["apt-get", "install", "-y", *missing], env=env, capture_output=True, text=True)
    finally:
        if ours:
            policy.unlink(missing_ok=True)
    if done.returncode != 0 or missing_packages():
        raise DnsBenchError(f"`{command}` failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    notes = [f"installed {' '.join(missing)} with `{command}`"]
    if "pdns-server" in missing and Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        subprocess.run(["systemctl", "disable", "--now", "pdns.service"], capture_output=True, text=True)
        notes.append("disabled the system pdns.service the package installed (the bench runs its own servers)")
    return notes


def tool_versions() -> dict[str, str]:
    out = {}
    for key, args in (("dnsperf", ["dnsperf", "-h"]), ("pdns_server", ["pdns_server", "--version"])):
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(r"(?:Version|Server) (\d+\.\d+[\w.+~-]*)", done.stdout + done.stderr)
        if match:
            out[key] = match.group(1)
    return out


# -- dnsperf -------------------------------------------------------------------------------------

_SUMMARY = {
    "sent": re.compile(r"Queries sent:\s+(\d+)"),
    "completed": re.compile(r"Queries completed:\s+(\d+)"),
    "lost": re.compile(r"Queries lost:\s+(\d+)"),
    "qps": re.compile(r"Queries per second:\s+([\d.]+)"),
    "run_time": re.compile(r"Run time \(s\):\s+([\d.]+)"),
    "avg_latency": re.compile(r"Average Latency \(s\):\s+([\d.]+)"),
    "min_latency": re.compile(r"Average Latency \(s\):\s+[\d.]+ \(min ([\d.]+)"),
    "max_latency": re.compile(r"Average Latency \(s\):.*max ([\d.]+)\)"),
    "request_bytes": re.compile(r"Average packet size:\s+request (\d+)"),
    "response_bytes": re.compile(r"Average packet size:.*response (\d+)"),
}
_RCODES = re.compile(r"Response codes:\s+(.*)")
_RCODE = re.compile(r"([A-Z]+) (\d+) \(")


def parse_dnsperf(text: str) -> dict[str, Any]:
    """dnsperf's statistics block: queries sent/completed/lost, qps, run time, latencies (ms),
    packet sizes and the response code counts. Raises ValueError without a statistics block."""
    if "Statistics:" not in text:
        raise ValueError("no statistics in dnsperf's output")
    out: dict[str, Any] = {}
    for key, pattern in _SUMMARY.items():
        match = pattern.search(text)
        value = float(match.group(1)) if match else None
        if value is not None and key.endswith("_latency"):
            value *= 1e3
        out[key.replace("_latency", "_ms")] = value
    for key in ("sent", "completed", "lost", "request_bytes", "response_bytes"):
        if out[key] is not None:
            out[key] = int(out[key])
    match = _RCODES.search(text)
    out["rcodes"] = {code: int(n) for code, n in _RCODE.findall(match.group(1))} if match else {}
    return out


def parse_verbose(lines: Iterable[str], unknown: set[str] | frozenset[str]) -> dict[str, Any]:
    """The per-query lines of ``dnsperf -v`` (``> RCODE name type seconds``): latencies (sorted,
    seconds) and every answer's response code checked (NXDOMAIN for a name in ``unknown``,
    NOERROR for the others)."""
    latencies: list[float] = []
    wrong = 0
    samples: list[str] = []
    for line in lines:
        if not line.startswith("> "):
            continue
        parts = line.split()
        if len(parts) != 5:
            continue
        _, rcode, name, _qtype, seconds = parts
        try:
            latencies.append(float(seconds))
        except ValueError:
            continue
        expected = "NXDOMAIN" if name in unknown else "NOERROR"
        if rcode != expected:
            wrong += 1
            if len(samples) < 3:
                samples.append(f"{name}: {rcode}, expected {expected}")
    latencies.sort()
    return {"latencies": latencies, "wrong_rcodes": wrong, "rcode_samples": samples}


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def dnsperf_args(port: int, query_file: Path, seconds: float, clients: int, outstanding: int, verbose: bool) -> list:
    args = ["dnsperf", "-s", HOST, "-p", str(port), "-d", str(query_file), "-l", f"{seconds:g}"]
    args += ["-c", str(clients), "-q", str(outstanding), "-t", str(DNSPERF_TIMEOUT)]
    return [*args, "-v"] if verbose else args


def run_dnsperf(args: list[str], out_path: Path, timeout: float) -> tuple[int, float, float]:
    """Run dnsperf with its output in ``out_path``: ``(exit status, CPU seconds, wall seconds)``.
    Its CPU comes from ``wait4`` (the whole process, every thread)."""
    with open(out_path, "w") as out:
        started = time.monotonic()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.send_signal(signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, time.monotonic() - started


# -- one run's flags --------------------------------------------------------------------------


def flag_dns_run(run: dict[str, Any]) -> list[str]:
    """The bench's flags (:func:`report.flag_run`: errors, starved, contended, short...) plus
    ``loss`` (more than 0.1% of the queries lost). Wrong response codes count as errors."""
    flags = report.flag_run(run)
    if run.get("loss") is not None and run["loss"] > MAX_LOSS:
        flags.append("loss")
    return flags


# -- the comparison -----------------------------------------------------------------------------


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise DnsBenchError("no free port on 127.0.0.1")


def wait_dns(port: int, zone: str, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Wait until something answers DNS on ``port`` (any response to an SOA query of the zone)."""
    import dns.message

    query = dns.message.make_query(zone, "SOA").to_wire()
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline and alive():
            sock.sendto(query, (HOST, port))
            with contextlib.suppress(TimeoutError, ConnectionRefusedError):
                if sock.recv(4096):
                    return
            time.sleep(0.1)
    raise DnsBenchError(f"nothing answered DNS on {HOST}:{port} within {timeout:g} s")


def check_answers(port: int, zone: str, expected: dict[str, list[Naptr]], unknown: list[str]) -> list[str]:
    """Resolve each name with dnspython; return the differences from the expected records
    (NXDOMAIN for ``unknown``), at most 5."""
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    problems: list[str] = []
    for name, want in [*expected.items(), *((n, None) for n in unknown)]:
        try:
            reply = dns.query.udp(dns.message.make_query(name, "NAPTR"), HOST, port=port, timeout=3)
        except Exception as exc:
            problems.append(f"{name}: {type(exc).__name__} {exc}")
            continue
        rcode = dns.rcode.to_text(reply.rcode())
        if want is None:
            if rcode != "NXDOMAIN":
                problems.append(f"{name}: {rcode}, expected NXDOMAIN")
            continue
        rrset = next((r for r in reply.answer if r.rdtype == dns.rdatatype.NAPTR), None)
        got = set()
        if rrset is not None:
            for rd in rrset:
                got.add(
                    Naptr(
                        rrset.ttl,
                        rd.order,
                        rd.preference,
                        rd.flags.decode(),
                        rd.service.decode(),
                        rd.regexp.decode(),
                        rd.replacement.to_text(),
                    )
                )
        if rcode != "NOERROR" or got != set(want):
            problems.append(f"{name}: {rcode} {sorted(got)}, expected NOERROR {sorted(want)}")
        if len(problems) >= 5:
            break
    return problems


class DnsBench:
    """The DNS comparison: data, servers, interleaved dnsperf runs, figures.

    Args:
        args: the bench's options (count, workers, rounds, seconds, seed, unknown_fraction, dns_*).
        work: the bench's work folder (the DNS files go to ``work/dns``).
        prefix: the prefix the identifiers were generated under.
        start_node: starts ``idnode serve`` on the loaded data: ``(workers, extra args) -> Server``.
    """

    def __init__(
        self, args: Any, work: Path, prefix: str, start_node: Callable[..., Server], data_dir: Path | None = None
    ) -> None:
        self.args = args
        self.data_dir = data_dir or work / "data"  # the loaded node's folder (--metrics-cost copies it)
        self.targets: tuple[str, ...] = TARGETS
        self.prefix = prefix
        self.work = work / "dns"
        self.start_node = start_node
        self.zone = args.dns_zone
        self.runs: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.servers: dict[str, Server] = {}
        self.ports: dict[str, int] = {}
        self.prepared: dict[str, Any] = {}
        self.content: dict[str, list[str]] = {}
        self.versions: dict[str, str] = {}
        self.workers = args.workers
        self.profile: dict[str, Any] | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._future: Future[dict[str, Any]] | None = None
        self._unknown: frozenset[str] = frozenset()

    # -- setup ---------------------------------------------------------------------------

    def check_tools(self) -> None:
        self.notes += ensure_tools(install=not self.args.dns_no_install)
        self.versions = tool_versions()

    def start_prepare(self, unknown_base: int) -> None:
        """Export the zone and query files and load PowerDNS's LMDB in another process."""
        import multiprocessing

        a = self.args
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self._future = self._pool.submit(
            prepare, str(self.work), a.count, self.prefix, a.seed, self.zone, a.unknown_fraction, unknown_base
        )

    def wait_prepared(self) -> None:
        assert self._future is not None and self._pool is not None
        try:
            self.prepared = self._future.result(timeout=3600)
        finally:
            self._pool.shutdown()
            self._pool = None
        p = self.prepared
        _say(
            f"PowerDNS zone: {p['records']:,} NAPTR records, zone file {p['zone_file_bytes'] / 1e6:.0f} MB exported in "
            f"{p['export_s']:.1f} s, pdnsutil load-zone {p['load_zone_s']:.1f} s, LMDB {p['lmdb_bytes'] / 1e6:.0f} MB"
        )
        self._unknown = frozenset((self.work / "unknown.txt").read_text(encoding="ascii").split())

    def start_servers(self) -> None:
        a = self.args
        port = free_port()
        from idnode.loadtest._bench_metrics import node_flags

        extra = ["--dns-listen", f"{HOST}:{port}", "--dns-zone", self.zone, *node_flags(a)]
        try:
            node = self.start_node(self.workers, extra)
        except RuntimeError as exc:
            if self.workers == 1:
                raise
            self.notes.append(f"DNS: --workers {self.workers} not available ({exc}); measured with --workers 1")
            self.workers = 1
            node = self.start_node(1, extra)
        self.servers["idnode"] = node
        self.ports["idnode"] = port
        wait_dns(port, self.zone, 120, node.alive)
        _say(f"DNS: idnode serving DNS on {HOST}:{port} ({self.workers} worker(s), pid {node.pid})")
        if getattr(a, "metrics_cost", False):  # the same node with --no-metrics, on a copy of the data
            from idnode.loadtest._bench_metrics import BASELINE, baseline_flags, copy_data

            port = free_port()
            copy = copy_data(self.data_dir)
            extra = ["--dns-listen", f"{HOST}:{port}", "--dns-zone", self.zone, *baseline_flags(a)]
            node = self.start_node(self.workers, extra, copy)
            self.servers[BASELINE], self.ports[BASELINE] = node, port
            self.targets = (*self.targets, BASELINE)
            wait_dns(port, self.zone, 120, node.alive)
            _say(f"DNS: idnode --no-metrics serving DNS on {HOST}:{port} (pid {node.pid})")
        for name, caches in (("pdns-nocache", False), ("pdns-cache", True)):
            port = free_port()
            server = pdns_server(self.work / name, port, caches, a.pdns_receivers, a.pdns_distributors).start(60)
            self.servers[name], self.ports[name] = server, port
            wait_dns(port, self.zone, 60, server.alive)
            _say(f"DNS: {server.name} on {HOST}:{port} (pid {server.pid})")

    def check_content(self) -> None:
        """The same answers from every server for a sample of names (dnspython)."""
        from idnode.loadtest import datagen
        from idnode.resolver.dns.names import handle_to_name

        a = self.args
        rnd = random.Random(a.seed + 7)
        expected = {}
        for n in rnd.sample(range(a.count), min(CONTENT_SAMPLE, a.count)):
            write = datagen.item(n, self.prefix, a.seed)
            expected[handle_to_name(write.handle, self.zone)] = naptr_records(write.values)
        unknown = sorted(self._unknown)[: max(1, CONTENT_SAMPLE // 4)]
        for name, port in self.ports.items():
            problems = check_answers(port, self.zone, expected, unknown)
            self.content[name] = problems
            if problems:
                self.notes.append(f"DNS: {LABELS[name]} answers differ from the expected records: {problems[0]}")
                _say(f"DNS: {name} answers differ: {'; '.join(problems[:2])}")

    # -- runs ----------------------------------------------------------------------------------

    def measure(self, target: str, kind: str, *, warmup: bool = False, **meta: Any) -> dict[str, Any]:
        """One dnsperf run against ``target`` with the ``kind`` query file, recorded with its checks."""
        a = self.args
        seconds = a.dns_warmup if warmup else a.seconds
        server, port = self.servers[target], self.ports[target]
        query_file = self.work / f"{kind}{'-warm' if warmup else ''}.txt"
        out_path = self.work / f"dnsperf-{target}.out"
        args = dnsperf_args(port, query_file, seconds, a.dns_clients, a.dns_outstanding, verbose=not warmup)
        counters0 = pdns_counters(self.work / target) if target == "pdns-cache" and not warmup else {}
        ours0, machine0, wall0 = tree_cpu_seconds(os.getpid()), system_busy_seconds(), time.monotonic()
        cpu0 = server.cpu_by_pid()
        code, client_cpu, wall = run_dnsperf(args, out_path, seconds + RUN_SLACK)
        cpu1 = server.cpu_by_pid()
        ours, machine = tree_cpu_seconds(os.getpid()) - ours0, system_busy_seconds() - machine0
        wall_all = time.monotonic() - wall0
        series = f"{'warmup-' if warmup else ''}dns-{kind}/{target}"
        run: dict[str, Any] = {"series": series, "target": target, "kind": kind, "planned": seconds, **meta}
        try:
            text = out_path.read_text(errors="replace")
            stats = parse_dnsperf(text)
        except (OSError, ValueError) as exc:
            stats, text = {}, ""
            run["error_samples"] = [f"dnsperf exit {code}: {exc}"]
        if stats:
            completed, sent = stats["completed"] or 0, stats["sent"] or 0
            run.update(
                ok=code == 0,
                rate=stats["qps"] or 0.0,
                calls=completed,
                items=completed,
                sent=sent,
                lost=stats["lost"],
                loss=(stats["lost"] or 0) / sent if sent else None,
                elapsed=stats["run_time"] or 0.0,
                avg_ms=stats["avg_ms"],
                max_ms=stats["max_ms"],
                response_bytes=stats["response_bytes"],
                rcodes=stats["rcodes"],
            )
            errors = 0
            if not warmup:
                verbose = parse_verbose(text.splitlines(), self._unknown)
                lat = verbose["latencies"]
                p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
                run["p50_ms"] = None if p50 is None else p50 * 1e3
                run["p99_ms"] = None if p99 is None else p99 * 1e3
                run["latency_samples"] = len(lat)
                errors = verbose["wrong_rcodes"]
                if verbose["rcode_samples"]:
                    run["error_samples"] = verbose["rcode_samples"]
            elif kind == "existing" and set(stats["rcodes"]) - {"NOERROR"}:
                errors = sum(n for c, n in stats["rcodes"].items() if c != "NOERROR")
                run["error_samples"] = [f"response codes {stats['rcodes']}"]
            run["errors"] = errors
        else:
            run.update(ok=False, rate=0.0, calls=0, items=0, errors=1, elapsed=0.0, loss=None)
        with contextlib.suppress(OSError):
            out_path.unlink()
        run["client_cpu"] = client_cpu / wall if wall > 0 else 0.0
        run["other_cpu"] = max(0.0, machine - ours) / wall_all if wall_all > 0 else 0.0
        elapsed = run["elapsed"] or wall
        per_process = {pid: cpu1[pid] - cpu0.get(pid, 0.0) for pid in cpu1}
        used = sum(per_process.values())
        run["server_cpu"] = used / elapsed if elapsed > 0 else None
        run["server_cpu_split"] = sorted((round(x / elapsed, 2) for x in per_process.values() if x > 0), reverse=True)
        run["items_per_server_cpu_s"] = run["calls"] / used if used > 0 else None
        run["busiest_pid"] = max(per_process, key=lambda p: per_process[p]) if per_process else None
        if counters0:
            counters1 = pdns_counters(self.work / target)
            hits = counters1.get("packetcache-hit", 0) - counters0.get("packetcache-hit", 0)
            misses = counters1.get("packetcache-miss", 0) - counters0.get("packetcache-miss", 0)
            run["packet_cache_hit"] = hits / (hits + misses) if hits + misses else None
        run["flags"] = flag_dns_run(run)
        self.runs.append(run)
        loss = run.get("loss")
        _say(
            f"{series:<32} {run['rate']:>10,.0f} qps  loss {'-' if loss is None else f'{loss:.3%}'}"
            + (f"  p50/p99 {run['p50_ms']:.2f}/{run['p99_ms']:.2f} ms" if run.get("p99_ms") is not None else "")
            + f"  server {run['server_cpu'] or 0:.2f} dnsperf {run['client_cpu']:.2f} cores"
            + (f"  cache hits {run['packet_cache_hit']:.0%}" if run.get("packet_cache_hit") is not None else "")
            + (f"  others {run['other_cpu']:.2f}" if run["other_cpu"] > 0.1 else "")
            + (f"  FLAGGED {','.join(run['flags'])}" if run["flags"] else "")
            + (f"  ({run['error_samples'][0]})" if run.get("error_samples") else "")
        )
        if not server.alive():
            raise DnsBenchError(f"{server.name} died: " + " | ".join(server.lines[-8:]))
        return run

    def rounds(self) -> None:
        order = list(self.targets)
        for r in range(self.args.rounds):
            _say(f"DNS round {r + 1} of {self.args.rounds}")
            turn = order[r % len(order) :] + order[: r % len(order)]  # who goes first rotates
            for kind in MIXES:
                for target in turn:
                    self.measure(target, kind, warmup=True, round=r)
                    self.measure(target, kind, round=r)

    def profile_idnode(self, path: Path) -> None:
        """One more idnode run (all existing names) with py-spy recording its busiest worker."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            self.notes.append("DNS profile: py-spy not found (pip install py-spy)")
            return
        runs = [r for r in self.runs if r["series"] == "dns-existing/idnode" and r.get("busiest_pid")]
        pids = [r["busiest_pid"] for r in runs]
        node = self.servers["idnode"]
        live = set(node.cpu_by_pid())
        pid = max(set(pids), key=pids.count) if pids else None
        if pid not in live:
            self.notes.append("DNS profile: no idnode worker pid to profile")
            return
        duration = max(2, int(self.args.seconds))
        spy_args = [spy, "record", "--native", "-r", "250", "-d", str(duration + 1)]
        spy_args += ["-f", "raw", "-o", str(path), "-p", str(pid)]
        recorder = subprocess.Popen(spy_args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        try:
            run = self.measure("idnode", "existing", round=-2, profiled=True)
            run["flags"].append("profiled")  # py-spy slows the worker: not a figure
        finally:
            try:
                _, err = recorder.communicate(timeout=duration + 60)
            except subprocess.TimeoutExpired:
                recorder.kill()
                _, err = recorder.communicate()
        if not path.exists():
            self.notes.append(f"DNS profile: py-spy wrote nothing ({(err or '').strip()[-300:]})")
            return
        self.profile = {"pid": pid, "file": str(path), **summarize_profile(path.read_text(errors="replace"))}
        _say(f"DNS profile of idnode worker {pid} written to {path}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        for server in self.servers.values():
            server.stop()
        self.servers = {}


# -- profile summary ------------------------------------------------------------------------------


def summarize_profile(collapsed: str, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares per frame from py-spy's raw (collapsed stack) output."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = _frame(frames[-1])
        own[leaf] = own.get(leaf, 0) + n
        for frame in {_frame(f) for f in frames}:
            inclusive[frame] = inclusive.get(frame, 0) + n
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}

    def ranked(counts: dict[str, int]) -> list[list[Any]]:
        return [[f, round(c / total, 4)] for f, c in sorted(counts.items(), key=lambda x: -x[1])[:top]]

    return {"samples": total, "self": ranked(own), "inclusive": ranked(inclusive)}


def _frame(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py)``: lines folded together."""
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame.strip())
    if not match:
        return frame.strip()
    return f"{match.group(1)} ({Path(match.group(2)).name})"


# -- figures, targets, table ---------------------------------------------------------------------


def figures(dns: DnsBench) -> dict[str, Any]:
    """The DNS comparison as one JSON-ready object (``fig["dns"]`` of the bench)."""
    a = dns.args
    measured = [r for r in dns.runs if not r["series"].startswith("warmup") and not r.get("profiled")]
    report.flag_outliers(measured)
    by_series: dict[str, list[dict[str, Any]]] = {}
    for run in measured:
        by_series.setdefault(run["series"], []).append(run)
    out: dict[str, Any] = {}
    for kind in MIXES:
        block: dict[str, Any] = {}
        for target in TARGETS:
            runs = by_series.get(f"dns-{kind}/{target}", [])
            s = report.series_summary(runs) if runs else None
            if s is not None:
                for field in ("loss", "avg_ms", "response_bytes", "packet_cache_hit"):
                    s[field] = report.median_field(runs, field)[0]
                s["max_loss"] = max((r["loss"] for r in runs if r.get("loss") is not None), default=None)
                s["lossy_runs"] = sum(1 for r in runs if "loss" in r["flags"])
            block[target] = s
        qps = {t: (block[t] or {}).get("rate") for t in TARGETS}
        block["vs_nocache"] = report.ratio(qps["idnode"], qps["pdns-nocache"])
        block["vs_cache"] = report.ratio(qps["idnode"], qps["pdns-cache"])
        out[kind] = block
    out["targets"] = dns_targets(out, a.count, dns.workers, a.unknown_fraction)
    out["content_check"] = {t: (p or "same records") for t, p in dns.content.items()}
    out["zone"] = dns.prepared
    out["profile"] = dns.profile
    keep = ("series", "round", "flags", "rate", "loss", "errors", "error_samples", "server_cpu", "client_cpu")
    out["flagged_runs"] = [{k: r.get(k) for k in keep} for r in measured if not report.good(r)]
    out["client_bound"] = sorted({r["series"] for r in measured if "client-bound" in r["flags"]})
    out["notes"] = dns.notes
    out["config"] = {
        "count": a.count,
        "workers": dns.workers,
        "workers_requested": a.workers,
        "rounds": a.rounds,
        "seconds": a.seconds,
        "warmup_seconds": a.dns_warmup,
        "clients": a.dns_clients,
        "outstanding": a.dns_outstanding,
        "unknown_fraction": a.unknown_fraction,
        "zone": dns.zone,
        "pdns_receiver_threads": a.pdns_receivers,
        "pdns_distributor_threads": a.pdns_distributors,
        "latency_from": "dnsperf -v per-query lines (nearest rank)",
        "versions": dns.versions,
    }
    out["runs"] = dns.runs
    return out


def dns_targets(out: dict[str, Any], count: int, workers: int, unknown_fraction: float) -> list[dict[str, Any]]:
    """idnode >= 1.0x PowerDNS-LMDB (caches off) queries/s at <= 0.1% loss, per query mix.

    MISS when the ratio is below 1.0 or any idnode run of the mix lost more than 0.1%; N/A
    when a side has no figure. A note says when the run's setting differs from the target's
    (1,000,000 identifiers, 2 workers)."""
    entries = []
    setting = "" if (count, workers) == (TARGET_COUNT, TARGET_WORKERS) else f"{count:,} ids, {workers} worker(s)"
    for kind, text in (("existing", "all existing names"), ("mix", f"{unknown_fraction:.0%} unknown names")):
        block = out[kind]
        node, value = block.get("idnode"), block.get("vs_nocache")
        entry: dict[str, Any] = {
            "target": f"DNS qps, {text}: idnode >= 1.0x PowerDNS-LMDB caches off, loss <= 0.1%",
            "key": f"dns_{kind}_vs_pdns_nocache",
            "value": value,
            "bound": TARGET_RATIO,
        }
        notes = [setting] if setting else []
        if value is None or node is None:
            entry.update(result="N/A", note="not measured")
        else:
            lossy = node["lossy_runs"]
            if lossy:
                notes.append(f"{lossy} idnode run(s) lost > 0.1% (max {node['max_loss']:.2%})")
            untrusted = not node["trusted"] or not (block.get("pdns-nocache") or {}).get("trusted", False)
            if untrusted:
                notes.append("from flagged runs only")
            entry.update(result="PASS" if value >= TARGET_RATIO and not lossy else "MISS")
        entry["note"] = "; ".join(x for x in notes if x)
        entries.append(entry)
    return entries


def render(d: dict[str, Any], markdown: bool = False) -> str:
    """The DNS comparison's tables: per query mix and server, the figures and the ratios."""
    fmt = report.fmt
    tab = report.markdown_table if markdown else report.table
    cfg = d["config"]
    versions = cfg["versions"]
    lines = [
        f"DNS: {cfg['count']:,} identifiers, {cfg['rounds']} interleaved rounds x {cfg['seconds']:g} s (each after a "
        f"{cfg['warmup_seconds']:g} s warm-up), dnsperf {versions.get('dnsperf', '?')} -c {cfg['clients']} "
        f"-q {cfg['outstanding']} (UDP) on the same cores; idnode {cfg['workers']} worker(s); PowerDNS "
        f"{versions.get('pdns_server', '?')} LMDB backend, {cfg['pdns_receiver_threads']} receiver x "
        f"{cfg['pdns_distributor_threads']} distributor threads; p50/p99 from dnsperf -v per-query latencies",
        "",
    ]
    headers = [
        "queries",
        "server",
        "qps",
        "idnode / this",
        "loss",
        "p50 / p99 ms",
        "avg ms",
        "CPU srv/dnsperf",
        "q per srv CPU-s",
        "resp B",
        "good runs",
    ]
    rows = []
    for kind in MIXES:
        block = d[kind]
        what = "all existing" if kind == "existing" else f"{cfg['unknown_fraction']:.0%} unknown"
        for target in TARGETS:
            s = block.get(target)
            if s is None:
                rows.append([what, LABELS[target], "-", "", "", "", "", "", "", "", "0/0"])
                continue
            ratio = (
                "" if target == "idnode" else fmt(block["vs_nocache" if target == "pdns-nocache" else "vs_cache"], "x")
            )
            hits = s.get("packet_cache_hit")
            label = LABELS[target] + (f" ({hits:.0%} packet-cache hits)" if hits is not None else "")
            loss = s.get("loss")
            rows.append(
                [
                    what,
                    label,
                    fmt(s["rate"]),
                    ratio,
                    "-" if loss is None else f"{loss:.3%}",
                    f"{fmt(s['p50_ms'], 'ms')} / {fmt(s['p99_ms'], 'ms')}",
                    fmt(s.get("avg_ms"), "ms"),
                    f"{fmt(s['server_cpu'], 'cores')}/{fmt(s['client_cpu'], 'cores')}",
                    fmt(s.get("items_per_server_cpu_s")),
                    fmt(s.get("response_bytes")),
                    f"{s['good_runs']}/{s['runs']}",
                ]
            )
    lines.append(tab(headers, rows))
    lines.append("")
    trows = [[t["target"], fmt(t["value"], "x"), fmt(t["bound"], "x"), t["result"], t["note"]] for t in d["targets"]]
    lines.append(tab(["target", "value", "bound", "result", "note"], trows))
    z = d.get("zone") or {}
    if z:
        lines += [
            "",
            f"PowerDNS zone: {z['records']:,} NAPTR records ({z['zone_file_bytes'] / 1e6:.0f} MB zone file, "
            f"exported in {z['export_s']:.1f} s), pdnsutil load-zone {z['load_zone_s']:.1f} s, "
            f"LMDB {z['lmdb_bytes'] / 1e6:.0f} MB; query files of {z['query_lines']:,} names.",
        ]
    checks = d.get("content_check") or {}
    if checks:
        lines += [
            "",
            "answers checked with dnspython before the rounds: "
            + ", ".join(f"{t} {'same records' if v == 'same records' else 'DIFFER'}" for t, v in checks.items()),
        ]
    item = "- " if markdown else "  "
    if d["flagged_runs"]:
        lines += ["", f"flagged DNS runs ({len(d['flagged_runs'])}, left out of the medians):"]
        lines += [""] if markdown else []
        for r in d["flagged_runs"]:
            detail = "; ".join(r.get("error_samples") or [])
            loss = r.get("loss")
            lines.append(
                f"{item}{r['series']} round {r.get('round')}: {','.join(r['flags'])} qps {fmt(r['rate'])}"
                + (f", loss {loss:.3%}" if loss is not None else "")
                + (f" ({detail})" if detail else "")
            )
    if d["client_bound"]:
        lines += [
            "",
            "client-bound (dnsperf >= 0.9 core while the server was busy; a lower bound): "
            + ", ".join(d["client_bound"]),
        ]
    prof = d.get("profile")
    if prof and prof.get("samples"):
        lines += [
            "",
            f"py-spy profile of idnode worker {prof['pid']} under dnsperf ({prof['samples']:,} samples, "
            f"{prof['file']}), self time:",
        ]
        lines += [""] if markdown else []
        lines += [f"{item}{share:.1%} {frame}" for frame, share in prof["self"][:12]]
    for note in d["notes"]:
        lines += ["", f"note: {note}"]
    return "\n".join(lines)
