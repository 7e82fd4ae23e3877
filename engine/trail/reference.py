"""A journey's reference: what a caller reads out to a person (``3F2A-91BC``), and
what the agent desktop finds the journey by.

It is the end of the journey's id: 32 random bits. Its first digits are the second
the journey began, the same for every journey that began in it. Two journeys can
share a reference; looking one up returns the newest first."""

from __future__ import annotations

import re
import unicodedata

LENGTH = 8
# Words an agent may type before it: "ref 3F2A-91BC", "reference number: ...".
_LEAD = re.compile(r"^(?:(?:reference|ref|number|no|nr|参考号|编号)\b\W*|[#:：\s]+)+")
_SEPARATORS = re.compile(r"[\s\-_.·]+")
_HEARD = str.maketrans("oil", "011")  # "oh" for zero, an I or l for one
_TAIL = re.compile(rf"[0-9a-f]{{{LENGTH}}}")


def reference(journey: str) -> str:
    """The journey's id as a person reads it out: ``3F2A-91BC``."""
    tail = journey[-LENGTH:].upper()
    return f"{tail[:4]}-{tail[4:]}"


def tail_of(text: str) -> str | None:
    """The end of a journey id that ``text`` names: a reference as typed by an agent
    who heard it (any case, with or without its dash or spaces, an O for a zero, an I
    for a one, full-width characters, after "ref" or "reference number:");
    ``None`` if it names none."""
    typed = unicodedata.normalize("NFKC", text).strip().lower()  # full-width digits too
    tail = _SEPARATORS.sub("", _LEAD.sub("", typed)).translate(_HEARD)
    return tail if _TAIL.fullmatch(tail) else None
