"""Spoken digits to digits: "one two three", "一二三" and "일 이 삼" become "123",
and "double five" / "triple seven" become "55" / "777" where callers say so.

Input nodes accept digits by voice; recognisers return words, so the words are
mapped here, per language. A text with anything that is not a digit word gives
``None`` (the caller said something else), never a partial number.
"""

from __future__ import annotations

DIGIT_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3",
        "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    },
    "zh": {
        "零": "0", "\u3007": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2",
        "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
    },
    "es": {
        "cero": "0", "uno": "1", "una": "1", "dos": "2", "tres": "3", "cuatro": "4",
        "cinco": "5", "seis": "6", "siete": "7", "ocho": "8", "nueve": "9",
    },
    "ko": {
        "영": "0", "공": "0", "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5",
        "육": "6", "륙": "6", "칠": "7", "팔": "8", "구": "9",
    },
}

# The words a grammar offers for digits: one spelling per digit (plus "oh" in English).
GRAMMAR_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "zh": ("零", "一", "幺", "二", "两", "三", "四", "五", "六", "七", "八", "九"),
    "ko": ("영", "공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"),
    "es": ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"),
}

# Words that repeat the next digit: British, Irish, Indian and Australian callers
# read "5571" as "double five seven one".
REPEAT_WORDS: dict[str, dict[str, int]] = {
    "en": {"double": 2, "triple": 3},
}

_UNSPACED = ("zh", "ja")


def base_language(lang: str) -> str:
    return lang.replace("_", "-").split("-")[0].lower()


def tokens(text: str, lang: str) -> list[str]:
    """Words of ``text``; languages written without spaces are split per character."""
    if base_language(lang) in _UNSPACED:
        return [c for c in text if not c.isspace()]
    return text.lower().split()


def spoken_digits(text: str, lang: str) -> str | None:
    """The digits ``text`` says, or None if it says anything else (or nothing)."""
    base = base_language(lang)
    words = DIGIT_WORDS.get(base, {})
    repeats = REPEAT_WORDS.get(base, {})
    out: list[str] = []
    times = 1  # a pending "double" or "triple"
    for token in tokens(text, lang):
        if token.isdigit() and token.isascii():
            out.append(token[0] * times + token[1:])
        elif token in words:
            out.append(words[token] * times)
        elif token in repeats and times == 1:
            times = repeats[token]
            continue
        else:
            return None
        times = 1
    if times != 1:
        return None  # "double" with no digit after it
    return "".join(out) or None
