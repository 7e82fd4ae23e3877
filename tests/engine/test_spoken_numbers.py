"""engine/spoken_numbers.py: numbers in a prompt as the caller's language reads them."""

from __future__ import annotations

import pytest

from engine.spoken_numbers import for_speech, zh_number


@pytest.mark.parametrize(
    ("numerals", "spoken"),
    [
        ("0", "零"),
        ("7", "七"),
        ("10", "十"),
        ("15", "十五"),
        ("20", "二十"),
        ("110", "一百一十"),
        ("1005", "一千零五"),  # espeak-ng said 一千五: heard as 1500
        ("1520", "一千五百二十"),
        ("10050", "一万零五十"),
        ("100000", "十万"),  # espeak-ng said 一百千
        ("1000000", "一百万"),  # espeak-ng said 一万
        ("100010000", "一亿零一万"),
        ("120000000", "一亿二千万"),
        ("1520.75", "一千五百二十点七五"),  # espeak-ng dropped the 点
        ("0.5", "零点五"),
        ("007", "零零七"),  # a code, not a quantity
        ("12345678901234567", "一二三四五六七八九零一二三四五六七"),
    ],
)
def test_chinese_numerals(numerals: str, spoken: str) -> None:
    assert zh_number(numerals) == spoken


def test_a_chinese_prompt_s_numbers_years_and_grouped_amounts() -> None:
    assert for_speech("您的余额是1,520.75元。", "zh") == "您的余额是一千五百二十点七五元。"
    assert for_speech("2026年12月3日", "zh-CN") == "二零二六年十二月三日"
    assert for_speech("请按1，查询请按2", "zh") == "请按一，查询请按二"
    assert for_speech("1 3 5 9", "zh") == "一 三 五 九"  # say_digits: one by one


def test_korean_keeps_its_decimal_point_and_english_is_left_alone() -> None:
    assert for_speech("잔액은 1520.75원입니다", "ko") == "잔액은 1520 점 7 5원입니다"
    assert for_speech("1520 dollars and 75 cents, 1,005", "en") == (
        "1520 dollars and 75 cents, 1,005"
    )


def test_the_chinese_voice_reads_chinese_not_english_spelt_pinyin() -> None:
    """espeak-ng's "cmn" voice reads a character as its pinyin in English ("请" as
    "king three", switching to English: "(en)" in its phonemes); ours reads it, and
    the numbers written out for it, as Mandarin."""
    import subprocess

    from engine.prompts import VOICES

    text = for_speech("请按1，您的余额是1005.5元。", "zh")
    phonemes = subprocess.run(
        ["espeak-ng", "-v", VOICES["zh"].name, "-q", "-x", "--stdin"],
        input=text, capture_output=True, text=True, check=True,
    ).stdout
    assert "(en)" not in phonemes, phonemes
    assert "l'i35N" in phonemes and "t'iE" in phonemes  # 零 and 点 are said
