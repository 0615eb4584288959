"""Settings come from the environment and name the variable when a value is unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticket_slo.streams.kafka.settings import ENVIRONMENT, Settings, SettingsError


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.topics.events == "ticket-events"
    assert settings.topics.dead_letters == "ticket-events-dlq"


def test_timing_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env({})
    assert settings.breach_grace == 1.0  # a breach waits 1 s for an acknowledgement in flight
    assert settings.tick_interval == 0.25
    assert settings.orphan_timeout == 24 * 3600.0  # events of a never-opened ticket wait a day


def test_environment_overrides_every_setting() -> None:
    settings = Settings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": "a:1, b:2",
        "TICKET_SLO_APP_ID": "slo-test",
        "TICKET_SLO_TOPIC_PREFIX": "x-",
        "TICKET_SLO_PARTITIONS": "3",
        "TICKET_SLO_REPLICATION_FACTOR": "2",
        "TICKET_SLO_DATA_DIR": "/tmp/slo",
        "TICKET_SLO_LOG_LEVEL": "WARNING",
    })
    assert settings.bootstrap_list == ["a:1", "b:2"]
    assert settings.app_id == "slo-test"
    assert settings.topics.events == "x-ticket-events"
    assert settings.topics.dead_letters == "x-ticket-events-dlq"
    assert (settings.partitions, settings.replication_factor) == (3, 2)
    assert settings.data_dir == Path("/tmp/slo")
    assert settings.log_level == "warning"


def test_every_documented_variable_is_read() -> None:
    source = Path(__file__).resolve().parents[2].joinpath("streams", "kafka", "settings.py").read_text()
    for name in ENVIRONMENT:
        assert f'"{name}"' in source.split("def from_env", 1)[1], name


@pytest.mark.parametrize("value, problem", [("three", "is not a whole number"), ("0", "must be at least 1")])
def test_bad_partition_count_names_the_variable(value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=rf"TICKET_SLO_PARTITIONS='{value}' {problem}"):
        Settings.from_env({"TICKET_SLO_PARTITIONS": value})


def test_bad_log_level_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="TICKET_SLO_LOG_LEVEL='loud'"):
        Settings.from_env({"TICKET_SLO_LOG_LEVEL": "loud"})
