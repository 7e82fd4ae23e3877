"""The call session: a flow interpreter as a pure state machine.

Theory of operation
-------------------
``Session.start()`` and ``Session.feed(event)`` return the actions the adapter must
carry out. The session is always *at* one node of one flow (subflows push a frame).
Nodes that take input (menu, language, input) go through phases:

    prompt   the node's prompt is playing; a key stops it if the prompt allows
             barge-in, otherwise the key is kept for when it ends
    wait     the prompt has ended; a timer runs (no-input, or inter-digit)
    confirm  an input is read back and the caller says yes (1) or no (2)

Other nodes pass through at once (set, branch, subflow, return), wait for their
own completion (say: the prompt ends; http: the response or error arrives), or end
the call (transfer, hangup). Keys that arrive while no node is listening go to the
type-ahead buffer; a listening node consumes the buffer before prompting, exactly as
a native ``Background``/``WaitExten`` menu would, so no key press is lost.

Everything the caller did goes to ``trail`` as it happens.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.flow import model as m
from engine.flow.templates import TemplateFailure, evaluate, render, value
from engine.session import events as ev
from engine.session.history import Frame, History, Place
from engine.session.presence import PagePresence
from engine.session.speech import SpeechState, handle_speech
from engine.session.texts import builtin_text
from engine.session.web import handle_web

log = logging.getLogger(__name__)

MAX_TYPE_AHEAD = 32
MAX_STEPS_WITHOUT_INPUT = 200
HOLD_AGAIN_S = 8.0  # a slow backend's holding prompt is said again after this silence
_KEYPAD = re.compile("[0-9*#]*")  # what an input takes, on the phone or the page
_SECRET_USE = re.compile(r"\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)")  # in an http header


@dataclass(frozen=True, slots=True)
class CallInfo:
    call_id: str
    caller_id: str = ""
    called: str = ""
    channel: str = ""
    uniqueid: str = ""  # the Asterisk channel's, which its queue events carry
    lang: str | None = None
    survey_of: str = ""  # a survey after an agent's call: that call's journey
    test: bool = False  # placed by `ivr call`: the report leaves it out


FlowLookup = Callable[[str], m.Flow | None]


class Session:
    def __init__(
        self,
        flow: m.Flow,
        call: CallInfo,
        flows: FlowLookup = lambda name: None,
        clock: Callable[[], float] = time.time,
        constants: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.call = call
        self._now = now  # what the flow's hours are read at (`ivr call --at` moves it)
        self._open_from_hours = False  # vars["open"] was set from a flow's hours
        self._secrets = dict(secrets or {})  # read by http headers only, never kept
        self.flow = flow
        self._flows = flows
        self._clock = clock
        self._stack: list[Frame] = []
        self.lang = call.lang if call.lang in flow.languages else flow.default_language
        self.vars: dict[str, Any] = {"engine_url": ""}
        self.vars.update(constants or {})
        self.node: m.AnyNode = flow.node(flow.start)
        # The node's options on offer: those whose 'when' held as it started.
        self.options: tuple[m.Option, ...] = ()
        self.outcome: str | None = None
        self.trail: list[ev.TrailEntry] = []
        self._ids = itertools.count(1)
        self._out: list[ev.Action] = []
        self._buffer: deque[str] = deque(maxlen=MAX_TYPE_AHEAD)
        # Nodes entered so far: a page's form says at which entry it was drawn, so a
        # tap from before the session came back to that node (a loop, another flow's
        # node of the same id, a second tab) is told it is out of date.
        self.entered = 0
        self._phase = "idle"
        self._play_id: int | None = None
        self._play_barge = False
        self._timer_id: int | None = None
        self._hold_timer: int | None = None
        self._http_id: int | None = None
        self._digits = ""
        self._digits_from: ev.InputSource = "key"  # where the digits read back came from
        self._nudged = False
        self._swallow: str | None = None
        self._counts = {"no_input": 0, "no_match": 0}
        self._steps = 0
        # How many times the caller has been given the turn: nothing playing and the
        # session waiting for a key. Drivers of test calls send keys on each turn.
        self.turns = 0
        # For the visual IVR: texts shown as cards since the caller last acted, a
        # notice for the page (a stale tap, an invalid entry), and where back leads.
        self.cards: list[str] = []
        self.notice: str | None = None
        self.refused_on_web = 0  # page steps that could not apply (engine/session/web.py)
        self._history = History()
        self.speech = SpeechState()  # a spoken choice being read back
        self.page = PagePresence()  # the visual IVR's page in view (presence.py)

    # ------------------------------------------------------------ public

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def listening(self) -> bool:
        return self._phase in ("prompt", "wait", "confirm")

    def start(self) -> list[ev.Action]:
        self._out = []
        self.vars.update(
            caller_id=self.call.caller_id,
            called=self.call.called,
            call_id=self.call.call_id,
            channel=self.call.channel,
            lang=self.lang,
            flow=self.flow.name,
        )
        self._record(
            "start",
            flow=self.flow.name,
            caller_id=self.call.caller_id,
            lang=self.lang,
            **({"survey_of": self.call.survey_of} if self.call.survey_of else {}),
            **({"test": True} if self.call.test else {}),
        )
        try:
            self._read_hours()  # the flow's variables may read 'open' too
            for name, template in self.flow.variables.items():
                self.vars[name] = value(template, self.vars)
            self._enter(self.flow.start)
        except TemplateFailure as exc:  # a template that fails at run time
            self._template_failed(exc)
        except Exception as exc:
            self._fail(f"{type(exc).__name__}: {exc}")
        return self._out

    def feed(self, event: ev.Event) -> list[ev.Action]:
        self._out = []
        if self.done and not isinstance(event, ev.CallerHangup):
            return self._out
        try:
            self._dispatch(event)
        except TemplateFailure as exc:
            self._template_failed(exc)
        except Exception as exc:
            self._fail(f"{type(exc).__name__}: {exc}")
        return self._out

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, event: ev.Event) -> None:
        found = handle_speech(self, event)  # speech, and keys answering "Did you say ...?"
        if found is None:
            return
        event = found
        if isinstance(event, (*ev.WEB_EVENTS, ev.Digit)):
            self.notice = None
            self.cards = []
        match event:
            case ev.WebChoose() | ev.WebSubmit() | ev.WebNavigate() | ev.WebLanguage():
                self._steps = 0
                handle_web(self, event)
            case ev.Digit(key=key):
                self._on_digit(key)
            case ev.PromptFinished(play_id=play_id) if play_id == self._play_id:
                self._play_id = None
                self._on_prompt_done()
            case ev.TimerFired(timer_id=timer_id) if timer_id == self._timer_id:
                self._timer_id = None
                self._on_timeout()
            case ev.TimerFired(timer_id=timer_id) if timer_id == self._hold_timer:
                self._hold_timer = None
                if isinstance(self.node, m.Http) and self.node.hold_prompt:
                    self._play(self.node.hold_prompt, barge_in=False)
            case ev.PageSeen(open=opened):
                self._on_page(opened)
            case ev.HttpDone() if event.request_id == self._http_id:
                self._http_id = None
                self._on_http(event)
            case ev.CallerHangup():
                if not self.done:
                    self._end("caller_hangup")
            case _:
                pass  # stale: a prompt, timer or request that is no longer current

    def _on_digit(self, key: str) -> None:
        if not self._buffer and self._swallowed(key):  # (else a kept key is next)
            return
        if not self.listening:
            self._buffer.append(key)
            return
        if self._play_id is not None:
            if not self._play_barge:
                self._buffer.append(key)
                return
            self._out.append(ev.StopPlayback())
            self._play_id = None
            if self._phase == "prompt":
                self._phase = "wait"
        self._cancel_timer()
        self._handle_key(key)

    def _on_prompt_done(self) -> None:
        node = self.node
        if self._phase == "prompt":
            self._phase = "wait"
            self.turns += 1
            self._start_wait_timer()
            self._drain()
        elif self._phase == "confirm":
            self.turns += 1
            self._start_confirm_timer()
            self._drain()  # a yes or no typed ahead during the read-back
        elif self._phase == "say" and isinstance(node, m.Say):
            self._goto(node.next)
        elif self._phase == "http" and isinstance(node, m.Http) and self._http_id is not None:
            # Still waiting: the holding prompt again after a while, not dead air.
            self._hold_timer = next(self._ids)
            self._out.append(ev.StartTimer(self._hold_timer, HOLD_AGAIN_S))

    def _on_timeout(self) -> None:
        self._steps = 0
        node = self.node
        if isinstance(node, m.Input) and self._phase == "confirm":
            self._counts["no_input"] += 1
            if self._counts["no_input"] > node.no_input.max:
                self._goto(node.no_input.goto)
            else:
                self._ask_confirmation(node, self._digits_from)
        elif isinstance(node, m.Input) and self._phase == "wait" and self._digits:
            if self.acceptable(node, self._digits):
                self._finish_input(node)
            elif not self._nudged:
                self._nudged = True
                terminator = node.terminator or ""
                self._listen(self._text_parts("continue", key=terminator), keep_digits=True)
            elif self.page.may_hold():
                # Half typed on the keypad, then on to the page: the digits are kept.
                self._record("page", event="hold", count=self.page.hold())
                self._listen(self._text_parts("page_hold"), keep_digits=True)
            else:
                shown = self.shown(node, self._digits)
                self._record("input", source="key", value=shown, valid=False)
                self._retry("no_match", reason="incomplete")
        elif self._phase == "wait" and not self._digits and self.page.may_hold():
            self._record("page", event="hold", count=self.page.hold())
            self._listen(self._text_parts("page_hold"))
        else:
            self._retry("no_input")

    def _on_page(self, opened: bool) -> None:
        if self.page.update(opened):
            self._record("page", event="opened")
        if not self.page.open and self.page.holding:
            # Out of view while the voice held for it: the node's own timeout again.
            self.page.holding = False
            if self._phase == "wait":
                self._cancel_timer()
                self._start_wait_timer()

    # ------------------------------------------------------------ entering nodes

    def _goto(self, target: str | None) -> None:
        if target is None:
            self._play_parts(self._text_parts("goodbye"), barge_in=False)
            self._end("hangup")
            self._out.append(ev.Hangup())
            return
        self._enter(target)

    def _enter(self, node_id: str) -> None:
        self.entered += 1
        self._steps += 1
        if self._steps > MAX_STEPS_WITHOUT_INPUT:
            raise RuntimeError(f"no input taken in {MAX_STEPS_WITHOUT_INPUT} steps at {node_id}")
        self._cancel_timer()
        self._leave_http()  # a web move away from a slow backend: its answer is stale
        self.node = node = self.flow.node(node_id)
        self._read_hours()
        self.options = ()
        self._phase = "idle"
        self._digits = ""
        self._nudged = False
        self._counts = {"no_input": 0, "no_match": 0}
        self.page.new_node()
        if self.notice == "still_there":  # about the node left
            self.notice = None
        data: dict[str, Any] = {"type": node.type, "flow": self.flow.name}
        if node.goal:
            data["goal"] = node.goal
        if node_id == self.flow.human and self._asked_for(node_id):
            # The caller asked for a person: a call the flow then ends without one
            # (closed: its hours) is counted as such by the report, not as served.
            data["human"] = True
        taken = None
        if isinstance(node, m.Branch):  # its entry says which way it took, and why
            try:
                taken = self._branch(node)
            except Exception:
                self._record("node", **data)  # the node the error is at was entered
                raise
            data["took"] = taken[1]
        self._record("node", **data)
        match node:
            case m.Menu() | m.Input():  # LanguageMenu is a Menu
                self.options = tuple(
                    o for o in node.options if o.when is None or evaluate(o.when, self.vars)
                )
                self._history.remember(self.flow, node.id, self._stack)
                self._listen(self._prompt_of(node))
            case m.Say():
                self._phase = "say"
                parts = self._render(node.prompt)
                self.cards.extend(self._screen_texts(node.prompt))
                # A last word (only the end of the call follows) does not wait for its
                # prompt: the driver gets prompts and end together, to hand them over.
                if not self._play_parts(parts, barge_in=False) or self.flow.only_ending(node.next):
                    self._goto(node.next)
            case m.Http():
                self._start_http(node)
            case m.Branch():
                assert taken is not None
                self._goto(taken[0])
            case m.SetVars():
                for name, template in node.values.items():
                    self.vars[name] = value(template, self.vars)
                self._goto(node.next)
            case m.Subflow():
                self._call_subflow(node)
            case m.Return():
                self._return()
            case m.Transfer():
                self._play(node.prompt, barge_in=False)
                self._end(f"transfer:{node.queue}")
                survey, lang = (node.survey, self.lang) if node.survey else ("", "")
                self._out.append(ev.Transfer(node.queue, self.call.call_id, survey, lang))
            case m.Hangup():
                self._play(node.prompt, barge_in=False)
                self.cards.extend(self._screen_texts(node.prompt))  # the flow's goodbye
                self._end("hangup")
                self._out.append(ev.Hangup())

    def _listen(
        self, prompt: m.Prompt | tuple[ev.PlayPart, ...], keep_digits: bool = False
    ) -> None:
        """Prompt and wait for keys; typed-ahead keys skip the prompt."""
        if not keep_digits:
            self._digits = ""
        if self._buffer:
            self._phase = "wait"
            self._start_wait_timer()
            self._drain()
            return
        self._phase = "prompt"
        parts = prompt if isinstance(prompt, tuple) else self._render(prompt)
        if not self._play_parts(parts, barge_in=True):
            self._on_prompt_done()

    def _drain(self) -> None:
        node = self.node
        while self._buffer and self.node is node and self._phase in ("wait", "confirm"):
            self._cancel_timer()
            key = self._buffer.popleft()
            if not self._swallowed(key):
                self._handle_key(key)

    def _swallowed(self, key: str) -> bool:
        """The terminator right after an input that filled up ("123456#" into a
        six-digit input) is not a new key, typed ahead or not; any other key ends
        the watch for it."""
        swallow, self._swallow = self._swallow, None
        return key == swallow

    def _start_wait_timer(self) -> None:
        node = self.node
        if isinstance(node, m.Input):
            seconds = node.inter_digit_timeout_s if self._digits else node.first_digit_timeout_s
        elif isinstance(node, m.Menu):
            seconds = node.timeout_s
        else:
            return
        seconds = self.page.wait_s(seconds)
        self._timer_id = next(self._ids)
        self._out.append(ev.StartTimer(self._timer_id, seconds))

    def _cancel_timer(self) -> None:
        if self._timer_id is not None:
            self._out.append(ev.CancelTimer(self._timer_id))
            self._timer_id = None

    # ------------------------------------------------------------ keys

    def _handle_key(self, key: str) -> None:
        self._steps = 0
        self.page.holding = False  # the caller is on the keypad: the node's own pace
        node = self.node
        if isinstance(node, m.Menu):
            self._menu_key(node, key)
        elif isinstance(node, m.Input):
            self._input_key(node, key)

    def option_for_key(self, key: str) -> m.Option | None:
        """The option on offer at this node that ``key`` picks."""
        return next((o for o in self.options if o.key == key), None)

    def _menu_key(self, node: m.Menu, key: str) -> None:
        option = self.option_for_key(key)
        if option is None:
            self._record("input", source="key", value=key, matched=False)
            self._retry("no_match", reason="unknown key")
            return
        self._record("input", source="key", value=key, option=option.key, goto=option.goto)
        if option.lang is not None:
            self.lang = self.vars["lang"] = option.lang
            self._record("language", lang=option.lang)
        self._goto(option.goto)

    def _input_key(self, node: m.Input, key: str) -> None:
        if self._phase == "confirm":
            self._confirm_key(node, key)
            return
        if not self._digits and (option := self.option_for_key(key)) is not None:
            self._record("input", source="key", value=key, option=option.key, goto=option.goto)
            self._goto(option.goto)
            return
        if key == node.terminator:
            self._finish_input(node)
            return
        self._digits += key
        if len(self._digits) >= node.max_length:
            self._swallow = node.terminator
            self._finish_input(node)
        else:
            self._start_wait_timer()

    def _finish_input(self, node: m.Input) -> None:
        digits = self._digits
        if not self.acceptable(node, digits):
            self._record("input", source="key", value=self.shown(node, digits), valid=False)
            self._retry("no_match" if digits else "no_input", reason="invalid")
            return
        if node.confirm:
            self._ask_confirmation(node)
            return
        self.accept(node, digits)

    def _ask_confirmation(self, node: m.Input, source: ev.InputSource = "key") -> None:
        self._phase = "confirm"
        self._digits_from = source
        shown = "*" * len(self._digits) if node.sensitive else " ".join(self._digits)
        text = "confirm_heard" if source == "speech" else "confirm"
        self._play_parts(self._text_parts(text, digits=shown), barge_in=True)

    def _confirm_key(self, node: m.Input, key: str) -> None:
        if key == "1":
            self.accept(node, self._digits, source=self._digits_from)
        elif key == "2":
            shown = self.shown(node, self._digits)  # what was read back, for the agent
            self._record("input", source="key", value=key, confirm="re-enter", rejected=shown)
            self._listen(self._prompt_of(node))
        else:
            self._retry("no_match", reason="confirmation")

    def _start_confirm_timer(self) -> None:
        self._timer_id = next(self._ids)
        node = self.node
        seconds = node.first_digit_timeout_s if isinstance(node, m.Input) else 5.0
        self._out.append(ev.StartTimer(self._timer_id, seconds))

    def accept(self, node: m.Input, digits: str, source: ev.InputSource = "key") -> None:
        """Save a valid input and go on."""
        self.vars[node.var] = digits
        self._record(
            "input",
            source=source,
            value=self.shown(node, digits),
            var=node.var,
            valid=True,
            sensitive=node.sensitive,
        )
        self._goto(node.next)

    @staticmethod
    def acceptable(node: m.Input, digits: str) -> bool:
        """Keys a keypad has (a page can post any text, and values go into backends'
        URLs; the validator times patterns on such keys only), within the node's
        lengths, and matching its pattern if it has one."""
        if not node.min_length <= len(digits) <= node.max_length:
            return False
        if _KEYPAD.fullmatch(digits) is None:
            return False
        if node.terminator and node.terminator in digits:
            # On the keypad it would have ended the entry; from a page it would cut
            # a backend's URL short at a '#'.
            return False
        return node.pattern is None or re.fullmatch(node.pattern, digits) is not None

    @staticmethod
    def shown(node: m.Input, digits: str) -> str:
        return "*" * len(digits) if node.sensitive else digits

    # ------------------------------------------------------------ retries

    def _retry(self, kind: str, reason: str = "", instead: str | None = None) -> None:
        """Count a retry and ask again, first with the node's retry prompt (or the
        engine's own sentence ``instead``), or leave by the retry's ``goto``."""
        node = self.node
        assert isinstance(node, m.Menu | m.Input)
        retry = node.no_input if kind == "no_input" else node.no_match
        self._counts[kind] += 1
        self.page.holding = False
        count = self._counts[kind]
        self._record("retry", retry=kind, count=count, max=retry.max, reason=reason)
        if kind == "no_match":
            self._buffer.clear()
        elif self.page.open:
            # The hold on the page is over (presence.py): the voice asks again, and then
            # goes where silence leads. Someone reading rather than listening is told.
            self.notice = "still_there"
        if count > retry.max:
            self._goto(retry.goto)
            return
        self._nudged = False
        if isinstance(node, m.LanguageMenu):  # a caller may speak any of its languages
            parts = self._in_each_language(node, retry.prompt_for(count))
        elif instead:
            parts = self._text_parts(instead) + self._prompt_of(node)
        else:
            parts = self._render(retry.prompt_for(count)) + self._prompt_of(node)
        self._listen(parts)

    # ------------------------------------------------------------ other nodes

    def _start_http(self, node: m.Http) -> None:
        url = render(node.url, self.vars)
        body = None
        if node.body is not None:
            # One {{ expression }} is sent as its own JSON type (a number, a list).
            body = {key: value(text, self.vars) for key, text in node.body.items()}
        headers = {name: self._header(text) for name, text in node.headers.items()}
        self._phase = "http"
        self._http_id = next(self._ids)
        self._out.append(
            ev.HttpRequest(self._http_id, node.method, url, body, node.timeout_s, headers)
        )
        if node.hold_prompt:
            self._hold_timer = next(self._ids)
            self._out.append(ev.StartTimer(self._hold_timer, node.hold_after_s))

    def _header(self, template: str) -> str:
        """A header's value; ``secrets.NAME`` is the engine's secret of that name."""
        for name in _SECRET_USE.findall(template):
            if name not in self._secrets:
                raise TemplateFailure(
                    f"secret '{name}' is not set (IVR_SECRET_{name.upper()}, or [secrets] "
                    f"{name} in the engine's settings file)"
                )
        return render(template, {**self.vars, "secrets": self._secrets})

    def _on_http(self, done: ev.HttpDone) -> None:
        node = self.node
        assert isinstance(node, m.Http)
        self._leave_http()
        # The saved result always says whether it worked: {"ok": true, **body}, where
        # a body's own "ok" is the backend's answer (a PIN refused: ok false, 200).
        if not done.ok:
            result: Any = {"ok": False, "error": done.error, "status": done.status}
            if done.data is not None:  # an error status's JSON body: the backend's reason
                result["body"] = done.data
        elif isinstance(done.data, dict):
            result = {"ok": True, **done.data}
        else:
            result = {"ok": True, "value": done.data}
        if node.save_as:  # else fire and forget: only where to go next depends on it
            self.vars[node.save_as] = result
        self._record(
            "http",
            ok=done.ok,
            status=done.status,
            error=done.error,
            elapsed_ms=round(done.elapsed_s * 1000),
            saved_as=node.save_as,
        )
        self._goto(node.next if done.ok else node.on_error)

    def _leave_http(self) -> None:
        """No backend answer or holding prompt is awaited any more."""
        self._http_id = None
        if self._hold_timer is not None:
            self._out.append(ev.CancelTimer(self._hold_timer))
            self._hold_timer = None

    def _read_hours(self) -> None:
        """'open', from the current flow's hours, as of now; in a flow without hours,
        a subflow's 'open' is not left behind (it says when the subflow's people
        answer, not this flow's)."""
        if self.flow.hours is not None:
            self.vars[m.HOURS_VARIABLE] = self.flow.hours.is_open(self._now())
            self._open_from_hours = True
        elif self._open_from_hours:
            self.vars.pop(m.HOURS_VARIABLE, None)
            self._open_from_hours = False

    def _asked_for(self, node_id: str) -> bool:
        """Whether the caller's last input (a key, words, the page) led to ``node_id``,
        rather than retries that ran out or a failed backend."""
        for entry in reversed(self.trail):
            if entry.kind == "input":
                return entry.data.get("goto") == node_id
            if entry.kind in ("node", "retry", "error"):
                return False
        return False

    def _branch(self, node: m.Branch) -> tuple[str, str]:
        """Where the branch goes, and why: the case's condition, or "default"."""
        for case in node.cases:
            if evaluate(case.when, self.vars):
                return case.goto, case.when
        return node.default, "default"

    def _call_subflow(self, node: m.Subflow) -> None:
        flow = self._flows(node.flow)
        if flow is None:
            raise LookupError(f"subflow '{node.flow}' is not loaded")
        self._stack.append(Frame(self.flow, node.next))
        self.flow = flow
        self._read_hours()
        for name, template in flow.variables.items():  # its defaults: the call's values win
            if name not in self.vars:
                self.vars[name] = value(template, self.vars)
        self._enter(flow.start)

    def _return(self) -> None:
        if not self._stack:
            self._goto(None)
            return
        frame = self._stack.pop()
        self.flow = frame.flow
        self._enter(frame.return_to)

    # ------------------------------------------------------------ prompts

    def _play(self, prompt: m.Prompt, barge_in: bool) -> bool:
        return self._play_parts(self._render(prompt), barge_in)

    def _play_parts(self, parts: tuple[ev.PlayPart, ...], barge_in: bool) -> bool:
        """Queue a play; False if there is nothing to play."""
        if not parts:
            return False
        self._play_id = next(self._ids)
        self._play_barge = barge_in
        self._out.append(ev.Play(self._play_id, parts, barge_in))
        for part in parts:
            if isinstance(part, ev.SpeechPart):
                self._record("prompt", text=part.text, lang=part.lang)
            else:
                self._record("prompt", file=os.path.basename(part.path))
        return True

    def _prompt_of(self, node: m.Menu | m.Input) -> tuple[ev.PlayPart, ...]:
        """A node's prompt. A language menu says it in every language it has, the
        caller's own first, each in its own voice: a caller who does not speak the
        flow's default language must hear which key is theirs."""
        if not isinstance(node, m.LanguageMenu):
            return self._render(node.prompt)
        return self._in_each_language(node, m.EMPTY_PROMPT)

    def _in_each_language(
        self, node: m.LanguageMenu, before: m.Prompt
    ) -> tuple[ev.PlayPart, ...]:
        """A language menu's prompt in each of its languages, the caller's own first,
        each after ``before`` (a retry's prompt) in that language where it has one."""
        langs = sorted(node.prompt.by_lang, key=lambda lang: lang != self.lang)
        return tuple(
            part
            for lang in langs
            for part in (self._render(before, lang) if lang in before.by_lang else ())
            + self._render(node.prompt, lang)
        )

    def _screen_texts(self, prompt: m.Prompt) -> list[str]:
        """The prompt's texts as the visual IVR shows them (digits not spaced out for
        the voice: "942776", not "9 4 2 7 7 6")."""
        parts = prompt.parts(self.lang, self.flow.default_language)
        texts = (render(p.text, self.vars, screen=True).strip() for p in parts if p.text)
        return [text for text in texts if text]

    def _render(self, prompt: m.Prompt, lang: str | None = None) -> tuple[ev.PlayPart, ...]:
        """``prompt`` in the caller's language (or ``lang``), as parts to play."""
        lang = lang or self.lang
        base = os.path.dirname(self.flow.path)
        out: list[ev.PlayPart] = []
        for part in prompt.parts(lang, self.flow.default_language):
            if part.file is not None:
                out.append(ev.FilePart(os.path.join(base, part.file)))
            elif part.text is not None:
                text = render(part.text, self.vars).strip()
                if text:
                    out.append(ev.SpeechPart(text, lang))
        return tuple(out)

    def _text_parts(self, name: str, **values: str) -> tuple[ev.PlayPart, ...]:
        return (ev.SpeechPart(builtin_text(name, self.lang, **values), self.lang),)

    # ------------------------------------------------------------ for the web side

    def record(self, kind: ev.TrailKind, **data: Any) -> None:
        self._record(kind, **data)

    def goto(self, target: str | None) -> None:
        self._goto(target)

    def interrupt(self) -> None:
        """Stop what the voice side is doing (a prompt, a timer) for a web move."""
        if self._play_id is not None:
            self._out.append(ev.StopPlayback())
            self._play_id = None
        self._cancel_timer()
        self._buffer.clear()

    def set_language(self, lang: str) -> None:
        self.lang = self.vars["lang"] = lang
        self._record("language", lang=lang)

    def jump(self, flow: m.Flow, node_id: str, stack: list[Frame] | None = None) -> None:
        """Enter ``node_id`` of ``flow`` (back, home, a language switch)."""
        if stack is not None:
            self._stack = list(stack)
        self.flow = flow
        self._enter(node_id)

    @property
    def can_go_back(self) -> bool:
        return self._history.can_go_back(self.flow, self.node.id)

    @property
    def typed(self) -> str:
        """The keys typed so far into the input the caller is at (the page shows
        them, so a caller can finish there what they began on the keypad)."""
        if isinstance(self.node, m.Input) and self._phase in ("prompt", "wait"):
            return self._digits
        return ""

    def history_target(self, where: str) -> Place | None:
        if where == "back":
            return self._history.back(self.flow, self.node.id)
        root = self._stack[0].flow if self._stack else self.flow
        return self._history.home(root, self.lang)

    def now(self) -> float:
        """The time the flow's hours are read at (``ivr call --at`` moves it)."""
        return self._now()

    def person_target(self) -> tuple[m.Flow, str, list[Frame] | None] | None:
        """Where "a person" leads from here: this flow's ``human``, else (a subflow
        without one) the root flow's, leaving the subflow; None if neither has one."""
        if self.flow.human is not None:
            return self.flow, self.flow.human, None
        # Read only: the page and the speech side ask on every turn, and the way
        # home (history_target) forgets the places Back leads to.
        root = self._stack[0].flow if self._stack else self.flow
        if root.human is not None:
            return root, root.human, []
        return None

    # ------------------------------------------------------------ for the speech side

    @property
    def phase(self) -> str:
        return self._phase

    def barge_in(self) -> None:
        """The caller spoke: stop a prompt that allows it, and the no-input timer."""
        if self._play_id is not None and self._play_barge:
            self._out.append(ev.StopPlayback())
            self._play_id = None
            if self._phase == "prompt":
                self._phase = "wait"
        self._cancel_timer()

    def retry(self, kind: str, reason: str = "", instead: str | None = None) -> None:
        self._retry(kind, reason, instead)

    def keep_waiting(self) -> None:
        """Wait for the next key again: speech stopped the timer (:meth:`barge_in`)
        and came to nothing."""
        if self._phase == "wait" and self._timer_id is None:
            self._start_wait_timer()

    def ask(self, parts: tuple[ev.PlayPart, ...]) -> None:
        """Read something back and wait for yes (1) or no (2)."""
        self._phase = "confirm"
        self._play_parts(parts, barge_in=True)

    def listen_again(self) -> None:
        node = self.node
        assert isinstance(node, m.Menu | m.Input)
        self._listen(self._prompt_of(node))

    def confirm_digits(self, node: m.Input, digits: str) -> None:
        """Read back digits the caller said and wait for yes (1) or no (2)."""
        self._digits = digits
        self._ask_confirmation(node, source="speech")

    # ------------------------------------------------------------ bookkeeping

    def _record(self, kind: ev.TrailKind, **data: Any) -> None:
        entry = ev.TrailEntry(len(self.trail) + 1, self._clock(), kind, self.node.id, data)
        self.trail.append(entry)

    def _end(self, outcome: str) -> None:
        self._cancel_timer()
        self._phase = "done"
        self.outcome = outcome
        self._record("end", outcome=outcome)

    def _template_failed(self, exc: TemplateFailure) -> None:
        """A template failed at run time, most often on a backend's answer without a
        field the flow reads: the caller goes to the flow's person (a subflow without
        one: the calling flow's), as after a failed backend, and the designer finds the
        place in the log and the trail. Only a failure at that person ends the session."""
        where = self.node.where
        reason = (
            f"{where.file}:{where.line}: flow '{self.flow.name}' node '{self.node.id}': "
            f"{exc}"
        )
        target = self.person_target()
        if self.done or target is None or (target[0] is self.flow and target[1] == self.node.id):
            self._fail(reason)
            return
        flow, human, stack = target
        log.warning("call %s: %s; to '%s'", self.call.call_id, reason, human)
        self._record("error", reason=reason, then=human)
        try:
            self.jump(flow, human, stack)
        except TemplateFailure as again:
            self._fail(f"{reason}; then at '{human}': {again}")

    def _fail(self, reason: str) -> None:
        self._record("error", reason=reason)
        if not self.done:
            self._end("error")
        self._out.append(ev.Fail(reason))
