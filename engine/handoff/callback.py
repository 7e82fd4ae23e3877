""" "Call me back": from a web-only journey to a person, by phone.

:class:`CallbackPolicy` decides (no I/O, clock injected): the number must match
the configured pattern, a journey may ask ``per_journey`` times and not more
often than every ``journey_gap_s``, one number is called at most once every
``number_gap_s`` whichever journey asks (so a page cannot be used to ring a
stranger's phone again and again), and no more than ``per_minute`` calls are
placed in any minute, whoever asks (each costs the contact centre; journeys are
free to start). A refusal says why and when to retry. That the journey has asked
for a person at all is the hub's to check (it knows the session).

:func:`originate_callback` places the call: AMI ``Originate`` of the configured
channel (``PJSIP/{number}@carrier`` in production; in the sandbox a Local channel
whose far end answers as the caller) into the ``ivr-callback`` context, with the
journey's id, the queue and the number as channel variables. The dialplan greets
the caller and queues them; the agent's desktop finds the trail by the journey id.

:class:`CallBacks` keeps the call-backs placed, for the journeys' pages.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.ami import Ami, AmiError
from engine.flow.model import Transfer
from engine.handoff.settings import HandoffSettings
from engine.session.machine import Session

log = logging.getLogger(__name__)

# Whatever pattern is configured, a number is digits with an optional "+": it goes
# into a channel name and a channel variable.
SAFE_NUMBER = re.compile(r"\+?[0-9]{3,20}")


@dataclass(frozen=True, slots=True)
class Refusal:
    # "invalid_number" | "too_many" | "too_soon" | "number_busy" | "busy" (the
    # per-minute cap), and the hub's "no_person" (the journey has not asked for one)
    reason: str
    message: str
    retry_after_s: int = 0


def normalise(number: str) -> str:
    """Spaces, dashes, dots and brackets people type are dropped."""
    return re.sub(r"[\s\-().]", "", number.strip())


class CallbackPolicy:
    def __init__(self, settings: HandoffSettings, clock: Callable[[], float] = time.monotonic):
        self._pattern = re.compile(settings.callback_pattern)
        self._per_journey = settings.callback_per_journey
        self._journey_gap = settings.callback_journey_gap_s
        self._number_gap = settings.callback_number_gap_s
        self._per_minute = settings.callback_per_minute
        self._clock = clock
        self._by_journey: dict[str, list[float]] = {}
        self._by_number: dict[str, float] = {}
        self._last_minute: deque[float] = deque()  # when the calls of the last minute were

    def check(self, journey: str, number: str) -> Refusal | None:
        """None if ``number`` may be called for ``journey`` now (and counts it)."""
        if not (SAFE_NUMBER.fullmatch(number) and self._pattern.fullmatch(number)):
            return Refusal("invalid_number", "That does not look like a phone number we can call.")
        now = self._clock()
        self._forget(now)
        asked = self._by_journey.get(journey, [])
        if len(asked) >= self._per_journey:
            return Refusal("too_many", "We have already called you back for this visit.")
        if asked and now - asked[-1] < self._journey_gap:
            wait = self._journey_gap - (now - asked[-1])
            return Refusal("too_soon", "We are calling you already.", round(wait + 0.5))
        last = self._by_number.get(number)
        if last is not None and now - last < self._number_gap:
            wait = self._number_gap - (now - last)
            return Refusal("number_busy", "That number was called a moment ago.", round(wait + 0.5))
        while self._last_minute and now - self._last_minute[0] >= 60.0:
            self._last_minute.popleft()
        if len(self._last_minute) >= self._per_minute:
            wait = 60.0 - (now - self._last_minute[0])
            busy = "We are calling many people right now: try again shortly."
            return Refusal("busy", busy, round(wait + 0.5))
        self._by_journey.setdefault(journey, []).append(now)
        self._by_number[number] = now
        self._last_minute.append(now)
        return None

    def _forget(self, now: float) -> None:
        """Keep the books small: numbers past their gap are free again."""
        if len(self._by_number) > 10_000:
            self._by_number = {
                n: t for n, t in self._by_number.items() if now - t < self._number_gap
            }


@dataclass(frozen=True, slots=True)
class Survey:
    """The flow to run once the agent hangs up (a transfer's ``survey``), in the
    journey's language, and the ``host:port`` at which Asterisk reaches this engine's
    FastAGI ("": the dialplan's ``IVR_ENGINE``)."""

    flow: str = ""
    lang: str = ""
    engine: str = ""

    @classmethod
    def after(cls, session: Session, engine: tuple[str, int]) -> Survey:
        """The survey the journey's transfer names, asked once the agent hangs up, as
        after a call. Asterisk reaches this engine where it listens (``engine``), unless
        it listens on every address (then the dialplan's IVR_ENGINE says where)."""
        node = session.node
        if not (isinstance(node, Transfer) and node.survey):
            return NO_SURVEY
        host, port = engine
        reach = f"{host}:{port}" if host not in ("", "0.0.0.0", "::") else ""
        return cls(node.survey, session.lang, reach)

    def variables(self) -> dict[str, str]:
        if not self.flow:
            return {}
        found = {"IVR_SURVEY": self.flow, "IVR_LANG": self.lang}
        return found | ({"IVR_ENGINE": self.engine} if self.engine else {})


NO_SURVEY = Survey()


async def originate_callback(
    ami: Ami,
    settings: HandoffSettings,
    journey: str,
    number: str,
    queue: str,
    uniqueid: str,
    survey: Survey = NO_SURVEY,
) -> None:
    """Place the call as channel ``uniqueid`` (the queue events carry it). Returns once
    the call is answered or has failed: panoramisk waits for the OriginateResponse."""
    variables = {
        "IVR_JOURNEY": journey,
        "IVR_QUEUE": queue,
        "IVR_CALLBACK": number,
        **survey.variables(),
    }
    await ami.action(
        {
            "Action": "Originate",
            "Channel": settings.callback_channel.format(number=number),
            "Context": settings.callback_context,
            "Exten": "s",
            "Priority": "1",
            "CallerID": settings.callback_caller_id or number,
            "Timeout": str(settings.callback_ring_s * 1000),
            "Async": "true",
            "ChannelId": uniqueid,
            "Variable": ",".join(f"{k}={v}" for k, v in variables.items()),
        },
        timeout=settings.callback_ring_s + 10.0,
    )


async def channel_alive(ami: Ami, uniqueid: str) -> bool:
    """Is the channel up (AMI finds a channel by its unique id as well as its name)?"""
    try:
        await ami.action(
            {"Action": "Getvar", "Channel": uniqueid, "Variable": "IVR_JOURNEY"}, timeout=5.0
        )
    except AmiError:
        return False
    return True


class CallBacks:
    """The call-backs placed for web-only journeys: what each journey's page is told
    (``calling``, then ``answered`` or ``failed``) and the channel each call was placed
    as, which the queue's events carry. The hub asks for a call (``calling``, then
    ``place``) and passes on what Asterisk said (``answered``, ``hung_up``);
    ``changed`` tells it a journey's page has news."""

    def __init__(self, ami: Ami, settings: HandoffSettings, changed: Callable[[str], None]):
        self.policy = CallbackPolicy(settings)
        self.of: dict[str, dict[str, Any]] = {}  # journey -> its call-back, for its page
        self._ami = ami
        self._settings = settings
        self._changed = changed
        self._by_uniqueid: dict[str, str] = {}

    def calling(self, journey: str, number: str, queue: str) -> str:
        """A call-back about to be placed: the unique id its channel will have."""
        uniqueid = uuid.uuid4().hex
        self._by_uniqueid[uniqueid] = journey
        self.of[journey] = {"state": "calling", "number": number, "queue": queue}
        return uniqueid

    async def place(
        self, journey: str, number: str, queue: str, uniqueid: str, survey: Survey = NO_SURVEY
    ) -> None:
        try:
            await originate_callback(
                self._ami, self._settings, journey, number, queue, uniqueid, survey
            )
            answered = await channel_alive(self._ami, uniqueid)
        except AmiError as exc:
            log.warning("handoff: call-back for %s: %s", journey, exc)
            answered = False
        if not answered:
            self._failed(journey, "not answered")

    def journey_of(self, uniqueid: str) -> str | None:
        return self._by_uniqueid.get(uniqueid)

    def answered(self, journey: str) -> None:
        """The called-back caller is in the queue."""
        callback = self.of.get(journey)
        if callback is not None:
            callback["state"] = "answered"

    def hung_up(self, uniqueid: str, cause: str) -> None:
        journey = self._by_uniqueid.pop(uniqueid, None)
        if journey is not None:
            self._failed(journey, cause)

    def _failed(self, journey: str, reason: str) -> None:
        callback = self.of.get(journey)
        if callback is not None and callback["state"] == "calling":
            callback["state"], callback["reason"] = "failed", reason
            log.info("handoff: call-back for %s failed: %s", journey, reason)
            self._changed(journey)
