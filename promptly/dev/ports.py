"""Fail fast on a taken port: one sentence naming the port and the process holding it.

A second `make run` must not half-start (a worker attached to the other instance's Temporal,
a uvicorn traceback, a hang), so every port is checked before anything starts.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from pathlib import Path


class PortTaken(Exception):
    """A port this process needs is in use; the message says by whom and what to do."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on host:port now (nothing listening, nothing bound)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "") else host, port)) == 0:
            return False
    with socket.socket() as candidate:
        # TIME_WAIT leftovers of our own last run are no reason to refuse.
        candidate.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            candidate.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def port_holder(port: int, proc: Path = Path("/proc")) -> str | None:
    """`pid N (command line)` of the process listening on `port`, where /proc tells (Linux)."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                target = fd.readlink().name if fd.is_symlink() else ""
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return f"pid {pid_dir.name} ({_command_line(pid_dir)})"
        except OSError:  # gone, or not ours to read
            continue
    return None


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def _command_line(pid_dir: Path) -> str:
    try:
        words = (pid_dir / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(word.decode(errors="replace") for word in words if word)
    return text if len(text) <= 80 else text[:77] + "..."


def refuse_taken_ports(
    needed: Mapping[int, str], host: str = "127.0.0.1", *, other_ports: str = "promptly dev --help"
) -> None:
    """Raise PortTaken for the first taken port of `needed` (port → what it is for);
    `other_ports` says how the command is given other ones."""
    for port, purpose in needed.items():
        if port_is_free(port, host):
            continue
        holder = port_holder(port) or "another process"
        raise PortTaken(
            f"port {port} ({purpose}) is already in use by {holder}; stop it "
            f"(another `make run`?) or pick other ports ({other_ports})"
        )
