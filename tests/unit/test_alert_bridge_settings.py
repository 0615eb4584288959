"""The alert bridge's settings and its handling of records that are not outputs."""

from __future__ import annotations

import logging

import pytest

from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.alerting.bridge import decode_output
from ticket_slo.streams.alerting.bridge_settings import BridgeSettings
from ticket_slo.streams.kafka.settings import SettingsError
from ticket_slo.streams.tools.alert_bridge import rules_of


def test_defaults_page_p1_and_p2_and_notify_their_last_warning() -> None:
    settings = BridgeSettings.from_env({})
    assert settings.priorities == {"P1", "P2"} and settings.warnings == "last"
    assert settings.alertmanager_url == "http://127.0.0.1:9093" and settings.refresh_seconds == 60.0


def test_values_are_read() -> None:
    settings = BridgeSettings.from_env({"TICKET_SLO_ALERTMANAGER_URL": "https://am.example:9093/",
                                        "TICKET_SLO_ALERT_PRIORITIES": "p1, P3", "TICKET_SLO_ALERT_WARNINGS": "0.75,0.9",
                                        "TICKET_SLO_ALERT_REFRESH": "2m"})
    assert settings.alertmanager_url == "https://am.example:9093"
    assert settings.priorities == {"P1", "P3"} and settings.warnings == {0.75, 0.9}
    assert settings.refresh_seconds == 120.0
    assert BridgeSettings.from_env({"TICKET_SLO_ALERT_PRIORITIES": ""}).priorities == frozenset()


@pytest.mark.parametrize("name, value, says", [
    ("TICKET_SLO_ALERTMANAGER_URL", "alertmanager:9093", "is not an http:// or https:// base URL"),
    ("TICKET_SLO_ALERTMANAGER_URL", "http://am:99999", "has a bad port number"),
    ("TICKET_SLO_ALERT_PRIORITIES", "P1,P5", "'P5' is not a priority"),
    ("TICKET_SLO_ALERT_WARNINGS", "1.5", "is not last, all, none"),
    ("TICKET_SLO_ALERT_WARNINGS", "most", "is not last, all, none"),
    ("TICKET_SLO_ALERT_REFRESH", "0", "must be a positive"),
    ("TICKET_SLO_ALERT_REFRESH", "soon", "is not a number of seconds"),
    ("TICKET_SLO_ALERT_REFRESH", "2d", "must be at most 1 day"),
])
def test_a_bad_value_names_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}='{value}'.*{says}"):
        BridgeSettings.from_env({name: value})


def test_last_means_the_last_warn_at_of_the_warnings_plan() -> None:
    policy = Policy.model_validate({"plans": {
        "default": {"warn_at": [0.5, 0.75], "objectives": {"first_response": {"P1": 60, "P2": 60, "P3": 60, "P4": 60}}},
        "gold": {"warn_at": [0.5, 0.9], "objectives": {"first_response": {"P1": 60, "P2": 60, "P3": 60, "P4": 60}}}}})
    rules = rules_of(BridgeSettings(), policy)
    assert (rules.last_threshold("gold"), rules.last_threshold("default"), rules.last_threshold("other")) == (
        0.9, 0.75, 0.75)


@pytest.mark.parametrize("value, says", [(b"{not json", "not JSON"), (b'{"type": "slo.unknown"}', "unknown type"),
                                         (b"[1]", "unknown type"), (None, "without a value"),
                                         (b'{"type": "slo.completed", "ticket_id": "T"}', "invalid slo.completed")])
def test_a_record_that_is_not_an_output_is_logged_with_where_it_was_and_skipped(
        value: bytes | None, says: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert decode_output("x-ticket-slo-breaches", 3, 17, value) is None
    assert says in caplog.text and "x-ticket-slo-breaches/3 offset 17" in caplog.text
