"""The ``ivr`` command: one entry point, one small module per sub-command.

Each sub-command's work lives in the module named for it; this file only parses
arguments and imports lazily, so ``ivr validate`` starts fast and needs no Asterisk.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the engine (FastAGI, AMI, web front end, metrics)")
    p.add_argument("--flows", default=None, help="directory of flow files (default: flows/)")
    p.add_argument("--config", default=None, help="configuration file (TOML)")


class _Script(argparse.Action):
    """--dtmf and --say go into one list, in the order they were given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        script = list(getattr(namespace, self.dest, None) or [])
        script.append((self.option_strings[0].lstrip("-"), str(values)))
        setattr(namespace, self.dest, script)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 86_400:
        raise argparse.ArgumentTypeError(
            f"{text} s: give a number of seconds above 0, at most a day"
        )
    return value


def _add_call(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("call", help="place a real call into a flow through the sandbox Asterisk")
    p.add_argument("flow", help="a flow's name (its file name without .yaml) or a path")
    p.add_argument(
        "--dtmf",
        action=_Script,
        dest="script",
        default=[],
        help='key presses, one step per word, each sent when the IVR next listens: "1 2 3 4 #"; '
        '"_" lets one prompt time out, "wN" waits N seconds, "!123" sends during the prompt',
    )
    p.add_argument(
        "--say",
        action=_Script,
        dest="script",
        default=[],
        help='words the caller speaks when the IVR next listens: "check my balance"; "!agent" '
        "speaks during the prompt; repeat it, and mix it with --dtmf, in call order",
    )
    p.add_argument("--caller-id", default="+15551230000", help="the calling number")
    p.add_argument("--codec", default="", help="the one codec the caller's phone offers: "
                   "ulaw, alaw, g722 or opus (default: ulaw and alaw)")
    p.add_argument("--inband-keys", action="store_true",
                   help="the phone sends keys as tones in its audio, not as RFC 4733 events")
    p.add_argument("--at", default=None,
                   help="as if it were then, for the flow's hours: '2026-12-25 10:00', "
                   "'sat 22:00' (the next Saturday) or '22:00', in the hours' time zone")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--timeout", type=_seconds, default=None,
                   help="give up after this many seconds (300)")
    p.add_argument("--flows", default=None, help="directory of flow files (default: flows/)")
    p.add_argument("--config", default=None, help="configuration file (TOML)")


def _add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="check flow files; errors as file:line:col: message")
    p.add_argument("files", nargs="+")
    p.add_argument("--config", default=None,
                   help="configuration file (TOML): phrases are checked against its speech models")


def _add_schema(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("schema", help="print the JSON Schema of the flow language")


def _add_graph(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("graph", help="draw a flow's menu tree as SVG")
    p.add_argument("file")
    p.add_argument("-o", "--output", default=None, help="write here instead of stdout")


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sandbox", help="the local Asterisk sandbox (Debian sid chroot)")
    p.add_argument("action", choices=["up", "down", "status"])


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="containment, endings, queue waits, first-contact resolution, per flow and node",
    )
    p.add_argument("--since", default="7d", help="30m, 12h, 7d, 2w ago, a date, or all (7d)")
    p.add_argument("--until", default="now", help="the period's end, as --since (now)")
    p.add_argument("--flow", default=None, help="only journeys begun in this flow")
    p.add_argument(
        "--with-tests", action="store_true", help="count the calls `ivr call` placed, too"
    )
    p.add_argument("--store", default=None, help="the trail store (default: trail_db setting)")
    p.add_argument("--config", default=None, help="configuration file (TOML)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivr",
        description="A programmable IVR and visual IVR on Asterisk: YAML call flows, "
        "driven over FastAGI and AMI, and the same menus as a web page.",
        epilog="Start with `ivr sandbox up`, then `ivr serve`; `ivr COMMAND --help` for each.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_serve, _add_call, _add_validate, _add_schema, _add_graph, _add_report, _add_sandbox
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: str = args.command
    if command == "serve":
        from engine.serve import run_serve

        return run_serve(args)
    if command == "call":
        from engine.caller import run_call

        return run_call(args)
    if command == "validate":
        from engine.flow.commands import run_validate

        return run_validate(args.files, args.config)
    if command == "schema":
        from engine.flow.commands import run_schema

        return run_schema()
    if command == "graph":
        from engine.flow.commands import run_graph

        return run_graph(args.file, args.output)
    if command == "report":
        from engine.report.command import run_report

        return run_report(args)
    if command == "sandbox":
        from engine.sandbox import run_sandbox

        return run_sandbox(args.action)
    raise AssertionError(command)


if __name__ == "__main__":
    sys.exit(main())
