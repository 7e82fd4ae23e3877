"""Where the Asterisk sandbox lives on the host, and the mounts that join it to the
checkout: the chroot's /proc, the checkout's ``asterisk_conf/`` (read-only) over
/etc/asterisk, and the prompt cache at the same path inside as outside.

Paths inside the chroot are resolved as a chrooted process would see them
(:func:`resolve_in_root`), so an absolute symlink there never leads onto the host.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class SandboxError(Exception):
    """An expected failure: shown to the user as one line, without a traceback."""


@dataclass(frozen=True)
class Layout:
    """Where everything of one sandbox lives, on the host."""

    base: Path
    conf: Path
    prompts: Path

    @classmethod
    def from_env(cls) -> Layout:
        base = os.environ.get("IVR_SANDBOX_DIR", "/var/cache/ivr-sandbox")
        prompts = os.environ.get("IVR_PROMPT_DIR", "/var/cache/ivr/prompts")
        conf = Path(__file__).resolve().parent.parent / "asterisk_conf"
        return cls(Path(base).resolve(), conf, Path(prompts).resolve())

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def marker(self) -> Path:
        return self.base / "root.built"

    @property
    def build_log(self) -> Path:
        return self.base / "build.log"

    @property
    def asterisk_log(self) -> Path:
        return self.base / "asterisk.log"

    @property
    def pid_file(self) -> Path:
        return self.base / "asterisk.pid"

    def inside(self, path: str | Path) -> Path:
        """The host path of ``path`` as the chroot sees it (symlinks resolved in the chroot)."""
        return resolve_in_root(self.root, str(path))

    def mounts(self) -> list[tuple[str, Path, Path]]:
        """(kind, source, target) of every mount ``up`` makes, in mounting order."""
        return [
            ("proc", Path("proc"), self.inside("/proc")),
            ("config", self.conf, self.inside("/etc/asterisk")),
            ("prompts", self.prompts, self.inside(self.prompts)),
        ]


def check_run(argv: Sequence[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


# --- mounts -----------------------------------------------------------------------------


def mount_all(layout: Layout) -> None:
    mount_proc(layout)
    config = layout.inside("/etc/asterisk")
    if not same_dir(layout.conf, config):
        if is_mounted(config):
            print(f"sandbox: configuration re-pointed to {layout.conf}")
            unmount(config)
        config.mkdir(parents=True, exist_ok=True)
        check_run(["mount", "--bind", str(layout.conf), str(config)], "mounting the config")
        check_run(["mount", "-o", "remount,bind,ro", str(config)], "making the config read-only")
    layout.prompts.mkdir(parents=True, exist_ok=True)
    prompts = layout.inside(layout.prompts)
    if not same_dir(layout.prompts, prompts):
        prompts.mkdir(parents=True, exist_ok=True)
        check_run(["mount", "--bind", str(layout.prompts), str(prompts)], "mounting the prompts")


def mount_proc(layout: Layout) -> None:
    target = layout.inside("/proc")
    if not is_mounted(target):
        target.mkdir(parents=True, exist_ok=True)
        check_run(["mount", "-t", "proc", "proc", str(target)], "mounting proc")


def unmount_all(layout: Layout) -> None:
    if not layout.root.exists():
        return
    for _kind, _source, target in reversed(layout.mounts()):
        while is_mounted(target):
            unmount(target)


def unmount(target: Path) -> None:
    check_run(["umount", str(target)], f"unmounting {target}")


def same_dir(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def is_mounted(path: Path) -> bool:
    return str(path) in mount_points()


def mount_points() -> list[str]:
    """Every mount point of this process's namespace, from /proc/self/mountinfo."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points


def resolve_in_root(root: Path, path: str) -> Path:
    """Resolve ``path`` as a process chrooted at ``root`` would, without leaving ``root``.

    An absolute symlink inside the chroot (Debian's /var/run -> /run) must not be followed
    on the host.
    """
    parts = list(PurePosixPath(path).parts[1:])
    current = root
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise SandboxError(f"symlink loop at {candidate}")
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                current, parts = root, [*target.parts[1:], *parts]
            else:
                parts = [*target.parts, *parts]
            continue
        current = candidate
    return current
