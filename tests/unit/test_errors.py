"""One error root, caught once: every user-facing error is a TicketSloError with one line and an exit code."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import InvalidReplicationFactorError, TopicAuthorizationFailedError

from ticket_slo.agents.worker import DataDirError, MetricsPortError, prepare_data_dir
from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.policy import PolicyError
from ticket_slo.streams.bench.processes import BenchError
from ticket_slo.streams.kafka.connection import KafkaUnreachable, brief, unreachable_message
from ticket_slo.streams.kafka.settings import Settings, SettingsError
from ticket_slo.streams.kafka.topics import TopicMismatch, TopicsError, TopicSpec, _refusal
from ticket_slo.streams.tools import cli
from ticket_slo.streams.tools.arguments import OneLineParser, number_between
from ticket_slo.streams.tools.files import FileError, open_text, output_directory


@pytest.mark.parametrize("error_class, exit_code", [
    (PolicyError, 2), (SettingsError, 2), (TopicsError, 2), (TopicMismatch, 2), (KafkaUnreachable, 2),
    (FileError, 2), (MetricsPortError, 2), (DataDirError, 2), (BenchError, 1),
])
def test_every_user_facing_error_has_the_one_root(error_class: type[Exception], exit_code: int) -> None:
    assert issubclass(error_class, TicketSloError)
    error = PolicyError("p.yaml", "plans", "x") if error_class is PolicyError else error_class("x")
    assert error.exit_code == exit_code


def test_the_line_has_the_label_and_never_more_than_one_line() -> None:
    assert SettingsError("X='y' is not a number").one_line() == "bad setting: X='y' is not a number"
    assert TicketSloError("first\n\n  second  \n").one_line() == "first second"
    assert TicketSloError("m", exit_code=5).exit_code == 5


@pytest.fixture(autouse=True)
def _no_settings_from_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() reads the settings first; the caller's own must not decide these tests."""
    import os

    for name in [name for name in os.environ if name.startswith(("KAFKA_", "TICKET_SLO_"))]:
        monkeypatch.delenv(name)


def _raising(error: BaseException) -> Any:
    def add(commands: Any) -> None:
        def handler(args: argparse.Namespace, settings: Settings) -> int:
            raise error
        commands.add_parser("boom").set_defaults(handler=handler)
    return add


def test_the_command_line_prints_the_line_and_exits_with_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["boom"], extra_commands=(_raising(TopicsError("the topic is odd", exit_code=5)),)) == 5
    assert capsys.readouterr().err == "ticket-slo: the topic is odd\n"


def test_ctrl_c_is_exit_130_without_a_word(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["boom"], extra_commands=(_raising(KeyboardInterrupt()),)) == 130
    assert capsys.readouterr().err == ""


def test_an_argument_error_is_one_line_pointing_to_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = OneLineParser(prog="ticket-slo")
    sub = parser.add_subparsers(dest="command").add_parser("simulate")
    sub.add_argument("--rate", type=number_between(0, 10, low_allowed=False, what="a rate above 0"))
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["simulate", "--rate", "-1"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "ticket-slo simulate: argument --rate: '-1' is not a rate above 0 (see ticket-slo simulate --help)\n")


@pytest.mark.parametrize("text", ["0", "-0", "10.5", "nan", "inf", "-inf", "1e999", "٣", "", " ", "two"])
def test_a_bounded_number_refuses_what_is_out_of_range_or_not_a_number(text: str) -> None:
    parse = number_between(0, 10, low_allowed=False, what="between")
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{text!r} is not between$"):
        parse(text)


def test_a_bounded_number_takes_its_bounds() -> None:
    assert number_between(0, 10, low_allowed=True, what="x")("0") == 0.0
    assert number_between(0, 10, low_allowed=False, what="x")(" 10 ") == 10.0


def test_files_name_the_path_and_the_reason(tmp_path: Path) -> None:
    with pytest.raises(FileError, match=rf"^cannot read events file '{tmp_path}': Is a directory$"):
        open_text(tmp_path, "events file")
    (tmp_path / "f").write_text("")
    with pytest.raises(FileError, match=r"it is a file, not a directory$"):
        output_directory(tmp_path / "f", "schemas")
    with pytest.raises(FileError, match=r"^cannot create schemas directory .*: Not a directory$"):
        output_directory(tmp_path / "f" / "sub", "schemas")


def test_a_data_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    settings = Settings(data_dir=tmp_path / "f")
    with pytest.raises(DataDirError, match=r"^TICKET_SLO_DATA_DIR='.*/f' is a file, not a directory$"):
        prepare_data_dir(settings)


# -- the broker's words, shortened ---------------------------------------------------------------

ECHOED = ("[Error 38] InvalidReplicationFactorError: Request 'CreateTopicsRequest(version=7, topics=["
          "CreatableTopic(name='t', num_partitions=8, replication_factor=3)], timeout_ms=30000)' failed with "
          "response 'CreateTopicsResponse(version=7, topics=[CreatableTopicResult(error_code=38)])'")
KAFKA_4_SAYS = ("Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be "
                "reached because only 1 broker(s) are registered or some brokers have all their log "
                "directories cordoned.")


def test_a_kafka_error_loses_the_request_it_echoes() -> None:
    assert brief(Exception(ECHOED)) == "[Error 38] InvalidReplicationFactorError"
    assert len(brief(Exception("x" * 1000))) == 300


def test_a_replication_factor_the_cluster_cannot_meet_is_one_short_line() -> None:
    spec = TopicSpec("dev-ticket-events", 8, 3)
    assert _refusal(spec, InvalidReplicationFactorError, KAFKA_4_SAYS) == (
        "cannot create topic 'dev-ticket-events' with replication factor 3: the cluster has 1 broker "
        "(TICKET_SLO_REPLICATION_FACTOR)")
    assert _refusal(spec, InvalidReplicationFactorError, "a new wording") == (
        "cannot create topic 'dev-ticket-events' with replication factor 3: a new wording "
        "(TICKET_SLO_REPLICATION_FACTOR)")
    assert _refusal(spec, TopicAuthorizationFailedError, None) == (
        "cannot create topic 'dev-ticket-events': TopicAuthorizationFailedError: refused by the broker")


def test_an_unreachable_broker_names_the_address_the_variable_and_the_reason() -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:1")
    assert unreachable_message(settings, "KafkaConnectionError: 111 ECONNREFUSED") == (
        "cannot reach Kafka at 127.0.0.1:1 (KAFKA_BOOTSTRAP_SERVERS): no broker answered within 8 s "
        "(KafkaConnectionError: 111 ECONNREFUSED)")
