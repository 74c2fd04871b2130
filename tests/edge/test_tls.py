"""TLS with client certificates against a real mosquitto; a failed handshake never falls back to plaintext."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.core.types import Reading
from tests.conftest import start_mosquitto
from tests.edge.gwrun import running
from tests.support import Broker, Subscriber, async_wait_for, free_port, make_config


def _write(path: Path, key, cert) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_pki(folder: Path, name: str = "ca"):
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test {name}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder / name, ca_key, ca)

    def leaf(leaf_name: str, san: x509.GeneralName | None) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, leaf_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
        )
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
        _write(folder / leaf_name, key, builder.sign(ca_key, hashes.SHA256()))

    leaf(f"{name}-server", x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    leaf(f"{name}-client", None)


def tls_broker(tmp_path: Path) -> tuple[Broker, int]:
    make_pki(tmp_path)
    plain, tls = free_port(), free_port()
    extra = (
        f"listener {tls} 127.0.0.1\ncafile {tmp_path}/ca.pem\ncertfile {tmp_path}/ca-server.pem\n"
        f"keyfile {tmp_path}/ca-server.key\nrequire_certificate true\nuse_identity_as_username true\n"
    )
    broker = Broker(plain, tmp_path, lambda port, wd: start_mosquitto(port, wd, extra))
    broker.start()
    return broker, tls


def tls_section(tmp_path: Path, ca: str = "ca") -> dict:
    return {
        "ca_file": str(tmp_path / f"{ca}.pem"),
        "cert_file": str(tmp_path / "ca-client.pem"),
        "key_file": str(tmp_path / "ca-client.key"),
    }


async def test_mutual_tls_delivers(tmp_path):
    broker, tls_port = tls_broker(tmp_path)
    sub = Subscriber("127.0.0.1", broker.port).start()  # plaintext listener on the same broker
    try:
        config = make_config(tmp_path, tls_port, mqtt={"tls": tls_section(tmp_path)})
        async with running(config) as gw:
            await gw.readings.put(Reading("dev", "t", 21.5))
            got = await async_wait_for(lambda: sub.snapshot("ce/v1/site1/gw1/telemetry/dev"), 10, "telemetry over TLS")
            assert got[0].json()["readings"][0]["value"] == 21.5
    finally:
        sub.stop()
        broker.stop()


async def test_failed_handshake_never_falls_back_to_plaintext(tmp_path):
    broker, tls_port = tls_broker(tmp_path)
    make_pki(tmp_path, "other")  # a CA that did not sign the broker's certificate
    sub = Subscriber("127.0.0.1", broker.port).start()
    try:
        # 1: the TLS settings point at the plaintext port; 2: the broker's certificate is from an unknown CA
        for port, ca, error in ((broker.port, "ca", ""), (tls_port, "other", "certificate verify failed")):
            config = make_config(tmp_path, port, mqtt={"tls": tls_section(tmp_path, ca)})
            async with running(config) as gw:
                await async_wait_for(lambda: gw.uplink.last_error, 10, "a handshake error")  # noqa: B023
                await gw.readings.put(Reading("dev", "t", 1))
                await asyncio.sleep(1.5)  # several reconnect attempts (0.1-0.5 s back-off)
                assert not gw.uplink.connected.is_set()
                assert error in gw.uplink.last_error, gw.uplink.last_error
                assert gw.outbox.depth >= 1, "the reading waits in the outbox"
        assert sub.snapshot("ce/v1/site1/gw1/") == [], "nothing was sent in plaintext"
    finally:
        sub.stop()
        broker.stop()
