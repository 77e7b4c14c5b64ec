"""The Class tab speaks the shared look: figures fitted to the page, tables in percent, one colour language.

Handlers run in process with a session whose page is dark, in projector mode
and phone-sized; every figure is read back from its JSON (what the browser gets).
"""

from __future__ import annotations

import json

import pytest

gr = pytest.importorskip("gradio")

from mlm_explorer import plots  # noqa: E402
from mlm_explorer.ui import activities, look  # noqa: E402

LIST = "\n".join(f"the [{w}] sat on the mat ." for w in ("cat", "dog", "man", "woman", "children"))
PAGE = plots.Look(dark=True, projector=True, narrow=True)


@pytest.fixture()
def session(looked_session):
    return looked_session(PAGE)


def _layout(fig) -> dict:
    return json.loads(fig.to_json())["layout"]


def _assert_fitted(fig) -> None:
    """Dark theme and projector text, as look.figure leaves them (read from the figure's JSON)."""
    layout = _layout(fig)
    assert layout["paper_bgcolor"] == "rgba(0,0,0,0)" and layout["font"]["color"] == plots._DARK_TEXT
    assert layout["font"]["size"] == round(plots._FONT["size"] * PAGE.scale)


def _html(styler) -> str:
    return styler.to_html()


def test_every_quiz_figure_and_table_follows_the_page(session):
    out = activities.quiz_start(activities.TEACHER_SOURCE, 5, 0, LIST, session)
    placeholder, chart, card = out[5], out[7], out[8]
    _assert_fitted(placeholder)
    _assert_fitted(chart)
    assert list(card.data.columns) == ["who", "hits@1", "hits@5"]  # phone: the few columns that matter
    out = activities.quiz_reveal("cat, dog", session)
    bars, reveal, chart = out[2], out[3], out[4]
    for fig in (bars, chart):
        _assert_fitted(fig)
    assert "%" in _html(reveal) and isinstance(reveal.data["p"].iloc[0], float)  # numbers stay numbers
    data = json.loads(bars.to_json())["data"][0]
    colors = set(data["marker"]["color"])
    assert colors <= {plots.ORIGINAL_COLOR, plots.GUESS_COLOR}
    assert plots.MASKED_COLOR not in json.dumps(data)  # orange means "hidden", not "yours"
    assert set(data["marker"]["line"]["color"]) <= {plots.STUDENT_COLOR, "rgba(0,0,0,0)"}
    title = _layout(bars)["xaxis"]["title"]["text"]
    assert "0–100%" in title  # the full scale, or a title that says loudly it is zoomed
    chart_colors = {t["marker"]["color"] for t in json.loads(chart.to_json())["data"]}
    assert chart_colors == {plots.STUDENT_COLOR, plots.GUESS_COLOR}
    _assert_fitted(activities.quiz_next(session)[5])


def test_the_write_figures_follow_the_page_and_the_colour_roles(session):
    out = activities.generate_text(activities.START_BLANKS, 4, "", "gibbs", 2, 1.0, 10, 0, True, session)
    strip, pll, table = out[3], out[5], out[6]
    for fig in (strip, pll):
        _assert_fitted(fig)
    assert "%" in _html(table) and list(table.data.columns) == ["step", "token", "p(token)"]
    scale = json.loads(strip.to_json())["data"][0]["colorscale"]
    assert [c for _, c in scale] == [plots.MASKED_COLOR, plots.UNTOUCHED_COLOR, plots.GUESS_COLOR]
    lines = json.loads(pll.to_json())["data"]
    assert len({line["line"]["dash"] for line in lines}) == 2  # told apart without colour
    first, _ = activities.generation_step(0, session)
    _assert_fitted(first)
    codes = json.loads(first.to_json())["data"][0]["z"][0]
    assert codes == [0, 0, 0, 0]  # every blank still hidden: all orange


def test_compare_figures_share_one_scale_and_follow_the_page(session):
    out = activities.compare_two_sentences("the man sat on the [MASK] .", "the woman sat on the [MASK] .", 5,
                                           session)
    fig, table = out[1], out[2]
    _assert_fitted(fig)
    axis = _layout(fig)["xaxis"]
    assert axis["range"] == [0.0, 1.0] or "ZOOMED" in axis["title"]["text"]
    assert "one scale for both" in axis["title"]["text"]
    a, b = json.loads(fig.to_json())["data"]
    assert a["marker"]["color"] == plots.GUESS_COLOR and b["marker"]["pattern"]["shape"] == "/"
    assert "%" in _html(table) and list(table.data.columns) == ["word", "p(A)", "p(B)", "A / B"]


def test_the_probability_axis_is_full_or_says_it_is_zoomed():
    full = plots.class_prob_axis([0.5, 0.1])
    assert full["range"] == [0.0, 1.0] and "0–100%" in full["title"]["text"]
    zoomed = plots.class_prob_axis([0.04, None])
    assert zoomed["range"] == [0.0, 0.05] and "ZOOMED: 0–5%" in zoomed["title"]["text"]
    assert plots.contrast_ratio(plots.STUDENT_COLOR, "#FFFFFF") >= 4.5


def test_a_link_opens_the_class_tab_on_its_activity():
    demo = __import__("mlm_explorer.ui", fromlist=["build_demo"]).build_demo()
    tabs = next(b for b in demo.blocks.values() if isinstance(b, gr.Tabs) and b.elem_id != "class-tabs")
    ids = [t.id for t in tabs.children if isinstance(t, gr.Tab)]
    assert "class" in ids
    field = look.LinkField("activity", "class", "choice", choices=activities.ACTIVITIES)
    tab, values = look.parse_link("?tab=class&activity=write", [field], ids)
    assert (tab, values) == ("class", ["class-write"])
    assert look.make_link("class", [field], ["class-compare"]) == "?tab=class&activity=compare"
    for _, tab_id in activities.ACTIVITIES:  # the ids the browser's click looks for
        assert any(isinstance(b, gr.Tab) and b.id == tab_id for b in demo.blocks.values())


def test_the_empty_figures_are_redrawn_for_the_page_on_open(session):
    figures = activities.open_class(session)
    assert len(figures) == len(activities.PLACEHOLDERS)
    for fig, message in zip(figures, activities.PLACEHOLDERS.values(), strict=True):
        _assert_fitted(fig)
        assert _layout(fig)["annotations"][0]["text"] == message
