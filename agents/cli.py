"""The ``ticket-slo`` program: the tools' commands plus ``worker``, the one that runs Faust."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.tools import cli as tools_cli

__all__ = ["main"]


def add_worker_command(commands: Any) -> None:
    worker = commands.add_parser("worker", help="run the stream processor (Faust worker)")
    worker.add_argument("--policy", type=Path, help="SLO policy file (default: $TICKET_SLO_POLICY or the shipped one)")
    worker.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from ticket_slo.agents.web import access_book
    from ticket_slo.agents.worker import prepare_data_dir, run_worker
    from ticket_slo.streams.kafka.topics import ensure_topics

    # What can be checked on this machine is checked before the broker is asked anything.
    policy = tools_cli.load_policy_of(args, settings)
    prepare_data_dir(settings)
    access = access_book(settings) if settings.web_enabled else None
    ensure_topics(settings)
    return run_worker(settings, policy, access)


def main(argv: Sequence[str] | None = None) -> int:
    return tools_cli.main(argv, extra_commands=(add_worker_command,))


if __name__ == "__main__":
    raise SystemExit(main())
