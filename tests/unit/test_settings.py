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


@pytest.mark.parametrize("value", ["", "   ", ",", " , "])
def test_a_bootstrap_list_naming_no_broker_is_refused(value: str) -> None:
    """What `export KAFKA_BOOTSTRAP_SERVERS=$(…)` leaves when the command failed."""
    with pytest.raises(SettingsError, match=rf"^KAFKA_BOOTSTRAP_SERVERS={value!r} names no broker"):
        Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": value})


@pytest.mark.parametrize("value, server, problem", [
    ("127.0.0.1:abc", "127.0.0.1:abc", "does not end in a port number"),
    ("host:", "host:", "does not end in a port number"),
    ("a:1,host:0", "host:0", "does not end in a port number"),
    ("host:65536", "host:65536", "does not end in a port number"),
    ("host:٣", "host:٣", "does not end in a port number"),
    (":9092", ":9092", "is not host:port"),
    ("localhost", "localhost", "is not host:port"),
    ("my host:9092", "my host:9092", "is not host:port"),
])
def test_a_bootstrap_server_that_is_not_host_and_port_is_named(value: str, server: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=rf"^KAFKA_BOOTSTRAP_SERVERS={value!r}: {server!r} {problem}"):
        Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": value})


def test_bootstrap_servers_may_be_ipv6_and_spaced() -> None:
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": " [::1]:9092 , b:65535,"})
    assert settings.bootstrap_list == ["[::1]:9092", "b:65535"]


@pytest.mark.parametrize("name, value, seconds", [
    ("TICKET_SLO_ORPHAN_TIMEOUT", "1d", 86400.0),
    ("TICKET_SLO_ORPHAN_TIMEOUT", "1h30m", 5400.0),
    ("TICKET_SLO_SESSION_TIMEOUT", "45s", 45.0),
    ("TICKET_SLO_TICK_INTERVAL", "0.5", 0.5),
    ("TICKET_SLO_BREACH_GRACE", "0", 0.0),
    ("TICKET_SLO_BREACH_GRACE", "0s", 0.0),
    ("TICKET_SLO_BREACH_GRACE", "2m", 120.0),
])
def test_time_settings_take_seconds_or_the_policy_duration_syntax(name: str, value: str, seconds: float) -> None:
    field = {"TICKET_SLO_ORPHAN_TIMEOUT": "orphan_timeout", "TICKET_SLO_SESSION_TIMEOUT": "session_timeout",
             "TICKET_SLO_TICK_INTERVAL": "tick_interval", "TICKET_SLO_BREACH_GRACE": "breach_grace"}[name]
    assert getattr(Settings.from_env({name: value}), field) == seconds


@pytest.mark.parametrize("value, problem", [
    ("1x", "is not a number of seconds or a duration such as 90s, 30m, 4h, 1h30m, 1d"),
    ("٣d", "is not a number of seconds or a duration"),
    ("9" * 5000 + "s", "is not a number of seconds or a duration"),
    ("0s", "must be a positive duration"),
    ("0", "must be a positive finite number of seconds"),
    ("-5", "must be a positive finite number of seconds"),
    ("nan", "must be a positive finite number of seconds"),
    ("1e999", "must be a positive finite number of seconds"),
])
def test_bad_time_settings_are_named(value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"TICKET_SLO_ORPHAN_TIMEOUT": value})
    assert str(caught.value).startswith(f"TICKET_SLO_ORPHAN_TIMEOUT={value!r} {problem}")


@pytest.mark.parametrize("name", ["TICKET_SLO_APP_ID", "TICKET_SLO_TOPIC_PREFIX"])
@pytest.mark.parametrize("value", ["my app", "a/b", "é", "x:1", "x" * 201])
def test_names_that_become_topic_names_take_only_kafkas_characters(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{name}=.* may hold only letters, digits, '\.', '_' and '-'"):
        Settings.from_env({name: value})


def test_whole_numbers_and_ports_are_ascii_digits() -> None:
    with pytest.raises(SettingsError, match="TICKET_SLO_PARTITIONS='٣' is not a whole number"):
        Settings.from_env({"TICKET_SLO_PARTITIONS": "٣"})
    with pytest.raises(SettingsError, match=r"TICKET_SLO_METRICS_PORT='²' is not a port number"):
        Settings.from_env({"TICKET_SLO_METRICS_PORT": "²"})
    assert Settings.from_env({"TICKET_SLO_PARTITIONS": " 3 "}).partitions == 3


def test_an_empty_log_level_is_the_default() -> None:
    assert Settings.from_env({"TICKET_SLO_LOG_LEVEL": ""}).log_level == "info"


def test_the_status_api_port_may_be_left_to_the_kernel_unless_a_url_must_name_it() -> None:
    assert Settings.from_env({}).web_port == 6066 and not Settings.from_env({}).web_port_chosen
    assert not Settings.from_env({"TICKET_SLO_WEB_PORT": ""}).web_port_chosen  # empty: the default, not a choice
    picked = Settings.from_env({"TICKET_SLO_WEB_PORT": "0"})
    assert (picked.web_port, picked.web_port_chosen) == (0, True)
    assert Settings.from_env({"TICKET_SLO_WEB_PORT": "7001"}).web_port_chosen
    with pytest.raises(SettingsError, match=r"TICKET_SLO_WEB_PORT=0 picks a free port, which TICKET_SLO_WEB_URL"):
        Settings.from_env({"TICKET_SLO_WEB_PORT": "0", "TICKET_SLO_WEB_URL": "http://worker-1:6066"})
