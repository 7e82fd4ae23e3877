"""``ivr validate``, ``ivr schema`` and ``ivr graph``.

``validate`` prints one problem per line on stdout (``file:line:col: message``) and
a summary on stderr; it exits 1 if there is any error. A file is checked against the
other flows in its directory, so subflow names are known. ``graph`` draws a flow even
when it has errors (they go to stderr), unless it cannot be read at all.
"""

from __future__ import annotations

import json
import os
import sys

from engine.config import ConfigError, Settings, load_settings
from engine.flow import (
    FlowDir,
    flow_files,
    load_flow_file,
    parse_flow_dir,
    parse_flow_file,
    shadowed_file,
)
from engine.flow.graph import GraphError, render_svg
from engine.flow.model import Flow, Where
from engine.flow.problems import Problem, error, sorted_problems
from engine.flow.schema import json_schema
from engine.flow.validate import Vocabulary, check_phrases, validate
from engine.speech.recognizer import SpeechError


def _expand(files: list[str]) -> tuple[list[str], list[Problem]]:
    """Files as given; a directory stands for its flow files (one with none is an
    error: a typo in its name, or flows not where you thought)."""
    result: list[str] = []
    problems: list[Problem] = []
    for name in files:
        if not os.path.isdir(name):
            result.append(name)
            continue
        found = flow_files(name)
        if not found:
            where = Where(name.rstrip("/") or name, 1, 1)
            problems.append(error(where, "no flow files (*.yaml, *.yml) in this directory"))
        result.extend(found)
    return result, problems


def _known_flows(path: str, directories: dict[str, FlowDir] | None = None) -> FlowDir:
    """The flows next to ``path`` (its subflows and their variables); with
    ``directories``, each directory is read once however many of its files are checked."""
    directory = os.path.abspath(os.path.dirname(path) or ".")
    if directories is None:
        return parse_flow_dir(directory)
    if directory not in directories:
        directories[directory] = parse_flow_dir(directory)
    return directories[directory]


def _speech_vocabulary(settings: Settings) -> Vocabulary | None:
    """Phrases checked against the speech models the engine would use, as the
    settings name them (None: speech is off, phrases are not heard anyway)."""
    from engine.speech.service import speech_service

    if settings.speech == "off":
        return None
    service = speech_service(settings.speech, settings.speech_models)
    cache: dict[tuple[str, str], list[str] | None] = {}

    def unknown(lang: str, phrase: str) -> list[str] | None:
        if (lang, phrase) not in cache:
            cache[lang, phrase] = service.unknown_words(lang, phrase)
        return cache[lang, phrase]

    return unknown


def run_validate(files: list[str], config: str | None = None) -> int:
    try:
        settings = load_settings(config)
        vocabulary = _speech_vocabulary(settings)
    except (ConfigError, SpeechError) as exc:
        print(f"ivr validate: {exc}", file=sys.stderr)
        return 1
    paths, empty = _expand(files)
    errors = warnings = 0
    for problem in empty:
        print(problem)
        errors += 1
    directories: dict[str, FlowDir] = {}
    for path in paths:
        known = _known_flows(path, directories)
        flow, problems = load_flow_file(path, known)
        first = known.shadowed.get(os.path.abspath(path))
        if first is not None:  # x.yml beside x.yaml: the engine serves x.yaml
            flow, problems = None, sorted_problems([*problems, shadowed_file(path, first)])
        if flow is not None and vocabulary is not None:
            problems = sorted_problems([*problems, *check_phrases(flow, vocabulary)])
        for problem in problems:
            print(problem)
            errors += problem.is_error
            warnings += not problem.is_error
    summary = _count(len(paths), "flow")
    if errors:
        print(f"{_count(errors, 'error')}, {_count(warnings, 'warning')} in {summary}",
              file=sys.stderr)
        return 1
    print(f"ok: {summary}" + (f", {_count(warnings, 'warning')}" if warnings else ""),
          file=sys.stderr)
    return 0


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def run_schema() -> int:
    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def _parse_for_drawing(file: str) -> Flow | None:
    """The flow even if it has errors (a picture helps fix them), problems on stderr."""
    flow, problems = parse_flow_file(file)
    if flow is not None:
        problems = [*problems, *validate(flow, _known_flows(file))]
    _print_problems(sorted_problems(problems))
    return flow


def run_graph(file: str, output: str | None) -> int:
    if output is not None and not output.lower().endswith(".svg"):
        print(f"ivr graph: draws SVG; name the output .svg, not {output}", file=sys.stderr)
        return 2
    flow = _parse_for_drawing(file)
    if flow is None:
        print(f"{file}: cannot be drawn", file=sys.stderr)
        return 1
    try:
        svg = render_svg(flow)
    except GraphError as exc:
        print(f"ivr graph: {exc}", file=sys.stderr)
        return 1
    if output is None:
        sys.stdout.write(svg)
        return 0
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(svg)
    except OSError as exc:
        print(f"ivr graph: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {output}", file=sys.stderr)
    return 0
