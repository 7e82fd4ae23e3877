"""The compiled form of a call flow: what the parser produces and the session runs.

A flow is a set of named nodes. Every node has exactly one ``type`` and says where
the call goes next through *targets* (node ids). Everything here is immutable data:
the voice session, the visual IVR and the validator all read the same objects.

Prompts are per language. A :class:`Prompt` maps a language code to a
:class:`PromptPart` list: text (rendered by TTS, may hold ``{{ variables }}``) or a
recorded file. The parser turns the short YAML forms (a plain string, a mapping of
languages) into this one shape.

Each object carries the :class:`Where` it was defined at, so the validator and the
runtime can point a designer at ``file:line:col``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from engine.flow.hours import Hours

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Where:
    """A position in a flow file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Where("<none>", 0, 0)


@dataclass(frozen=True, slots=True)
class PromptPart:
    """One piece of a prompt: text to speak, or a recorded audio file."""

    text: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.file is None):
            raise ValueError("a prompt part is either text or a file")


@dataclass(frozen=True, slots=True)
class Prompt:
    """What to say, per language. Empty means silence."""

    by_lang: Mapping[str, tuple[PromptPart, ...]] = field(default_factory=dict)
    where: Where = NOWHERE

    def parts(self, lang: str, fallback: str = DEFAULT_LANGUAGE) -> tuple[PromptPart, ...]:
        if lang in self.by_lang:
            return self.by_lang[lang]
        if fallback in self.by_lang:
            return self.by_lang[fallback]
        return next(iter(self.by_lang.values()), ())

    def __bool__(self) -> bool:
        return any(self.by_lang.values())


EMPTY_PROMPT = Prompt()


@dataclass(frozen=True, slots=True)
class Text:
    """A short text per language (a screen label, a title)."""

    by_lang: Mapping[str, str] = field(default_factory=dict)

    def get(self, lang: str, fallback: str = DEFAULT_LANGUAGE) -> str:
        return (
            self.by_lang.get(lang)
            or self.by_lang.get(fallback)
            or next(iter(self.by_lang.values()), "")
        )


@dataclass(frozen=True, slots=True)
class Retry:
    """What happens when the caller says nothing (no-input) or something unusable
    (no-match): up to ``max`` tries, each with its own (tapered) prompt, then ``goto``."""

    max: int
    prompts: tuple[Prompt, ...]
    goto: str | None
    where: Where = NOWHERE

    def prompt_for(self, attempt: int) -> Prompt:
        """The prompt for the 1-based ``attempt``; the last one repeats."""
        if not self.prompts:
            return EMPTY_PROMPT
        return self.prompts[min(attempt, len(self.prompts)) - 1]


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a menu: a key, a label for the screen, spoken phrases, a target."""

    key: str
    label: Text
    phrases: Mapping[str, tuple[str, ...]]
    goto: str
    where: Where = NOWHERE
    lang: str | None = None  # for language menus: the language this option selects
    when: str | None = None  # offered only when this expression is true (at the node's start)


@dataclass(frozen=True, slots=True)
class Listening:
    """How a menu or input node listens for speech (keys are always accepted)."""

    end_silence_s: float = 0.6  # silence that ends an utterance
    max_speech_s: float = 10.0  # the longest utterance
    barge_in: bool = True  # speaking stops the prompt
    early_decision: bool = True  # decide once the words can only mean one option
    confirm: bool = True  # below min_confidence: ask "Did you say ...?" (else no-match)


NodeType = Literal[
    "menu",
    "language",
    "input",
    "say",
    "http",
    "branch",
    "set",
    "subflow",
    "return",
    "transfer",
    "hangup",
]


@dataclass(frozen=True, slots=True)
class Node:
    """Fields every node has."""

    id: str
    where: Where
    title: Text
    agent_note: str | None
    goal: str | None  # reaching the node means the caller got this (ivr report)

    @property
    def type(self) -> NodeType:
        raise NotImplementedError

    def targets(self) -> Iterator[tuple[str, Where]]:
        """Every node id this node can lead to, with where it is named."""
        return iter(())


@dataclass(frozen=True, slots=True)
class Menu(Node):
    prompt: Prompt
    options: tuple[Option, ...]
    no_input: Retry
    no_match: Retry
    timeout_s: float
    min_confidence: float = 0.5
    listening: Listening = Listening()

    @property
    def type(self) -> NodeType:
        return "menu"

    def option_for_key(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    def targets(self) -> Iterator[tuple[str, Where]]:
        for option in self.options:
            yield option.goto, option.where
        for retry in (self.no_input, self.no_match):
            if retry.goto is not None:
                yield retry.goto, retry.where


@dataclass(frozen=True, slots=True)
class LanguageMenu(Menu):
    """A menu whose options each pick a language (``Option.lang``) and go on."""

    @property
    def type(self) -> NodeType:
        return "language"


@dataclass(frozen=True, slots=True)
class Input(Node):
    prompt: Prompt
    var: str
    min_length: int
    max_length: int
    terminator: str | None
    first_digit_timeout_s: float
    inter_digit_timeout_s: float
    pattern: str | None
    confirm: bool
    sensitive: bool
    next: str
    no_input: Retry
    no_match: Retry
    # Shortcut keys accepted as the *first* key instead of input (e.g. "*" back,
    # "0" a person). The validator refuses one that could begin a valid input.
    options: tuple[Option, ...] = ()
    min_confidence: float = 0.5
    listening: Listening = Listening()
    hint: Text = Text()  # for the page: how to write it ("month, day, year: 01311990")
    # Letters the page takes as keys: {"X": "*"} for an ID card's check character,
    # which callers press as * on the phone.
    letter_keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def type(self) -> NodeType:
        return "input"

    def option_for_key(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    def targets(self) -> Iterator[tuple[str, Where]]:
        yield self.next, self.where
        for option in self.options:
            yield option.goto, option.where
        for retry in (self.no_input, self.no_match):
            if retry.goto is not None:
                yield retry.goto, retry.where


@dataclass(frozen=True, slots=True)
class Say(Node):
    prompt: Prompt
    next: str | None  # None: the flow (or subflow) ends here with a hangup

    @property
    def type(self) -> NodeType:
        return "say"

    def targets(self) -> Iterator[tuple[str, Where]]:
        if self.next is not None:
            yield self.next, self.where


@dataclass(frozen=True, slots=True)
class Http(Node):
    method: Literal["GET", "POST"]
    url: str  # a template
    body: Mapping[str, str] | None  # values are templates; sent as JSON
    timeout_s: float
    save_as: str  # "": the result is not kept
    next: str
    on_error: str
    hold_prompt: Prompt
    hold_after_s: float
    # Header name -> template; only these may read ``secrets`` (the engine's settings).
    headers: Mapping[str, str] = field(default_factory=dict)
    # The result's fields the agent is shown with the transfer; None: every plain value.
    agent_fields: tuple[str, ...] | None = None

    @property
    def type(self) -> NodeType:
        return "http"

    def targets(self) -> Iterator[tuple[str, Where]]:
        yield self.next, self.where
        yield self.on_error, self.where


@dataclass(frozen=True, slots=True)
class Case:
    when: str  # a template expression
    goto: str
    where: Where = NOWHERE


@dataclass(frozen=True, slots=True)
class Branch(Node):
    cases: tuple[Case, ...]
    default: str

    @property
    def type(self) -> NodeType:
        return "branch"

    def targets(self) -> Iterator[tuple[str, Where]]:
        for case in self.cases:
            yield case.goto, case.where
        yield self.default, self.where


@dataclass(frozen=True, slots=True)
class SetVars(Node):
    values: Mapping[str, str]  # name -> template
    next: str

    @property
    def type(self) -> NodeType:
        return "set"

    def targets(self) -> Iterator[tuple[str, Where]]:
        yield self.next, self.where


@dataclass(frozen=True, slots=True)
class Subflow(Node):
    flow: str  # another flow's name
    next: str  # where the call continues when the subflow returns

    @property
    def type(self) -> NodeType:
        return "subflow"

    def targets(self) -> Iterator[tuple[str, Where]]:
        yield self.next, self.where


@dataclass(frozen=True, slots=True)
class Return(Node):
    @property
    def type(self) -> NodeType:
        return "return"


@dataclass(frozen=True, slots=True)
class Transfer(Node):
    queue: str
    prompt: Prompt
    survey: str | None = None  # a flow the caller is asked after the agent hangs up

    @property
    def type(self) -> NodeType:
        return "transfer"


@dataclass(frozen=True, slots=True)
class Hangup(Node):
    prompt: Prompt

    @property
    def type(self) -> NodeType:
        return "hangup"


AnyNode = (
    Menu
    | LanguageMenu
    | Input
    | Say
    | Http
    | Branch
    | SetVars
    | Subflow
    | Return
    | Transfer
    | Hangup
)


@dataclass(frozen=True, slots=True)
class Flow:
    """One flow file, compiled."""

    name: str
    path: str
    title: Text
    languages: tuple[str, ...]
    start: str
    variables: Mapping[str, str]  # declared inputs and initial values (templates)
    nodes: Mapping[str, AnyNode]
    human: str | None = None  # the node (a transfer) that "a person" leads to by default
    caller_name: str | None = None  # a template naming the caller for the agent
    hours: Hours | None = None  # when its people answer: the variable 'open'
    where: Where = NOWHERE
    # Where each value was written, by its path in this model, e.g.
    # ("nodes", "main", "options", 0, "goto") or ("nodes", "main", "prompt", "zh", 0):
    # lets checks and runtime errors point at the exact line. Filled by the parser.
    locations: Mapping[tuple[str | int, ...], Where] = field(
        default_factory=dict, compare=False, repr=False
    )
    # Variables that something the parser could not read would have set (a misspelled
    # 'save_as', a node of unknown type or defined twice): that mistake is reported,
    # and uses of these names are not also reported as unknown. Filled by the parser.
    unread_sets: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def default_language(self) -> str:
        return self.languages[0] if self.languages else DEFAULT_LANGUAGE

    def node(self, node_id: str) -> AnyNode:
        return self.nodes[node_id]

    def only_ending(self, target: str | None) -> bool:
        """Whether the flow from ``target`` just plays prompts and ends the call (only
        say nodes, then a hang-up or transfer; None is the end too): nothing the
        caller could answer, nothing to wait for."""
        seen: set[str] = set()
        while target is not None and target not in seen:
            seen.add(target)
            node = self.node(target)
            if isinstance(node, (Hangup, Transfer)):
                return True
            if not isinstance(node, Say):
                return False
            target = node.next
        return target is None


# Names every template may use without declaring them.
BUILTIN_VARIABLES = frozenset(
    {"caller_id", "called", "call_id", "lang", "flow", "channel", "engine_url"}
)
HOURS_VARIABLE = "open"  # true while the flow's hours say its people answer


def builtin_variables(flow: Flow) -> frozenset[str]:
    """The built-ins ``flow``'s templates may use: ``open`` too if it has hours."""
    return BUILTIN_VARIABLES | {HOURS_VARIABLE} if flow.hours else BUILTIN_VARIABLES


# The engine's own endpoint that texts the visual IVR's link to the caller.
SEND_LINK_PATH = "/v/api/send-link"


def leads_to_send_link(flow: Flow, node_id: str, depth: int = 2) -> bool:
    """Whether ``node_id`` texts the caller the page's link, or is a menu one of
    whose options does ("get this menu on your phone"): not a choice of what the
    caller wants, and no choice on the page they already have."""
    node = flow.nodes.get(node_id)
    if isinstance(node, Http):
        return SEND_LINK_PATH in node.url
    if isinstance(node, Menu) and depth > 1:
        return any(leads_to_send_link(flow, o.goto, depth - 1) for o in node.options)
    return False
