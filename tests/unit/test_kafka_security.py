"""TLS and SASL settings reach both client libraries, and the password shows up nowhere.

The settings are translated by ``ticket_slo.streams.kafka.security`` for kafka-python (the tools),
bare aiokafka (the benchmark) and Faust (the worker); these tests build real client objects
and Faust apps from the same environment and look at what each one got.
"""

from __future__ import annotations

import logging
import pickle
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import AuthProtocol, SASLMechanism
from kafka import KafkaProducer

from ticket_slo.agents.credentials import faust_credentials
from ticket_slo.streams.kafka.security import aiokafka_security, kafka_python_security, ssl_context
from ticket_slo.streams.kafka.settings import ENVIRONMENT, Secret, Settings, SettingsError

PASSWORD = "s3cret-Pa55word"
SASL = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "svc-slo",
        "KAFKA_SASL_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throw-away CA and a client certificate signed by it, made with the openssl tool."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    where = tmp_path_factory.mktemp("pem")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=where, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=svc-slo", "-keyout", "client.key",
            "-out", "client.csr")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", "client.pem")
    (where / "both.pem").write_text((where / "client.pem").read_text() + (where / "client.key").read_text())
    (where / "garbage.pem").write_text("not a certificate\n")
    return {path.stem: path for path in where.glob("*.pem")} | {"client.key": where / "client.key"}


# -- the settings -------------------------------------------------------------------------------


def test_plaintext_is_the_default_and_needs_nothing() -> None:
    settings = Settings.from_env({})
    assert (settings.security_protocol, settings.uses_tls, settings.uses_sasl) == ("PLAINTEXT", False, False)
    assert kafka_python_security(settings) == {"security_protocol": "PLAINTEXT"}
    assert aiokafka_security(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_every_security_variable_is_documented() -> None:
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
                 "KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE",
                 "KAFKA_SSL_CHECK_HOSTNAME"):
        assert ENVIRONMENT.get(name), name


def test_protocol_and_mechanism_are_case_insensitive() -> None:
    settings = Settings.from_env({**SASL, "KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
                                  "KAFKA_SASL_MECHANISM": "scram-sha-512"})
    assert (settings.security_protocol, settings.sasl_mechanism) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")


@pytest.mark.parametrize("env, message", [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"},
     "KAFKA_SECURITY_PROTOCOL='TLS' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ({**SASL, "KAFKA_SASL_MECHANISM": "GSSAPI"},
     "KAFKA_SASL_MECHANISM='GSSAPI' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
    ({**SASL, "KAFKA_SASL_USERNAME": ""}, "KAFKA_SASL_USERNAME is required with KAFKA_SECURITY_PROTOCOL='SASL_PLAINTEXT'"),
    ({**SASL, "KAFKA_SASL_PASSWORD": ""},
     "KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) is required with KAFKA_SECURITY_PROTOCOL='SASL_PLAINTEXT'"),
    ({**SASL, "KAFKA_SASL_PASSWORD_FILE": "/run/secrets/kafka"},
     "KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: set one"),
    ({**SASL, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": "/nonexistent/kafka-password"},
     "KAFKA_SASL_PASSWORD_FILE='/nonexistent/kafka-password' cannot be read: No such file or directory"),
    ({"KAFKA_SASL_USERNAME": "svc-slo"},
     "KAFKA_SASL_USERNAME is set but KAFKA_SECURITY_PROTOCOL='PLAINTEXT' does not use SASL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_PASSWORD": PASSWORD},
     "KAFKA_SASL_PASSWORD is set but KAFKA_SECURITY_PROTOCOL='SSL' does not use SASL"),
    ({**SASL, "KAFKA_SSL_CAFILE": "/etc/ca.pem"},
     "KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL='SASL_PLAINTEXT' does not use TLS"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     "KAFKA_SSL_CAFILE='/nonexistent/ca.pem' is not a file"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "/nonexistent/client.pem"},
     "KAFKA_SSL_CERTFILE='/nonexistent/client.pem' is not a file"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CHECK_HOSTNAME": "maybe"},
     "KAFKA_SSL_CHECK_HOSTNAME='maybe' is not true or false"),
])
def test_unusable_security_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value) and PASSWORD not in str(caught.value)


def test_a_key_file_without_its_certificate_is_refused(pem: dict[str, Path]) -> None:
    with pytest.raises(SettingsError, match="KAFKA_SSL_KEYFILE='.*client.key' is set without KAFKA_SSL_CERTFILE"):
        Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": str(pem["client.key"])})


def test_password_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")
    settings = Settings.from_env({**SASL, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(secret)})
    assert settings.sasl_password is not None and settings.sasl_password.reveal() == PASSWORD
    secret.write_text("\n")
    with pytest.raises(SettingsError, match="KAFKA_SASL_PASSWORD_FILE='.*' is empty"):
        Settings.from_env({**SASL, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(secret)})


def test_the_password_is_in_no_repr_str_or_pickle_text(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env(SASL)
    assert settings.sasl_password == Secret(PASSWORD)
    shown = [repr(settings), str(settings), repr(settings.sasl_password), str(settings.sasl_password),
             f"{settings.sasl_password}", repr(faust_credentials(settings)), repr(kafka_python_security(settings))]
    for text in shown:
        assert PASSWORD not in text, text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").debug("settings %s, kafka-python config %s", settings, kafka_python_security(settings))
    assert PASSWORD not in caplog.text
    assert pickle.loads(pickle.dumps(settings)) == settings  # still a plain value object


# -- what each protocol and mechanism becomes ---------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_for_each_mechanism(mechanism: str) -> None:
    settings = Settings.from_env({**SASL, "KAFKA_SASL_MECHANISM": mechanism})
    config = kafka_python_security(settings)
    assert config == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
                      "sasl_plain_username": "svc-slo", "sasl_plain_password": PASSWORD}
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_PLAINTEXT
    assert credentials.mechanism is SASLMechanism(mechanism)
    assert (credentials.username, credentials.password, credentials.ssl_context) == ("svc-slo", PASSWORD, None)


def test_ssl_with_the_system_cas_checks_the_host_name() -> None:
    settings = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL"})
    config = kafka_python_security(settings)
    assert set(config) == {"security_protocol", "ssl_context"} and config["security_protocol"] == "SSL"
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SSLCredentials) and credentials.protocol is AuthProtocol.SSL
    for context in (config["ssl_context"], credentials.context):
        assert_verifying(context, check_hostname=True)


def test_ssl_with_own_ca_and_client_certificate(pem: dict[str, Path]) -> None:
    settings = Settings.from_env({
        "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(pem["ca"]),
        "KAFKA_SSL_CERTFILE": str(pem["client"]), "KAFKA_SSL_KEYFILE": str(pem["client.key"]),
        "KAFKA_SSL_CHECK_HOSTNAME": "false",
    })
    assert (settings.ssl_cafile, settings.ssl_check_hostname) == (pem["ca"], False)
    kafka_context = kafka_python_security(settings)["ssl_context"]
    faust_context = faust_credentials(settings).context  # type: ignore[union-attr]
    for context in (kafka_context, faust_context):
        assert_verifying(context, check_hostname=False)
        assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_a_certificate_file_holding_its_key_needs_no_key_file(pem: dict[str, Path]) -> None:
    settings = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": str(pem["both"])})
    assert_verifying(ssl_context(settings), check_hostname=True)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_carries_both(pem: dict[str, Path], mechanism: str) -> None:
    settings = Settings.from_env({**SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": mechanism,
                                  "KAFKA_SSL_CAFILE": str(pem["ca"])})
    config = kafka_python_security(settings)
    assert {k: v for k, v in config.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": mechanism,
        "sasl_plain_username": "svc-slo", "sasl_plain_password": PASSWORD}
    assert_verifying(config["ssl_context"], check_hostname=True)
    credentials = faust_credentials(settings)
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.protocol, credentials.mechanism) == (AuthProtocol.SASL_SSL, SASLMechanism(mechanism))
    assert credentials.ssl_context is not None
    assert_verifying(credentials.ssl_context, check_hostname=True)


@pytest.mark.parametrize("variable, file", [("KAFKA_SSL_CAFILE", "garbage"), ("KAFKA_SSL_CERTFILE", "garbage"),
                                            ("KAFKA_SSL_CERTFILE", "ca")])
def test_a_file_that_is_not_the_right_pem_stops_with_one_line(pem: dict[str, Path], variable: str,
                                                               file: str) -> None:
    settings = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL", variable: str(pem[file])})
    for build in (kafka_python_security, faust_credentials):
        with pytest.raises(SettingsError, match=rf"^{variable}='.*{file}.pem' cannot be used") as caught:
            build(settings)
        assert "\n" not in str(caught.value)


def assert_verifying(context: ssl.SSLContext, *, check_hostname: bool) -> None:
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


# -- the settings reach the real client objects -------------------------------------------------


def test_kafka_python_clients_get_the_security_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """make_producer, make_consumer and admin_client pass the translated settings through."""
    from ticket_slo.streams.kafka import clients as kafka_clients

    seen: dict[str, dict[str, Any]] = {}

    def recorder(name: str) -> Any:
        def build(*_: Any, **kwargs: Any) -> str:
            seen[name] = kwargs
            return name
        return build

    monkeypatch.setattr(kafka_clients, "KafkaProducer", recorder("producer"))
    monkeypatch.setattr(kafka_clients, "KafkaConsumer", recorder("consumer"))
    monkeypatch.setattr(kafka_clients, "KafkaAdminClient", recorder("admin"))
    settings = Settings.from_env({**SASL, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256"})
    kafka_clients.make_producer(settings)
    kafka_clients.make_consumer(settings, "t")
    kafka_clients.admin_client(settings, client_id="bench")
    for name in ("producer", "consumer", "admin"):
        assert {key: seen[name].get(key) for key in kafka_python_security(settings)} == kafka_python_security(settings)
    assert seen["admin"]["client_id"] == "bench" and seen["producer"]["client_id"] == "ticket-slo-cli"


def _comparable(options: dict[str, Any]) -> dict[str, Any]:
    """Client options without absent values, the TLS context as what it checks."""
    shown = {key: value for key, value in options.items() if value is not None and key != "ssl_context"}
    context = options.get("ssl_context")
    if context is not None:
        shown["ssl_context"] = (context.verify_mode, context.check_hostname, context.minimum_version,
                                [cert["subject"] for cert in context.get_ca_certs()])
    return shown


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_aiokafka_security_is_what_faust_gives_its_own_aiokafka_clients(pem: dict[str, Path], protocol: str,
                                                                         mechanism: str) -> None:
    """The benchmark's bare aiokafka clients connect exactly as the worker's (Faust's) do."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    env = {"KAFKA_SECURITY_PROTOCOL": protocol}
    if protocol.startswith("SASL"):
        env |= {**SASL, "KAFKA_SECURITY_PROTOCOL": protocol, "KAFKA_SASL_MECHANISM": mechanism}
    if protocol.endswith("SSL"):
        env |= {"KAFKA_SSL_CAFILE": str(pem["ca"]), "KAFKA_SSL_CHECK_HOSTNAME": "false"}
    settings = Settings.from_env(env)
    ours = aiokafka_security(settings)
    faust = dict(credentials_to_aiokafka_auth(faust_credentials(settings)))
    assert _comparable(ours) == _comparable(faust)
    assert ours["security_protocol"] == protocol and ("ssl_context" in ours) == protocol.endswith("SSL")
    if protocol.startswith("SASL"):
        assert (ours["sasl_mechanism"], ours["sasl_plain_username"]) == (mechanism, "svc-slo")
    assert PASSWORD not in repr(ours)


def test_the_aiokafka_factories_hand_the_settings_to_real_clients(pem: dict[str, Path]) -> None:
    """aiokafka checks its options at construction (no broker is contacted): both clients take them."""
    import asyncio

    from ticket_slo.streams.kafka.clients import aiokafka_consumer, aiokafka_producer

    settings = Settings.from_env({**SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                  "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SSL_CAFILE": str(pem["ca"]),
                                  "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})

    async def build() -> list[Any]:
        producer = aiokafka_producer(settings, client_id="bench-load", acks="all", linger_ms=5)
        consumer = aiokafka_consumer(settings, "t", client_id="bench-read", group_id=None)
        return [producer.client, consumer._client]

    for client in asyncio.run(build()):
        assert client._bootstrap_servers == ["127.0.0.1:1"]
        assert (client._security_protocol, client._sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")
        assert (client._sasl_plain_username, client._sasl_plain_password) == ("svc-slo", PASSWORD)
        assert_verifying(client._ssl_context, check_hostname=True)


def test_a_real_kafka_python_producer_accepts_the_configuration() -> None:
    """kafka-python validates its options at construction; no broker is contacted here."""
    settings = Settings.from_env({**SASL, "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                                  "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_list, api_version=(3, 0),
                             **kafka_python_security(settings))
    try:
        assert producer.config["security_protocol"] == "SASL_PLAINTEXT"
        assert producer.config["sasl_mechanism"] == "SCRAM-SHA-512"
        assert producer.config["sasl_plain_password"] == PASSWORD
    finally:
        producer.close(timeout=0)


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_the_faust_app_and_its_aiokafka_clients_get_the_credentials(protocol: str, tmp_path: Path) -> None:
    """create_app hands the credentials to Faust, and Faust's aiokafka settings follow them."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from ticket_slo.agents.metrics import SloMetrics
    from ticket_slo.schemas.policy import load_policy
    from ticket_slo.agents.app import create_app

    env = {"KAFKA_SECURITY_PROTOCOL": protocol, "TICKET_SLO_DATA_DIR": str(tmp_path)}
    if protocol.startswith("SASL"):
        env |= {**SASL, "KAFKA_SECURITY_PROTOCOL": protocol}
    settings = Settings.from_env(env)
    policy = load_policy()
    app = create_app(settings, policy, SloMetrics(policy.all_targets()))
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert auth["security_protocol"] == protocol
    assert (auth.get("ssl_context") is not None) == settings.uses_tls
    if settings.uses_sasl:
        assert (auth["sasl_mechanism"], auth["sasl_plain_username"], auth["sasl_plain_password"]) == (
            "PLAIN", "svc-slo", PASSWORD)


def test_a_password_handed_to_a_client_is_masked_in_every_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """aiokafka logs its SASL request bytes at debug level; the record factory masks them."""
    password = "pässwörd-π-7"
    settings = Settings.from_env({**SASL, "KAFKA_SASL_PASSWORD": password})
    kafka_python_security(settings)
    request = f"SaslAuthenticateRequest_v1(sasl_auth_bytes={b'svc-slo' + bytes(1) + password.encode()!r})"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("aiokafka.conn").debug("Request to %s:%d %d: %s", "127.0.0.1", 9092, 3, request)
        logging.getLogger("anything.else").warning("plain %s and repr %r", password, password)
    assert password not in caplog.text
    assert repr(password.encode())[2:-1] not in caplog.text
    assert caplog.text.count("********") == 3
    assert "sasl_auth_bytes=b'svc-slo\\x00********'" in caplog.text


def _kafka_log(watcher: logging.Handler, level: int, message: str) -> None:
    watcher.emit(logging.LogRecord("kafka.net.connection", level, __file__, 1, message, None, None))


def test_a_refused_login_is_remembered_with_the_brokers_words() -> None:
    from ticket_slo.streams.kafka.security import LoginRefusals

    watcher = LoginRefusals()
    _kafka_log(watcher, logging.WARNING, "Bootstrap connection to bootstrap-0 failed: KafkaConnectionError: "
                                         "socket disconnected (backoff 0.93 secs)")
    assert watcher.refusal is None  # the broker was not reached yet: nothing about the login
    _kafka_log(watcher, logging.ERROR, "<KafkaConnection node_id=bootstrap-0 broker_version=(4, 3) (disconnected)>: "
                                       "Connection lost: KafkaConnectionError: socket disconnected")
    assert watcher.refusal == "the broker closed the connection during the SASL login"
    _kafka_log(watcher, logging.ERROR, "Connection failed: [Error 58] SaslAuthenticationFailedError: "
                                       "Authentication failed: Invalid username or password")
    assert watcher.refusal == "Authentication failed: Invalid username or password"
    _kafka_log(watcher, logging.ERROR, "<KafkaConnection node_id=bootstrap-0 broker_version=(4, 3) (disconnected)>: "
                                       "Connection lost: KafkaConnectionError: socket disconnected")
    assert watcher.refusal == "Authentication failed: Invalid username or password"  # the words outlive the drop
