"""How a call leaves the engine: the AGI command that tells the dialplan what comes next.

``[ivr-run]`` and ``[ivr-result]`` (``asterisk_conf/extensions_ivr.conf``) read three
channel variables once the AGI session ends:

- ``IVR_RESULT``: ``transfer`` or ``hangup`` (anything else is the fallback);
- ``IVR_QUEUE``: the queue of a transfer;
- ``IVR_FINAL``: the prompts the call ends with (a goodbye, "connecting you"), which the
  dialplan plays before it transfers or hangs up. Handing them over saves the caller a
  round trip to the engine after the last prompt, and frees the engine at once.

A transfer with a survey also sets ``IVR_SURVEY`` (the flow) and ``IVR_LANG``.

They all go in one ``EXEC MSet``, so the dialplan never sees a result without its queue
or its prompts, and the call pays one round trip, not one per variable. ``MSet`` splits on commas
and strips quotes, so it takes plain values only. For other values :func:`ending` falls
back to one ``SET VARIABLE`` per variable (which quotes), and the driver plays the
prompts itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.session import events as ev

PLAIN = re.compile(r"[A-Za-z0-9_./+-]+")  # nothing MSet, Playback or the dialplan parse

Command = tuple[str, ...]  # an AGI command and its arguments


def ending(item: ev.Transfer | ev.Hangup, final: Sequence[str] = ()) -> list[Command] | None:
    """The commands that end the call with ``item`` after the prompt files ``final``;
    None when those prompts cannot go to the dialplan (the driver plays them itself)."""
    values: dict[str, str] = {}
    if final:
        values["IVR_FINAL"] = "&".join(final)
    if isinstance(item, ev.Transfer):
        values["IVR_QUEUE"] = item.queue
        if item.survey:  # [ivr-queue] runs it in [ivr-survey] once the agent hangs up
            values["IVR_SURVEY"] = item.survey
            values["IVR_LANG"] = item.lang
    values["IVR_RESULT"] = "transfer" if isinstance(item, ev.Transfer) else "hangup"
    plain = [*final, *(value for name, value in values.items() if name != "IVR_FINAL")]
    if all(PLAIN.fullmatch(value) for value in plain):
        return [("EXEC", "MSet", ",".join(f"{name}={value}" for name, value in values.items()))]
    if final:
        return None
    return [("SET VARIABLE", name, value) for name, value in values.items()]
