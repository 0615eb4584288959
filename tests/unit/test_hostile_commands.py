"""Every command under a user's mistakes: one line on stderr, exit code 2, no traceback,
in bounded time and memory.

The arguments and environments are generated from families of bad values (negative,
zero, NaN, infinite, huge, not a number, empty, blank, other scripts' digits, bytes
that are not UTF-8; missing paths, directories given as files, files given as
directories, paths nobody may write), a few drawn per option and setting on each run.
The seed is in every failure message; ``HOSTILE_SEED=<seed>`` repeats a run. Each
command runs as a real subprocess, at most ``TIME_LIMIT`` seconds and under a
``MEMORY_LIMIT`` address-space limit, so that a loop for ever or a runaway
allocation fails the test instead of the machine. A listed case follows for each
mistake users reported. No broker is needed: the broker address is one where
nothing listens.
"""

from __future__ import annotations

import os
import random
import string
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from ticket_slo.streams.alerting.bridge_settings import ALERT_BRIDGE_ENVIRONMENT
from ticket_slo.streams.kafka.settings import ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "examples" / "events.jsonl"
UNREACHABLE = "127.0.0.1:1"
TIME_LIMIT = 20.0
MEMORY_LIMIT = 2 << 30  # bytes of address space: far above a command's needs, far below a runaway's
PARALLEL = 4
SEED = int(os.environ.get("HOSTILE_SEED") or random.SystemRandom().randrange(1 << 32))
SCRATCH = "{scratch}"  # replaced by the run's scratch directory

#: Sets the memory limit, then becomes the command (a preexec_fn is unsafe beside threads).
LIMITED = ("import os, resource, sys; "
           f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
           "os.execv(sys.argv[1], sys.argv[1:])")
CLI = (sys.executable, "-m", "ticket_slo.agents.cli")


@dataclass(frozen=True)
class Case:
    """One command line with its environment and the files it needs, and what must be said."""

    name: str
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, bytes], ...] = ()
    exit_code: int = 2
    says: str = ""  # text the one line must hold (listed cases)


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: killed at TIME_LIMIT
    stdout: str
    stderr: str
    seconds: float


# -- families of bad values ----------------------------------------------------------------------

Family = Callable[[random.Random], str]


def _word(rng: random.Random) -> str:
    while True:
        word = "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 12)))
        if word.lower() not in {"nan", "inf", "infinity"}:
            return word


NUMBER_FAMILIES: dict[str, Family] = {
    "negative": lambda rng: rng.choice([f"-{rng.randint(1, 10**6)}", f"-{rng.uniform(0.001, 1e6):.3f}"]),
    "zero": lambda rng: rng.choice(["0", "0.0", "-0", "0e3", "000"]),
    "nan": lambda rng: rng.choice(["nan", "NaN", "-nan", "+NAN"]),
    "infinite": lambda rng: rng.choice(["inf", "-inf", "Infinity", "1e400", "-1e999"]),
    "huge": lambda rng: rng.choice(["1e300", "9" * rng.randint(20, 400), str(rng.randint(10**7, 10**12))]),
    "word": _word,
    "mixed": lambda rng: f"{rng.randint(0, 99)}{rng.choice(['x', '%', '..', 'e', '_', ',5', 'abc', '+'])}",
    "empty": lambda rng: "",
    "blank": lambda rng: rng.choice([" ", "\t", "  \n "]),
    "other script": lambda rng: rng.choice(["٣", "½", "١٠", "∞", "Ⅻ", "３", "−1", "𝟗", "\udcff", "é"]),
}


def bad_numbers(rng: random.Random, count: int, *, valid: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(family, value) from ``count`` families drawn among those not listed as ``valid`` for the target."""
    families = sorted(set(NUMBER_FAMILIES) - set(valid))
    return [(family, NUMBER_FAMILIES[family](rng)) for family in rng.sample(families, count)]


#: Kinds of bad path: what cannot be read as a file, written as one, or made a directory.
UNREADABLE = ("a directory", "under a file", "name too long", "in a missing directory", "nobody may write",
              "missing, not UTF-8")
UNWRITABLE = ("a directory", "under a file", "name too long", "in a missing directory", "nobody may write")
NOT_A_DIRECTORY = ("under a file", "name too long", "nobody may write")  # missing ones are created


def bad_paths(rng: random.Random, kinds: tuple[str, ...], count: int = 2) -> list[tuple[str, str]]:
    """(kind, path) for ``count`` of ``kinds``."""
    tag = rng.randrange(10**6)
    paths = {
        "a directory": f"{SCRATCH}/a-dir",
        "under a file": f"{SCRATCH}/a-file/{tag}.jsonl",
        "name too long": f"{SCRATCH}/{'n' * rng.randint(256, 400)}",
        "in a missing directory": f"{SCRATCH}/missing-{tag}/events.jsonl",
        "nobody may write": rng.choice([f"/proc/self/no-such-{tag}/x", f"/sys/no-such-{tag}/x"]),
        "missing, not UTF-8": f"{SCRATCH}/\udcff{tag}.jsonl",
    }
    return [(kind, paths[kind]) for kind in rng.sample(kinds, count)]


# -- generated cases -----------------------------------------------------------------------------


def cli(*args: str) -> tuple[str, ...]:
    return (*CLI, *args)


def generated_argument_cases(rng: random.Random) -> Iterator[Case]:
    example = str(EXAMPLE)
    for kind, path in bad_paths(rng, UNREADABLE, 3):
        yield Case(f"replay events {kind}", cli("replay", path))
        yield Case(f"publish events {kind}", cli("publish", path))
        yield Case(f"replay --policy {kind}", cli("replay", example, "--policy", path))
    for kind, path in bad_paths(rng, UNWRITABLE):
        yield Case(f"replay --dead-letters {kind}", cli("replay", example, "--dead-letters", path))
    for kind, path in [("a file", f"{SCRATCH}/a-file"), *bad_paths(rng, NOT_A_DIRECTORY)]:
        yield Case(f"schema --out {kind}", cli("schema", "--out", path))
    for option, valid in (("--rate", ()), ("--response-scale", ()), ("--duration", ("zero", "huge"))):
        for family, value in bad_numbers(rng, 3, valid=valid):
            yield Case(f"simulate {option} {family} {value!r}", cli("simulate", f"{option}={value}"))
    rate = rng.uniform(100, 1000)
    scale = rng.uniform(100_000 / (5 * rate) * 1.01, 86400)
    yield Case(f"simulate --rate {rate:.0f} --response-scale {scale:.0f}",
               cli("simulate", "--rate", f"{rate:.3f}", "--response-scale", f"{scale:.3f}"))
    stamp = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00"
    for until in (stamp, _word(rng), stamp.replace("-", "/") + "Z", f"2026-13-01T00:00:00Z", ""):
        yield Case(f"replay --until {until!r}", cli("replay", example, f"--until={until}"))
    yield Case("tail an unknown topic", cli("tail", _word(rng) + "s"))
    for command in ("topics", "worker", "schema"):  # not a prefix of a real option, which argparse would take
        yield Case(f"{command} with an unknown option", cli(command, f"--no-such-{_word(rng).lower()}"))
    yield Case("bench --only unknown phases", cli("bench", "--only", f"{_word(rng)},{_word(rng)}"))
    for option in ("--partitions", "--events", "--open-tickets"):
        family, value = rng.choice([("word", _word(rng)), ("fraction", f"{rng.uniform(1, 9):.2f}"), ("blank", " ")])
        yield Case(f"bench {option} {family}", cli("bench", option, value))
    policy = str(REPO / "schemas" / "default_policy.yaml")
    for kind, path in bad_paths(rng, UNREADABLE, 2):
        yield Case(f"whatif events {kind}", cli("whatif", path, "--policy", policy, "--policy", policy))
        yield Case(f"whatif --policy {kind}", cli("whatif", example, "--policy", policy, "--policy", path))
    yield Case("whatif --until without offset",
               cli("whatif", example, "--policy", policy, "--policy", policy, f"--until={stamp}"))


def _bad_name(rng: random.Random) -> str:
    word = _word(rng)
    return rng.choice([f"{word} {word}", f"{word}/x", f"{word}*", f"é{word}", f"{word}:1", "x" * rng.randint(201, 300)])


def _bad_policy(rng: random.Random) -> bytes:
    good = {"P1": "30m", "P2": "1h", "P3": "4h", "P4": "8h"}
    key = rng.choice(list(good))
    mutated = dict(good)
    kind = rng.choice(["renamed priority", "bad duration", "syntax", "not UTF-8", "empty", "warn_at"])
    if kind == "renamed priority":
        mutated[rng.choice(["P5", "p1", "P0", _word(rng)])] = mutated.pop(key)
    elif kind == "bad duration":
        mutated[key] = rng.choice(["-5m", "0", "1.5h", "90x", "1h30", "nan", "٣h", "[]"])
    elif kind == "syntax":
        return b"plans:\n  default: [\n"
    elif kind == "not UTF-8":
        return b"plans:\n  default: {}\n# \xff\xfe\n"
    elif kind == "empty":
        return b""
    else:
        return f"plans:\n  default:\n    warn_at: [{rng.choice(['0', '1', '1.5', '-0.5', 'a'])}]\n".encode()
    targets = ", ".join(f"{name}: {value}" for name, value in mutated.items())
    return f"plans:\n  default:\n    objectives:\n      first_response: {{{targets}}}\n".encode()


SASL = (("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"), ("KAFKA_SASL_USERNAME", "u"), ("KAFKA_SASL_PASSWORD", "p"))
SSL = (("KAFKA_SECURITY_PROTOCOL", "SSL"),)


def generated_environment_cases(rng: random.Random) -> Iterator[Case]:
    """Two bad values for every setting (``UNCHECKED_HERE`` lists the exceptions and why)."""
    replay = cli("replay", str(EXAMPLE))
    numbers = {
        "TICKET_SLO_PARTITIONS": ("empty", "huge"),
        "TICKET_SLO_REPLICATION_FACTOR": ("empty", "huge"),
        "TICKET_SLO_METRICS_PORT": ("empty", "zero"),
        "TICKET_SLO_BREACH_GRACE": ("empty", "huge", "zero"),
        "TICKET_SLO_TICK_INTERVAL": ("empty", "huge"),
        "TICKET_SLO_MAX_BATCH": ("empty", "huge"),
        "TICKET_SLO_SESSION_TIMEOUT": ("empty", "huge"),
        "TICKET_SLO_ORPHAN_TIMEOUT": ("empty", "huge"),
        "TICKET_SLO_WEB_PORT": ("empty", "zero"),
    }
    for name, valid in numbers.items():
        for family, value in bad_numbers(rng, 2, valid=valid):
            yield Case(f"{name} {family} {value!r}", replay, env=((name, value),))
    host = rng.choice(["localhost", "broker.example", "10.0.0.7"])
    port_family, port = bad_numbers(rng, 1, valid=("huge",))[0]
    servers = [
        rng.choice(["", " ", "\t", ",", " , "]),
        f"{host}:{port}",
        f"{host}:{rng.randint(65536, 10**6)}",
        f":{rng.randint(1, 65535)}",
        host,
        f"{host} {host}:9092",
    ]
    for value in rng.sample(servers, 3):
        yield Case(f"KAFKA_BOOTSTRAP_SERVERS {value!r}", cli(rng.choice(["tail", "publish"]), "x"),
                   env=(("KAFKA_BOOTSTRAP_SERVERS", value),))
    for name in ("TICKET_SLO_APP_ID", "TICKET_SLO_TOPIC_PREFIX"):
        for value in (_bad_name(rng), _bad_name(rng)):
            yield Case(f"{name} {value[:40]!r}", replay, env=((name, value),))
    for value in (_word(rng), rng.choice([" ", "٣", "\udcff", "inf"])):
        yield Case(f"TICKET_SLO_LOG_LEVEL {value!r}", replay, env=(("TICKET_SLO_LOG_LEVEL", value),))
    for index in range(2):
        path = f"policies/{rng.randrange(10**6)}-{index}.yaml"
        yield Case(f"TICKET_SLO_POLICY generated {index}", replay, env=(("TICKET_SLO_POLICY", f"{SCRATCH}/{path}"),),
                   files=((path, _bad_policy(rng)),))
    for kind, path in bad_paths(rng, UNREADABLE):
        yield Case(f"TICKET_SLO_POLICY {kind}", replay, env=(("TICKET_SLO_POLICY", path),))
    for kind, path in [("a file", f"{SCRATCH}/a-file"), *bad_paths(rng, NOT_A_DIRECTORY, 1)]:
        yield Case(f"TICKET_SLO_DATA_DIR {kind}", cli("worker"), env=(("TICKET_SLO_DATA_DIR", path),))
    for value in (_word(rng), rng.choice(["2", "on", "\udcff", "truee"])):
        yield Case(f"TICKET_SLO_WEB_ENABLED {value!r}", replay, env=(("TICKET_SLO_WEB_ENABLED", value),))
    for value in (rng.choice(["localhost:6066", "ftp://x", "http://", "http://a b"]), _word(rng)):
        yield Case(f"TICKET_SLO_WEB_URL {value!r}", replay, env=(("TICKET_SLO_WEB_URL", value),))
    for value in (rng.choice(["0.0.0.0", "::", "10.0.0.7", "worker-1"]), rng.choice(["192.168.1.2", "example.org"])):
        yield Case(f"TICKET_SLO_WEB_ADDR {value!r} without tokens", cli("worker"), env=(("TICKET_SLO_WEB_ADDR", value),),
                   says="TICKET_SLO_WEB_TOKENS_FILE")
    for kind, path in bad_paths(rng, UNREADABLE):
        yield Case(f"TICKET_SLO_WEB_TOKENS_FILE {kind}", cli("worker"), env=(("TICKET_SLO_WEB_TOKENS_FILE", path),))
    for index, (text, says) in enumerate((
            (b"tokens:\n  - name: a\n    token: short\n    staff: true\n", "line 3: tokens.0.token"),
            (b"tokens:\n  - name: a\n    token: a-long-enough-secret\n    customer: c\n    staff: true\n",
             "line 2: tokens.0: give either"))):
        path = f"tokens/{rng.randrange(10**6)}-{index}.yaml"
        yield Case(f"TICKET_SLO_WEB_TOKENS_FILE generated {index}", cli("worker"),
                   env=(("TICKET_SLO_WEB_TOKENS_FILE", f"{SCRATCH}/{path}"),), files=((path, text),), says=says)
    for value in (_word(rng), rng.choice([" ", "SASL", "PLAIN", "TLS", "\udcff"])):
        yield Case(f"KAFKA_SECURITY_PROTOCOL {value!r}", replay, env=(("KAFKA_SECURITY_PROTOCOL", value),))
    sasl_names = ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE")
    ssl_names = ("KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE", "KAFKA_SSL_CHECK_HOSTNAME")
    for name in (*sasl_names, *ssl_names):  # set, but the protocol (PLAINTEXT) does not use it
        yield Case(f"{name} without its protocol", replay, env=((name, _word(rng)),))
    yield Case("KAFKA_SASL_MECHANISM unknown", replay, env=(*SASL, ("KAFKA_SASL_MECHANISM", _word(rng))))
    yield Case("SASL without a user", replay, env=(SASL[0], SASL[2]))
    yield Case("SASL without a password", replay, env=SASL[:2])
    tag = rng.randrange(10**6)
    password_files = [("missing", f"{SCRATCH}/missing-{tag}"), ("a directory", f"{SCRATCH}/a-dir"),
                      ("empty", f"{SCRATCH}/empty-{tag}"), ("not UTF-8", f"{SCRATCH}/binary-{tag}")]
    for kind, path in rng.sample(password_files, 2):
        yield Case(f"KAFKA_SASL_PASSWORD_FILE {kind}", replay,
                   env=(*SASL[:2], ("KAFKA_SASL_PASSWORD_FILE", path)),
                   files=((f"empty-{tag}", b""), (f"binary-{tag}", bytes([0xff, 0xfe]) + os.urandom(8))))
    junk = f"junk-{tag}.pem"
    for name in ("KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE"):
        kind, path = rng.choice([("missing", f"{SCRATCH}/missing-{tag}.pem"), ("a directory", f"{SCRATCH}/a-dir"),
                                 ("not PEM", f"{SCRATCH}/{junk}")])
        # Files that exist are read when the first client is made: `topics` reaches that point.
        yield Case(f"{name} {kind}", cli("topics"), env=(*SSL, (name, path)),
                   files=((junk, os.urandom(rng.randint(0, 64))),))
    yield Case("KAFKA_SSL_KEYFILE without a certificate", replay,
               env=(*SSL, ("KAFKA_SSL_KEYFILE", f"{SCRATCH}/a-file")))
    yield Case("KAFKA_SSL_CHECK_HOSTNAME not a boolean", replay,
               env=(*SSL, ("KAFKA_SSL_CHECK_HOSTNAME", rng.choice([_word(rng) + "x", "2", "\udcff"]))))
    yield from generated_alert_bridge_cases(rng)


def generated_alert_bridge_cases(rng: random.Random) -> Iterator[Case]:
    """The alert bridge's own settings, refused before it reaches the broker or Alertmanager."""
    bridge = cli("alert-bridge")
    for family, value in bad_numbers(rng, 2, valid=("empty",)):
        yield Case(f"TICKET_SLO_ALERT_REFRESH {family} {value!r}", bridge, env=(("TICKET_SLO_ALERT_REFRESH", value),))
    urls = ["alertmanager:9093", f"ftp://{_word(rng)}:9093", "http://", f"http://{_word(rng)}:{rng.randint(65536, 10**6)}",
            f"http://{_word(rng)}:{_word(rng)}", f"http://am:9093/?{_word(rng)}=1", " ", "\udcff", _word(rng)]
    for value in rng.sample(urls, 3):
        yield Case(f"TICKET_SLO_ALERTMANAGER_URL {value!r}", bridge, env=(("TICKET_SLO_ALERTMANAGER_URL", value),))
    priorities = [_word(rng), "P5", "P1;P2", "P0,P1", "\udcff", "1"]
    for value in rng.sample(priorities, 2):
        yield Case(f"TICKET_SLO_ALERT_PRIORITIES {value!r}", bridge, env=(("TICKET_SLO_ALERT_PRIORITIES", value),))
    warnings = [_word(rng) + "x", "1.5", "0", "1", "-0.5", "0.9,x", "nan", "\udcff", ",,"]
    for value in rng.sample(warnings, 2):
        yield Case(f"TICKET_SLO_ALERT_WARNINGS {value!r}", bridge, env=(("TICKET_SLO_ALERT_WARNINGS", value),))


#: Settings this test cannot refuse without a broker, and where they are checked instead.
UNCHECKED_HERE = {
    "TICKET_SLO_METRICS_ADDR": "bound after the broker answers; tests/integration/test_bad_config.py",
}


# -- listed cases: the mistakes users reported ---------------------------------------------------


def listed_cases() -> Iterator[Case]:
    example = str(EXAMPLE)
    yield Case("replay /missing.jsonl", cli("replay", "/missing.jsonl"),
               says="ticket-slo: cannot read events file '/missing.jsonl': No such file or directory")
    yield Case("replay --dead-letters in a missing directory",
               cli("replay", example, "--dead-letters", "/missing-dir/x"),
               says="cannot write dead-letter file '/missing-dir/x'")
    yield Case("publish /missing.jsonl", cli("publish", "/missing.jsonl"), says="cannot read events file")
    yield Case("replay a directory", cli("replay", SCRATCH), says="Is a directory")
    yield Case("schema --out a file", cli("schema", "--out", f"{SCRATCH}/a-file"), says="it is a file, not a directory")
    yield Case("simulate --rate -1", cli("simulate", "--rate", "-1"),
               says="ticket-slo simulate: argument --rate: '-1' is not a rate above 0")
    yield Case("simulate --rate 0", cli("simulate", "--rate", "0"), says="--rate: '0'")
    yield Case("simulate --response-scale 0", cli("simulate", "--response-scale", "0"), says="--response-scale: '0'")
    yield Case("simulate --duration -5", cli("simulate", "--duration", "-5"), says="--duration: '-5'")
    for command in (("tail", "breaches"), ("publish", example), ("worker",)):
        yield Case(f"{command[0]} with KAFKA_BOOTSTRAP_SERVERS empty", cli(*command),
                   env=(("KAFKA_BOOTSTRAP_SERVERS", ""),), says="bad setting: KAFKA_BOOTSTRAP_SERVERS='' names no broker")
    for value in ("127.0.0.1:abc", "host:", ":9092", "host:65536", "  "):
        yield Case(f"KAFKA_BOOTSTRAP_SERVERS {value!r}", cli("tail", "breaches"),
                   env=(("KAFKA_BOOTSTRAP_SERVERS", value),), says=f"KAFKA_BOOTSTRAP_SERVERS={value!r}")
    for command in (("tail", "breaches"), ("topics",), ("publish", example), ("simulate",), ("worker",)):
        yield Case(f"{command[0]} with no broker listening", cli(*command),
                   says=f"ticket-slo: cannot reach Kafka at {UNREACHABLE} (KAFKA_BOOTSTRAP_SERVERS)")
    yield Case("whatif with one policy", cli("whatif", example, "--policy", str(REPO / "schemas" / "default_policy.yaml")),
               says="ticket-slo: whatif: give at least two --policy files to compare (got 1)")
    policy = "p5.yaml"
    yield Case("a policy with P5 instead of P4", cli("replay", example, "--policy", f"{SCRATCH}/{policy}"),
               files=((policy, b"plans:\n  default:\n    objectives:\n      first_response:\n"
                               b"        P1: 1h\n        P2: 2h\n        P3: 4h\n        P5: 8h\n"),),
               says=f"/{policy}: line 8: plans.default.objectives.first_response.P5: unknown priority 'P5' "
                    "(known: P1, P2, P3, P4); P4 is missing")
    yield Case("broker.py bootstrap of a broker that is not running",
               (sys.executable, str(REPO / "deploy" / "kafka" / "broker.py"), "bootstrap",
                "--name", f"hostile-{random.Random(SEED).randrange(10**9)}"),
               exit_code=3, says="is not running; start it with")


def all_cases() -> list[Case]:
    rng = random.Random(SEED)
    cases = [*generated_argument_cases(rng), *generated_environment_cases(rng), *listed_cases()]
    unique: dict[str, Case] = {}
    for case in cases:
        name = case.name if case.name not in unique else f"{case.name} #{len(unique)}"
        unique[name] = Case(name, case.command, case.env, case.files, case.exit_code, case.says)
    return list(unique.values())


CASES = all_cases()
#: Runs checked by their own tests, in the same pool as the cases.
MAKE_RUN = Case("make run without a broker", (sys.executable, str(REPO / "deploy" / "run_local.py")))
ORPHAN_TIMEOUT_1D = Case("TICKET_SLO_ORPHAN_TIMEOUT=1d", cli("replay", str(EXAMPLE)),
                         env=(("TICKET_SLO_ORPHAN_TIMEOUT", "1d"),))


# -- running them ---------------------------------------------------------------------------------


def base_environment(scratch: Path) -> dict[str, str]:
    """This process's environment without our settings, pointed at a port where nothing listens."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KAFKA_", "TICKET_SLO_"))}
    env.update(KAFKA_BOOTSTRAP_SERVERS=UNREACHABLE, TICKET_SLO_DATA_DIR=str(scratch / "data"),
               TICKET_SLO_METRICS_PORT="0")
    return env


def run(command: tuple[str, ...], env: dict[str, str], cwd: Path) -> Outcome:
    started = time.monotonic()
    limited = (sys.executable, "-I", "-S", "-c", LIMITED, *command)
    try:
        done = subprocess.run(limited, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired as expired:
        return Outcome(None, "", (expired.stderr or b"").decode(errors="replace"), time.monotonic() - started)
    return Outcome(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"),
                   time.monotonic() - started)


def run_case(case: Case, scratch: Path) -> Outcome:
    def place(text: str) -> str:
        return text.replace(SCRATCH, str(scratch))

    env = {**base_environment(scratch), **{name: place(value) for name, value in case.env}}
    return run(tuple(place(part) for part in case.command), env, scratch)


def prepare(scratch: Path) -> None:
    (scratch / "a-dir").mkdir()
    (scratch / "a-file").write_text("not a directory\n")
    for case in CASES:
        for relative, content in case.files:
            target = scratch / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run once, a few at a time; the slowest (no broker answering) start first."""
    scratch = tmp_path_factory.mktemp("hostile")
    prepare(scratch)
    slow_first = [MAKE_RUN, *sorted(CASES, key=lambda case: "no broker listening" not in case.name)]
    order = [*slow_first, ORPHAN_TIMEOUT_1D]
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {case.name: pool.submit(run_case, case, scratch) for case in order}
        return {name: future.result() for name, future in futures.items()}


def refusal_problems(case: Case, outcome: Outcome) -> list[str]:
    """What is wrong with how the command refused the case; empty when all is well."""
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    problems = []
    if outcome.returncode is None:
        problems.append(f"still running after {TIME_LIMIT:.0f} s")
    elif outcome.returncode != case.exit_code:
        problems.append(f"exit code {outcome.returncode}, not {case.exit_code}")
    if "Traceback" in outcome.stderr or "MemoryError" in outcome.stderr:
        problems.append("a traceback")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, not 1")
    if outcome.stdout.strip():
        problems.append("output on stdout")
    if case.says and case.says not in outcome.stderr:
        problems.append(f"no {case.says!r}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[ascii(case.name)[1:-1] for case in CASES])
def test_refused_with_one_line_and_its_exit_code(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.name]
    problems = refusal_problems(case, outcome)
    assert not problems, (f"{'; '.join(problems)} (HOSTILE_SEED={SEED}, {outcome.seconds:.1f} s)\n"
                          f"command: {case.command}\nenv: {case.env}\nstderr:\n{outcome.stderr[-3000:]}")


def test_every_setting_gets_hostile_values() -> None:
    """A new setting must come with bad values here, or a reason why it cannot."""
    covered = {name for case in CASES for name, _ in case.env}
    assert (set(ENVIRONMENT) | set(ALERT_BRIDGE_ENVIRONMENT)) - covered - set(UNCHECKED_HERE) == set()


def test_the_check_itself_catches_a_traceback_a_second_line_and_a_wrong_code() -> None:
    case = Case("probe", ("x",))
    assert refusal_problems(case, Outcome(2, "", "ticket-slo: one line\n", 0.1)) == []
    assert refusal_problems(case, Outcome(1, "", "Traceback (most recent call last):\nValueError\n", 0.1)) == [
        "exit code 1, not 2", "a traceback", "2 lines on stderr, not 1"]
    assert refusal_problems(case, Outcome(None, "", "", 20.0)) == [f"still running after {TIME_LIMIT:.0f} s",
                                                                    "0 lines on stderr, not 1"]


def test_make_run_names_the_failed_step_and_exits_non_zero(outcomes: dict[str, Outcome]) -> None:
    """`make run` used to exit 0 when its topics step failed."""
    outcome = outcomes[MAKE_RUN.name]
    assert outcome.returncode == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert outcome.stderr.strip().splitlines()[-1] == (
        "run: stopped: the topics step (ticket-slo topics) failed with exit code 2")


def test_durations_in_the_policy_syntax_are_accepted(outcomes: dict[str, Outcome]) -> None:
    """TICKET_SLO_ORPHAN_TIMEOUT=1d was refused although the policy file accepts 1d."""
    outcome = outcomes[ORPHAN_TIMEOUT_1D.name]
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout.count("\n") == 5
