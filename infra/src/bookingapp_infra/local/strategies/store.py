"""Where a traffic-shifting release lives between commands: its rules, state and requests.

The release (`bookingapp-local release`) drives; `approve` and `rollback`, run from another
terminal, leave it a request file, or take over when its process is gone. All of it sits in
the Traefik rules directory of the stack (Traefik reads only the .yml file), so a release
belongs to one stack. Files are replaced by rename, so nobody reads half of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bookingapp_infra.errors import InputError
from bookingapp_infra.local.strategies import state as st

STATE_DIR = ".bluegreen"  # inside the rules directory; Traefik reads only .yml/.toml files


@dataclass(frozen=True)
class Paths:
    """Where one service's release keeps its rules, its state and requests to it."""

    rules: Path
    state: Path
    request: Path

    @classmethod
    def under(cls, rules_dir: Path, service: str) -> Paths:
        """Return the paths for one service in Traefik's rules directory."""
        state_dir = rules_dir / STATE_DIR
        return cls(
            rules=rules_dir / f"bluegreen-{service}.yml",
            state=state_dir / f"{service}.json",
            request=state_dir / f"{service}.request",
        )


def write_atomically(path: Path, text: str) -> None:
    """Write a file by rename, so Traefik and other commands never read half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def load(paths: Paths) -> st.Release | None:
    """Return the service's last recorded release, or None."""
    try:
        text = paths.state.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return st.from_json(text)
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"{paths.state} is not a release this version can read ({error}): remove it once "
            "no release of the service runs"
        ) from None


def save(paths: Paths, release: st.Release) -> None:
    """Record the release's state."""
    write_atomically(paths.state, st.to_json(release))


def ask(paths: Paths, request: str) -> None:
    """Leave a request ("approve" or "rollback") for the running release to take."""
    write_atomically(paths.request, request)


def take_request(paths: Paths) -> str | None:
    """Return and remove the request another command left, if any."""
    try:
        asked = paths.request.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    paths.request.unlink(missing_ok=True)
    return asked


def alive(pid: int) -> bool:
    """Say whether a process with this id is running (the controller of a release)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _alive_on_windows(pid)
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _alive_on_windows(pid: int) -> bool:
    """Ask Windows whether the process runs (os.kill there would terminate it). Untested here."""
    import ctypes  # Windows only

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x00100000, False, pid)  # SYNCHRONIZE
    if not handle:
        return False
    try:
        return bool(kernel32.WaitForSingleObject(handle, 0) == 0x00000102)  # WAIT_TIMEOUT: running
    finally:
        kernel32.CloseHandle(handle)
