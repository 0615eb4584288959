"""Where the status API listens: a port of 0 or a taken default becomes a free one (so a second
worker on a machine starts), a taken port that was asked for stops the worker in one line."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from typing import Iterator

import pytest

from ticket_slo.agents.worker import MetricsPortError, settle_web_port
from ticket_slo.streams.kafka.settings import Settings


@pytest.fixture()
def taken() -> Iterator[int]:
    """A port this test holds (listening) for as long as it runs."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_port_zero_becomes_a_free_port_before_the_app_is_made() -> None:
    settled = settle_web_port(Settings.from_env({"TICKET_SLO_WEB_PORT": "0"}))
    assert settled.web_port != 0 and _is_free(settled.web_port)


def test_a_free_port_is_kept() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = int(holder.getsockname()[1])
    settings = Settings.from_env({"TICKET_SLO_WEB_PORT": str(port)})
    assert settle_web_port(settings) is settings


def test_a_taken_default_port_moves_with_a_warning(taken: int, caplog: pytest.LogCaptureFixture) -> None:
    default = replace(Settings.from_env({}), web_port=taken)  # as if 6066 were the port held
    with caplog.at_level(logging.WARNING):
        settled = settle_web_port(default)
    assert settled.web_port not in (taken, 0) and _is_free(settled.web_port)
    assert f"port {taken} is taken" in caplog.text and f"serving on port {settled.web_port}" in caplog.text


@pytest.mark.parametrize("env", [{"TICKET_SLO_WEB_PORT": "PORT"},
                                 {"TICKET_SLO_WEB_URL": "http://worker-1:PORT"}])
def test_a_taken_port_that_was_asked_for_stops_the_worker(taken: int, env: dict[str, str]) -> None:
    settings = Settings.from_env({name: value.replace("PORT", str(taken)) for name, value in env.items()})
    settings = replace(settings, web_port=taken)
    with pytest.raises(MetricsPortError, match=rf"cannot serve the status API on 127.0.0.1:{taken} "
                                               r"\(TICKET_SLO_WEB_ADDR/PORT\): Address already in use"):
        settle_web_port(settings)
