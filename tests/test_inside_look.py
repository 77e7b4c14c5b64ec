"""The Inside tab speaks the shared look: every figure fitted to the page, every table as a person reads it.

Handlers run in process with a session whose page is dark and in projector mode
(and, for the phone test, narrow); figures are read back from their JSON (what
the browser gets), tables from the Styler the page shows.
"""

from __future__ import annotations

import json
import re

import pytest

gr = pytest.importorskip("gradio")

from mlm_explorer import plots  # noqa: E402
from mlm_explorer.ui import inside, look  # noqa: E402
from mlm_explorer.ui.common import model_choices  # noqa: E402
from mlm_explorer.views import LAYER_COLUMNS  # noqa: E402

TEXT = "the cat sat on the mat ."
LAPTOP = plots.Look(dark=True, projector=True, narrow=False)
PHONE = plots.Look(dark=True, projector=False, narrow=True)


@pytest.fixture()
def session(looked_session):
    return looked_session(LAPTOP)


def _assert_fitted(fig, page: plots.Look = LAPTOP) -> None:
    """Dark theme (and projector text), as look.figure leaves them."""
    layout = json.loads(fig.to_json())["layout"]
    assert layout["paper_bgcolor"] == "rgba(0,0,0,0)" and layout["plot_bgcolor"] == "rgba(0,0,0,0)"
    assert layout["font"]["color"] == plots._DARK_TEXT
    assert layout["font"]["size"] == round(plots._FONT["size"] * page.scale)


def test_layer_by_layer_follows_the_page_and_speaks_plainly(session):
    heat, ranks, note, table, *_ = inside.run_layers(TEXT, "2", "", 3, session)
    _assert_fitted(heat)
    _assert_fitted(ranks)
    grid = json.loads(ranks.to_json())["layout"]["xaxis"]["gridcolor"]
    assert grid == plots._DARK_GRID  # its x axis is left to the template: no white lines on a dark page
    assert "first choice" in note
    shown = list(table.data.columns)
    assert shown == LAYER_COLUMNS  # position 2 hides a real word: its rank and probability are shown
    assert {"first guess", "how sure", "final answer's rank", "hidden word's rank"} <= set(shown)
    assert not {"top-1", "p(top-1)", "rank of final", "p(final)", "entropy"} & set(shown)
    html = table.to_html()
    assert "%" in html  # probabilities as percentages on screen ...
    assert isinstance(table.data["how sure"].iloc[0], float)  # ... numbers underneath (API, exports)


def test_layer_by_layer_on_a_phone_keeps_the_few_columns_that_matter(session):
    session.extras[look.LOOK_KEY] = PHONE
    heat, ranks, _, table, *_ = inside.run_layers(TEXT, "2", "", 3, session)
    _assert_fitted(heat, PHONE)
    assert list(table.data.columns) == ["layer", "first guess", "how sure"]  # the rank: the chart above
    assert heat.data[0].textfont.size >= 12  # the cells' tokens at a size a phone shows
    assert ranks.layout.xaxis.type == "category"  # layers numbered flat, not slanted names


def test_saliency_attention_change_and_tokenizer_follow_the_page(session, looked_session):
    figure, _, table, *_ = inside.run_saliency(TEXT, "2", "", "", 8, inside.MASK_BASELINE, session)
    _assert_fitted(figure)
    # Short names a phone shows whole ("integrated gradients" was cut), three decimals, not six.
    assert list(table.data.columns) == ["pos.", "token", "grad×input", "IG"]
    numbers = re.findall(r">\s*(-?\d+\.\d+)\s*<", table.to_html())
    assert numbers and all(len(n.split(".")[1]) == 3 for n in numbers)

    grid, diff, _, table, *_ = inside.run_attention_change(TEXT, "2", session)
    _assert_fitted(grid)
    _assert_fitted(diff)
    assert "total |change|" in table.data.columns
    # two decimals, as the grid's cells show them (the table printed 3.553200 beside a 3.55)
    change_cells = re.findall(r">\s*(\d+\.\d+)\s*<", table.to_html())
    assert change_cells and all(len(c.split(".")[1]) == 2 for c in change_cells)
    _assert_fitted(inside.replot_attention_change(1, 1, session))
    assert session.extras[inside._CHANGE_KEY].difference.dtype.name == "float16"  # kept small
    fresh = looked_session(LAPTOP)
    _assert_fitted(inside.replot_attention_change(0, 0, fresh))  # nothing compared yet: a fitted message

    other_key = model_choices(session)[0][1]
    _, _, _, table, other_table, *_ = inside.run_tokenizer("unbelievable things", other_key, session)
    for t in (table, other_table):  # Stylers (the page's form), empty columns left out
        assert {"pos.", "id", "token", "special"} <= set(t.data.columns)
        assert all(t.data[c].astype(str).str.strip().any() for c in t.data.columns)


def test_saliency_rows_have_short_names_on_a_phone(looked_session):
    phone, laptop = looked_session(PHONE), looked_session(LAPTOP)
    on_phone = inside.run_saliency(TEXT, "2", "", "", 8, inside.MASK_BASELINE, phone)[0]
    on_laptop = inside.run_saliency(TEXT, "2", "", "", 8, inside.MASK_BASELINE, laptop)[0]
    # the row names take the strip's width on a 390 px screen: the short ones leave it the room
    assert "IG (" in on_phone.to_json() and "integrated gradients" not in on_phone.to_json()
    assert "integrated gradients (" in on_laptop.to_json()


def test_the_per_layer_table_shows_every_layer():
    from mlm_explorer.ui import build_demo

    demo = build_demo()
    (table,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "inside-layers-table"]
    # Gradio's default 500 px box hid the last layer's row (the answer's) under a scroll bar.
    assert table.max_height >= 25 * 70


def test_saliency_over_its_budget_is_a_message_that_says_what_fits(session):
    from mlm_explorer.saliency import MAX_SALIENCY_COST

    long_text = "the [MASK] sat on the mat . " * 20  # 64 tokens (the tiny BERT's length) after the cut
    with pytest.raises(gr.Error, match="Saliency on 64 tokens is limited to 64 steps") as err:
        inside.run_saliency(long_text, "", "", "", 256, inside.MASK_BASELINE, session)
    assert f"{MAX_SALIENCY_COST:,}" in str(err.value) and "shorter text" in str(err.value)
    assert f"{MAX_SALIENCY_COST:,}" in inside.SALIENCY_COST  # the tab says the cap before anyone hits it


def test_the_saliency_note_names_its_method_and_a_clash_between_the_rows():
    from mlm_explorer.saliency import Saliency

    def result(gxi):
        return Saliency(model="m", tokens=("[CLS]", "france", "is", "[MASK]", "[SEP]"), position=3,
                        target="paris", target_id=1, target_log_prob=-1.0, baseline_log_prob=-10.0,
                        baseline="mask", grad_x_input=gxi, integrated_gradients=(0.0, 3.94, -0.2, 1.0, 0.0),
                        completeness_gap=0.26, steps=32, passes=1)

    agree = inside.explain_saliency(result((0.0, 0.74, -0.1, 1.0, 0.0)))
    assert "by Integrated Gradients" in agree and "**france** pushed it up the most" in agree
    assert "opposite sign" not in agree  # both rows agree on the words the note names
    clash = inside.explain_saliency(result((0.0, -0.74, -0.1, 1.0, 0.0)))
    assert "**france** the opposite sign" in clash  # red in the top row, "pushed up" in the note
