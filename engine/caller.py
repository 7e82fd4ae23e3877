"""``ivr call``: a real call into a flow, without a phone.

The caller leg is a real SIP channel of the sandbox Asterisk (endpoint ``caller``)
that calls the IVR side over loopback, sends silent RTP like a phone, and presses
keys with AMI ``PlayDTMF`` (RFC 4733 over RTP); ``--codec`` and ``--inband-keys``
make it another phone (:class:`Phone`: one codec offered; keys as tones in its
audio, played like speech, below). The IVR side is served by an engine
running in this process on an ephemeral port, so a designer can try a flow file
without deploying it; the engine's session tells us when the caller has the turn.
The caller's side talks to AMI as the tools' user (:func:`tools_ami`), not the engine's.

Steps (``--dtmf "1 2 3 4 #"``), one per word:
  ``123#``  wait for the caller's turn (the prompt has ended), then press the keys
  ``!123``  press them at once, during whatever is playing (barge-in, type-ahead)
  ``_``     let one turn pass without pressing anything (a no-input)
  ``w2.5``  wait 2.5 seconds

Speech (``--say "check my balance"``, one step per option, mixed with ``--dtmf``
in the order given): on the caller's turn the text is synthesised (espeak-ng, in
the language the IVR speaks at that moment, 8 kHz) into the prompt directory, which
Asterisk sees at the same path, and the caller leg is redirected to speak it
(AMI ``Setvar CALLER_AUDIO`` then ``Redirect`` to ``ivr-caller-leg,play``). A text
starting with ``!`` is spoken at once, over the prompt (barge-in).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from engine import eventloop, queuecheck
from engine.ami import Ami, AmiError
from engine.config import ConfigError, Settings, load_settings
from engine.flow.hours import moment
from engine.flow.model import Flow
from engine.flow.textchecks import called_flows
from engine.prompts import PromptCache, PromptError
from engine.runtime import Engine
from engine.session.events import SpeechPart, TrailEntry, trail_as_dicts
from engine.session.machine import Session

KEY_GAP_S = 0.25  # between keys of one step, like a person typing
KEY_DURATION_MS = 120


class CallError(Exception):
    """The call could not be placed or did not finish; ``report`` says what happened
    up to then, when the call got as far as the engine."""

    def __init__(self, message: str, report: CallReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # "keys" | "now" | "pass" | "wait" | "say" | "say_now"
    keys: str = ""
    seconds: float = 0.0
    text: str = ""


CODECS = ("ulaw", "alaw", "g722", "opus")  # what the sandbox's endpoints allow
TONE_CODECS = ("ulaw", "alaw")  # where Asterisk's in-band detector hears keys as tones
CALL_TIMEOUT_S = 300.0  # a flow's built-in retries alone can take two minutes


@dataclass(frozen=True, slots=True)
class Phone:
    """What the caller's phone can do: the one codec it offers (``opus``, ``g722``,
    ``alaw``...; else ulaw and alaw) and whether it sends keys as tones in its audio
    (a phone without RFC 4733), where by default they go as telephone-events."""

    codec: str = ""
    inband_keys: bool = False

    def __post_init__(self) -> None:
        if self.codec and self.codec not in CODECS:
            raise CallError(f"unknown codec {self.codec!r} (one of: {', '.join(CODECS)})")
        if self.inband_keys and self.codec not in ("", *TONE_CODECS):
            raise CallError(
                f"keys as tones are heard on {' and '.join(TONE_CODECS)} calls only: Asterisk's "
                f"in-band detector reads G.711, so a {self.codec} phone must send RFC 4733 "
                "events (drop --inband-keys, or call with --codec ulaw)"
            )

    def variables(self) -> list[str]:
        """The caller leg's channel variables that make its SIP offer say so."""
        found = [f"PJSIP_MEDIA_OFFER(audio)={self.codec}"] if self.codec else []
        if self.inband_keys:
            found.append("PJSIP_DTMF_MODE()=inband")
        return found


ORDINARY_PHONE = Phone()


def say_step(text: str) -> Step:
    """``--say TEXT``: speak it on the caller's turn; ``!TEXT`` at once."""
    now = text.startswith("!")
    text = text[1:].strip() if now else text.strip()
    if not text:
        raise CallError("--say needs some words to speak")
    return Step("say_now" if now else "say", text=text)


def parse_script(items: list[tuple[str, str]]) -> list[Step]:
    """``--dtmf``/``--say`` options in the order given."""
    steps: list[Step] = []
    for kind, value in items:
        steps.extend(parse_steps(value) if kind == "dtmf" else [say_step(value)])
    return steps


def parse_steps(text: str) -> list[Step]:
    steps: list[Step] = []
    for word in text.split():
        if word == "_":
            steps.append(Step("pass"))
        elif word.startswith("w") and _is_number(word[1:]):
            steps.append(Step("wait", seconds=float(word[1:])))
        elif word.startswith("!") and _keys(word[1:]):
            steps.append(Step("now", keys=word[1:]))
        elif _keys(word):
            steps.append(Step("keys", keys=word))
        else:
            raise CallError(f"not a step: {word!r} (keys 0-9 * #, '!keys', '_', 'wN')")
    return steps


def _is_number(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False


def _keys(text: str) -> bool:
    return bool(text) and all(c in "0123456789*#" for c in text)


@dataclass
class CallReport:
    flow: str
    caller_id: str
    outcome: str = "unknown"
    duration_s: float = 0.0
    trail: list[TrailEntry] = field(default_factory=list)
    journey_id: str = ""
    warnings: list[str] = field(default_factory=list)  # what the designer should know
    at: str = ""  # the time its flow's hours were read at (`--at`), if not now

    def as_dict(self) -> dict[str, Any]:
        entries = trail_as_dicts(self.trail)
        return {
            "flow": self.flow,
            "journey_id": self.journey_id,
            "caller_id": self.caller_id,
            "nodes": [e["node"] for e in entries if e["kind"] == "node"],
            "prompts": [
                e["text"] if "text" in e else e.get("file")
                for e in entries
                if e["kind"] == "prompt"
            ],
            "inputs": [
                {k: v for k, v in e.items() if k not in ("seq", "at", "kind")}
                for e in entries
                if e["kind"] == "input"
            ],
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 3),
            "trail": entries,
            "warnings": self.warnings,
            **({"at": self.at} if self.at else {}),
        }


class _Watch:
    """Follows the one session whose caller ID is ours."""

    def __init__(self, caller_id: str) -> None:
        self.caller_id = caller_id
        self.session: Session | None = None
        self.changed = asyncio.Event()

    def __call__(self, session: Session, entries: list[TrailEntry]) -> None:
        if self.session is None and session.call.caller_id == self.caller_id:
            self.session = session
        if session is self.session:
            self.changed.set()

    async def until(self, predicate: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def tools_ami(settings: Settings) -> Ami:
    """An AMI connection (not started) as the user of the tools that place and watch
    calls: it reads channels starting and ending, keys and the dialplan's UserEvents,
    which the engine's user is spared."""
    return Ami(settings.ami_host, settings.ami_port, settings.tools_ami_user,
               settings.tools_ami_secret)


async def originate_caller(
    ami: Ami, user: str, caller_id: str, channel_id: str, phone: Phone = ORDINARY_PHONE
) -> None:
    """Start the sandbox's caller leg (``ivr-caller-leg``, channel ``channel_id``) calling
    the IVR side's ``user`` (``<flow>+<port>`` for an engine) over SIP loopback, as
    ``phone``."""
    action: dict[str, str | list[str]] = {
        "Action": "Originate",
        "Channel": f"PJSIP/caller/sip:{user}@127.0.0.1:5060",
        "Context": "ivr-caller-leg",
        "Exten": "s",
        "Priority": "1",
        "CallerID": f'"Test caller" <{caller_id}>',
        "Async": "true",
        "ChannelId": channel_id,
        "Timeout": "15000",
    }
    variables = phone.variables()
    if variables:
        action["Variable"] = variables
    await ami.action(action)


async def place_call(
    ami: Ami,
    engine: Engine,
    flow: str,
    steps: list[Step],
    caller_id: str,
    timeout: float = CALL_TIMEOUT_S,
    phone: Phone = ORDINARY_PHONE,
) -> CallReport:
    """Call ``flow`` on ``engine`` through the sandbox, play ``steps``, report.
    ``ami`` is the caller's side: a connection as the tools' user."""
    port = engine.address[1]
    watch = _Watch(caller_id)
    engine.listeners.append(watch)
    channel_id = uuid.uuid4().hex
    gone = asyncio.Event()
    names: dict[str, str] = {}

    def on_channel(fields: dict[str, str]) -> None:
        if fields.get("Uniqueid") == channel_id:
            names["caller"] = fields.get("Channel", "")
            if fields.get("Event") == "Hangup":
                gone.set()

    ami.on("Newchannel", on_channel)
    ami.on("Hangup", on_channel)
    report = CallReport(flow, caller_id)
    started = time.monotonic()
    try:
        await originate_caller(ami, f"{flow}+{port}", caller_id, channel_id, phone)
        async with asyncio.timeout(timeout):
            await watch.until(lambda: watch.session is not None, 20.0)
            session = watch.session
            assert session is not None
            report.journey_id = session.call.call_id
            await _play_steps(ami, engine.prompts, watch, session, steps, names, phone)
            await watch.until(lambda: session.done, timeout)
            with contextlib.suppress(TimeoutError):  # on a transfer: not before its queue is set
                async with asyncio.timeout(10.0):
                    await engine.let_go(session.call.call_id)
            if session.outcome == "hangup":
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10.0):
                        await gone.wait()
    except TimeoutError as exc:
        partial = None
        if watch.session is not None:
            partial = _report(report, watch.session, "timeout", started)
        raise CallError(f"the call did not finish within {timeout:.0f} s", partial) from exc
    finally:
        if not gone.is_set() and names.get("caller"):
            # Given up (timeout, Ctrl-C): the caller hangs up, and the session is let
            # end as a caller's hang-up before the engine stops, which would otherwise
            # hand it to the fallback and store it as dropped.
            with contextlib.suppress(AmiError):
                await ami.action({"Action": "Hangup", "Channel": names["caller"]})
            if watch.session is not None:
                with contextlib.suppress(TimeoutError):
                    await watch.until(lambda: watch.session.done, 5.0)
        engine.listeners.remove(watch)
        ami.off(on_channel)
    session = watch.session
    assert session is not None
    return _report(report, session, session.outcome or "unknown", started)


def _report(report: CallReport, session: Session, outcome: str, started: float) -> CallReport:
    report.trail = list(session.trail)
    report.outcome = outcome
    report.duration_s = time.monotonic() - started
    return report


async def _play_steps(
    ami: Ami,
    prompts: PromptCache,
    watch: _Watch,
    session: Session,
    steps: list[Step],
    names: dict[str, str],
    phone: Phone,
) -> None:
    used_turns = 0
    for step in steps:
        if session.done:
            break
        if step.kind == "wait":
            await asyncio.sleep(step.seconds)
            continue
        if step.kind in ("keys", "pass", "say"):
            await _next_turn(watch, session, used_turns)
            used_turns = session.turns
            if step.kind == "pass":
                # Let this turn time out: wait until the session moves on.
                await _next_turn(watch, session, used_turns)
                continue
        if step.kind in ("say", "say_now"):
            await speak(ami, prompts, names["caller"], step.text, session.lang)
            used_turns = session.turns
            continue
        await press(ami, prompts, names["caller"], step.keys, phone)
        used_turns = session.turns


async def press(ami: Ami, prompts: PromptCache, channel: str, keys: str, phone: Phone) -> None:
    """Press ``keys`` on the caller leg ``channel``: as RFC 4733 events (AMI
    ``PlayDTMF``), or as tones in its audio when ``phone`` sends keys inband."""
    if phone.inband_keys:
        await _play_audio(ami, channel, await _tones_file(prompts.directory, keys))
        return
    for index, key in enumerate(keys):
        if index:
            await asyncio.sleep(KEY_GAP_S)
        await ami.action(
            {
                "Action": "PlayDTMF",
                "Channel": channel,
                "Digit": key,
                "Duration": str(KEY_DURATION_MS),
            }
        )


async def _tones_file(directory: str, keys: str) -> str:
    """A WAV file of ``keys`` as tones (``directory``, which Asterisk sees at the same
    path), without its extension."""
    import soundfile

    from engine.media.tones import dtmf_samples

    base = os.path.join(directory, "dtmf-" + keys.encode().hex())
    if not os.path.exists(base + ".wav"):
        samples = dtmf_samples(keys, on_s=KEY_DURATION_MS / 1000, gap_s=KEY_GAP_S)
        temporary = f"{base}.{os.getpid()}.tmp.wav"
        await asyncio.to_thread(soundfile.write, temporary, samples, 8000, "PCM_16")
        os.replace(temporary, base + ".wav")
    return base


async def speak(ami: Ami, prompts: PromptCache, channel: str, text: str, lang: str) -> str:
    """Make the caller leg ``channel`` say ``text``; the audio file's path."""
    try:
        path = await prompts.path_for(SpeechPart(text, lang))
    except PromptError as exc:
        raise CallError(f"cannot synthesise {text!r}: {exc}") from exc
    await _play_audio(ami, channel, path)
    return path


async def _play_audio(ami: Ami, channel: str, path: str) -> None:
    """Make the caller leg ``channel`` send the audio of ``path`` (a WAV file, without
    its extension) and take as long as it lasts."""
    await ami.action(
        {"Action": "Setvar", "Channel": channel, "Variable": "CALLER_AUDIO", "Value": path}
    )
    await ami.action(
        {
            "Action": "Redirect",
            "Channel": channel,
            "Context": "ivr-caller-leg",
            "Exten": "play",
            "Priority": "1",
        }
    )
    await asyncio.sleep(_duration_s(path + ".wav"))  # a caller takes this long to say it


def _duration_s(path: str) -> float:
    import soundfile

    info = soundfile.info(path)
    return float(info.frames) / float(info.samplerate)


async def _next_turn(watch: _Watch, session: Session, used: int) -> None:
    await watch.until(lambda: session.turns > used or session.done, 60.0)


def _print_human(report: CallReport) -> None:
    for entry in trail_as_dicts(report.trail):
        kind = entry["kind"]
        if kind == "node":
            took = f": {entry['took']}" if "took" in entry else ""
            print(f"  → {entry['node']} ({entry['type']}{took})")
        elif kind == "prompt":
            print(f"      ♪ {entry.get('text') or entry.get('file')}")
        elif kind == "input":
            print(f"      ← {entry.get('source')} {entry.get('value')}")
        elif kind in ("retry", "page", "http", "error", "language"):
            details = (
                f"{k}={v}"
                for k, v in entry.items()
                if k not in ("seq", "at", "kind", "node") and v not in ("", None)
            )
            print(f"      · {kind} {' '.join(details)}")
    print(f"outcome: {report.outcome} after {report.duration_s:.1f} s")
    if report.at:
        print(f"as at: {report.at} (opening hours read as if it were then)")
    for warning in report.warnings:
        print(f"warning: {warning}")


def _check_flow(name: str, directory: str) -> Flow:
    """The flow to call, there and valid; else CallError with its own problems
    (and its subflows'), as ``ivr validate`` would print them, not its neighbours'."""
    from engine.flow import FLOW_SUFFIXES, load_flow_file, parse_flow_dir
    from engine.flow.problems import did_you_mean

    if not os.path.isdir(directory):
        raise CallError(f"no flows directory '{directory}' (give a flow file's path, or --flows)")
    known = parse_flow_dir(directory)
    files = (os.path.join(directory, name + suffix) for suffix in FLOW_SUFFIXES)
    path = next((file for file in files if os.path.isfile(file)), None)
    if path is None:
        raise CallError(f"no flow named '{name}' in {directory}{did_you_mean(name, known)}")
    flow, problems = load_flow_file(path, known)
    if flow is None:
        errors = "\n".join(str(p) for p in problems if p.is_error)
        raise CallError(f"'{name}' has errors, so it cannot be called:\n{errors}")
    return flow


def _with_hours(flow: Flow, flows: Mapping[str, Flow]) -> Flow | None:
    """``flow`` if it gives opening hours, else the first subflow it runs that does."""
    called = (flows.get(name) for name in called_flows(flow, flows))
    return next((f for f in (flow, *called) if f is not None and f.hours is not None), None)


def _as_at(text: str, flow: Flow) -> datetime:
    """``--at``: the moment to try the flow at, in its hours' time zone."""
    zone = flow.hours.zone() if flow.hours is not None else None
    try:
        return moment(text, zone, time.time())
    except ValueError as exc:
        raise CallError(f"--at {exc}") from None


async def _main(args: argparse.Namespace, settings: Settings) -> CallReport:
    from engine.serve import start_stack

    flow = args.flow
    directory = args.flows or settings.flows
    if flow.endswith((".yaml", ".yml")) or os.sep in flow:
        if not os.path.isfile(flow):
            raise CallError(f"{flow}: no such flow file")
        directory = os.path.dirname(os.path.abspath(flow))
        flow = os.path.splitext(os.path.basename(flow))[0]
    checked = _check_flow(flow, directory)
    at = _as_at(args.at, checked) if args.at else None  # its mistakes said before any call
    phone = Phone(args.codec, args.inband_keys)  # a bad codec is named before any call
    # Ports of its own: an `ivr serve` on this machine may hold the configured ones.
    local = replace(settings, flows=directory, agi_host="127.0.0.1", agi_port=0,
                    web_host="127.0.0.1", web_port=0, media_port=0)
    # A call placed here texts no one: the missing SMS gateway is `ivr serve`'s to
    # warn of, not every try of a flow's.
    logging.getLogger("visual_ivr.sms").setLevel(logging.ERROR)
    stack = await start_stack(local, watch=False, report_flows=False)
    stack.engine.test_calls = True  # in the designer's trail store, not in the figures
    with_hours = _with_hours(checked, stack.engine.flows.snapshot.flows)
    if at is not None and with_hours is not None and with_hours.name != checked.name:
        at = _as_at(args.at, with_hours)  # only a subflow gives hours: in its time zone
    if at is not None:  # the flow's hours read as if it were then, and time goes on
        began, then = time.time(), at.timestamp()
        stack.engine.now = lambda: then + time.time() - began
    caller = tools_ami(settings)
    caller.start()
    try:
        if stack.engine.flows.snapshot.get(flow) is None:
            raise CallError(f"no valid flow named '{flow}' in {directory} (try: ivr validate)")
        await stack.ami.wait_ready(10.0)
        await caller.wait_ready(10.0)
        report = await place_call(caller, stack.engine, flow, parse_script(args.script),
                                  args.caller_id, args.timeout or CALL_TIMEOUT_S, phone)
        report.warnings.extend(
            await _queue_warnings(stack.ami, report, stack.engine.flows.snapshot.flows)
        )
        if at is not None:
            report.at = at.isoformat(" ", "minutes")
            if with_hours is None:
                report.warnings.append(f"'{flow}' gives no hours: --at changed nothing")
        return report
    finally:
        await caller.stop()
        await stack.stop()


async def _queue_warnings(
    ami: Ami, report: CallReport, flows: Mapping[str, Flow]
) -> list[str]:
    """A transfer to a queue Asterisk does not have went to the fallback queue: said
    at the line of the transfer that sent the caller there."""
    kind, _, queue = report.outcome.partition(":")
    if kind != "transfer" or not queue:
        return []
    try:
        if not await queuecheck.missing_queues(ami, [queue]):
            return []
        fallback = await queuecheck.fallback_queue(ami)
    except AmiError:
        return []
    last = next((e for e in reversed(report.trail) if e.kind == "node"), None)
    flow = flows.get(str(last.data.get("flow"))) if last is not None else None
    uses = queuecheck.queue_uses([flow] if flow is not None else [])
    use = next((u for u in uses if last is not None and u.node == last.node), None)
    if use is not None:
        return [queuecheck.missing_message(use, fallback)]
    return [  # the trail does not say which transfer it was
        f"Asterisk has no queue '{queue}', so this caller waits in the fallback queue "
        f"'{fallback}'; define the queue in queues.conf, or correct the name"
    ]


def run_call(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        report = eventloop.run(_main(args, settings), settings.event_loop)
    except CallError as exc:
        if exc.report is not None:  # what happened before it went wrong
            _print(exc.report, args.json)
        print(f"ivr call: {exc}", file=sys.stderr)
        return 1
    except (AmiError, ConfigError) as exc:
        print(f"ivr call: {exc}", file=sys.stderr)
        return 1
    _print(report, args.json)
    if report.outcome == "error":  # the flow failed at run time: the trail says where
        print("ivr call: the flow failed during the call (see its error above)", file=sys.stderr)
        return 1
    if any(e["kind"] == "error" for e in trail_as_dicts(report.trail)):
        print(
            "ivr call: the flow hit an error during the call and the caller was sent to "
            "its person (see the error above)",
            file=sys.stderr,
        )
        return 1
    return 0


def _print(report: CallReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _print_human(report)
