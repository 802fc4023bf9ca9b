"""A site's own certificate authority for MQTT over TLS and HTTPS (``linli provision --tls``), and one-line
explanations of certificate failures.

Layout of ``<secrets>/tls/`` (keys 0600)::

    ca.crt  ca.key          the site CA (10 years); ca.crt is what agents and the server trust
    broker.crt broker.key   the broker's certificate, SAN = the host names / addresses given
    <name>.crt <name>.key   further certificates for HTTPS (server pages, agent pages), same CA

The CA key never leaves the installer's machine; only ``ca.crt`` (public) goes to devices.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `cryptography` is imported where certificates are made or read: a device agent that only
    # connects over TLS (ssl) never loads it (~6 MB of a lift guard's memory, see bench/lift_guard.py)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

CA_DAYS = 3650
CERT_DAYS = 825
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


@dataclass(frozen=True)
class TlsFiles:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def broker_cert(self) -> Path:
        return self.cert("broker")

    @property
    def broker_key(self) -> Path:
        return self.key("broker")

    def cert(self, name: str) -> Path:
        return self.root / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.root / f"{name}.key"


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure_ca(files: TlsFiles, site: str = "linli") -> x509.Certificate:
    """The site CA: made once, kept afterwards."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    if files.ca_cert.exists() and files.ca_key.exists():
        return x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "linli"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"linli site CA {site}")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write(files.ca_key, _key_pem(key), private=True)
    _write(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return cert


def _san(hosts: list[str]) -> list[x509.GeneralName]:
    from cryptography import x509

    out: list[x509.GeneralName] = []
    for h in dict.fromkeys(hosts):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def issue(files: TlsFiles, name: str, hosts: list[str], days: int = CERT_DAYS,
          not_before: dt.datetime | None = None) -> tuple[Path, Path]:
    """A server certificate ``<name>.crt``/``.key`` signed by the site CA for ``hosts`` (names or addresses)."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"certificate name {name!r}: use a-z 0-9 _ -")
    if not hosts:
        raise ValueError("a certificate needs at least one host name or address (--hosts)")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ensure_ca(files)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or (_now() - dt.timedelta(minutes=5))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "linli"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(files.key(name), _key_pem(key), private=True)
    _write(files.cert(name), cert.public_bytes(serialization.Encoding.PEM), private=False)
    return files.cert(name), files.key(name)


def client_context(ca_file: Path | str, check_hostname: bool = True) -> ssl.SSLContext:
    """A TLS client context trusting only ``ca_file`` (raises ValueError naming the file when it is unusable)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.load_verify_locations(cafile=str(_readable(ca_file, "CA file")))
    ctx.check_hostname = check_hostname
    return ctx


def _readable(path: Path | str, what: str) -> Path:
    p = Path(path)
    try:
        p.read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {p}: cannot be read ({exc.strerror or exc})") from None
    return p


def check_cert_pair(cert_file: Path | str, key_file: Path | str) -> None:
    """For an HTTPS listener: the certificate and key load and belong together (ValueError naming the file)."""
    cert = _readable(cert_file, "certificate")
    key = _readable(key_file, "key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        raise ValueError(f"certificate {cert} / key {key}: not a matching PEM pair ({exc.reason or exc})") from None
    from cryptography import x509

    c = x509.load_pem_x509_certificate(cert.read_bytes())
    if c.not_valid_after_utc < _now():
        raise ValueError(f"certificate {cert} expired on {c.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


def explain(exc: BaseException, ca_file: Path | str | None, where: str) -> str | None:
    """One line for a TLS failure while connecting to ``where`` (None when ``exc`` is not about certificates)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        msg = exc.verify_message or str(exc)
        if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return f"TLS: the certificate of {where} has expired ({msg}); issue a new one with `linli provision --tls`"
        if code == 9:  # X509_V_ERR_CERT_NOT_YET_VALID
            return f"TLS: the certificate of {where} is not valid yet ({msg}); check this machine's clock"
        if code in (2, 18, 19, 20, 21):  # unknown issuer / self-signed: not our CA
            return (f"TLS: the certificate of {where} is not signed by the CA in {ca_file} ({msg}); "
                    "copy the site's ca.crt to this machine")
        if code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return (f"TLS: the certificate of {where} does not name that host ({msg}); issue it with the right "
                    "--hosts")
        return f"TLS: the certificate of {where} was refused ({msg})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed ({exc.reason or exc}); is that a TLS port?"
    return None


def diagnose(host: str, port: int, ca_file: Path | str, check_hostname: bool = True, timeout: float = 3.0) -> str:
    """Why a TLS connection to ``host:port`` fails, in one line ("" when the handshake succeeds).

    Tells apart: the CA file is unusable, nothing answers, the peer is not a TLS listener, and each certificate
    problem (not signed by our CA, expired, wrong host name) — so that an installer is never told only "cannot
    reach the broker" when the certificate is the problem."""
    import socket

    where = f"{host}:{port}"
    try:
        ctx = client_context(ca_file, check_hostname)
    except ValueError as exc:
        return f"TLS: {exc}"
    except ssl.SSLError as exc:
        return f"TLS: CA file {ca_file} is not a PEM certificate ({exc.reason or exc})"
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return f"cannot reach {where} ({exc.strerror or exc})"
    try:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.settimeout(timeout)
        return ""
    except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return f"TLS handshake with {where} failed (the other side closed the connection); is that a TLS port?"
    except (ssl.SSLError, OSError) as exc:
        return explain(exc, ca_file, where) or f"TLS connection to {where} failed ({exc})"
    finally:
        raw.close()
