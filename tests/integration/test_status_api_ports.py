"""Two workers on one machine without a TICKET_SLO_WEB_PORT each: the second finds the default
port taken and serves on a free one, tells the group so, and the two answer for the whole
cluster; TICKET_SLO_WEB_PORT=0 is the kernel's pick, logged."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.integration.status_http import get, wait_for
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration]

DEFAULT_PORT = 6066
PARTITIONS = 4


def _served_port(worker: WorkerProcess) -> int:
    found = re.findall(r"status API on 127\.0\.0\.1:(\d+) ", worker.log())
    assert found, worker.log()[-3000:]
    return int(found[-1])


def test_a_taken_default_port_moves_and_port_zero_is_picked(kafka_bootstrap: str, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:  # as a first worker on this machine would; something else may hold it already
            holder.bind(("127.0.0.1", DEFAULT_PORT))
            holder.listen()
        except OSError:
            pass
        moved = WorkerProcess(kafka_bootstrap, tmp_path, extra_env={"TICKET_SLO_WEB_PORT": ""},
                              partitions=PARTITIONS)
        picked = WorkerProcess(kafka_bootstrap, tmp_path, prefix=moved.prefix, extra_env={"TICKET_SLO_WEB_PORT": "0"},
                               partitions=PARTITIONS)
        workers = (moved, picked)
        try:
            for worker in workers:
                worker.start()
            assert f"port {DEFAULT_PORT} is taken" in moved.log()
            ports = [_served_port(worker) for worker in workers]
            assert DEFAULT_PORT not in ports and 0 not in ports and ports[0] != ports[1]

            def split_and_gathered() -> bool:
                gathered = [get(f"http://127.0.0.1:{port}/api/open") for port in ports]
                local = [get(f"http://127.0.0.1:{port}/api/open?scope=local") for port in ports]
                if not all(status == 200 for status, _, _ in gathered + local):
                    return False
                owned = [set(body["partitions"]) for _, _, body in local]
                return (all(body["partitions"] == PARTITIONS for _, _, body in gathered)
                        and all(owned) and not owned[0] & owned[1] and len(owned[0] | owned[1]) == PARTITIONS)
            wait_for(split_and_gathered, 90, "the two workers to split the partitions and each to gather the "
                                             "other's through its moved port")
        finally:
            for worker in workers:
                worker.cleanup()
