"""Keys and certificates of the simulator, created once per state directory and then reused.

msal refuses plain HTTP, so the simulator needs a TLS server certificate that clients can trust
through REQUESTS_CA_BUNDLE: a private CA signs it. The same directory holds the client
certificate the sync may sign in with, and the keys that sign access tokens and federated
(workload identity) tokens. Reusing them keeps tokens and trust valid across restarts.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_CERTIFICATE_PASSWORD = "simulator"

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"
CLIENT_CERT = "client-cert.pem"
CLIENT_CERT_ENCRYPTED = "client-cert-encrypted.pem"
TOKEN_KEY = "token-signing-key.pem"
ISSUER_KEY = "workload-issuer-key.pem"

_MIN_REMAINING = timedelta(days=2)


@dataclass(frozen=True)
class KeyMaterial:
    """Paths and loaded keys; the private keys never leave the simulator process."""

    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_cert_path: Path
    client_cert_encrypted_path: Path
    client_cert_pem: str
    client_thumbprint: str  # SHA-1, hex upper case, as the Entra portal shows it
    client_thumbprint_sha256: str  # hex lower case
    token_key: rsa.RSAPrivateKey
    token_kid: str
    issuer_key: rsa.RSAPrivateKey
    issuer_kid: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Key material made earlier in this process, by file name. A fresh state dir receives copies
# instead of new keys: test suites start one simulator per test, and RSA generation is slow.
_made_here: dict[str, bytes] = {}
_made_here_lock = threading.Lock()
_ALL_FILES = (
    CA_CERT,
    CA_KEY,
    SERVER_CERT,
    SERVER_KEY,
    CLIENT_CERT,
    CLIENT_CERT_ENCRYPTED,
    TOKEN_KEY,
    ISSUER_KEY,
)


def ensure_key_material(state_dir: Path) -> KeyMaterial:
    """Load every key and certificate from state_dir, creating what is missing or expiring."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with _made_here_lock:
        if _made_here and not any((state_dir / name).exists() for name in _ALL_FILES):
            for name, data in _made_here.items():
                _write_private(state_dir / name, data)
        material = _ensure_all(state_dir)
        if not _made_here:
            _made_here.update({name: (state_dir / name).read_bytes() for name in _ALL_FILES})
        return material


def _ensure_all(state_dir: Path) -> KeyMaterial:
    ca_key, ca_cert = _ensure_ca(state_dir)
    _ensure_server_cert(state_dir, ca_key, ca_cert)
    client_cert = _ensure_client_cert(state_dir)
    token_key = _ensure_rsa_key(state_dir / TOKEN_KEY)
    issuer_key = _ensure_rsa_key(state_dir / ISSUER_KEY)
    return KeyMaterial(
        ca_path=state_dir / CA_CERT,
        server_cert_path=state_dir / SERVER_CERT,
        server_key_path=state_dir / SERVER_KEY,
        client_cert_path=state_dir / CLIENT_CERT,
        client_cert_encrypted_path=state_dir / CLIENT_CERT_ENCRYPTED,
        client_cert_pem=client_cert.public_bytes(serialization.Encoding.PEM).decode(),
        client_thumbprint=client_cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
        client_thumbprint_sha256=client_cert.fingerprint(hashes.SHA256()).hex(),
        token_key=token_key,
        token_kid=_key_id(token_key),
        issuer_key=issuer_key,
        issuer_kid=_key_id(issuer_key),
    )


@functools.lru_cache(maxsize=64)
def _parse_key(pem: bytes) -> PrivateKeyTypes:
    """Parsing an RSA key checks it at length; the same few keys are loaded again and again."""
    return serialization.load_pem_private_key(pem, None)


@functools.lru_cache(maxsize=64)
def _parse_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _key_id(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64url(hashlib.sha256(der).digest()[:16])


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _pem_key(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, password: bytes | None = None
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _valid_long_enough(cert: x509.Certificate) -> bool:
    now = datetime.now(UTC)
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - now > _MIN_REMAINING


def _ensure_ca(state_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert_path, key_path = state_dir / CA_CERT, state_dir / CA_KEY
    if cert_path.exists() and key_path.exists():
        key = _parse_key(key_path.read_bytes())
        cert = _parse_cert(cert_path.read_bytes())
        if isinstance(key, ec.EllipticCurvePrivateKey) and _valid_long_enough(cert):
            return key, cert
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "spreview simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "spreview simulator local CA"),
        ]
    )
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _pem_key(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # A new CA invalidates the old server certificate.
    (state_dir / SERVER_CERT).unlink(missing_ok=True)
    return key, cert


def _ensure_server_cert(
    state_dir: Path, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> None:
    cert_path, key_path = state_dir / SERVER_CERT, state_dir / SERVER_KEY
    if cert_path.exists() and key_path.exists():
        cert = _parse_cert(cert_path.read_bytes())
        if cert.issuer == ca_cert.subject and _valid_long_enough(cert):
            return
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _pem_key(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ensure_client_cert(state_dir: Path) -> x509.Certificate:
    """Self-signed RSA certificate, as app registrations usually carry; RS256 needs RSA."""
    path, encrypted_path = state_dir / CLIENT_CERT, state_dir / CLIENT_CERT_ENCRYPTED
    if path.exists() and encrypted_path.exists():
        cert = _parse_cert(path.read_bytes())
        if _valid_long_enough(cert):
            return cert
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spreview-sync")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    _write_private(path, cert_pem + _pem_key(key))
    _write_private(encrypted_path, cert_pem + _pem_key(key, CLIENT_CERTIFICATE_PASSWORD.encode()))
    return cert


def _ensure_rsa_key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = _parse_key(path.read_bytes())
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_private(path, _pem_key(key))
    return key
