"""The JSON Schema: valid draft 2020-12, accepts every good fixture, refuses mistakes
the parser refuses, and names the same fields as the parser's tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from engine.flow.commands import run_schema
from engine.flow.schema import FLOW_FIELDS, NODE_FIELDS, json_schema, names, node_fields
from engine.flow.yamlsource import load_yaml, to_plain

ROOT = Path(__file__).parents[2]
# The good fixtures, the demo's flows and those the real calls use.
GOOD = sorted(
    [
        *(Path(__file__).parent / "fixtures" / "good").glob("*.yaml"),
        *(ROOT / "flows").glob("*.yaml"),
        *(ROOT / "tests" / "e2e" / "flows").glob("*.yaml"),
    ]
)


def _validator() -> jsonschema.protocols.Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _data(text: str) -> Any:
    value, problems = load_yaml(text, "t.yaml")
    assert value is not None and problems == []
    return to_plain(value)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", GOOD, ids=[f"{p.parent.name}/{p.stem}" for p in GOOD])
def test_good_fixtures_validate(path: Path) -> None:
    errors = list(_validator().iter_errors(_data(path.read_text(encoding="utf-8"))))
    assert [e.message for e in errors] == []


@pytest.mark.parametrize(
    "text",
    [
        "start: a\nnodes: {a: {type: meun}}\n",
        "start: a\nnodes: {a: {type: say, prompt: hi, nxt: b}}\n",
        "start: a\nnodes: {a: {type: menu, prompt: hi, options: [{key: 12, label: x, goto: a}]}}\n",
        "start: a\nnodes: {a: {type: input, prompt: hi, next: a}}\n",
        "nodes: {a: {type: return}}\n",
        "start: a\nlanguages: [English]\nnodes: {a: {type: return}}\n",
        "start: a\nhours: {open: {mon-fri: '9-5'}}\nnodes: {a: {type: return}}\n",
        "start: a\nhours: {open: {mon: '09:00-17:00'}, closed: [christmas]}\n"
        "nodes: {a: {type: return}}\n",
        "start: a\nhours: {timezone: UTC}\nnodes: {a: {type: return}}\n",
        "start: a\nhours: {timezone: UTC, open: {mon-fir: '09:00-17:00'}}\n"
        "nodes: {a: {type: return}}\n",
    ],
)
def test_mistakes_are_refused(text: str) -> None:
    assert not _validator().is_valid(_data(text))


@pytest.mark.parametrize("days", ["mon-fri", "Sat", "fri-mon", "mon,wed,fri", "Monday - Friday",
                                  "sun, tue-thu", "MON", "SAT-SUN", "mOn"])
def test_every_way_the_reader_takes_days_is_accepted(days: str) -> None:
    text = f"start: a\nhours: {{timezone: UTC, open: {{'{days}': '09:00-17:00'}}}}\n" \
        "nodes: {a: {type: return}}\n"
    assert _validator().is_valid(_data(text))


def test_play_is_accepted_as_say() -> None:
    assert _validator().is_valid(_data("start: a\nnodes: {a: {type: play, prompt: hi}}\n"))


def test_every_node_type_has_a_branch_with_the_parser_fields() -> None:
    defs = json_schema()["$defs"]
    assert isinstance(defs, dict)
    for node_type in NODE_FIELDS:
        properties = defs[f"{node_type}_node"]["properties"]
        assert tuple(properties) == names(node_fields(node_type))
    flow_properties = json_schema()["properties"]
    assert isinstance(flow_properties, dict)
    assert tuple(flow_properties) == names(FLOW_FIELDS)


def test_defaults_and_descriptions_are_published() -> None:
    menu = json_schema()["$defs"]["menu_node"]["properties"]  # type: ignore[index]
    assert menu["timeout"]["default"] == 5
    assert menu["prompt"]["description"]


def test_ivr_schema_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_schema() == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


def test_a_node_is_checked_as_its_own_kind() -> None:
    """Errors an editor can show: the misspelt field of a say node, not 'not valid
    under any of the given schemas' (eleven kinds tried)."""
    data = _data("start: a\nnodes: {a: {type: say, promt: hi}}\n")
    messages = sorted(e.message for e in _validator().iter_errors(data))
    assert messages == [
        "'prompt' is a required property",
        "Additional properties are not allowed ('promt' was unexpected)",
    ]
    data = _data("start: a\nnodes: {a: {type: transfer, queue: q, no_input: {max: 1}}}\n")
    assert [e.message for e in _validator().iter_errors(data)] == [
        "Additional properties are not allowed ('no_input' was unexpected)"
    ]
