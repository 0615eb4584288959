#!/usr/bin/env python3
"""Start and stop a local single-node Apache Kafka broker for development and tests.

The broker runs in KRaft mode (one JVM that is both broker and controller) from
jars that Maven resolves from Maven Central, as listed in pom.xml next to this
file, into .cache/<kafka.version>/lib/. Each named broker keeps its state in a
run directory .cache/run/<name>/ (pid, bootstrap address, config and log).

    BOOT=$(python3 deploy/kafka/broker.py start)    # stdout: 127.0.0.1:PORT
    python3 deploy/kafka/broker.py status
    python3 deploy/kafka/broker.py stop

Only the bootstrap address is printed on stdout; progress goes to stderr.

`start --sasl USER:PASSWORD` adds a second, SASL_PLAINTEXT listener on its own port
that accepts USER with PASSWORD over PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (for
testing authenticated clients); `bootstrap --listener sasl` prints its address. The
PLAINTEXT listener stays, and stays the one printed by `start`.
Standard library only, so it runs with a plain python3 before any venv exists.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
CACHE = HERE / ".cache"
RUN_ROOT = CACHE / "run"
COMPLETE_MARKER = ".complete"

LOOPBACK = "127.0.0.1"
NODE_ID = 1
MIN_JAVA = 17
MIN_MAVEN = (3, 6, 3)
STOP_GRACE_SECONDS = 30.0
EXIT_NOT_RUNNING = 3
EPHEMERAL_PREFIX = "kafka-"

# Overridable with the environment variables that Kafka's own scripts use.
DEFAULT_HEAP_OPTS = "-Xms256m -Xmx1g"
BROKER_JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",  # Kafka's own default: short pauses, low latency.
    "-XX:+ExitOnOutOfMemoryError",  # Die loudly rather than limp along.
    "-Djava.awt.headless=true",
]
# The storage formatter is a short-lived JVM: favour start-up over throughput.
TOOL_JVM_FLAGS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Characters that need no quoting in a JAAS option value nor in a --add-scram spec.
SASL_CREDENTIAL_PATTERN = re.compile(r"[A-Za-z0-9_.@+-]+")
SASL_LISTENER = "SASL"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


Handler = Callable[[argparse.Namespace], int]


class BrokerError(Exception):
    """A failure to report to the user as a one-line error (exit status 1)."""


def info(message: str) -> None:
    """Print a progress line on stderr (stdout is reserved for the bootstrap address)."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Toolchain: Java, Maven and the Kafka jars
# --------------------------------------------------------------------------


def pom_kafka_version() -> str:
    """Return the kafka.version property declared in pom.xml."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    version = (node.text or "").strip() if node is not None else ""
    if not version:
        raise BrokerError(f"{POM} does not define the kafka.version property")
    return version


def find_java() -> str:
    """Return the java binary ($JAVA_HOME/bin/java, else PATH), checking it is >= 17."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = str(Path(java_home) / "bin" / "java")
        if not os.access(java, os.X_OK):
            raise BrokerError(f"JAVA_HOME is {java_home}, but {java} is not an executable")
    else:
        found = shutil.which("java")
        if found is None:
            raise BrokerError(f"java not found: install a JDK >= {MIN_JAVA} or set JAVA_HOME")
        java = found
    output = subprocess.run(
        [java, "-version"], capture_output=True, text=True, check=False
    ).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if match is None:
        raise BrokerError(f"cannot tell the version of {java}: {output.strip()!r}")
    major = int(match.group(1))
    if major == 1:  # Java 8 and older report "1.8.0_x".
        major = int(match.group(2) or 0)
    if major < MIN_JAVA:
        raise BrokerError(f"Kafka 4.x needs Java >= {MIN_JAVA}, but {java} is Java {major}")
    return java


def find_maven() -> str:
    """Return the mvn binary on PATH, checking it is recent enough for pom.xml."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("mvn not found on PATH: install Apache Maven >= 3.6.3")
    output = subprocess.run(
        [mvn, "-v", "-B"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"Apache Maven (\d+)\.(\d+)\.(\d+)", output)
    if match is None:
        raise BrokerError(f"cannot tell the version of {mvn}: {output.strip()[:200]!r}")
    version = tuple(int(part) for part in match.groups())
    if version < MIN_MAVEN:
        wanted = ".".join(map(str, MIN_MAVEN))
        raise BrokerError(f"need Maven >= {wanted}, but {mvn} is {'.'.join(map(str, version))}")
    return mvn


def lib_dir(kafka_version: str) -> Path:
    """Return the directory holding the runtime jars of one Kafka version."""
    return CACHE / kafka_version / "lib"


def classpath(kafka_version: str) -> str:
    """Return the java -cp value for one Kafka version (a `lib/*` wildcard)."""
    return f"{lib_dir(kafka_version)}{os.sep}*"


def fetch(kafka_version: str) -> Path:
    """Resolve the Kafka jars into the cache unless already done; return the lib dir.

    Maven copies into a scratch directory that is renamed into place only when
    complete, so an interrupted download never leaves a half-filled lib dir.
    """
    target = lib_dir(kafka_version)
    if (target / COMPLETE_MARKER).exists():
        return target
    mvn = find_maven()
    info(f"resolving Apache Kafka {kafka_version} from Maven Central (first run only)…")
    started = time.monotonic()
    scratch = target.with_name("lib.partial")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)  # A lib dir without marker is incomplete.
    command = [
        mvn, "-q", "-B", "-f", str(POM),
        f"-Dkafka.version={kafka_version}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={scratch}",
        "-DincludeScope=runtime",
    ]
    # With -q Maven says nothing useful on success (bar stray colour resets),
    # so its output is shown only when it fails.
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            target.parent.rmdir()  # Only if empty: no litter for a mistyped version.
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr).strip()
        raise BrokerError(f"Maven could not resolve Kafka {kafka_version}:\n{output}")
    jars = sorted(scratch.glob("*.jar"))
    if not any(jar.name.startswith("kafka_2.13-") for jar in jars):
        raise BrokerError(f"Maven finished but {scratch} holds no kafka_2.13 jar")
    (scratch / COMPLETE_MARKER).write_text(f"{len(jars)} jars\n")
    scratch.rename(target)
    info(f"resolved {len(jars)} jars in {time.monotonic() - started:.1f} s into {target}")
    return target


# --------------------------------------------------------------------------
# Run directory and process bookkeeping
# --------------------------------------------------------------------------


class RunDir:
    """The state directory of one named broker: .cache/run/<name>/."""

    def __init__(self, name: str) -> None:
        if not NAME_PATTERN.fullmatch(name):
            raise BrokerError(f"invalid broker name {name!r}: use letters, digits, '.', '_', '-'")
        self.name = name
        self.path = RUN_ROOT / name
        self.pid_file = self.path / "broker.pid"
        self.bootstrap_file = self.path / "bootstrap"
        self.sasl_bootstrap_file = self.path / "bootstrap-sasl"  # only with start --sasl
        self.props_file = self.path / "server.properties"
        self.log_file = self.path / "broker.log"
        # Present only when the data lives in a throw-away temp dir; holds its path.
        self.ephemeral_file = self.path / "ephemeral-data-dir"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise start/stop of this broker between concurrent invocations."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def pid(self) -> int | None:
        """Return the pid of this broker if its process is alive, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_broker_process(pid, self.props_file) else None

    def bootstrap(self, listener: str = "plaintext") -> str | None:
        """Return the recorded bootstrap address of a listener (written once the broker is ready)."""
        path = self.sasl_bootstrap_file if listener == "sasl" else self.bootstrap_file
        try:
            return path.read_text().strip() or None
        except OSError:
            return None

    def has_stale_state(self) -> bool:
        """True if files of a broker that is no longer running are left behind."""
        return self.pid_file.exists() or self.ephemeral_file.exists()

    def clear(self) -> None:
        """Forget the process and delete its throw-away data dir, if any."""
        ephemeral = self.ephemeral_data_dir()
        for path in (self.pid_file, self.bootstrap_file, self.sasl_bootstrap_file, self.ephemeral_file):
            path.unlink(missing_ok=True)
        if ephemeral is not None:
            shutil.rmtree(ephemeral, ignore_errors=True)
            info(f"removed throw-away data dir {ephemeral}")

    def ephemeral_data_dir(self) -> Path | None:
        """Return the throw-away data dir of this broker, if it has one."""
        try:
            path = Path(self.ephemeral_file.read_text().strip())
        except OSError:
            return None
        # Only ever delete a directory that looks like one we created.
        return path if path.name.startswith(EPHEMERAL_PREFIX) and path.is_dir() else None


def is_broker_process(pid: int, props_file: Path) -> bool:
    """True if pid is a live (non-zombie) JVM running kafka.Kafka on props_file.

    Checking the command line guards against pid reuse after a reboot or crash.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # Exists but belongs to someone else: the command line decides.
    try:  # Linux: a zombie has an empty cmdline, so it counts as gone.
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [arg.decode(errors="replace") for arg in args]
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return False  # Exited between the two checks.
        ps = subprocess.run(  # No /proc (macOS): ask ps.
            ["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, check=False
        )
        words = ps.stdout.split()
    return "kafka.Kafka" in words and str(props_file) in words


def process_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # No /proc: trust kill(0).
    return state != "Z"


def terminate(pid: int, grace: float = STOP_GRACE_SECONDS) -> bool:
    """SIGTERM pid, wait up to `grace` seconds, then SIGKILL. True if it exited cleanly."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.2)
    info(f"pid {pid} still running after {grace:.0f} s: sending SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while process_alive(pid):
        time.sleep(0.1)
    return False


def wait_reaped(pid: int, timeout: float = 5.0) -> None:
    """Give init a moment to reap the exited broker, so that `ps` no longer lists it.

    The broker outlives the `start` that forked it, so its parent is init (or a
    subreaper); some minimal container inits reap only every second or so.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


# --------------------------------------------------------------------------
# Broker configuration and storage
# --------------------------------------------------------------------------


def free_port() -> int:
    """Return a currently unused TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port_free(port: int) -> None:
    """Fail early with a clear message if a requested port is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The JVM binds its listeners with SO_REUSEADDR: connections of a broker that just
        # stopped (TIME_WAIT) must not make its own restart on the same port look refused.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as error:
            message = f"port {LOOPBACK}:{port} is not available: {error.strerror}"
            raise BrokerError(message) from None


def choose_ports(port: int | None, controller_port: int | None) -> tuple[int, int]:
    """Return (broker port, controller port), picking free ones where not given."""
    if port is not None:
        check_port_free(port)
    if controller_port is not None:
        check_port_free(controller_port)
    chosen_port = port or free_port()
    chosen_controller = controller_port or free_port()
    while chosen_controller == chosen_port:
        chosen_controller = free_port()
    return chosen_port, chosen_controller


def new_cluster_id() -> str:
    """Return a random Kafka cluster id: 16 bytes, base64url without padding.

    Like Kafka's own Uuid.randomUuid(), avoid a leading '-', which a command
    line parser would take for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def parse_sasl_user(text: str) -> tuple[str, str]:
    """Split `USER:PASSWORD`, refusing characters that would need quoting in the broker's config."""
    user, colon, password = text.partition(":")
    if not colon or not user or not password:
        raise BrokerError(f"--sasl wants USER:PASSWORD, got {text.partition(':')[0]!r}…")
    for what, value in (("user", user), ("password", password)):
        if not SASL_CREDENTIAL_PATTERN.fullmatch(value):
            raise BrokerError(f"--sasl {what} may use only letters, digits and . _ @ + -")
    return user, password


def sasl_properties(sasl_port: int, user: str, password: str) -> str:
    """Extra server.properties lines for a SASL_PLAINTEXT listener accepting one user.

    PLAIN checks the user against the JAAS config of the listener; SCRAM checks it
    against the credentials stored in the metadata log by `format --add-scram`.
    """
    listener = SASL_LISTENER.lower()
    mechanisms = ",".join(("PLAIN", *SCRAM_MECHANISMS))
    scram = "".join(
        f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
        for mechanism in SCRAM_MECHANISMS
    )
    return f"""
# --- start --sasl: a SASL_PLAINTEXT listener for one user (testing authenticated clients).
listener.name.{listener}.sasl.enabled.mechanisms={mechanisms}
listener.name.{listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}="{password}";
{scram}"""


def server_properties(port: int, controller_port: int, data_dir: Path,
                      sasl_port: int | None = None) -> str:
    """Return server.properties for a single-node combined broker+controller.

    With `sasl_port`, a SASL_PLAINTEXT listener is added there (see `sasl_properties`
    for its mechanisms and user).
    """
    listeners = f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}"
    advertised = f"PLAINTEXT://{LOOPBACK}:{port}"
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if sasl_port is not None:
        listeners += f",{SASL_LISTENER}://{LOOPBACK}:{sasl_port}"
        advertised += f",{SASL_LISTENER}://{LOOPBACK}:{sasl_port}"
        protocols += f",{SASL_LISTENER}:SASL_PLAINTEXT"
    return f"""\
# Generated by deploy/kafka/broker.py on every start: edit the script, not this file.

# --- Single-node KRaft: this one process is both the broker and the controller.
process.roles=broker,controller
node.id={NODE_ID}
# A static quorum of one voter (this node). Unlike a dynamic quorum formatted
# with --standalone, the voter's address is not stored in the metadata log, so
# a persistent --data-dir keeps working when the ports change between runs.
controller.quorum.voters={NODE_ID}@{LOOPBACK}:{controller_port}
controller.listener.names=CONTROLLER

# Loopback only: nothing outside this machine can reach the dev broker.
listeners={listeners}
advertised.listeners={advertised}
listener.security.protocol.map={protocols}
inter.broker.listener.name=PLAINTEXT

# Topic data and the KRaft metadata log.
log.dirs={data_dir}

# --- Internal topics default to replication factor 3 (min ISR 2), which a
# single broker can never satisfy: consumer groups, transactions and share
# groups would fail or hang.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# --- Internal topics default to 50 partitions. Creating and loading them on
# first use delays the first consumer group / transaction; a few are plenty.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
share.coordinator.state.topic.num.partitions=4

# The first member of a new classic consumer group waits this long (default
# 3 s) for others to join before the first rebalance; tests want it now.
group.initial.rebalance.delay.ms=0

# The log cleaner (compacted topics such as __consumer_offsets) allocates a
# 128 MiB dedupe buffer at start-up by default; dev data is tiny.
log.cleaner.dedupe.buffer.size=16777216

# --- Defaults, stated because the application relies on them. Topics are
# created explicitly by the app; auto-creation stays on for ad-hoc tools.
num.partitions=1
auto.create.topics.enable=true
# Flushing is left to the OS page cache (Kafka's default: no log.flush.*),
# segments are the default 1 GiB and retention the default 7 days.
"""


def is_formatted(data_dir: Path) -> bool:
    """True if the data dir already holds a formatted KRaft log directory."""
    return (data_dir / "meta.properties").exists()


def format_storage(java: str, kafka_version: str, props_file: Path,
                   scram_user: tuple[str, str] | None = None) -> None:
    """Format the log directory for a new single-node cluster with a random id.

    `scram_user` (user, password) is stored as a SCRAM credential for both SCRAM
    mechanisms: in KRaft mode, formatting is how a broker gets its first ones.
    """
    cluster_id = new_cluster_id()
    command = [
        java, *TOOL_JVM_FLAGS,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", "-Ddevkafka.log.level=WARN",
        "-cp", classpath(kafka_version),
        "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props_file),
    ]
    if scram_user is not None:
        user, password = scram_user
        for mechanism in SCRAM_MECHANISMS:
            command += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise BrokerError(f"formatting storage failed (exit {result.returncode}):\n{output}")
    info(f"formatted storage for new cluster {cluster_id}")


# --------------------------------------------------------------------------
# Readiness check: speak just enough of the Kafka protocol
# --------------------------------------------------------------------------

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"broker.py"


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly `size` bytes or raise ConnectionError."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks += chunk
    return bytes(chunks)


def kafka_request(sock: socket.socket, api_key: int, version: int, correlation_id: int,
                  body: bytes) -> bytes:
    """Send one request (non-flexible header v1) and return the response body."""
    header = struct.pack(">hhih", api_key, version, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
    response = _recv_exactly(sock, size)
    (echoed,) = struct.unpack_from(">i", response)
    if echoed != correlation_id:
        raise ConnectionError(f"correlation id {echoed} != {correlation_id}")
    return response[4:]


def broker_ready(port: int) -> bool:
    """True once the broker answers requests and lists itself as an available broker.

    ApiVersions (v0) proves the request path works; Metadata (v4, all topics)
    lists only registered, unfenced brokers, so a non-empty broker list means
    topics can be created and produced to.
    """
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2.0) as sock:
            body = kafka_request(sock, API_VERSIONS, 0, 1, b"")
            (error_code,) = struct.unpack_from(">h", body)
            if error_code != 0:
                return False
            # topics = null (all), allow_auto_topic_creation = false
            body = kafka_request(sock, API_METADATA, 4, 2, struct.pack(">ib", -1, 0))
            broker_count: int = struct.unpack_from(">ii", body)[1]  # after throttle_time_ms
            return broker_count > 0
    except (OSError, struct.error):
        return False


def log_tail(log_file: Path, lines: int = 40) -> str:
    """Return the last lines of a log file, indented for an error message."""
    try:
        text = log_file.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join("    " + line for line in text) or "    (empty log)"


def wait_until_ready(process: subprocess.Popen[bytes], port: int, log_file: Path,
                     timeout: float) -> None:
    """Poll until the broker is ready; raise with the log tail if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerError(
                f"broker exited with status {process.returncode} during start-up; "
                f"end of {log_file}:\n{log_tail(log_file)}"
            )
        if broker_ready(port):
            return
        time.sleep(0.25)
    raise BrokerError(
        f"broker not ready after {timeout:.0f} s; end of {log_file}:\n{log_tail(log_file)}"
    )


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------


def launch(java: str, kafka_version: str, run: RunDir) -> subprocess.Popen[bytes]:
    """Start the broker JVM detached (own session), logging to the run dir."""
    if run.log_file.exists():
        run.log_file.replace(run.log_file.with_name(run.log_file.name + ".1"))
    command = [
        java,
        *shlex.split(os.environ.get("KAFKA_HEAP_OPTS", DEFAULT_HEAP_OPTS)),
        *BROKER_JVM_FLAGS,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        *shlex.split(os.environ.get("KAFKA_OPTS", "")),
        "-cp", classpath(kafka_version),
        "kafka.Kafka", str(run.props_file),
    ]
    with open(run.log_file, "wb") as log:
        return subprocess.Popen(
            command, cwd=run.path, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )


def prepare_data_dir(run: RunDir, requested: Path | None) -> Path:
    """Return the broker's data dir: `requested`, or a new throw-away temp dir."""
    if requested is None:
        data_dir = Path(tempfile.mkdtemp(prefix=f"{EPHEMERAL_PREFIX}{run.name}-"))
        run.ephemeral_file.write_text(f"{data_dir}\n")
        info(f"data: {data_dir} (throw-away, removed by stop)")
    else:
        data_dir = requested.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        info(f"data: {data_dir} (kept across restarts)")
    return data_dir


def cmd_fetch(args: argparse.Namespace) -> int:
    """`fetch`: resolve the jars of the chosen Kafka version."""
    target = fetch(args.kafka_version)
    info(f"Kafka {args.kafka_version} jars are in {target}")
    return 0


def cmd_classpath(args: argparse.Namespace) -> int:
    """`classpath`: print the java -cp value for Kafka's tools (fetching if needed)."""
    fetch(args.kafka_version)
    print(classpath(args.kafka_version))
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """`start`: start the broker unless it already runs; print its bootstrap address."""
    run = RunDir(args.name)
    with run.locked():
        pid, bootstrap = run.pid(), run.bootstrap()
        if pid is not None and bootstrap is not None:
            info(f"broker '{run.name}' already running at {bootstrap} (pid {pid})")
            print(bootstrap)
            return 0
        if pid is not None:  # Alive, but its start never completed: replace it.
            info(f"broker '{run.name}' (pid {pid}) was left by an interrupted start: "
                 "stopping it")
            terminate(pid)
        if run.has_stale_state():
            info(f"cleaning up after broker '{run.name}', which is no longer running")
        run.clear()

        started = time.monotonic()
        java = find_java()
        fetch(args.kafka_version)
        port, controller_port = choose_ports(args.port, args.controller_port)
        bootstrap = f"{LOOPBACK}:{port}"
        sasl_user = parse_sasl_user(args.sasl) if args.sasl else None
        sasl_port = None
        if sasl_user is not None:
            sasl_port = free_port()
            while sasl_port in (port, controller_port):
                sasl_port = free_port()
        process: subprocess.Popen[bytes] | None = None
        try:
            data_dir = prepare_data_dir(run, args.data_dir)
            properties = server_properties(port, controller_port, data_dir, sasl_port)
            if sasl_user is not None and sasl_port is not None:
                properties += sasl_properties(sasl_port, *sasl_user)
            run.props_file.write_text(properties)
            run.props_file.chmod(0o600)  # it may hold a --sasl password
            if not is_formatted(data_dir):
                format_storage(java, args.kafka_version, run.props_file, sasl_user)
            elif sasl_user is not None:
                info("data dir already formatted: SCRAM users are not added (PLAIN works)")
            process = launch(java, args.kafka_version, run)
            run.pid_file.write_text(f"{process.pid}\n")
            info(f"starting Kafka {args.kafka_version} broker '{run.name}' on {bootstrap} "
                 f"(pid {process.pid}, log {run.log_file})")
            wait_until_ready(process, port, run.log_file, args.timeout)
        except BaseException:  # Including Ctrl-C: leave nothing half-started behind.
            if process is not None:
                terminate(process.pid, grace=5.0)
            run.clear()
            raise
        run.bootstrap_file.write_text(f"{bootstrap}\n")
        if sasl_port is not None:
            run.sasl_bootstrap_file.write_text(f"{LOOPBACK}:{sasl_port}\n")
            info(f"SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) at {LOOPBACK}:{sasl_port}")
    info(f"broker '{run.name}' ready at {bootstrap} in {time.monotonic() - started:.1f} s")
    print(bootstrap, flush=True)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """`stop`: stop the broker (SIGTERM, then SIGKILL) and delete throw-away data."""
    run = RunDir(args.name)
    if not run.path.exists():
        info(f"broker '{run.name}' is not running")
        return 0
    with run.locked():
        pid = run.pid()
        if pid is None:
            info(f"broker '{run.name}' is not running")
        else:
            started = time.monotonic()
            clean = terminate(pid)
            wait_reaped(pid)
            how = "stopped" if clean else "killed"
            info(f"{how} broker '{run.name}' (pid {pid}) in {time.monotonic() - started:.1f} s")
        run.clear()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """`status`: report whether the broker runs; exit 0 if it does, 3 if not."""
    run = RunDir(args.name)
    pid, bootstrap = run.pid(), run.bootstrap()
    if pid is None:
        print(f"broker '{run.name}' is not running")
        return EXIT_NOT_RUNNING
    if bootstrap is None:
        print(f"broker '{run.name}' is starting (pid {pid})")
        return EXIT_NOT_RUNNING
    print(f"broker '{run.name}' is running at {bootstrap} (pid {pid})")
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """`bootstrap`: print the bootstrap address of one listener of the running broker."""
    run = RunDir(args.name)
    bootstrap = run.bootstrap(args.listener)
    if run.pid() is None or run.bootstrap() is None:
        # Exit non-zero, and say so: `export X=$(… bootstrap)` hides the status and leaves X empty.
        info(f"error: broker '{run.name}' is not running; start it with "
             f"'python3 deploy/kafka/broker.py start --name {run.name}', which prints its address")
        return EXIT_NOT_RUNNING
    if bootstrap is None:
        info(f"error: broker '{run.name}' has no {args.listener} listener (start it with --sasl USER:PASSWORD)")
        return EXIT_NOT_RUNNING
    print(bootstrap)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        description="Run a local single-node Kafka broker (KRaft) for development.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str, *, named: bool = True,
            versioned: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        if named:
            sub.add_argument("--name", default="dev",
                             help="broker name; state in .cache/run/NAME (default: dev)")
        if versioned:
            sub.add_argument("--kafka-version", default=None,
                             help="Kafka version (default: kafka.version in pom.xml)")
        return sub

    add("fetch", cmd_fetch, "resolve the Kafka jars from Maven Central", named=False,
        versioned=True)
    start = add("start", cmd_start, "start the broker and print its bootstrap address",
                versioned=True)
    start.add_argument("--port", type=int, help="client port (default: a free one)")
    start.add_argument("--controller-port", type=int,
                       help="KRaft controller port (default: a free one)")
    start.add_argument("--data-dir", type=Path,
                       help="keep data here across restarts (default: a throw-away temp dir)")
    start.add_argument("--timeout", type=float, default=90.0,
                       help="seconds to wait for the broker to be ready (default: 90)")
    start.add_argument("--sasl", metavar="USER:PASSWORD",
                       help="also listen for SASL_PLAINTEXT clients (PLAIN, SCRAM-SHA-256/512) "
                            "with this user, on another free port")
    add("stop", cmd_stop, "stop the broker and remove its throw-away data")
    add("status", cmd_status, "say whether the broker runs (exit 0 if so, 3 if not)")
    bootstrap = add("bootstrap", cmd_bootstrap, "print the bootstrap address of the running broker")
    bootstrap.add_argument("--listener", choices=("plaintext", "sasl"), default="plaintext",
                           help="which listener (default: plaintext; sasl needs start --sasl)")
    add("classpath", cmd_classpath, "print the java -cp value for Kafka's tools", named=False,
        versioned=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments and run one command."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "kafka_version", "") is None:
            args.kafka_version = pom_kafka_version()
        handler: Handler = args.handler
        return handler(args)
    except BrokerError as error:
        info(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        info("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
