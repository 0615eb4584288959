"""One client factory: no module builds a Kafka client itself, so none can forget TLS and SASL.

The benchmark once had its own admin client and aiokafka clients that ignored the
security settings; this scan of the source finds any such client outside
``ticket_slo.streams.kafka.clients`` (Faust builds the worker's own, from its credentials).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FACTORY = Path("streams") / "kafka" / "clients.py"
CLIENT_CLASSES = {"KafkaProducer", "KafkaConsumer", "KafkaAdminClient", "AIOKafkaProducer", "AIOKafkaConsumer",
                  "AIOKafkaClient"}


def clients_built_outside_the_factory(root: Path, folders: tuple[str, ...]) -> list[str]:
    """``file:line Class`` for every call of a Kafka client class outside the factory module."""
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root)
            if relative == FACTORY or "__pycache__" in relative.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.Call):
                    name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                    if name in CLIENT_CLASSES:
                        found.append(f"{relative}:{node.lineno} {name}")
    return found


def test_every_client_of_the_package_comes_from_the_factory() -> None:
    assert clients_built_outside_the_factory(REPO, ("schemas", "streams", "agents")) == []


def test_the_scan_finds_a_client_built_elsewhere(tmp_path: Path) -> None:
    bench = tmp_path / "streams" / "bench"
    bench.mkdir(parents=True)
    (bench / "raw.py").write_text("import aiokafka\n\nasync def load():\n"
                                  "    return aiokafka.AIOKafkaProducer(bootstrap_servers='x')\n", encoding="utf-8")
    factory = tmp_path / FACTORY
    factory.parent.mkdir(parents=True)
    factory.write_text("from kafka import KafkaProducer\n\ndef make():\n    return KafkaProducer()\n", encoding="utf-8")
    assert clients_built_outside_the_factory(tmp_path, ("streams",)) == ["streams/bench/raw.py:4 AIOKafkaProducer"]

