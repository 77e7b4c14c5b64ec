"""How pages look and links read: pure functions of ``ui/look.py`` and the on-screen tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("gradio")

from mlm_explorer import plots  # noqa: E402
from mlm_explorer.ui import look  # noqa: E402
from mlm_explorer.ui.look import LinkField, make_link, parse_link  # noqa: E402
from mlm_explorer.ui.score import verdict_text  # noqa: E402
from mlm_explorer.ui.state import Session  # noqa: E402
from mlm_explorer.views import display_table  # noqa: E402

FIELDS = [
    LinkField("text", "fill", "text"),
    LinkField("masks", "fill", "positions"),
    LinkField("k", "fill", "int", 1, 20),
    LinkField("mode", "fill", "choice", choices=(("iterative", "iterative (most confident first)"),)),
    LinkField("ww", "fill", "bool"),
    LinkField("text", "attention", "text"),
    LinkField("rate", "policy", "number", 0.0, 1.0),
]
TABS = ["fill", "policy", "attention"]


def test_a_link_round_trips_the_state_of_its_tab():
    values = ["the <b>cat</b> & [MASK]", "2, 5", 7, "iterative (most confident first)", True, "other", 0.5]
    query = make_link("fill", FIELDS, values, projector=True)
    assert "rate=" not in query and "other" not in query  # another tab's inputs stay out
    tab, parsed = parse_link(query, FIELDS, TABS)
    assert tab == "fill"
    assert parsed[:5] == values[:5] and parsed[5:] == [None, None]
    assert look.page_look(json.dumps({"search": query, "width": 1280})).projector


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?tab=fill&k=500", 20),  # clamped
        ("?tab=fill&k=nan", None),
        ("?tab=fill&k=abc", None),
        ("?tab=nowhere&k=3", 3),  # an unknown tab opens Fill, with Fill's values
    ],
)
def test_bad_link_values_are_clamped_or_ignored(query, expected):
    tab, values = parse_link(query, FIELDS, TABS)
    assert values[2] == expected
    assert tab in (None, "fill")


def test_bad_positions_and_choices_are_ignored():
    _, values = parse_link("?masks=1,x&mode=<script>&ww=yes", FIELDS, TABS)
    assert values[1] is None and values[3] is None and values[4] is True


def test_page_look_reads_theme_width_and_projector():
    assert look.page_look("") == plots.DEFAULT_LOOK
    assert look.page_look("not json") == plots.DEFAULT_LOOK
    info = {"dark": True, "width": 390, "search": "?projector=1"}
    assert look.page_look(json.dumps(info)) == plots.Look(dark=True, projector=True, narrow=True)


def test_a_linked_text_is_told_apart_from_typing_once():
    session = Session(model_key="bundled")
    look.remember_linked(session, FIELDS, ["a b", None, None, None, None, None, None])
    assert look.consume_linked(session, "fill", "text", "a b")
    assert not look.consume_linked(session, "fill", "text", "a b")  # the next change is the user's


def test_tables_show_percentages_and_hide_empty_columns():
    table = pd.DataFrame(
        {"pos.": [2, 6], "original": ["(unknown)", "(unknown)"], "top-1": ["a", "b"],
         "p(top-1)": [0.4138, 0.00002], "p(original)": [None, None], "rank": [None, None],
         "entropy": [5.1234, 2.0], "top-k": ["a 41.4%", "b 0.0%"]}
    )
    shown = display_table(table)
    assert list(shown.data.columns) == ["pos.", "top-1", "p(top-1)", "entropy", "top-k"]
    html = shown.to_html()
    assert "41.4%" in html and "0.0020%" in html and "5.12" in html
    assert shown.data["p(top-1)"].tolist() == [0.4138, 0.00002]  # numbers stay numbers for the API
    assert list(display_table(table, narrow=True).data.columns) == ["pos.", "top-1", "p(top-1)"]
    # The 80/10/10 tab keeps what the policy did to each token on a phone too
    assert "entropy" in list(display_table(table, narrow=True, phone_also=("entropy",)).data.columns)


def test_the_policy_table_keeps_its_action_column_on_a_phone(tiny_bert_dir):
    from mlm_explorer import plots
    from mlm_explorer.ui import policy

    session = Session(str(tiny_bert_dir))
    session.extras[look.LOOK_KEY] = plots.Look(narrow=True)
    text = "the cat sat on the mat and the dog ran to the park ."
    table = policy.apply_policy(text, 0.5, 0.8, 0.1, 0, False, session)[3]
    assert "action" in list(table.data.columns) and "entropy" not in list(table.data.columns)


def test_the_score_verdict_names_the_grammatical_sentence():
    good, bad = "The keys to the cabinet are here.", "The keys to the cabinet is here."
    agreed = verdict_text(good, bad, -20.0, -25.0)
    assert "**A** is the grammatical" in agreed and "agreed" in agreed and "large gap" in agreed
    disagreed = verdict_text(bad, good, -20.0, -20.4)
    assert "**B** is the grammatical" in disagreed and "disagreed" in disagreed and "small gap" in disagreed
    assert "grammatical" not in verdict_text("a b", "c d", -1.0, -2.0)  # not a known pair: no claim


def test_legend_uses_the_named_colours():
    legend = look.legend_html()
    for color in (plots.MASKED_COLOR, plots.RANDOM_COLOR, plots.KEPT_COLOR, plots.ORIGINAL_COLOR):
        assert color in legend
    assert plots.MASKED_COLOR in look.CSS  # chips painted opaque, with readable text


def _media_blocks(css: str) -> list[tuple[str, str]]:
    """(media query, body) of each ``@media`` block of a flat stylesheet (no nested braces but rules)."""
    blocks, at = [], css.find("@media")
    while at != -1:
        open_ = css.index("{", at)
        depth, end = 1, open_ + 1
        while depth:
            depth += {"{": 1, "}": -1}.get(css[end], 0)
            end += 1
        blocks.append((css[at + 6:open_].strip(), css[open_ + 1:end - 1]))
        at = css.find("@media", end)
    return blocks


def test_phone_rules_can_match_once_gradio_prefixes_them():
    """Inside a media query Gradio prefixes each selector with ``.gradio-container-<v> .contain``:
    one that starts with ``.gradio-container`` again never matches (the page's margins go to <head>)."""
    import re

    blocks = _media_blocks(look.CSS)
    assert any("480px" in query for query, _ in blocks)
    for query, body in blocks:
        selectors = re.findall(r"(?:^|})\s*([^{}]+?)\s*{", re.sub(r"/\*.*?\*/", "", body, flags=re.S))
        assert selectors, query
        for selector in ",".join(selectors).split(","):
            assert not selector.strip().startswith(".gradio-container"), (query, selector)
    head = look.head_html()
    assert "<style>" in head and ".main.app" in head and "480px" in head  # as written, unprefixed
