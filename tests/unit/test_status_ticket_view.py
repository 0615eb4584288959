"""One ticket as the status API shows it, with values worked out by hand from the script."""

from __future__ import annotations

import yaml

from ticket_slo.schemas.policy import Policy, load_policy
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.objective_clock import terms_for
from ticket_slo.streams.core.partition_batch import TouchedStore
from ticket_slo.streams.core.timebase import seconds_to_micros
from ticket_slo.streams.status.ticket_view import iso_instant, read_record, ticket_view
from tests.unit.script import ETA_AND_RESOLUTION, acknowledged, clock, opened, status_changed

DEFAULT = load_policy()


def _view(policy: Policy, store: TouchedStore, ticket: str, minutes: float) -> dict:
    return ticket_view(ticket, read_record(store.data[ticket]), terms_for(policy), seconds_to_micros(clock(minutes)))


def test_a_running_then_breached_first_response() -> None:
    store = TouchedStore()
    engine = SloEngine(DEFAULT, store)
    engine.apply(opened("t1", 0, "P1", customer="acme", account_manager="dana"), clock(0))
    view = _view(DEFAULT, store, "t1", 10)
    assert {key: view[key] for key in ("ticket_id", "phase", "priority", "customer_id", "account_manager")} == {
        "ticket_id": "t1", "phase": "running", "priority": "P1", "customer_id": "acme", "account_manager": "dana"}
    (first,) = view["objectives"]
    assert first == {"objective": "first_response", "state": "running", "priority": "P1", "calendar": "24x7",
                     "started_at": "2024-05-01T00:00:00.000000Z", "deadline": "2024-05-01T00:30:00.000000Z",
                     "remaining_seconds": 1200.0, "overdue_seconds": None, "elapsed_seconds": 600.0,
                     "warnings_sent": 0, "target_seconds": 1800.0}
    engine.advance(clock(40))
    (late,) = _view(DEFAULT, store, "t1", 40)["objectives"]
    assert (late["state"], late["remaining_seconds"], late["overdue_seconds"], late["warnings_sent"]) == (
        "breached", None, 600.0, 3)
    engine.apply(acknowledged("t1", 45), clock(45))
    done = _view(DEFAULT, store, "t1", 50)
    assert (done["phase"], done["customer_id"], done["priority"], done["account_manager"]) == ("done", "acme", "P1", None)
    assert done["objectives"] == [{
        "objective": "first_response", "state": "breached", "priority": "P1", "calendar": "24x7",
        "started_at": None, "deadline": None, "remaining_seconds": None, "overdue_seconds": None,
        "elapsed_seconds": None, "warnings_sent": 0, "target_seconds": None}]


def test_a_met_clock_and_one_whose_breach_was_retracted() -> None:
    store = TouchedStore()
    engine = SloEngine(DEFAULT, store)
    engine.apply(opened("t3", 0, "P1"), clock(0))
    engine.apply(acknowledged("t3", 12), clock(12))
    (met,) = _view(DEFAULT, store, "t3", 20)["objectives"]
    assert met["state"] == "met"
    engine.apply(opened("t4", 0, "P1"), clock(0))
    engine.advance(clock(35))  # breached at 30 minutes: noticed
    engine.apply(acknowledged("t4", 25), clock(36))  # then the acknowledgement of 00:25 arrives
    (retracted,) = _view(DEFAULT, store, "t4", 40)["objectives"]
    assert retracted["state"] == "retracted"


def test_a_paused_clock_has_no_deadline_and_keeps_its_banked_time() -> None:
    policy = Policy.model_validate(yaml.safe_load(ETA_AND_RESOLUTION + """plans:
  default:
    objectives:
      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 8h}
      resolution: {P1: 4h, P2: 8h, P3: 2d, P4: 5d}
"""))
    store = TouchedStore()
    engine = SloEngine(policy, store)
    engine.apply(opened("t2", 0, "P2"), clock(0))
    engine.apply(acknowledged("t2", 5), clock(5))
    engine.apply(status_changed("t2", 20, "waiting_on_customer"), clock(20))
    view = _view(policy, store, "t2", 90)
    states = {clock["objective"]: clock for clock in view["objectives"]}
    assert states["first_response"]["state"] == "met"
    resolution = states["resolution"]
    assert (resolution["state"], resolution["deadline"], resolution["remaining_seconds"], resolution["elapsed_seconds"],
            resolution["target_seconds"]) == ("paused", None, None, 1200.0, 28800.0)


def test_instants_are_fixed_width() -> None:
    assert iso_instant(0) == "1970-01-01T00:00:00.000000Z"
    assert iso_instant(1_714_521_600_000_001) == "2024-05-01T00:00:00.000001Z"
