"""Prompt audio: text rendered by espeak-ng, recorded files converted, both cached.

Every prompt becomes an 8 kHz mono 16-bit WAV file in the prompt directory, named
by a hash of what made it (voice, rate, text; or the source file's content), so a
text is rendered once however many calls say it, and an edited text gets a new
file. Asterisk reads the same directory (the sandbox mounts it at the same path;
in production share it, see asterisk_conf/README.md) and plays ``<dir>/<hash>``.

Rendering runs in subprocesses (espeak-ng piped into sox) off the event loop; a
lock per file makes concurrent calls wait for one rendering instead of racing.
A short lead-in of silence keeps the first synthesised syllable from being
clipped while the media path settles; recordings are left as they were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass

from engine.session.events import FilePart, PlayPart, SpeechPart
from engine.spoken_numbers import for_speech

log = logging.getLogger(__name__)

DEFAULT_PROMPT_DIR = "/var/cache/ivr/prompts"
LEAD_IN_S = 0.08  # synthesised prompts only: recordings play as the designer made them
MAX_REMEMBERED = 100_000
MAX_SPOKEN_CHARS = 4000  # about four minutes of speech


@dataclass(frozen=True, slots=True)
class Voice:
    name: str
    words_per_minute: int = 165


VOICES: dict[str, Voice] = {
    "en": Voice("en-us"),
    # "cmn" reads Chinese characters as pinyin spelt out in English ("请" as "king
    # three"); this voice reads them as Mandarin.
    "zh": Voice("cmn-latn-pinyin", 170),
    "ko": Voice("ko", 150),
}


class PromptError(Exception):
    """A prompt could not be rendered (espeak-ng or sox missing or failing)."""


class PromptCache:
    def __init__(self, directory: str = DEFAULT_PROMPT_DIR) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}
        self._known: dict[tuple[object, ...], str] = {}  # what was already rendered

    def key_for(self, part: PlayPart) -> str:
        digest = hashlib.sha256()
        if isinstance(part, SpeechPart):
            voice = VOICES.get(part.lang, Voice(part.lang))
            # v2: numbers written out for the language first (engine/spoken_numbers.py)
            text = f"tts-v2\0{voice.name}\0{voice.words_per_minute}\0{part.text}"
            digest.update(text.encode(errors="surrogatepass"))
        else:
            with open(part.path, "rb") as source:
                digest.update(b"file-v2\0" + source.read())  # v2: no lead-in
        return digest.hexdigest()[:32]

    async def path_for(self, part: PlayPart) -> str:
        """The file to hand to Asterisk, without its extension."""
        known = self._known.get(self._memo_key(part))
        if known is not None:
            return known  # the hot path: no hashing, no thread, no file system
        if isinstance(part, FilePart):
            key = await asyncio.to_thread(self.key_for, part)
        else:
            key = self.key_for(part)
        base = os.path.join(self.directory, key)
        if not os.path.exists(base + ".wav"):
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                if not os.path.exists(base + ".wav"):
                    await self._render(part, base + ".wav")
            self._locks.pop(key, None)
        if len(self._known) > MAX_REMEMBERED:
            self._known.clear()
        self._known[self._memo_key(part)] = base
        return base

    @staticmethod
    def _memo_key(part: PlayPart) -> tuple[object, ...]:
        if isinstance(part, SpeechPart):
            return ("tts", part.lang, part.text)
        try:
            info = os.stat(part.path)
        except OSError:
            return ("file", part.path)  # missing: path_for will raise a clear error
        return ("file", part.path, info.st_mtime_ns, info.st_size)

    async def _render(self, part: PlayPart, target: str) -> None:
        temporary = f"{target}.{os.getpid()}.tmp.wav"
        sox_out = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", temporary]
        pad = ["pad", str(LEAD_IN_S), "0"]
        if isinstance(part, SpeechPart):
            voice = VOICES.get(part.lang, Voice(part.lang))
            # The text goes in on stdin, never as an argument: it may come from a
            # backend or a caller, and "-f/etc/passwd" would be an option to read.
            speak = ["espeak-ng", "-v", voice.name, "-s", str(voice.words_per_minute)]
            convert = ["sox", "-q", "-t", "wav", "-", *sox_out, *pad]
            text = spoken_text(for_speech(part.text, part.lang))
            await _run(convert, await _run([*speak, "--stdout", "--stdin"], text.encode()))
        else:
            await _run(["sox", "-q", part.path, *sox_out])
        os.replace(temporary, target)
        log.debug("prompt rendered: %s", os.path.basename(target))


async def _run(command: list[str], stdin: bytes | None = None) -> bytes:
    # The spawn is shielded: cancelled half way, it would leave a child nobody ends.
    spawn = asyncio.ensure_future(_spawn(command, piped_stdin=stdin is not None))
    try:
        process = await asyncio.shield(spawn)
        out, err = await process.communicate(stdin)
    except asyncio.CancelledError:
        # The engine is stopping: end the renderer rather than leave it blocked on a
        # pipe nobody reads, and read its pipes to their end so that their transports
        # close (uvloop's loop.close() fails on a child or a pipe still open).
        with contextlib.suppress(Exception):  # nothing to end: the cancel goes on
            await _end(await spawn)
        raise
    if process.returncode != 0:
        raise PromptError(f"{command[0]} failed: {err.decode(errors='replace').strip()[:200]}")
    return out


async def _spawn(command: list[str], piped_stdin: bool) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if piped_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise PromptError(f"{command[0]} is not installed (run scripts/setup.sh)") from exc


async def _end(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    if process.stdin is not None:
        process.stdin.close()
    await process.communicate()


def spoken_text(text: str) -> str:
    """What espeak-ng is given: at most MAX_SPOKEN_CHARS (minutes of speech; a
    backend's megabyte would be hours), and no half characters (surrogates)."""
    if len(text) > MAX_SPOKEN_CHARS:
        log.warning("prompt text of %d characters cut to %d", len(text), MAX_SPOKEN_CHARS)
        text = text[:MAX_SPOKEN_CHARS]
    return text.encode("utf-8", errors="replace").decode("utf-8")
