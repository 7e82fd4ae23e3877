"""The flow language's fields, in one place: the parser reads these tables (names,
kinds, defaults, what is required) and :func:`json_schema` turns them into a JSON
Schema (draft 2020-12) that editors use to check and complete flows as they are typed.

A field's *kind* names both how the parser reads it and its JSON Schema shape
(:data:`_KIND_SCHEMAS`). Add a field here and both follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from engine.flow.hours import DAY_NAMES, DAYS

Kind = Literal[
    "text",  # a string or a language mapping (labels, titles)
    "prompt",
    "prompts",  # a list of prompts (retries)
    "string",
    "template",
    "expression",
    "templates",  # a mapping name -> template
    "body",  # a mapping JSON field -> template
    "target",  # a node id
    "optional_target",  # a node id or null
    "name",  # a variable name
    "flow_name",
    "queue_name",
    "seconds",
    "count",
    "confidence",
    "bool",
    "key",
    "optional_key",  # a key or null (terminator)
    "method",
    "regex",
    "languages",
    "language",
    "phrases",
    "options",
    "language_options",
    "retry",
    "cases",
    "nodes",
    "hours",  # a flow's opening hours
    "week",  # days -> a range of hours, or a list of them
    "dates",  # dates, or month-days every year
    "fields",  # names of fields of a backend's answer
]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
QUEUE_PATTERN = r"^[A-Za-z0-9_.-]+$"  # goes into Queue() as it is: no commas
LANGUAGE_PATTERN = r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$"
KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#")
METHODS = ("GET", "POST")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    description: str
    required: bool = False
    default: object = None  # shown in the schema; None: no default

    def schema(self) -> dict[str, object]:
        result = {**_KIND_SCHEMAS[self.kind], "description": self.description}
        if self.default is not None:
            result["default"] = self.default
        return result


Table = tuple[Field, ...]


def names(table: Table) -> tuple[str, ...]:
    return tuple(f.name for f in table)


def field_of(table: Table, name: str) -> Field:
    return next(f for f in table if f.name == name)


def default(table: Table, name: str) -> object:
    return field_of(table, name).default


_NO_INPUT = "What to do when the caller does nothing: tries, prompts per try, then where to go."
_NO_MATCH = "What to do when the caller's key or words are not usable."

FLOW_FIELDS: Table = (
    Field("title", "text", "The flow's name for people (screen title, agent view)."),
    Field(
        "languages",
        "languages",
        "Languages the flow speaks; the first is the default.",
        default=["en"],
    ),
    Field("start", "target", "The node a call starts at.", required=True),
    Field(
        "human",
        "target",
        "A transfer node (or a branch leading to one, such as on 'open'): where 'a person'"
        " and exhausted retries lead.",
    ),
    Field("variables", "templates", "Declared variables and their initial values (templates)."),
    Field(
        "caller_name",
        "template",
        "How the agent desktop names the caller, e.g. '{{ customer.name }}' from a backend's"
        " answer (blank until the journey knows it).",
    ),
    Field(
        "hours",
        "hours",
        "When the people answer, in the line's time zone: 'open' is true then (a branch"
        " on it sends callers elsewhere at night).",
    ),
    Field("nodes", "nodes", "The nodes, by id.", required=True),
)

HOURS_FIELDS: Table = (
    Field(
        "timezone",
        "string",
        "An IANA time zone, e.g. Europe/London (default: the engine machine's).",
    ),
    Field(
        "open",
        "week",
        "Days (mon-fri, sat, mon,wed) to hours ('08:00-20:00', or a list of ranges);"
        " a day not named is closed. A range may run past midnight ('22:00-02:00').",
        required=True,
    ),
    Field(
        "closed",
        "dates",
        "Days closed whatever the week says: dates (2026-12-25) or month-days every"
        " year ('12-25').",
    ),
)

COMMON_FIELDS: Table = (
    Field("type", "string", "What the node does.", required=True),
    Field("title", "text", "A heading for the screen and the agent's trail."),
    Field("agent_note", "string", "Free text shown to the human agent after a transfer."),
    Field(
        "goal",
        "string",
        "Reaching this node means the caller got what they came for, e.g. 'balance told':"
        " ivr report counts it as self-service that worked.",
    ),
)

OPTION_FIELDS: Table = (
    Field("key", "key", "The key that picks it: 0-9, * or #.", required=True),
    Field("label", "text", "What the screen shows (and the agent's trail).", required=True),
    Field("phrases", "phrases", "Words a caller may say for it, per language."),
    Field("goto", "target", "The node it leads to.", required=True),
    Field(
        "when",
        "expression",
        "Offered only when this is true as the node starts, e.g. bill.due > 0 (by key,"
        " by voice and on the page; say it in the prompt with {% if %}).",
    ),
)
LANGUAGE_OPTION_FIELDS: Table = (
    *OPTION_FIELDS,
    Field("lang", "language", "The language this option selects (none: keep the current one)."),
)
RETRY_FIELDS: Table = (
    Field(
        "max", "count",
        "How many times the node is asked again before going to goto (3: four tries).",
        default=3,
    ),
    Field("prompts", "prompts", "A prompt per try (the last repeats); built-in if omitted."),
    Field(
        "goto",
        "optional_target",
        "Where to go after the last try; default the flow's human; null hangs up.",
    ),
)
CASE_FIELDS: Table = (
    Field("when", "expression", "A Jinja2 expression, e.g. balance.ok.", required=True),
    Field("goto", "target", "Where to go when it is true.", required=True),
)

SPEECH_FIELDS: Table = (
    Field(
        "end_silence",
        "seconds",
        "Seconds of silence that end what the caller says.",
        default=0.6,
    ),
    Field("max_speech", "seconds", "The longest utterance, in seconds.", default=10),
    Field("barge_in", "bool", "Speaking stops the prompt.", default=True),
    Field(
        "early_decision",
        "bool",
        "Act as soon as the words heard can only mean one option.",
        default=True,
    ),
    Field(
        "confirm_speech",
        "bool",
        "Below min_confidence ask 'Did you say ...?'; false: treat it as no match.",
        default=True,
    ),
)

_MENU: Table = (
    Field("prompt", "prompt", "What the caller hears.", required=True),
    Field("options", "options", "The choices.", required=True),
    Field(
        "timeout",
        "seconds",
        "Seconds of silence after the prompt that count as no input.",
        default=5,
    ),
    Field(
        "min_confidence",
        "confidence",
        "Lowest speech recognition confidence accepted.",
        default=0.5,
    ),
    Field("no_input", "retry", _NO_INPUT),
    Field("no_match", "retry", _NO_MATCH),
    *SPEECH_FIELDS,
)

NODE_FIELDS: Mapping[str, Table] = {
    "menu": _MENU,
    "language": tuple(
        Field(f.name, "language_options", "Each option sets the caller's language.", True)
        if f.name == "options"
        else f
        for f in _MENU
    ),
    "input": (
        Field("prompt", "prompt", "What the caller hears.", required=True),
        Field("var", "name", "The variable the digits are saved to.", required=True),
        Field("min_length", "count", "Fewest digits accepted.", default=1),
        Field("max_length", "count", "Most digits accepted; input ends there.", default=20),
        Field(
            "terminator", "optional_key", "The key that ends input early; null: none.", default="#"
        ),
        Field("first_digit_timeout", "seconds", "Seconds to wait for the first key.", default=8),
        Field("inter_digit_timeout", "seconds", "Seconds to wait between keys.", default=5),
        Field("pattern", "regex", "A Python regex the whole input must match."),
        Field("confirm", "bool", "Read the input back: 1 confirms, 2 re-enters.", default=False),
        Field(
            "sensitive",
            "bool",
            "Mask it in the trail and logs (PINs, card numbers).",
            default=False,
        ),
        Field(
            "hint",
            "text",
            "For the page, under the field: how to write it, e.g. 'Month, day and year:"
            " 01311990' (the page adds how many digits).",
        ),
        Field(
            "letter_keys",
            "body",
            "Letters the page takes as keys, e.g. {X: '*'} for an ID card's check "
            "character, which callers press as * on the phone.",
        ),
        Field("options", "options", "Shortcut keys accepted as the first key (e.g. * back)."),
        Field("next", "target", "Where to go with the input.", required=True),
        Field("no_input", "retry", _NO_INPUT),
        Field("no_match", "retry", _NO_MATCH),
        Field(
            "min_confidence",
            "confidence",
            "Lowest speech recognition confidence accepted.",
            default=0.5,
        ),
        *SPEECH_FIELDS,
    ),
    "say": (
        Field("prompt", "prompt", "What the caller hears.", required=True),
        Field("next", "target", "Where to go next; without it the call hangs up."),
    ),
    "http": (
        Field("method", "method", "GET or POST.", default="GET"),
        Field("url", "template", "The URL (a template).", required=True),
        Field("body", "body", "JSON body fields (templates), for POST."),
        Field(
            "headers",
            "body",
            "HTTP headers (templates): the only place {{ secrets.NAME }} may be read "
            "(an API token from the engine's settings, IVR_SECRET_NAME).",
        ),
        Field("timeout", "seconds", "Seconds before the request counts as failed.", default=5),
        Field(
            "save_as",
            "name",
            "The variable holding the JSON result; without it the result is not kept "
            "(a fire-and-forget request).",
        ),
        Field("next", "target", "Where to go on success.", required=True),
        Field("on_error", "target", "Where to go on failure; default the flow's human."),
        Field("hold_prompt", "prompt", "Said if the request is slow."),
        Field("hold_after", "seconds", "Seconds before the hold prompt plays.", default=1.5),
        Field(
            "agent_fields",
            "fields",
            "The fields of the result the agent sees with the transfer; without it, every "
            "field that is a plain value; [] for none. The others are not kept for the agent.",
        ),
    ),
    "branch": (
        Field("cases", "cases", "Tried in order; the first true one wins.", required=True),
        Field("default", "target", "Where to go when no case is true.", required=True),
    ),
    "set": (
        Field("values", "templates", "Variables to set (templates).", required=True),
        Field("next", "target", "Where to go next.", required=True),
    ),
    "subflow": (
        Field(
            "flow", "flow_name", "Another flow's name (its file name without .yaml).", required=True
        ),
        Field(
            "next", "target", "Where the call continues when the subflow returns.", required=True
        ),
    ),
    "return": (),
    "transfer": (
        Field("queue", "queue_name", "The agents' queue.", required=True),
        Field("prompt", "prompt", "Said before connecting."),
        Field(
            "survey",
            "string",
            "A flow the caller is asked when the agent hangs up (e.g. a satisfaction"
            " rating); ivr report counts its answers.",
        ),
    ),
    "hangup": (Field("prompt", "prompt", "Said before hanging up."),),
}

NODE_ALIASES: Mapping[str, str] = {"play": "say"}

NODE_DESCRIPTIONS: Mapping[str, str] = {
    "menu": "Choices by key or by voice.",
    "language": "A menu whose options each set the caller's language.",
    "input": "Collect digits into a variable.",
    "say": "Say something (alias: play).",
    "http": "Call a backend; the JSON result goes into a variable.",
    "branch": "Go where the first true case says.",
    "set": "Set variables.",
    "subflow": "Run another flow, then continue.",
    "return": "End a subflow: back to the caller flow.",
    "transfer": "Connect the caller to a person.",
    "hangup": "Say goodbye and hang up.",
}


def node_fields(node_type: str) -> Table:
    return COMMON_FIELDS + NODE_FIELDS[node_type]


def _ref(name: str) -> dict[str, object]:
    return {"$ref": f"#/$defs/{name}"}


_STRING: dict[str, object] = {"type": "string"}
_SCALAR: dict[str, object] = {"type": ["string", "number", "boolean"]}
_RANGE: dict[str, object] = {
    "type": "string",
    "pattern": r"^\s*[0-9]{1,2}:[0-9]{2}\s*-\s*[0-9]{1,2}:[0-9]{2}\s*$",
    "description": "From-to on the 24-hour clock, e.g. '08:00-20:00'.",
}


def _days_key() -> str:
    """A week's key as ``hours_reader`` reads it: days, ranges of days, lists of both
    (mon-fri, sat, mon,wed,fri), short or whole names, in any case (a JSON Schema
    pattern has no flag for that: each letter is a class of two)."""

    def any_case(name: str) -> str:
        return "".join(f"[{c.upper()}{c}]" for c in name)

    day = "(" + "|".join(any_case(n) for n in (*DAY_NAMES, *DAYS)) + ")"
    one = rf"\s*{day}\s*(-\s*{day}\s*)?"
    return rf"^{one}(,{one})*$"


_DAYS_KEY = _days_key()


_KIND_SCHEMAS: Mapping[Kind, dict[str, object]] = {
    "text": _ref("text"),
    "prompt": _ref("prompt"),
    "prompts": {"type": "array", "items": _ref("prompt")},
    "string": _STRING,
    "template": _STRING,
    "expression": {"type": "string", "minLength": 1},
    "templates": {
        "type": "object",
        "propertyNames": {"pattern": NAME_PATTERN},
        "additionalProperties": _SCALAR,
    },
    "body": {"type": "object", "additionalProperties": _SCALAR},
    "fields": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
    "target": {"type": "string", "minLength": 1},
    "optional_target": {"type": ["string", "null"]},
    "name": {"type": "string", "pattern": NAME_PATTERN},
    "flow_name": {"type": "string", "minLength": 1},
    "queue_name": {"type": "string", "pattern": QUEUE_PATTERN},
    "seconds": {"type": "number", "exclusiveMinimum": 0},
    "count": {"type": "integer", "minimum": 1},
    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    "bool": {"type": "boolean"},
    "key": _ref("key"),
    "optional_key": {"oneOf": [_ref("key"), {"type": "null"}]},
    "method": {"enum": list(METHODS)},
    "regex": {"type": "string", "format": "regex"},
    "languages": {"type": "array", "items": _ref("language"), "minItems": 1, "uniqueItems": True},
    "language": _ref("language"),
    "phrases": _ref("phrases"),
    "options": {"type": "array", "items": _ref("option")},
    "language_options": {"type": "array", "items": _ref("language_option")},
    "retry": _ref("retry"),
    "cases": {"type": "array", "items": _ref("case"), "minItems": 1},
    "nodes": {"type": "object", "minProperties": 1, "additionalProperties": _ref("node")},
    "hours": _ref("hours"),
    "week": {
        "type": "object",
        "propertyNames": {"pattern": _DAYS_KEY},
        "additionalProperties": {
            "oneOf": [_RANGE, {"type": "array", "items": _RANGE, "minItems": 1}]
        },
    },
    "dates": {
        "type": "array",
        "items": {"type": "string", "pattern": r"^([0-9]{4}-)?[0-9]{2}-[0-9]{2}$"},
    },
}


def _object(table: Table, extra: Mapping[str, object] | None = None) -> dict[str, object]:
    properties: dict[str, object] = {f.name: f.schema() for f in table}
    properties.update(extra or {})
    result: dict[str, object] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [f.name for f in table if f.required]
    if required:
        result["required"] = required
    return result


def _node_schema(node_type: str) -> dict[str, object]:
    types = [node_type, *(a for a, t in NODE_ALIASES.items() if t == node_type)]
    type_schema: dict[str, object] = {"const": node_type} if len(types) == 1 else {"enum": types}
    schema = _object(node_fields(node_type), {"type": type_schema})
    schema["description"] = NODE_DESCRIPTIONS[node_type]
    return schema


def _shared_defs() -> dict[str, object]:
    file_part = {
        "type": "object",
        "properties": {
            "file": {
                "type": "string",
                "minLength": 1,
                "description": "Recorded audio, relative to the flow file.",
            }
        },
        "required": ["file"],
        "additionalProperties": False,
    }
    part = {"oneOf": [_STRING, _ref("file")]}
    one_language = {"oneOf": [_STRING, {"type": "array", "items": part}, _ref("file")]}
    by_language = {
        "type": "object",
        "propertyNames": _ref("language"),
        "additionalProperties": one_language,
    }
    return {
        "language": {
            "type": "string",
            "pattern": LANGUAGE_PATTERN,
            "description": "A language code such as en, zh or en-US.",
        },
        "key": {
            "oneOf": [{"enum": list(KEYS)}, {"type": "integer", "minimum": 0, "maximum": 9}],
            "description": "A phone key: 0-9, * or # (quote * and #).",
        },
        "file": file_part,
        "text": {
            "oneOf": [
                _STRING,
                {
                    "type": "object",
                    "propertyNames": _ref("language"),
                    "additionalProperties": _STRING,
                },
            ],
            "description": "Text, or text per language.",
        },
        "prompt": {
            "oneOf": [_STRING, {"type": "array", "items": part}, _ref("file"), by_language],
            "description": "Text (default language), parts, a recording, or per "
            "language any of those.",
        },
        "phrases": {
            "oneOf": [
                {"type": "array", "items": _STRING},
                {
                    "type": "object",
                    "propertyNames": _ref("language"),
                    "additionalProperties": {
                        "oneOf": [_STRING, {"type": "array", "items": _STRING}]
                    },
                },
            ]
        },
        "option": _object(OPTION_FIELDS),
        "language_option": _object(LANGUAGE_OPTION_FIELDS),
        "retry": _object(RETRY_FIELDS),
        "case": _object(CASE_FIELDS),
        "hours": _object(HOURS_FIELDS),
    }


def json_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of one flow file."""
    defs = _shared_defs()
    for node_type in NODE_FIELDS:
        defs[f"{node_type}_node"] = _node_schema(node_type)
    # Chosen by its type, so that an editor or validator reports what is wrong with
    # the node as that kind (a misspelt field), not that it is none of eleven kinds.
    kinds = {t: [t, *(a for a, target in NODE_ALIASES.items() if target == t)] for t in NODE_FIELDS}
    defs["node"] = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": [name for names in kinds.values() for name in names]}},
        "allOf": [
            {
                "if": {"properties": {"type": {"enum": names}}, "required": ["type"]},
                "then": _ref(f"{t}_node"),
            }
            for t, names in kinds.items()
        ],
    }
    schema = _object(FLOW_FIELDS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:ivr-engine:flow",
        "title": "IVR call flow",
        "description": "One call flow; the file name without .yaml is the flow's name.",
        **schema,
        "$defs": defs,
    }
