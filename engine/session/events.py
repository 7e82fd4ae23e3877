"""What a call session is fed (events) and what it asks for (actions).

The session is a pure state machine: the telephony adapter (AGI today, a media
stream or the web page tomorrow) turns what happens on the call into these events
and carries out the actions it gets back. Timers, HTTP requests and prompts are all
*asked for* by id, and their completion comes back as an event with that id; an
event whose id is no longer current (a prompt that was cut short, a timer that was
cancelled) is ignored by the session, so the adapter never has to be exact about
cancellation races.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Digit:
    """A key the caller pressed (0-9, *, #), whenever it arrived."""

    key: str


@dataclass(frozen=True, slots=True)
class PromptFinished:
    """Play ``play_id`` ran to its end (it was not stopped)."""

    play_id: int


@dataclass(frozen=True, slots=True)
class TimerFired:
    timer_id: int


@dataclass(frozen=True, slots=True)
class HttpDone:
    request_id: int
    ok: bool
    status: int
    data: Any
    error: str = ""
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class CallerHangup:
    """The caller (or the network) ended the call."""


@dataclass(frozen=True, slots=True)
class PageSeen:
    """The journey's visual-IVR page came into view (``open``), or went out of it:
    closed, hidden behind another app, or its connection lost. While a page is in
    view the voice side does not count the caller's silence as no input."""

    open: bool


@dataclass(frozen=True, slots=True)
class WebChoose:
    """The caller tapped option ``key`` on the page showing node ``node``, drawn
    when the session had entered ``at`` nodes (None: not said, not checked)."""

    node: str
    key: str
    at: int | None = None


@dataclass(frozen=True, slots=True)
class WebSubmit:
    """The caller submitted ``value`` in the form of input node ``node`` (``at``: as
    for :class:`WebChoose`)."""

    node: str
    value: str
    at: int | None = None


@dataclass(frozen=True, slots=True)
class WebNavigate:
    """Back to the previous menu, or home to the first one."""

    where: Literal["back", "home", "human"]


@dataclass(frozen=True, slots=True)
class WebHuman(WebNavigate):
    """The page's "talk to a person": to the flow's ``human`` node (on a call, the
    transfer to its queue). A navigation, so every session handles it as one."""

    where: Literal["back", "home", "human"] = "human"


@dataclass(frozen=True, slots=True)
class WebLanguage:
    lang: str


WebEvent = WebChoose | WebSubmit | WebNavigate | WebHuman | WebLanguage


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller began to speak while node ``node`` listened (barge-in)."""

    node: str


@dataclass(frozen=True, slots=True)
class SpeechHeard:
    """The end of an utterance at node ``node``: the words heard (normalised; empty
    when nothing in the node's grammar was recognised) and the recogniser's
    confidence."""

    node: str
    text: str
    confidence: float


SpeechEvent = SpeechStarted | SpeechHeard
Event = (
    Digit
    | PromptFinished
    | TimerFired
    | HttpDone
    | CallerHangup
    | PageSeen
    | WebEvent
    | SpeechEvent
)

# ---------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class SpeechPart:
    """Text to be spoken by TTS in ``lang``."""

    text: str
    lang: str


@dataclass(frozen=True, slots=True)
class FilePart:
    """A recorded audio file (absolute path)."""

    path: str


PlayPart = SpeechPart | FilePart


@dataclass(frozen=True, slots=True)
class Play:
    """Play these parts in order, after any play already queued. When ``barge_in``,
    a key (or speech) stops it; otherwise keys are kept and the prompt goes on."""

    play_id: int
    parts: tuple[PlayPart, ...]
    barge_in: bool


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Stop the prompt that is playing and drop those queued behind it."""


@dataclass(frozen=True, slots=True)
class StartTimer:
    timer_id: int
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer_id: int


@dataclass(frozen=True, slots=True)
class HttpRequest:
    request_id: int
    method: str
    url: str
    body: Mapping[str, Any] | None
    timeout_s: float
    # Never printed: a header may hold a secret (an API token).
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Transfer:
    """After queued prompts: hand the call to ``queue`` (with the journey id); when
    the agent hangs up, the dialplan runs the flow ``survey`` in ``lang``, if any."""

    queue: str
    journey_id: str
    survey: str = ""
    lang: str = ""


@dataclass(frozen=True, slots=True)
class Hangup:
    """After queued prompts: end the call."""


@dataclass(frozen=True, slots=True)
class Fail:
    """The session cannot go on (a bug, a broken template at run time): hand the
    call to the dialplan fallback (apology and a person), never dead air."""

    reason: str


Action = Play | StopPlayback | StartTimer | CancelTimer | HttpRequest | Transfer | Hangup | Fail

# ---------------------------------------------------------------- the trail

TrailKind = Literal[
    "start", "node", "prompt", "input", "retry", "page", "http", "language", "error", "end",
    "link",  # an agent found the caller's earlier journey by its reference
]
InputSource = Literal["key", "speech", "web"]
WEB_EVENTS = (WebChoose, WebSubmit, WebNavigate, WebHuman, WebLanguage)


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One step of the caller's journey, in order. Sensitive values arrive masked."""

    seq: int
    at: float
    kind: TrailKind
    node: str
    data: Mapping[str, Any] = field(default_factory=dict)


def trail_as_dicts(trail: Sequence[TrailEntry]) -> list[Mapping[str, Any]]:
    """Trail entries as flat JSON-ready dicts (for ``ivr call --json``, agents, pages)."""
    return [
        {"seq": e.seq, "at": e.at, "kind": e.kind, "node": e.node, **dict(e.data)} for e in trail
    ]
