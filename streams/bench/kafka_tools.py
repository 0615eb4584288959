"""The broker's own limit: Kafka's ProducerPerformance and ConsumerPerformance, from the broker's jars."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ticket_slo.streams.bench.cpu import CpuLedger
from ticket_slo.streams.bench.processes import BenchError, Child

__all__ = ["PerfResult", "kafka_classpath", "producer_perf", "consumer_perf", "BROKER_SCRIPT"]

BROKER_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "broker.py"
_JVM = ["-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]


@dataclass(frozen=True, slots=True)
class PerfResult:
    records: int
    records_per_s: float
    mb_per_s: float
    detail: dict[str, float]


def kafka_classpath() -> str:
    """``KAFKA_CLASSPATH`` if set, else what ``deploy/kafka/broker.py classpath`` prints."""
    configured = os.environ.get("KAFKA_CLASSPATH")
    if configured:
        return configured
    if not BROKER_SCRIPT.exists():
        raise BenchError(f"cannot find {BROKER_SCRIPT} for Kafka's perf tools; set KAFKA_CLASSPATH")
    done = subprocess.run([sys.executable, str(BROKER_SCRIPT), "classpath"], capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        raise BenchError(f"broker.py classpath failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise BenchError("java is not on the PATH: Kafka's perf tools need Java 17+")
    return java


def _run(tool: str, args: list[str], ledger: CpuLedger, timeout: float) -> str:
    child = Child([_java(), *_JVM, "-cp", kafka_classpath(), f"org.apache.kafka.tools.{tool}", *args],
                  label="kafka perf tool", capture=True)
    ledger.track(child)
    output = child.communicate(timeout)
    if child.returncode != 0:
        raise BenchError(f"{tool} failed ({child.returncode}):\n{output[-2000:]}")
    return output


def producer_perf(bootstrap: str, topic: str, records: int, payload_file: Path, ledger: CpuLedger,
                  timeout: float) -> PerfResult:
    """Records/s of Kafka's producer at full speed (acks=all) with our payloads and random keys."""
    output = _run("ProducerPerformance", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records),
        "--throughput", "-1", "--payload-file", str(payload_file),
        "--key-distribution", "random", "--record-key-range", "100000",
        "--command-property", "acks=all", "--reporting-interval", "60000",
    ], ledger, timeout)
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


def consumer_perf(bootstrap: str, topic: str, records: int, group: str, ledger: CpuLedger,
                  timeout: float) -> PerfResult:
    """Records/s of Kafka's consumer reading ``records`` from the start (fetch time, without the join)."""
    output = _run("ConsumerPerformance", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records), "--group", group,
        "--timeout", "30000",
    ], ledger, timeout)
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
