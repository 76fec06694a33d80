"""Local TLS for the sandboxes: a fresh CA and a 127.0.0.1/localhost server certificate at every start.

simple-salesforce always builds https:// URLs, so the CRM emulator must speak TLS; the CS emulator does
too, like the real platform. Clients trust `<state>/ca.pem` (never the system store), so nothing has to be
installed on the machine and a leaked key is worthless outside this state folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the files one sandbox start wrote: the CA clients trust and the server's cert and key."""

    ca: Path
    cert: Path
    key: Path


def generate(state_dir: Path) -> TlsFiles:
    """Write a new CA (`ca.pem`), server cert chain (`server.pem`) and key (`server.key`) in `state_dir`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="shared-record sandbox")
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    files = TlsFiles(ca=state_dir / "ca.pem", cert=state_dir / "server.pem", key=state_dir / "server.key")
    ca.cert_pem.write_to_path(str(files.ca))
    files.cert.write_bytes(b"".join(pem.bytes() for pem in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(files.key))
    os.chmod(files.key, 0o600)  # the key is local-only, but keep it private to the user anyway
    return files
