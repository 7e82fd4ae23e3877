"""Prompt rendering by the real espeak-ng and sox: a render cancelled as the engine stops
leaves no child and no pipe behind (uvloop's loop.close() fails on either)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import warnings
from pathlib import Path

import pytest
import soundfile
import uvloop

from engine.flow.parse import builtin_prompts
from engine.flow.textchecks import BUILTIN_LANGUAGES
from engine.prompts import PromptCache
from engine.session.events import SpeechPart
from engine.session.texts import builtin_text

TEXT = "Thank you for calling. Your balance is one hundred and twenty dollars. " * 8


async def test_a_prompt_renders_to_8khz_audio(tmp_path: Path) -> None:
    path = await PromptCache(str(tmp_path)).path_for(SpeechPart("Hello.", "en"))
    info = soundfile.info(path + ".wav")
    assert info.samplerate == 8000 and info.channels == 1 and info.duration > 0.3


@pytest.mark.parametrize("lang", sorted(BUILTIN_LANGUAGES))
async def test_the_engine_s_own_sentences_are_spoken_in_each_built_in_language(
    tmp_path: Path, lang: str
) -> None:
    """The built-in retries and read-back exist in the language, and espeak-ng has a
    voice that speaks it (an unknown voice fails to render)."""
    retry = builtin_prompts("no_match", "menu", to_person=True)[1].parts(lang)[0]
    confirm = builtin_text("confirm", lang, digits="4 2")
    assert confirm != builtin_text("confirm", "en", digits="4 2") or lang == "en"
    cache = PromptCache(str(tmp_path))
    for sentence in (retry.text or "", confirm, builtin_text("continue", lang, key="#")):
        path = await cache.path_for(SpeechPart(sentence, lang))
        assert soundfile.info(path + ".wav").duration > 1.0


async def test_prompt_text_is_never_an_option_to_the_renderer(tmp_path: Path) -> None:
    """Prompt text can come from a backend or a caller: "-f FILE" must be said, not
    make espeak-ng read FILE aloud; "-12.50" is a number, not an unknown option."""
    secret = tmp_path / "secret.txt"
    secret.write_text("This is a secret that must never be read to a caller. " * 20)
    cache = PromptCache(str(tmp_path / "cache"))
    said = await cache.path_for(SpeechPart(f"-f{secret}", "en"))
    assert soundfile.info(said + ".wav").duration < 10  # the file would take 60 s
    amount = await cache.path_for(SpeechPart("-12.50 dollars is your balance.", "en"))
    assert soundfile.info(amount + ".wav").duration > 1


async def test_text_too_long_or_with_half_characters_still_renders(tmp_path: Path) -> None:
    cache = PromptCache(str(tmp_path))
    long = await cache.path_for(SpeechPart("word " * 60_000, "en"))  # over the argument limit
    assert 60 < soundfile.info(long + ".wav").duration < 600  # cut to minutes, not hours
    odd = await cache.path_for(SpeechPart("bad \ud800 value", "en"))
    assert soundfile.info(odd + ".wav").duration > 0.3


def test_a_render_cancelled_at_any_moment_leaves_nothing_open(tmp_path: Path) -> None:
    """Cancel renders at moments spread over a render's life (before the first process
    starts, while espeak-ng speaks, while sox converts), each on its own loop, and close
    that loop as the engine's tests do: no error, no ResourceWarning."""
    failures: list[str] = []
    for attempt in range(60):
        directory = os.path.join(str(tmp_path), str(attempt))  # a fresh cache: a real render
        loop = uvloop.new_event_loop()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                loop.run_until_complete(_cancel_after(directory, 0.0005 * attempt))
                loop.close()
            except Exception as exc:
                failures.append(f"cancelled after {attempt * 0.5:.1f} ms: {exc!r}")
            del loop
            gc.collect()
        failures += [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert failures == []


async def _cancel_after(directory: str, delay_s: float) -> None:
    render = asyncio.ensure_future(PromptCache(directory).path_for(SpeechPart(TEXT, "en")))
    await asyncio.sleep(delay_s)
    render.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await render
