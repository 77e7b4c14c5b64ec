"""State links as plain values: written short (defaults left out), read back safely, conditions honoured."""

from __future__ import annotations

import random
import string

import pytest

from mlm_explorer.links import LinkField, LinkState, make_link, problems_message, read_link

ACTS = (("quiz", "class-quiz"), ("write", "class-write"))
ON_WRITE = (("activity", "write"),)
FIELDS = [
    LinkField("activity", "class", "choice", choices=ACTS, default="class-quiz", always=True),
    LinkField("seed", "class", "int", 0, 1000, default=0, when=(("activity", "quiz"),)),  # the quiz's
    LinkField("strategy", "class", "choice", choices=(("gibbs", "gibbs"), ("iterative", "iterative")),
              default="gibbs", when=ON_WRITE),
    LinkField("temp", "class", "number", 0.1, 3.0, default=1.0, when=(*ON_WRITE, ("strategy", "gibbs"))),
    LinkField("length", "class", "int", 1, 16, default=10, when=ON_WRITE),
    LinkField("seed", "class", "int", 0, 1000, default=0, when=ON_WRITE),  # Write's
    LinkField("l2r", "class", "bool", default=True, when=ON_WRITE),
    LinkField("text", "fill", "text"),
]
TABS = ["fill", "class"]
DEFAULTS = ["class-quiz", 0, "gibbs", 1.0, 10, 0, True, "a [MASK] b"]


def test_defaults_are_left_out_and_a_changed_value_goes_in():
    assert make_link("class", FIELDS, DEFAULTS) == "?tab=class&activity=quiz"  # the view is always named
    write = ["class-write", 0, "gibbs", 1.0, 12.0, 3, True, "x"]
    assert make_link("class", FIELDS, write) == "?tab=class&activity=write&length=12&seed=3"


def test_a_field_of_another_activity_or_strategy_stays_out_of_the_link():
    values = ["class-write", 7, "iterative", 2.5, 10, 0, False, "x"]
    # The quiz's seed (7) belongs to the quiz; the temperature acts on Gibbs only.
    assert make_link("class", FIELDS, values) == "?tab=class&activity=write&strategy=iterative&l2r=0"


def test_a_link_round_trips_the_write_settings():
    values = ["class-write", 0, "gibbs", 2.5, 16, 42, False, "x"]
    state = read_link(make_link("class", FIELDS, values), FIELDS, TABS)
    assert state.tab == "class" and not state.problems
    assert list(state.values) == ["class-write", None, None, 2.5, 16, 42, False, None]  # None: the default


def test_two_fields_may_share_a_name_when_they_never_apply_together():
    quiz = read_link("?tab=class&seed=5", FIELDS, TABS)
    write = read_link("?tab=class&activity=write&seed=5", FIELDS, TABS)
    assert quiz.values[1] == 5 and quiz.values[5] is None
    assert write.values[1] is None and write.values[5] == 5


@pytest.mark.parametrize(
    ("query", "index", "value", "says"),
    [
        ("?tab=class&activity=write&length=abc", 4, None, "length='abc' is not a number: kept the default"),
        ("?tab=class&activity=write&length=99", 4, 16, "length=99 is out of range (1 to 16): used 16"),
        ("?tab=class&activity=write&length=2.5", 4, 2, "not a whole number"),
        ("?tab=class&activity=write&temp=inf", 3, None, "temp='inf' is not a number"),
        ("?tab=class&activity=write&strategy=zzz", 2, None, "is not one of gibbs, iterative"),
        ("?tab=class&activity=write&l2r=maybe", 6, None, "l2r='maybe' is not 1 or 0"),
        ("?tab=class&activity=dance", 0, None, "activity='dance' is not one of quiz, write"),
        ("?tab=nowhere&text=hi", 7, "hi", "tab='nowhere' is not a tab of this app"),
    ],
)
def test_a_hand_edited_value_falls_back_or_is_clamped_and_is_named(query, index, value, says):
    state = read_link(query, FIELDS, TABS)
    assert state.values[index] == value
    assert any(says in p for p in state.problems), state.problems
    assert says.split("=")[0].split("'")[0] in problems_message(state.problems)


def test_any_garbage_reads_without_raising():
    rng = random.Random(0)
    alphabet = string.printable + "é€\u200b%&=?#"
    for _ in range(300):
        pairs = "&".join(
            f"{rng.choice(['tab', 'activity', 'seed', 'temp', 'length', 'l2r', 'strategy', 'text', 'x'])}="
            + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            for _ in range(rng.randint(0, 6))
        )
        state = read_link("?" + pairs, FIELDS, TABS)
        assert isinstance(state, LinkState) and len(state.values) == len(FIELDS)
        for field, v in zip(FIELDS, state.values, strict=True):
            if v is not None and field.kind in {"int", "number"}:
                assert field.low <= v <= field.high


def test_no_problems_no_message():
    assert problems_message([]) == ""
    assert "and 2 more" in problems_message(["a", "b", "c", "d", "e", "f"])


POSITIONS = [LinkField("masks", "fill", "positions"), LinkField("text", "fill", "text")]


@pytest.mark.parametrize("raw", ["²", "3,²", "1" * 5000, "٣", "-1", "1.5", "a,b"])
def test_hand_typed_positions_that_are_not_plain_numbers_are_named_not_raised(raw):
    # str.isdigit() accepts "²" and Arabic-Indic digits, which int() refuses or reads; 5,000 digits
    # pass Python's int-from-string limit. Each is a problem line, and the rest of the link still applies.
    from urllib.parse import quote

    state = read_link(f"?tab=fill&masks={quote(raw)}&text=hello", POSITIONS, TABS)
    assert state.values == (None, "hello") and any("masks=" in p for p in state.problems)


def test_garbage_positions_and_a_condition_with_several_values():
    rng = random.Random(1)
    for _ in range(200):
        raw = "".join(rng.choice("0123456789,²٣ -x") for _ in range(rng.randint(0, 10)))
        read_link(f"?tab=fill&masks={raw}", POSITIONS, TABS)  # never raises
    abc = (("a", "a"), ("b", "b"), ("c", "c"))
    either = [LinkField("strategy", "class", "choice", choices=abc, default="a"),
              LinkField("n", "class", "int", 1, 9, default=3, when=(("strategy", ("b", "c")),))]
    assert make_link("class", either, ["c", 5]) == "?tab=class&strategy=c&n=5"
    assert make_link("class", either, ["a", 5]) == "?tab=class"  # n does not apply to a
