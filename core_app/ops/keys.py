"""The JWT key pair on disk: generated once, the public half derivable from the private one."""

from __future__ import annotations

from pathlib import Path

from core_app.common.auth.keys import generate_key_pair, public_pem_of


def ensure_key_pair(private_path: Path, public_path: Path) -> str:
    """Create the pair if the private key is missing, else (re)write the public key; say which."""
    if not private_path.exists():
        generate_key_pair(private_path, public_path)
        return "generated"
    public_pem = public_pem_of(private_path.read_bytes())
    if public_path.exists() and public_path.read_bytes() == public_pem:
        return "present"
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(public_pem)
    return "public key written"
