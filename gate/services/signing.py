"""The Ed25519 key that signs shift-book checkpoints; it lives in a file, not the database."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def public_path(key_path: Path) -> Path:
    """Where the public half is kept beside the private key (verifiers need only this)."""
    return key_path.with_suffix(".pub")


def load_or_create_key(key_path: Path) -> Ed25519PrivateKey:
    """Load the signing key, generating it (mode 0600) on first use."""
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{key_path} is not an Ed25519 private key")
        return key
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_path(key_path).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


def load_public_key(key_path: Path) -> Ed25519PublicKey | None:
    """The public key for verifying, from the .pub file or the private key; None if absent."""
    pub = public_path(key_path)
    if pub.exists():
        key = serialization.load_pem_public_key(pub.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{pub} is not an Ed25519 public key")
        return key
    if key_path.exists():
        return load_or_create_key(key_path).public_key()
    return None


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint naming which key signed a checkpoint."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(site: str, seq: int, row_hash: str, signed_at: str) -> bytes:
    """The exact bytes a checkpoint signs."""
    return f"gatehouse-checkpoint|v1|{site}|{seq}|{row_hash}|{signed_at}".encode()


def verify_signature(public_key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    """True when the signature over message is valid for this key."""
    try:
        public_key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True
