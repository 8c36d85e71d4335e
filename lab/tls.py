"""The lab CA and the server certificate (generated once per state dir with `cryptography`)."""
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def write_private_key(path, key, private_format=serialization.PrivateFormat.PKCS8):
    """Write ``key`` unencrypted as PEM in ``private_format`` to a file created with mode 0600 (the
    lab's TLS keys here, the Triton account keys, the VirtFusion sshd's host and client keys)."""
    data = key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _load(path_cert, path_key):
    with open(path_cert, "rb") as fh:
        cert = x509.load_pem_x509_certificate(fh.read())
    with open(path_key, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    return cert, key


def ensure_certs(state_dir, name="avi"):
    """Return (ca_path, cert_path, key_path); create what is missing."""
    ca_pem = os.path.join(state_dir, "ca.pem")
    ca_key = os.path.join(state_dir, "ca.key")
    cert_pem = os.path.join(state_dir, f"{name}.pem")
    cert_key = os.path.join(state_dir, f"{name}.key")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not (os.path.exists(ca_pem) and os.path.exists(ca_key)):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleetops lab CA")])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private_key(ca_key, key)
        with open(ca_pem, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
        for p in (cert_pem, cert_key):  # a new CA invalidates the old server cert
            if os.path.exists(p):
                os.unlink(p)
    if not (os.path.exists(cert_pem) and os.path.exists(cert_key)):
        ca_cert, ca_k = _load(ca_pem, ca_key)
        key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=825))
                .add_extension(san, critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_k.public_key()),
                               critical=False)
                .sign(ca_k, hashes.SHA256()))
        write_private_key(cert_key, key)
        with open(cert_pem, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
    return os.path.abspath(ca_pem), os.path.abspath(cert_pem), os.path.abspath(cert_key)
