"""Numbers in a prompt's text written out as the caller's language reads them,
before the text goes to espeak-ng.

espeak-ng reads Chinese numerals wrongly in ways a caller cannot undo: it drops the
decimal point ("1520.75" became 一千五百二十 七五), and the zeros inside a number
("1005" became 一千五, which is heard as 1500; 100000 became 一百千). Korean also
loses the decimal point. So a Chinese prompt's numbers are written in Chinese
numerals here (一千零五, 一千五百二十点七五, 十万), a year before 年 digit by digit
(二零二六年), and a Korean decimal point as 점. Other languages are left as written.

Digits a template spells out one by one (``say_digits``: "1 2 3 4") stay one by
one: each is a number of its own.
"""

from __future__ import annotations

import re

_ZH_DIGITS = "零一二三四五六七八九"
_ZH_PLACES = ("", "十", "百", "千")
_ZH_GROUPS = ("", "万", "亿", "万亿")
_ZH_LONGEST = 16  # digits 万亿 can name; longer numbers are read digit by digit

_GROUPED = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # "1,520" -> "1520"
_YEAR = re.compile(r"(?<!\d)(\d{4})(?=\s*年)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DECIMAL = re.compile(r"(\d)\.(\d+)")


def for_speech(text: str, lang: str) -> str:
    """``text`` with its numbers written as ``lang`` should hear them."""
    base = lang.split("-")[0].split("_")[0].lower()
    if base == "zh":
        text = _GROUPED.sub("", text)
        text = _YEAR.sub(lambda m: _zh_digits(m.group(1)), text)
        return _NUMBER.sub(lambda m: zh_number(m.group(0)), text)
    if base == "ko":
        return _DECIMAL.sub(lambda m: f"{m.group(1)} 점 {' '.join(m.group(2))}", text)
    return text


def zh_number(numerals: str) -> str:
    """"1005" -> 一千零五, "1520.75" -> 一千五百二十点七五, "007" -> 零零七."""
    whole, _, fraction = numerals.partition(".")
    if (len(whole) > 1 and whole.startswith("0")) or len(whole) > _ZH_LONGEST:
        spoken = _zh_digits(whole)  # a code or an identifier, not a quantity
    else:
        spoken = _zh_whole(int(whole))
    return spoken + ("点" + _zh_digits(fraction) if fraction else "")


def _zh_digits(numerals: str) -> str:
    return "".join(_ZH_DIGITS[int(d)] for d in numerals)


def _zh_whole(n: int) -> str:
    if n == 0:
        return _ZH_DIGITS[0]
    groups = []  # groups of four digits, the lowest first: 10050 -> [50, 1]
    while n:
        n, group = divmod(n, 10_000)
        groups.append(group)
    spoken = ""
    gap = False  # a group of zeros since the last one said
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = bool(spoken)
            continue
        if spoken and (gap or group < 1000):
            spoken += _ZH_DIGITS[0]  # 一万零五十, 一亿零一万
        spoken += _zh_group(group) + _ZH_GROUPS[index]
        gap = False
    # Ten to nineteen at the head are 十, 十五 (and 十万, not 一十万).
    return spoken[1:] if spoken.startswith("一十") else spoken


def _zh_group(n: int) -> str:
    """1 to 9999: 一千零五, 五百二十, 三十."""
    spoken = ""
    zero = False
    for place in range(3, -1, -1):
        digit = n // 10**place % 10
        if digit == 0:
            zero = bool(spoken)
            continue
        if zero:
            spoken += _ZH_DIGITS[0]
            zero = False
        spoken += _ZH_DIGITS[digit] + _ZH_PLACES[place]
    return spoken
