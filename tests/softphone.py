"""A SIP softphone that is not ours: baresip, as a person would set it up to call the
demo (README: account ``softphone``, password ``softphone``, server 127.0.0.1:5060,
dial 100).

It registers with digest authentication, places the call, sends its keys as RFC 4733
events with a press and a release (its console takes a key, then ``KEYCODE_REL``),
plays a WAV file as its microphone, and keeps what it heard in a WAV file
(baresip's ``sndfile`` module). Keys reach it over its UDP console (``cons``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import numpy as np
import soundfile as sf

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULES = "/usr/lib/baresip/modules"
KEY_RELEASE = b"\x04"  # baresip's KEYCODE_REL: without it a key is held until the next
KEY_MS = 0.12


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Softphone:
    """baresip in ``home``, registered as ``user``, until ``async with`` ends."""

    def __init__(self, home: Path, user: str = "softphone", password: str = "softphone") -> None:
        self.home = home
        self.user = user
        self.password = password
        self.sip_port = _free_port(socket.SOCK_DGRAM)
        self.console_port = _free_port(socket.SOCK_DGRAM)
        self.log = home / "baresip.log"
        self.heard_dir = home / "heard"
        self._process: asyncio.subprocess.Process | None = None
        self._console = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def configure(self, microphone: Path) -> None:
        self.heard_dir.mkdir(parents=True, exist_ok=True)
        rtp = _free_port(socket.SOCK_DGRAM) & ~1
        (self.home / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    f"rtp_ports {rtp}-{rtp + 10}",
                    f"audio_source aufile,{microphone}",
                    "audio_player aubridge,speaker",  # nothing plays; sndfile keeps it
                    "audio_alert aubridge,ringer",
                    f"module_path {MODULES}",
                    "module g711.so",
                    "module aubridge.so",
                    "module aufile.so",
                    "module sndfile.so",
                    "module cons.so",
                    "module_app account.so",
                    "module_app menu.so",
                    f"cons_listen 127.0.0.1:{self.console_port}",
                    f"snd_path {self.heard_dir}",
                    "",
                ]
            )
        )
        (self.home / "accounts").write_text(
            f"<sip:{self.user}@127.0.0.1;transport=udp>"
            f";auth_pass={self.password};regint=600;audio_codecs=PCMU\n"
        )

    async def __aenter__(self) -> Softphone:
        with self.log.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                BARESIP, "-f", str(self.home),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        await self.until_logged("[1 binding]", 15.0)  # registered: 200 OK to REGISTER
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._console.close()
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()

    def logged(self) -> str:
        return self.log.read_bytes().decode("utf-8", "replace").replace("\r", "\n")

    async def until_logged(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.logged():
            if self._process is not None and self._process.returncode is not None:
                raise AssertionError(f"baresip exited: {self.logged()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"baresip never logged {text!r}: {self.logged()[-2000:]}")
            await asyncio.sleep(0.05)

    def _type(self, text: bytes) -> None:
        self._console.sendto(text, ("127.0.0.1", self.console_port))

    async def dial(self, number: str) -> None:
        self._type(f"/dial sip:{number}@127.0.0.1\n".encode())
        await self.until_logged("Call established", 15.0)

    async def press(self, keys: str, gap: float = 0.3) -> None:
        for key in keys:
            self._type(key.encode())
            await asyncio.sleep(KEY_MS)
            self._type(KEY_RELEASE)
            await asyncio.sleep(gap)

    async def hang_up(self) -> None:
        self._type(b"b")  # the menu's hang-up key
        await self.until_logged("terminated", 10.0)

    def heard(self) -> tuple[np.ndarray, int]:
        """What the phone's speaker got, as 16-bit samples and their rate."""
        [path] = self.heard_dir.glob("*-dec.wav")
        samples, rate = sf.read(path, dtype="int16")
        return samples, rate


def silence(path: Path, seconds: float = 60.0, rate: int = 8000) -> Path:
    sf.write(path, np.zeros(int(seconds * rate), dtype=np.int16), rate, subtype="PCM_16")
    return path
