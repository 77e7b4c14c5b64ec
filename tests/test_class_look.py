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


def _class_links():
    """The Class tab's (LinkField, component) pairs, as the page wires them."""
    with gr.Blocks():
        session = gr.State()
        return activities.build_class_tab(session).links


def test_every_class_link_default_is_its_inputs_starting_value():
    links = _class_links()
    names = {f.name for f, _ in links}
    assert {"activity", "items", "seed", "item", "list", "strategy", "length", "prompt", "sweeps", "temp",
            "topk", "l2r", "a", "b", "k"} <= names
    for field, component in links:  # a default that drifted from the input would drop a real setting
        start = "" if field.kind == "text" and component.value is None else component.value  # an empty box
        assert field.default == start, field.name


def test_a_class_link_carries_write_settings_and_the_quizs_item():
    links = _class_links()
    fields = [f for f, _ in links]
    values = []
    for f, c in links:
        v = c.value
        if f.name == "activity":
            v = "class-write"
        elif f.name == "start":
            v = activities.START_BLANKS  # the length applies to a row of blanks only
        elif f.name == "strategy":
            v = "iterative"
        elif f.name == "sweeps":
            v = 5  # not written: iterative fills each blank once
        elif f.name == "length":
            v = 12
        elif f.name == "seed" and f.when == activities.ON_WRITE:
            v = 3
        elif f.name == "temp":
            v = 2.0  # not written: the temperature acts on Gibbs only
        values.append(v)
    query = look.make_link("class", fields, values)
    assert query == "?tab=class&activity=write&start=blanks&length=12&strategy=iterative&seed=3"
    tab, parsed = look.parse_link(query, fields, ["fill", "class"])
    assert tab == "class"
    got = {(f.name, f.when[:1]): v for f, v in zip(fields, parsed, strict=True) if v is not None}
    write = activities.ON_WRITE
    assert got == {("activity", ()): "class-write", ("start", write): activities.START_BLANKS,
                   ("length", write): 12, ("strategy", write): "iterative", ("seed", write): 3}
    # Sweeps count for Gibbs and for mask-predict's rounds, so a link to either carries them.
    rounds = ["mask-predict" if f.name == "strategy" else v for f, v in zip(fields, values, strict=True)]
    assert "&strategy=mask-predict&sweeps=5&" in look.make_link("class", fields, rounds)
    quiz = [("class-quiz" if f.name == "activity" else 4 if f.name == "item" else 7 if f.name == "items"
             else c.value) for f, c in links]
    assert look.make_link("class", fields, quiz) == "?tab=class&activity=quiz&items=7&item=4"


def test_a_linked_round_starts_at_the_teachers_item(session):
    out = activities.quiz_on_link("class-quiz", activities.TEACHER_SOURCE, 5, 0, LIST, 3, session)
    assert out[1] == "Item 3 of 5" and out[-1] == 3  # numbered as in the teacher's round
    first = activities.quiz_start(activities.TEACHER_SOURCE, 5, 0, LIST, session)
    assert first[1] == "Item 1 of 5"
    # the link's sentence is the teacher's third one
    activities.quiz_start(activities.TEACHER_SOURCE, 5, 0, LIST, session)
    teacher_third = session.extras["quiz"].items[2].blanked
    activities.quiz_on_link("class-quiz", activities.TEACHER_SOURCE, 5, 0, LIST, 3, session)
    assert session.extras["quiz"].items[0].blanked == teacher_third
    activities.quiz_reveal("cat", session)
    assert activities.quiz_next(session)[-1] == 4  # the next link opens item 4
    skipped = activities.quiz_on_link("class-write", activities.TEACHER_SOURCE, 5, 0, LIST, 3, session)
    assert len(skipped) == activities.QUIZ_START_OUTPUTS  # another activity: nothing started
    assert all(isinstance(x, type(gr.skip())) for x in skipped)


def test_a_compare_link_names_offered_models_only():
    from mlm_explorer.ui.state import SESSION_MODEL

    links = _class_links()
    fields = [f for f, _ in links]
    offered = [f.choices for f in fields if f.name == "mb"][0]
    other = next((k for k, _ in offered if k != [f for f in fields if f.name == "mb"][0].default), None)

    def link(model_b: str, text_b: str) -> str:
        values = []
        for f, c in links:
            v = {"activity": "class-compare", "mb": model_b, "b": text_b}.get(f.name, c.value)
            values.append(v)
        return look.make_link("class", fields, values)

    assert link(SESSION_MODEL, "The nurse said [MASK] was late.") == (
        "?tab=class&activity=compare&b=The+nurse+said+%5BMASK%5D+was+late."  # a session's model stays out
    )
    if other is not None:
        query = link(other, activities.PROBE_PAIRS[0][1])
        mb = [f.name for f in fields].index("mb")
        assert look.parse_link(query, fields, ["class"])[1][mb] == other  # read back as the picker's key


def test_the_linked_activity_wins_over_the_sub_tabs_mounting_on_the_quiz_then_lets_go(session):
    fields = [f for f, _ in _class_links()]
    values = ["class-write" if f.name == "activity" else None for f in fields]
    look.remember_linked(session, fields, values)
    # The sub-tabs mount on the quiz and report it: the link's Write is put back, and still runs.
    activity, tabs = activities.activity_selected("class-quiz", session)
    assert activity == "class-write" and tabs.selected == "class-write"
    args = (activities.START_PROMPT, 10, activities.DEFAULT_PROMPT, "iterative", 3, 1.0, 20, 0, False,
            session)
    summary = activities.write_on_link("class-quiz", *args)[1]  # the box still says quiz: the link wins
    assert "wrote" in summary
    # Once the linked sub-tab shows, the link lets go: every later click is the user's.
    assert activities.activity_selected("class-write", session)[0] == "class-write"
    assert activities.activity_selected("class-quiz", session)[0] == "class-quiz"
    assert activities.activity_selected("class-compare", session)[0] == "class-compare"
    assert activities.write_on_link("class-quiz", *args)[1] == gr.skip()  # the quiz is on screen: no write
