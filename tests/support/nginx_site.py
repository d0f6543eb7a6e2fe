"""The shipped nginx site (deploy/nginx/gatehouse.conf) run by a test: free ports, a self-signed
certificate, the repository's static files, and every path inside the test's folder."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.plugins.mosquitto import on_ci

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "gatehouse.conf"


def nginx_binary() -> str:
    """The nginx binary; a failure on CI (it comes with Debian's nginx-light), else a skip."""
    found = "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else shutil.which("nginx")
    if found is None:
        if on_ci():
            pytest.fail("nginx is not installed; on CI scripts/ensure-test-deps.sh installs nginx-light",
                        pytrace=False)
        pytest.skip("nginx not installed")
    return found


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gate.example.cn")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def site_config(folder: Path, *, http_port: int, https_port: int, upstream_port: int) -> Path:
    """deploy/nginx/gatehouse.conf with only its machine-specific parts replaced; its path."""
    cert, key = self_signed(folder)
    text = SITE.read_text(encoding="utf-8")
    replacements = [
        (r"listen \[::\]:\d+[^;]*;\n", ""),  # loopback only
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream_port};"),
        (r"/etc/ssl/gatehouse/fullchain\.pem", str(cert)),
        (r"/etc/ssl/gatehouse/privkey\.pem", str(key)),
        (r"/opt/gatehouse/", f"{ROOT}/"),
    ]
    for pattern, value in replacements:
        text, count = re.subn(pattern, value, text)
        assert count, f"{SITE.name} no longer has {pattern!r}: update this test with it"
    site = folder / "site.conf"
    site.write_text(text, encoding="utf-8")
    main = folder / "nginx.conf"
    temp = folder / "temp"
    temp.mkdir()
    main.write_text("\n".join([
        "user root;" if os.geteuid() == 0 else "",  # workers must read the test's files
        f"pid {folder / 'nginx.pid'};",
        f"error_log {folder / 'error.log'} warn;",
        "events {}",
        "http {",
        "    include /etc/nginx/mime.types;",
        "    access_log off;",
        *(f"    {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                            "uwsgi", "scgi")),
        f"    include {site};",
        "}",
    ]) + "\n", encoding="utf-8")
    return main


def start_nginx(config: Path, log: Path) -> subprocess.Popen:
    """nginx in the foreground with this configuration (checked with -t first)."""
    binary = nginx_binary()
    check = subprocess.run([binary, "-t", "-c", str(config)], capture_output=True, text=True, timeout=20)
    assert check.returncode == 0, check.stderr
    with log.open("wb") as out:
        return subprocess.Popen([binary, "-c", str(config), "-g", "daemon off;"], stdout=out,
                                stderr=subprocess.STDOUT)
