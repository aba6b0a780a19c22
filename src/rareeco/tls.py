"""TLS for the PACT host: the certificate and key to serve with, a self-signed pair for local use, the
secret that signs access tokens, and the client context used to deliver events.

The PACT host serves HTTPS only (PACT Technical Specifications v3, conformance cases #9–#11 and #17 send plain
HTTP and expect the connection to fail).  When no certificate is configured (``RAREECO_PACT_CERT`` /
``--cert``) a self-signed one is generated once in ``RAREECO_PACT_TLS_DIR`` — for a laptop or a test, not for
buyers on the internet, who need a certificate from a CA they trust.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rareeco import settings
from rareeco.errors import RareecoError, ValidationFailed

CERT_FILE, KEY_FILE, SIGNING_FILE = "cert.pem", "key.pem", "signing.key"
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
SELF_SIGNED_DAYS = 365


class TlsError(RareecoError, ValueError):
    code = "tls_error"
    http_status = 500


@dataclass(frozen=True)
class ServerTls:
    """What a TLS server needs: certificate and key files; ``generated`` when they are a self-signed pair."""

    cert: Path
    key: Path
    generated: bool


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (created 0600, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _expires_soon(cert: Path, days: int = 7) -> bool:
    from cryptography import x509

    c = x509.load_pem_x509_certificate(cert.read_bytes())
    return c.not_valid_after_utc < datetime.now(UTC) + timedelta(days=days)


def _san_names(cert: Path) -> set[str]:
    from cryptography import x509

    c = x509.load_pem_x509_certificate(cert.read_bytes())
    try:
        san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | \
        {str(v) for v in san.get_values_for_type(x509.IPAddress)}


def self_signed(folder: Path, hosts: list[str] | tuple[str, ...] = ()) -> ServerTls:
    """A self-signed certificate (ECDSA P-256, one year) for ``localhost``, the loopback addresses and ``hosts``.

    Kept in ``folder`` (``cert.pem``, ``key.pem`` 0600) and reused while valid for at least a week and naming
    every host asked for; otherwise made anew.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names = list(dict.fromkeys([*LOCAL_NAMES, *(h for h in hosts if h and h not in ("0.0.0.0", "::"))]))
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if cert_path.is_file() and key_path.is_file() and not _expires_soon(cert_path) \
            and set(names) <= _san_names(cert_path):
        return ServerTls(cert_path, key_path, True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rareeco PACT host (self-signed)")])
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    start = datetime.now(UTC) - timedelta(minutes=5)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=SELF_SIGNED_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ServerTls(cert_path, key_path, True)


def server_tls(cert: str | Path | None = None, key: str | Path | None = None,
               hosts: list[str] | tuple[str, ...] = ()) -> ServerTls:
    """The certificate and key to serve with: the arguments, else the settings, else a self-signed pair.

    Raises :class:`TlsError` when only one of the two is given, a file is missing, or they do not match.
    """
    cert = cert or settings.get("RAREECO_PACT_CERT") or None
    key = key or settings.get("RAREECO_PACT_KEY") or None
    if cert is None and key is None:
        return self_signed(Path(settings.get("RAREECO_PACT_TLS_DIR")), hosts)
    if cert is None or key is None:
        raise TlsError("a TLS certificate needs its key (and a key its certificate)",
                       fix="give both --cert and --key (or RAREECO_PACT_CERT and RAREECO_PACT_KEY), or neither "
                           "for a self-signed pair")
    out = ServerTls(Path(cert), Path(key), False)
    for p in (out.cert, out.key):
        if not p.is_file():
            raise TlsError(f"TLS file {p} not found", fix="check the path of --cert / --key")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(out.cert, out.key)
    except (ssl.SSLError, ValueError) as exc:
        raise TlsError(f"the TLS certificate and key cannot be used together ({exc})",
                       fix="give the PEM certificate and the PEM private key that belongs to it") from exc
    return out


def signing_key(tls: ServerTls) -> bytes:
    """The secret that signs access tokens: ``RAREECO_PACT_SIGNING_KEY``, else ``signing.key`` beside the
    certificate (made once, 0600).  Every worker of the host reads the same key."""
    configured = settings.get("RAREECO_PACT_SIGNING_KEY")
    if configured:
        if len(configured) < 32:
            raise ValidationFailed("RAREECO_PACT_SIGNING_KEY is too short",
                                   fix="use at least 32 random characters (or leave it empty to generate one)")
        return configured.encode()
    path = tls.cert.parent / SIGNING_FILE
    if not path.is_file():
        try:
            _write_private(path, secrets.token_urlsafe(48).encode())
        except OSError as exc:
            raise TlsError(f"cannot store the token-signing key beside the certificate ({exc})",
                           fix="set RAREECO_PACT_SIGNING_KEY to a secret of at least 32 characters") from exc
    return path.read_bytes().strip()


def client_context(extra_ca: str | Path | None = None) -> ssl.SSLContext:
    """Verification context for outgoing HTTPS (event deliveries): the system's CAs plus ``extra_ca``
    (default ``RAREECO_PACT_CALLBACK_CA``).  Certificates are always verified."""
    ctx = ssl.create_default_context()
    ca = extra_ca or settings.get("RAREECO_PACT_CALLBACK_CA") or None
    if ca:
        ctx.load_verify_locations(cafile=str(ca))
    return ctx
