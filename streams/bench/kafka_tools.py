"""Kafka's own tools: the broker script, and the perf tools that give the broker's own limit.

``deploy/kafka/broker.py`` starts the benchmark's local broker when
``KAFKA_BOOTSTRAP_SERVERS`` is not set, and resolves the jars of Kafka's
ProducerPerformance and ConsumerPerformance when ``KAFKA_CLASSPATH`` is not set. The
script belongs to a checkout of the repository (it resolves the jars with the
``pom.xml`` beside it), not to the installed package: a wheel or the Docker image has
none. So it is named by ``--broker-script`` or ``TICKET_SLO_BROKER_SCRIPT``, and only
when neither is given is it looked for in the checkout the package runs from.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ticket_slo.streams.bench.cpu import CpuLedger
from ticket_slo.streams.bench.processes import BenchError, BenchSetupError, Child

__all__ = ["PerfResult", "kafka_classpath", "producer_perf", "consumer_perf", "CLASSPATH_NEEDS",
           "BrokerScriptMissing", "find_broker_script", "require_broker_script", "BROKER_SCRIPT_OPTION",
           "BROKER_SCRIPT_ENV"]

BROKER_SCRIPT_OPTION = "--broker-script"
BROKER_SCRIPT_ENV = "TICKET_SLO_BROKER_SCRIPT"
_IN_CHECKOUT = Path("deploy") / "kafka" / "broker.py"

#: Why the perf tools need the broker script, and how to do without it.
CLASSPATH_NEEDS = ("find the jars of Kafka's perf tools",
                   "or set KAFKA_CLASSPATH, or leave the broker_limit phase out with --only")
_JVM = ["-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]


class BrokerScriptMissing(BenchSetupError):
    """The broker script is needed and not where the option, the variable or the checkout says."""


def find_broker_script(option: Path | None = None, environ: Mapping[str, str] | None = None, *,
                       start: Path | None = None) -> Path | None:
    """The script ``option`` or the environment names, else the checkout's; None without a checkout.

    A script named by the option or the variable must exist: a wrong path is refused at
    once, before the run starts anything. ``start`` is where the search for a checkout
    begins (this package's folder by default).
    """
    environ = os.environ if environ is None else environ
    if option is not None:
        return _existing(option, BROKER_SCRIPT_OPTION)
    configured = environ.get(BROKER_SCRIPT_ENV, "")
    if configured:
        return _existing(Path(configured), BROKER_SCRIPT_ENV)
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        candidate = folder / _IN_CHECKOUT
        if candidate.is_file():
            return candidate
    return None


def require_broker_script(found: Path | None, purpose: str, alternative: str) -> Path:
    """``found``, or a one-line error saying what it was needed for and the ways to provide it."""
    if found is not None:
        return found
    raise BrokerScriptMissing(f"no broker script to {purpose}: pass {BROKER_SCRIPT_OPTION} PATH or set "
                              f"{BROKER_SCRIPT_ENV} to deploy/kafka/broker.py of a ticket-slo checkout "
                              f"({alternative})")


def _existing(path: Path, source: str) -> Path:
    if not path.is_file():
        raise BrokerScriptMissing(f"{source}={str(path)!r} is not a file (deploy/kafka/broker.py of a ticket-slo "
                                  f"checkout)")
    return path.resolve()


@dataclass(frozen=True, slots=True)
class PerfResult:
    records: int
    records_per_s: float
    mb_per_s: float
    detail: dict[str, float]


def kafka_classpath(broker_script: Path | None) -> str:
    """``KAFKA_CLASSPATH`` if set, else what ``broker_script classpath`` prints."""
    configured = os.environ.get("KAFKA_CLASSPATH")
    if configured:
        return configured
    script = require_broker_script(broker_script, *CLASSPATH_NEEDS)
    done = subprocess.run([sys.executable, str(script), "classpath"], capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        raise BenchError(f"broker.py classpath failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BenchError("java is not on the PATH: Kafka's perf tools need Java 17+")
    return java


def _run(tool: str, args: list[str], classpath: str, ledger: CpuLedger, timeout: float) -> str:
    child = Child([_java(), *_JVM, "-cp", classpath, f"org.apache.kafka.tools.{tool}", *args],
                  label="kafka perf tool", capture=True)
    ledger.track(child)
    output = child.communicate(timeout)
    if child.returncode != 0:
        raise BenchError(f"{tool} failed ({child.returncode}):\n{output[-2000:]}")
    return output


def producer_perf(bootstrap: str, topic: str, records: int, payload_file: Path, classpath: str,
                  ledger: CpuLedger, timeout: float) -> PerfResult:
    """Records/s of Kafka's producer at full speed (acks=all) with our payloads and random keys."""
    output = _run("ProducerPerformance", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records),
        "--throughput", "-1", "--payload-file", str(payload_file),
        "--key-distribution", "random", "--record-key-range", "100000",
        "--command-property", "acks=all", "--reporting-interval", "60000",
    ], classpath, ledger, timeout)
    # "500000 records sent, 162337.7 records/sec (46.71 MB/sec), 180.3 ms avg latency, 560.0 ms max latency, ..."
    lines = [line for line in output.splitlines() if "records sent" in line]
    if not lines:
        raise BenchError(f"cannot read ProducerPerformance's result:\n{output[-2000:]}")
    match = re.search(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                      r"([\d.]+) ms max latency", lines[-1])
    if match is None:
        raise BenchError(f"cannot read ProducerPerformance's result: {lines[-1]}")
    detail = {"avg_latency_ms": float(match.group(4)), "max_latency_ms": float(match.group(5))}
    pct = re.search(r"([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th", lines[-1])
    if pct:
        detail.update(p50_latency_ms=float(pct.group(1)), p99_latency_ms=float(pct.group(3)))
    return PerfResult(int(match.group(1)), float(match.group(2)), float(match.group(3)), detail)


def consumer_perf(bootstrap: str, topic: str, records: int, group: str, classpath: str, ledger: CpuLedger,
                  timeout: float) -> PerfResult:
    """Records/s of Kafka's consumer reading ``records`` from the start (fetch time, without the join)."""
    output = _run("ConsumerPerformance", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records), "--group", group,
        "--timeout", "30000",
    ], classpath, ledger, timeout)
    lines = [line for line in output.splitlines() if line.strip()]
    header = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    if header is None or header + 1 >= len(lines):
        raise BenchError(f"cannot read ConsumerPerformance's result:\n{output[-2000:]}")
    names = [name.strip() for name in lines[header].split(",")]
    values = [value.strip() for value in lines[header + 1].split(",")]
    row = dict(zip(names, values))
    try:
        consumed = int(float(row["data.consumed.in.nMsg"]))
        # fetch.* exclude the group join (rebalance.time.ms): the steady read rate.
        per_s = float(row["fetch.nMsg.sec"])
        mb_s = float(row["fetch.MB.sec"])
        detail = {"overall_records_per_s": float(row["nMsg.sec"]),
                  "rebalance_ms": float(row["rebalance.time.ms"]), "fetch_ms": float(row["fetch.time.ms"])}
    except (KeyError, ValueError) as exc:
        raise BenchError(f"cannot read ConsumerPerformance's result ({exc}):\n{output[-2000:]}") from None
    return PerfResult(consumed, per_s, mb_s, detail)
