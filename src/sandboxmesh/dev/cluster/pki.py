"""Certificates and keys for a local cluster: one CA, a serving cert, client certs, SA keys.

Everything is generated fresh for each cluster and lives only in its work directory.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class ClusterPki:
    ca: KeyPair
    apiserver: KeyPair
    #: Client certificates by user name (CN), e.g. "admin", "system:kube-scheduler".
    clients: dict[str, KeyPair]
    service_account_key_pem: bytes
    service_account_pub_pem: bytes
    #: Serving certificates of other servers (the real node's kubelet), by name.
    servers: dict[str, KeyPair]

    def write(self, directory: Path) -> PkiFiles:
        directory.mkdir(parents=True, exist_ok=True)
        files = PkiFiles(directory)
        _write(files.ca_crt, self.ca.cert_pem)
        _write(files.ca_key, self.ca.key_pem)
        _write(files.apiserver_crt, self.apiserver.cert_pem)
        _write(files.apiserver_key, self.apiserver.key_pem)
        _write(files.sa_key, self.service_account_key_pem)
        _write(files.sa_pub, self.service_account_pub_pem)
        for user, pair in self.clients.items():
            cert, key = files.client(user)
            _write(cert, pair.cert_pem)
            _write(key, pair.key_pem)
        for name, pair in self.servers.items():
            cert, key = files.server(name)
            _write(cert, pair.cert_pem)
            _write(key, pair.key_pem)
        return files


@dataclass(frozen=True)
class PkiFiles:
    directory: Path

    @property
    def ca_crt(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def apiserver_crt(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.directory / "sa.pub"

    def client(self, user: str) -> tuple[Path, Path]:
        """Certificate and key files of a client user."""
        stem = user.replace(":", "-")
        return self.directory / f"{stem}.crt", self.directory / f"{stem}.key"

    def server(self, name: str) -> tuple[Path, Path]:
        """Serving certificate and key files of another server (see `ClusterPki.servers`)."""
        return self.directory / f"{name}-serving.crt", self.directory / f"{name}-serving.key"


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are fast to generate, which keeps cluster start-up short.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)


def _make_ca() -> tuple[KeyPair, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _ec_key()
    name = _name("sandboxmesh-local-ca")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key, cert


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> KeyPair:
    key = _ec_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def generate(
    service_ip: str,
    clients: dict[str, str | None],
    apiserver_ips: tuple[str, ...] = (),
    servers: dict[str, tuple[str, str]] | None = None,
) -> ClusterPki:
    """A fresh PKI; `clients` maps each user name to its group (O), or None.

    `apiserver_ips` are further addresses the API server is reached at (the real node's);
    `servers` maps a server's name to the (DNS name, IP address) its certificate names."""
    ca, ca_key, ca_cert = _make_ca()
    sans: list[x509.GeneralName] = [
        x509.DNSName(name)
        for name in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    sans += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address(service_ip)),
    ]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in apiserver_ips]
    apiserver = _issue(
        ca_key, ca_cert, _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, sans
    )
    issued = {
        user: _issue(ca_key, ca_cert, _name(user, group), ExtendedKeyUsageOID.CLIENT_AUTH)
        for user, group in clients.items()
    }
    # Service-account tokens are signed with RSA: every Kubernetes client verifies RS256.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    served = {
        name: _issue(
            ca_key,
            ca_cert,
            _name(dns_name),
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address(ip))],
        )
        for name, (dns_name, ip) in (servers or {}).items()
    }
    return ClusterPki(ca, apiserver, issued, _key_pem(sa_key), sa_pub, served)


def write_kubeconfig(path: Path, server: str, ca_pem: bytes, user: str, pair: KeyPair) -> Path:
    """A kubeconfig (mode 0600) for `user` authenticating with `pair` to `server`."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sandboxmesh-local",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": b64(ca_pem),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(pair.cert_pem),
                    "client-key-data": b64(pair.key_pem),
                },
            }
        ],
        "contexts": [
            {
                "name": "sandboxmesh-local",
                "context": {"cluster": "sandboxmesh-local", "user": user},
            }
        ],
        "current-context": "sandboxmesh-local",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
