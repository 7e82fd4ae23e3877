"""The local Asterisk sandbox: a real Asterisk 22 from Debian sid, run in a chroot.

``ivr sandbox up`` builds the chroot once (debootstrap and apt, a minute or two), then
bind-mounts this checkout's ``asterisk_conf/`` over the chroot's /etc/asterisk (read-only,
so the sandbox always runs the current checkout's configuration), shares the prompt cache
with the host at the same path, starts Asterisk and waits until AMI and PJSIP answer. When
Asterisk already runs, ``up`` re-points the configuration, reloads it and returns in
seconds. ``down`` stops Asterisk and undoes the mounts in reverse order. ``status`` reports,
and exits 0 when Asterisk runs, 3 when it does not.

The sandbox directory (``IVR_SANDBOX_DIR``, default /var/cache/ivr-sandbox) lives outside
the work tree and is reused by every checkout and session::

    root/          the chroot: Debian sid, minbase, the Asterisk packages
    root.built     written last by a successful build (the package list it installed)
    build.log      debootstrap and apt output
    asterisk.log   Asterisk's own console output
    asterisk.pid   the pid of the Asterisk that ``up`` started
    lock           serialises concurrent ``ivr sandbox`` commands

Expected failures raise :class:`SandboxError` and reach the user as one line, never as a
traceback.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from engine.sandbox_layout import (
    Layout,
    SandboxError,
    check_run,
    mount_all,
    mount_points,
    mount_proc,
    same_dir,
    unmount_all,
)

MIRROR = "http://deb.debian.org/debian"
SUITE = "sid"
PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-core-sounds-en-gsm",
    "asterisk-moh-opsound-gsm",
)
APT = ("apt-get", "-q", "-y", "-o", "Acquire::Check-Valid-Until=false")

AMI_ADDR = ("127.0.0.1", 5038)
AMI_USER = "ivr"
AMI_SECRET = "ivr-sandbox-secret"
SIP_ADDR = ("127.0.0.1", 5060)
TRANSPORTS = ("transport-ivr", "transport-caller")

START_SECONDS = 60.0
RELOAD_SECONDS = 20.0
STOP_SECONDS = 10.0

CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}
EXIT_NOT_RUNNING = 3


def run_sandbox(action: str) -> int:
    """``ivr sandbox up|down|status``: the exit status of the command."""
    layout = Layout.from_env()
    try:
        if action == "status":
            return _status(layout)
        _require_root(action)
        with _locked(layout):
            if action == "up":
                _up(layout)
            elif action == "down":
                _down(layout)
            else:
                raise SandboxError(f"unknown action {action!r} (up, down or status)")
    except SandboxError as exc:
        print(f"ivr sandbox {action}: {exc}", file=sys.stderr)
        return 1
    return 0


# --- up -------------------------------------------------------------------------------


def _up(layout: Layout) -> None:
    if not (layout.conf / "asterisk.conf").is_file():
        raise SandboxError(f"no Asterisk configuration at {layout.conf}: run from a checkout")
    if _installed_packages(layout) != " ".join(PACKAGES):
        _build(layout)
    mount_all(layout)
    _install_sounds(layout)
    pid = running_pid(layout)
    if pid is not None:
        started = time.monotonic()
        _asterisk_rx(layout, "core reload")
        _wait_ready(layout, pid, RELOAD_SECONDS)
        print(
            f"sandbox: Asterisk already running (pid {pid}); configuration reloaded "
            f"from {layout.conf} in {time.monotonic() - started:.1f} s"
        )
    else:
        started = time.monotonic()
        pid = _start(layout)
        _wait_ready(layout, pid, START_SECONDS)
        print(f"sandbox: Asterisk started (pid {pid}) in {time.monotonic() - started:.1f} s")
    print(
        f"Asterisk {_version(layout)} up: AMI {AMI_ADDR[0]}:{AMI_ADDR[1]} (user {AMI_USER}), "
        f"SIP {SIP_ADDR[0]}:{SIP_ADDR[1]} (softphone user softphone/softphone, dial 100)"
    )


def _build(layout: Layout) -> None:
    """Build the chroot, or only install packages when a built root lacks some."""
    started = time.monotonic()
    layout.base.mkdir(parents=True, exist_ok=True)
    fresh = not layout.marker.exists()
    if fresh:
        what = f"building Debian {SUITE} with Asterisk in {layout.root} (first run only, "
        print(f"sandbox: {what}a minute or two; log: {layout.build_log})", flush=True)
    else:
        print(f"sandbox: installing new packages into {layout.root}", flush=True)
    with layout.build_log.open("ab") as log:
        if fresh:
            _clear_partial_root(layout)
            _require_tool("debootstrap")
            _logged(
                log,
                layout,
                "debootstrap",
                ["debootstrap", "--variant=minbase", SUITE, str(layout.root), MIRROR],
            )
            _phase(started, f"debootstrap: minimal Debian {SUITE}")
            policy = layout.inside("/usr/sbin/policy-rc.d")
            policy.write_text("#!/bin/sh\n# ivr sandbox: never start services\nexit 101\n")
            policy.chmod(0o755)
        mount_proc(layout)
        _logged(log, layout, "apt-get update", _in_chroot(layout, *APT, "update"))
        _phase(started, "apt-get update")
        install = (*APT, "install", "--no-install-recommends", *PACKAGES)
        _logged(log, layout, "apt-get install", _in_chroot(layout, *install))
        _logged(log, layout, "apt-get clean", _in_chroot(layout, "apt-get", "clean"))
        _phase(started, f"apt-get install: {' '.join(PACKAGES)}")
    layout.marker.write_text(" ".join(PACKAGES) + "\n")


def _installed_packages(layout: Layout) -> str | None:
    try:
        return layout.marker.read_text().strip()
    except FileNotFoundError:
        return None


def _clear_partial_root(layout: Layout) -> None:
    """Remove what a failed build left, after making sure nothing is mounted inside it."""
    if not layout.root.exists():
        return
    unmount_all(layout)
    inside = [m for m in mount_points() if Path(m).is_relative_to(layout.root)]
    if inside:
        raise SandboxError(f"cannot rebuild {layout.root}: still mounted: {', '.join(inside)}")
    print(f"sandbox: removing the unfinished build in {layout.root}", flush=True)
    check_run(["rm", "-rf", "--one-file-system", str(layout.root)], "removing the old root")


def _install_sounds(layout: Layout) -> None:
    """Copy asterisk_conf/sounds/<lang>/* to the chroot's sounds/<lang>/ when they differ."""
    sounds = layout.conf / "sounds"
    if not sounds.is_dir():
        return
    for source in sorted(sounds.glob("*/*")):
        target_dir = layout.inside(f"/usr/share/asterisk/sounds/{source.parent.name}")
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / source.name
        data = source.read_bytes()
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)


def _start(layout: Layout) -> int:
    _require_free_ports()
    layout.inside("/var/run/asterisk").mkdir(parents=True, exist_ok=True)
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    argv = [chroot, str(layout.root), "/usr/sbin/asterisk", "-f", "-n"]
    log_fd = os.open(layout.asterisk_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(log_fd, f"\n--- ivr sandbox up {time.strftime('%F %T')}\n".encode())
        pid = os.posix_spawn(
            chroot,
            argv,
            CHROOT_ENV,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
                *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()),
            ],
            setsid=True,
        )
    finally:
        os.close(log_fd)
    layout.pid_file.write_text(f"{pid}\n")
    return pid


def _inherited_fds() -> list[int]:
    """The descriptors above 2 a child would get: Python opens its own
    non-inheritable, so these came from whoever started ``ivr`` (a pipe reading
    its output, make's job server). Asterisk outlives this process, and a pipe it
    held would never reach end-of-file for the reader."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with suppress(OSError):  # the listing's own descriptor, now closed
                if os.get_inheritable(fd):
                    found.append(fd)
    return found


def _require_free_ports() -> None:
    with socket.socket() as tcp:
        tcp.settimeout(1.0)
        if tcp.connect_ex(AMI_ADDR) == 0:
            raise SandboxError(
                f"something else already listens on {AMI_ADDR[0]}:{AMI_ADDR[1]} "
                "(another Asterisk?): stop it first"
            )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.bind(SIP_ADDR)
        except OSError as exc:
            raise SandboxError(
                f"UDP {SIP_ADDR[0]}:{SIP_ADDR[1]} is taken ({exc.strerror}): "
                "stop whatever uses it first"
            ) from None


def _wait_ready(layout: Layout, pid: int, seconds: float) -> None:
    """Return once Asterisk has fully booted, AMI logs the ivr user in and PJSIP lists
    both transports."""
    deadline = time.monotonic() + seconds
    while True:
        if not _alive(pid):
            raise SandboxError(
                f"Asterisk exited during start-up: see {layout.asterisk_log}\n"
                + _tail(layout.asterisk_log)
            )
        problem = _boot_problem(layout) or ami_problem() or _pjsip_problem(layout)
        if problem is None:
            return
        if time.monotonic() > deadline:
            raise SandboxError(
                f"Asterisk not ready after {seconds:.0f} s ({problem}): see {layout.asterisk_log}"
            )
        time.sleep(0.25)


def _boot_problem(layout: Layout) -> str | None:
    out = _asterisk_rx(layout, "core waitfullybooted", check=False)
    return None if "fully booted" in out else "not fully booted yet"


def _pjsip_problem(layout: Layout) -> str | None:
    out = _asterisk_rx(layout, "pjsip show transports", check=False)
    missing = [t for t in TRANSPORTS if t not in out]
    return f"PJSIP transports missing: {', '.join(missing)}" if missing else None


# --- down -----------------------------------------------------------------------------


def _down(layout: Layout) -> None:
    pid = running_pid(layout)
    if pid is None:
        print("sandbox: Asterisk is not running")
    else:
        _stop(layout, pid)
    unmount_all(layout)
    layout.pid_file.unlink(missing_ok=True)


def _stop(layout: Layout, pid: int) -> None:
    started = time.monotonic()
    _asterisk_rx(layout, "core stop now", check=False)
    if not _wait_exit(pid, STOP_SECONDS):
        print(f"sandbox: Asterisk (pid {pid}) still runs; sending SIGTERM", flush=True)
        os.kill(pid, signal.SIGTERM)
        if not _wait_exit(pid, 5.0):
            print(f"sandbox: Asterisk (pid {pid}) still runs; sending SIGKILL", flush=True)
            os.kill(pid, signal.SIGKILL)
            if not _wait_exit(pid, 5.0):
                raise SandboxError(f"Asterisk (pid {pid}) does not exit")
    print(f"sandbox: Asterisk stopped in {time.monotonic() - started:.1f} s")


def _wait_exit(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --- status ---------------------------------------------------------------------------


def _status(layout: Layout) -> int:
    packages = _installed_packages(layout)
    if packages is None:
        print(f"sandbox: not built ({layout.root}); `ivr sandbox up` builds it")
    else:
        print(f"sandbox: built at {layout.root} ({packages})")
    pid = running_pid(layout)
    if pid is None:
        print("asterisk: not running")
        return EXIT_NOT_RUNNING
    print(f"asterisk: running, pid {pid}, configuration {_config_source(layout)}")
    problem = ami_problem()
    print(f"AMI {AMI_ADDR[0]}:{AMI_ADDR[1]}: {problem or f'login as {AMI_USER} ok'}")
    counts = _asterisk_rx(layout, "core show channels count", check=False).splitlines()
    print("channels: " + (", ".join(line.strip() for line in counts if line.strip()) or "?"))
    return 0


def _config_source(layout: Layout) -> str:
    target = layout.inside("/etc/asterisk")
    if not same_dir(layout.conf, target):
        return f"NOT from {layout.conf} (run `ivr sandbox up`)"
    return f"from {layout.conf}"


# --- the running Asterisk ---------------------------------------------------------------


def running_pid(layout: Layout) -> int | None:
    """The pid of the sandbox's Asterisk if it runs (checked against /proc), else None."""
    try:
        pid = int(layout.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    try:
        root = os.readlink(f"/proc/{pid}/root")
    except PermissionError:  # not root: the name has to do
        root = str(layout.root)
    except OSError:
        return None
    if comm != "asterisk" or root != str(layout.root) or not _alive(pid):
        return None
    return pid


def unseen_prompt_dir(prompt_dir: str) -> str | None:
    """What is wrong when the sandbox's Asterisk runs but cannot see ``prompt_dir``
    (it shares the prompt directory named when ``up`` last ran): every prompt the
    engine renders there would fail to play, and its calls would end at once."""
    layout = Layout.from_env()
    if running_pid(layout) is None:
        return None
    here = Path(prompt_dir).resolve()
    try:
        inside = layout.inside(here)
        inside.stat()
    except FileNotFoundError:
        inside = None
    except OSError:  # the chroot cannot be read (not root): nothing to tell
        return None
    if inside is not None and same_dir(here, inside):
        return None
    return (
        f"the sandbox's Asterisk cannot see prompt_dir {here}, so callers would hear "
        f"nothing: run `IVR_PROMPT_DIR={here} ivr sandbox up` to share it"
    )


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it if it is our own child that has exited."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def ami_problem(timeout: float = 2.0) -> str | None:
    """None if AMI answers with its banner and logs the ivr user in, else what is wrong."""
    try:
        with socket.create_connection(AMI_ADDR, timeout=timeout) as sock:
            reader = sock.makefile("rb")
            banner = reader.readline(200)
            if not banner.startswith(b"Asterisk Call Manager/"):
                return f"unexpected AMI banner {banner[:60]!r}"
            sock.sendall(
                f"Action: Login\r\nActionID: sandbox-check\r\nUsername: {AMI_USER}\r\n"
                f"Secret: {AMI_SECRET}\r\nEvents: off\r\n\r\n".encode()
            )
            reply = _read_ami_message(reader)
            if reply.get("Response") != "Success":
                return f"AMI login as {AMI_USER} refused: {reply.get('Message', reply)}"
            sock.sendall(b"Action: Logoff\r\n\r\n")
    except OSError as exc:
        return f"AMI {AMI_ADDR[0]}:{AMI_ADDR[1]}: {exc.strerror or exc}"
    return None


def _read_ami_message(reader: BinaryIO) -> dict[str, str]:
    fields: dict[str, str] = {}
    for _ in range(100):
        line = reader.readline(1000).decode("utf-8", "replace").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def _asterisk_rx(layout: Layout, command: str, *, check: bool = True) -> str:
    """Run an Asterisk CLI command through the chroot's remote console; its output."""
    argv = _in_chroot(layout, "asterisk", "-rx", command)
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=15, env=CHROOT_ENV, check=False
        )
    except subprocess.TimeoutExpired:
        if check:
            raise SandboxError(f"`asterisk -rx {command!r}` hung for 15 s") from None
        return ""
    if check and done.returncode != 0:
        raise SandboxError(f"`asterisk -rx {command!r}` failed: {done.stdout}{done.stderr}".strip())
    return done.stdout


def _version(layout: Layout) -> str:
    out = subprocess.run(
        _in_chroot(layout, "asterisk", "-V"),
        capture_output=True,
        text=True,
        env=CHROOT_ENV,
        check=False,
    ).stdout
    found = re.search(r"Asterisk (\d+(?:\.\d+)*)", out)
    return found.group(1) if found else "?"


# --- small helpers ----------------------------------------------------------------------


def _in_chroot(layout: Layout, *argv: str) -> list[str]:
    return ["chroot", str(layout.root), *argv]


def _logged(log: BinaryIO, layout: Layout, what: str, argv: Sequence[str]) -> None:
    log.write(f"\n$ {' '.join(argv)}\n".encode())
    log.flush()
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=CHROOT_ENV,
            check=False,
        )
    except OSError as exc:
        raise SandboxError(f"{what} failed to start: {exc}") from None
    if done.returncode != 0:
        raise SandboxError(f"{what} failed (exit {done.returncode}): see {layout.build_log}")


def _phase(started: float, text: str) -> None:
    print(f"sandbox: [{time.monotonic() - started:5.1f} s] {text}", flush=True)


def _require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise SandboxError(f"needs root (debootstrap, chroot, mount): sudo ivr sandbox {action}")


def _require_tool(name: str) -> None:
    if shutil.which(name) is None:
        raise SandboxError(
            f"{name} is not installed: run scripts/setup.sh (or apt-get install {name})"
        )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    layout.base.mkdir(parents=True, exist_ok=True)
    with (layout.base / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("sandbox: waiting for another `ivr sandbox` command to finish", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
