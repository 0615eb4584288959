"""What the status API measurements are built on: the customer every open-tickets phase gives
the same few tickets, each phase's own API port, and the medians of the API-cost runs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ticket_slo.streams.bench.api_cost import cost_summary, worker_us_per_event
from ticket_slo.streams.bench.context import BenchContext
from ticket_slo.streams.bench.cpu import CpuLedger
from ticket_slo.streams.bench.lifecycle import API_CUSTOMER, customer_share, open_tickets
from ticket_slo.streams.bench.plan import LONG_POLICY, full_plan
from ticket_slo.streams.kafka.settings import Settings


@pytest.mark.parametrize("count", [1_000, 10_000, 1_000_000])
def test_the_api_customer_has_the_same_tickets_at_every_size(count: int) -> None:
    share = customer_share(count, 40)
    assert len(share) == 40 and share[-1] < count
    assert share.step == count // 40, "spread over the ids, so over the partitions"


def test_fewer_tickets_than_asked_are_all_the_customers() -> None:
    assert list(customer_share(10, 40)) == list(range(10))
    assert len(customer_share(10, 0)) == 0


def test_open_tickets_give_only_the_share_to_the_api_customer_and_change_nothing_else() -> None:
    plain = list(open_tickets(4_000, prefix="O-", at=1.7e9))
    marked = list(open_tickets(4_000, prefix="O-", at=1.7e9, customer_tickets=40))
    customers = Counter(json.loads(value)["customer_id"] for _, value in marked)
    assert customers[API_CUSTOMER] == 40
    assert API_CUSTOMER not in {json.loads(value)["customer_id"] for _, value in plain}
    assert max(count for customer, count in customers.items() if customer != API_CUSTOMER) < 40
    changed = [n for n, (a, b) in enumerate(zip(plain, marked)) if a != b]
    assert changed == list(customer_share(4_000, 40))
    for n in changed:
        before, after = json.loads(plain[n][1]), json.loads(marked[n][1])
        assert {**before, "customer_id": API_CUSTOMER} == after
        assert len(plain[n][1]) == len(marked[n][1]), "same size: memory figures unchanged"


def test_each_phase_serves_the_api_on_a_port_of_its_own(tmp_path: Path) -> None:
    ctx = BenchContext(Settings(), full_plan(), "bench-x-", tmp_path, CpuLedger(cores=2))
    first, second = ctx.phase("one", LONG_POLICY), ctx.phase("two", LONG_POLICY, TICKET_SLO_WEB_ENABLED="false")
    assert first.web_url != second.web_url
    assert first.web_url.startswith("http://127.0.0.1:") and first.env["TICKET_SLO_WEB_ADDR"] == "127.0.0.1"
    assert first.env["TICKET_SLO_WEB_TOKENS_FILE"] == "" and second.env["TICKET_SLO_WEB_ENABLED"] == "false"
    assert int(first.env["TICKET_SLO_WEB_PORT"]) not in (0, 6066)


def _run(web: str, events_per_s: float, worker_cpu_s: float) -> dict[str, object]:
    drain = {"events": 500_000, "cpu": {"cpu_s": {"worker": worker_cpu_s}}}
    return {"web": web, "events_per_s": events_per_s, "worker_us_per_event": worker_us_per_event(drain)}


def test_the_cost_is_between_the_medians_of_each_side() -> None:
    runs = [_run("off", 30_000, 14.0), _run("on", 29_000, 14.5), _run("on", 31_000, 15.0),
            _run("off", 32_000, 13.0), _run("on", 27_000, 14.0)]
    summary = cost_summary(runs)
    assert summary["median_events_per_s"] == {"off": 31_000, "on": 29_000}
    assert summary["ratio_on_to_off"] == round(29_000 / 31_000, 4)
    assert summary["cost"] == round(1 - 29_000 / 31_000, 4)
    assert summary["median_worker_us_per_event"] == {"off": 27.0, "on": 29.0}
    assert summary["cpu_cost"] == round(29.0 / 27.0 - 1, 4)


def test_no_cost_without_both_sides() -> None:
    summary = cost_summary([_run("off", 30_000, 14.0)])
    assert summary["cost"] is None and summary["ratio_on_to_off"] is None


def test_idle_runs_get_their_own_median_and_stay_out_of_the_cost() -> None:
    runs = [_run("off", 30_000, 14.0), _run("idle", 20_000, 20.0), _run("on", 29_000, 14.5)]
    summary = cost_summary(runs)
    assert summary["median_events_per_s"] == {"off": 30_000, "idle": 20_000, "on": 29_000}
    assert summary["cost"] == round(1 - 29_000 / 30_000, 4)
