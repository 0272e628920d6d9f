"""Kafka TLS/SASL settings: refused at start-up when incomplete, and applied by client_options
to every aiokafka client (producer, consumer, ping) the same way."""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from matching.core.events.kafka import client_options, create_producer
from matching.core.settings import Settings, SettingsError

pytestmark = pytest.mark.unit

BROKERS = "kafka-0.kafka:9093"
PASSWORD = "s3cr3t-Kafka-pw"
SASL = {
    "KAFKA_BOOTSTRAP_SERVERS": BROKERS,
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "matching",
    "KAFKA_SASL_PASSWORD": PASSWORD,
}


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_key: Path
    encrypted_key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey
) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=subject == issuer, path_length=None), True)
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA and a client certificate it signed, as the PEM files a Secret would mount."""
    root = tmp_path_factory.mktemp("pki")
    ca_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    files = {
        "ca.crt": _certificate("matching test CA", ca_key, "matching test CA", ca_key),
        "tls.crt": _certificate("matching", client_key, "matching test CA", ca_key),
        "tls.key": _key_pem(client_key),
        "other.key": _key_pem(ec.generate_private_key(ec.SECP256R1())),
        "encrypted.key": _key_pem(client_key, b"passphrase"),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return Pki(
        root / "ca.crt",
        root / "tls.crt",
        root / "tls.key",
        root / "other.key",
        root / "encrypted.key",
    )


def _error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert PASSWORD not in message  # the error names variables, never the secret
    return message


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    kafka = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": BROKERS}).kafka
    assert client_options(kafka) == {"bootstrap_servers": BROKERS, "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_with_the_system_trust_store() -> None:
    kafka = Settings.from_env({**SASL, "KAFKA_SASL_MECHANISM": "scram-sha-256"}).kafka
    options = client_options(kafka)
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": BROKERS,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "matching",
        "sasl_plain_password": PASSWORD,
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_ssl_trusts_the_ca_file_and_presents_the_client_certificate(pki: Pki) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": BROKERS,
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CAFILE": str(pki.ca),
        "KAFKA_SSL_CERTFILE": str(pki.cert),
        "KAFKA_SSL_KEYFILE": str(pki.key),
    }
    options = client_options(Settings.from_env(env).kafka)
    assert "sasl_mechanism" not in options
    context = options["ssl_context"]
    issuers = [dict(item[0] for item in c["subject"]) for c in context.get_ca_certs()]
    assert {"commonName": "matching test CA"} in issuers


def test_sasl_plaintext_has_no_ssl_context() -> None:
    env = {**SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN"}
    options = client_options(Settings.from_env(env).kafka)
    assert "ssl_context" not in options
    assert (options["sasl_mechanism"], options["sasl_plain_password"]) == ("PLAIN", PASSWORD)


@pytest.mark.parametrize(
    ("missing", "value"),
    [
        ("KAFKA_SASL_MECHANISM", None),
        ("KAFKA_SASL_USERNAME", None),
        ("KAFKA_SASL_PASSWORD", None),
        ("KAFKA_SASL_PASSWORD", ""),
    ],
)
def test_sasl_needs_mechanism_username_and_password(missing: str, value: str | None) -> None:
    env = {k: v for k, v in SASL.items() if k != missing}
    if value is not None:
        env[missing] = value
    assert f"KAFKA_SECURITY_PROTOCOL=SASL_SSL needs {missing}" in _error(env)


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_credentials_without_a_sasl_protocol_are_refused(protocol: str) -> None:
    env = {**SASL, "KAFKA_SECURITY_PROTOCOL": protocol}
    message = _error(env)
    assert "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set but" in message
    assert f"KAFKA_SECURITY_PROTOCOL={protocol} does not use SASL" in message


def test_tls_files_without_a_tls_protocol_are_refused(pki: Pki) -> None:
    message = _error({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA_SSL_CAFILE": str(pki.ca)})
    assert "KAFKA_SSL_CAFILE set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS" in message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("KAFKA_SECURITY_PROTOCOL", "TLS", "KAFKA_SECURITY_PROTOCOL='TLS': Input should be"),
        ("KAFKA_SASL_MECHANISM", "GSSAPI", "KAFKA_SASL_MECHANISM='GSSAPI': Input should be"),
        (
            "KAFKA_SSL_CAFILE",
            "/nonexistent/ca.crt",
            "KAFKA_SSL_CAFILE='/nonexistent/ca.crt': not a",
        ),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, expected: str) -> None:
    assert expected in _error({**SASL, name: value})


def test_a_ca_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "ca.crt"
    junk.write_text("not a certificate\n")
    message = _error({**SASL, "KAFKA_SSL_CAFILE": str(junk)})
    assert "KAFKA_SSL_CAFILE: not a usable CA, certificate or key" in message


def test_an_unreadable_ca_file_is_refused(tmp_path: Path) -> None:
    assert "KAFKA_SSL_CAFILE=" in _error({**SASL, "KAFKA_SSL_CAFILE": str(tmp_path)})  # a folder


@pytest.mark.parametrize("key", ["other_key", "encrypted_key"])
def test_a_key_that_does_not_fit_the_certificate_is_refused(pki: Pki, key: str) -> None:
    # An encrypted key is refused too, rather than prompting for a passphrase on a TTY.
    env = {**SASL, "KAFKA_SSL_CERTFILE": str(pki.cert), "KAFKA_SSL_KEYFILE": str(getattr(pki, key))}
    assert "KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE: not a usable" in _error(env)


def test_a_key_needs_its_certificate(pki: Pki) -> None:
    message = _error({**SASL, "KAFKA_SSL_KEYFILE": str(pki.key)})
    assert "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE" in message


def test_the_password_is_masked_but_round_trips() -> None:
    settings = Settings.from_env(SASL)
    assert PASSWORD not in repr(settings.kafka) and PASSWORD not in str(settings.kafka)
    env = settings.to_env()
    assert env["KAFKA_SASL_PASSWORD"] == PASSWORD
    assert Settings.from_env(env).kafka == settings.kafka


async def test_aiokafka_accepts_the_options_for_every_protocol(pki: Pki) -> None:
    envs = [
        {"KAFKA_BOOTSTRAP_SERVERS": BROKERS},
        {**SASL, "KAFKA_SSL_CAFILE": str(pki.ca)},
        {**SASL, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"},
        {"KAFKA_BOOTSTRAP_SERVERS": BROKERS, "KAFKA_SECURITY_PROTOCOL": "SSL"},
    ]
    for env in envs:
        kafka = Settings.from_env(env).kafka
        # aiokafka raises ValueError on a protocol without its context or credentials.
        AIOKafkaClient(**client_options(kafka))
        consumer = AIOKafkaConsumer("user.events", **client_options(kafka), group_id="g")
        producer = create_producer(kafka)
        try:
            assert producer.client._security_protocol == kafka.security_protocol
            password = client_options(kafka).get("sasl_plain_password")
            assert producer.client._sasl_plain_password == password
        finally:
            await producer.stop()  # never started: closes without a broker
            await consumer.stop()
