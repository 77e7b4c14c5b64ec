"""Figures: shapes, highlighting, one shared colour scale, and no user markup in labels."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from mlm_explorer import plots

HOSTILE = ["<b>bold</b>", "<br>", "<img src=x onerror=alert(1)>", "a&lt;b", "<a href='javascript:x'>"]


def _all_text(fig: go.Figure) -> str:
    """Every string plotly would render from this figure, as one JSON blob."""
    return json.dumps(fig.to_plotly_json(), default=str)


def test_safe_label_escapes_markup_and_entities():
    assert plots.safe_label("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    # An entity typed by the user stays literal: plotly would otherwise decode it.
    assert plots.safe_label("&lt;") == "&amp;lt;"
    assert plots.safe_label("line\nbreak") == "line break"
    assert len(plots.safe_label("x" * 100)) == plots.MAX_LABEL_CHARS


@pytest.mark.parametrize(
    "make",
    [
        lambda toks: plots.topk_bars(toks, [0.2] * len(toks), original=toks[0], title=toks[2]),
        lambda toks: plots.topk_bars(toks, [0.2] * len(toks), original="<i>x</i>", original_prob=0.01),
        lambda toks: plots.attention_heatmap(np.full((len(toks),) * 2, 0.2), toks, title=toks[1]),
        lambda toks: plots.attention_small_multiples(np.full((3, len(toks), len(toks)), 0.2), toks),
        lambda toks: plots.pll_strip(toks, [-1.0] * len(toks), title=toks[0]),
        lambda toks: plots.policy_rates_chart({t: 0.1 for t in toks}, {t: 0.1 for t in toks}),
    ],
)
def test_no_user_markup_reaches_a_label(make):
    text = _all_text(make(HOSTILE))
    for raw in ["<b>bold", "<br>", "<img", "<a href", "<i>x"]:
        assert raw not in text
    assert "&lt;img src=x onerror" in text


ALL_KINDS = [
    lambda: plots.topk_bars(["a", "b"], [0.6, 0.3], original="b"),
    lambda: plots.topk_bars_grid(
        [plots.BarPanel(["a", "b"], [0.6, 0.3], original="z", original_prob=0.01, original_rank=9)] * 3
    ),
    lambda: plots.attention_heatmap(np.eye(3), ["a", "b", "c"], masked=[False, True, False], title="h"),
    lambda: plots.attention_small_multiples(np.random.default_rng(0).random((5, 3, 3)), ["a", "b", "c"]),
    lambda: plots.policy_rates_chart({"selected": 0.2}, {"selected": 0.15}, {"selected": 100}),
    lambda: plots.pll_strip(["a", "b"], [-1.0, -2.0]),
    lambda: plots.loss_curve([1, 2], [2.0, 1.0]),
    lambda: plots.loss_runs_chart([("run 1", [1, 2], [2.0, 1.0]), ("run 2", [1, 2], [2.5, 1.5])]),
    lambda: plots.empty_figure(),
]


@pytest.mark.parametrize("make", ALL_KINDS)
def test_every_figure_passes_plotly_validation(make):
    # Grids are built from plain dicts without validation (speed); check them here.
    fig = make()
    go.Figure(fig.to_plotly_json())  # raises ValueError on an unknown or invalid property


def test_grid_panels_have_their_own_axes():
    panels = [plots.BarPanel(["a", "b"], [0.5, 0.2], title=f"p{i}") for i in range(3)]
    fig = plots.topk_bars_grid(panels, columns=2)
    assert [(t.xaxis, t.yaxis) for t in fig.data] == [("x", "y"), ("x2", "y2"), ("x3", "y3")]
    assert [a.text for a in fig.layout.annotations] == ["p0", "p1", "p2"]
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]  # side by side
    assert fig.layout.yaxis3.domain[1] < fig.layout.yaxis.domain[0]  # next row below


def test_topk_bars_highlights_the_original_and_keeps_order():
    fig = plots.topk_bars(["paris", "london", "rome"], [0.6, 0.3, 0.1], original="london")
    bar = fig.data[0]
    assert list(bar.x) == [0.6, 0.3, 0.1]
    assert list(bar.marker.color) == [plots.BAR_COLOR, plots.ORIGINAL_COLOR, plots.BAR_COLOR]
    assert fig.layout.yaxis.autorange == "reversed"  # best prediction on top


def test_topk_bars_notes_an_original_outside_the_top_k():
    fig = plots.topk_bars(["a", "b"], [0.5, 0.4], original="zebra", original_prob=0.001, original_rank=57)
    notes = [a.text for a in fig.layout.annotations]
    assert any("zebra" in n and "rank 57" in n for n in notes)


def test_duplicate_tokens_keep_their_own_rows():
    tokens = ["the", "cat", "saw", "the", "dog"]
    fig = plots.attention_heatmap(np.eye(5), tokens)
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2, 3, 4]
    assert np.asarray(fig.data[0].z).shape == (5, 5)


def test_masked_positions_are_marked_on_the_axes():
    fig = plots.attention_heatmap(np.eye(3), ["a", "[MASK]", "c"], masked=[False, True, False])
    ticks = list(fig.layout.xaxis.ticktext)
    assert "<b>" in ticks[1] and "<b>" not in ticks[0]


def test_small_multiples_share_one_colour_scale():
    w = np.random.default_rng(0).random((12, 4, 4))
    fig = plots.attention_small_multiples(w, ["a", "b", "c", "d"])
    assert len(fig.data) == 12
    assert all(t.coloraxis == "coloraxis" for t in fig.data)
    assert fig.layout.coloraxis.cmax == pytest.approx(w.max())
    assert fig.layout.coloraxis.cmin == 0.0


def test_shapes_that_do_not_match_are_refused():
    with pytest.raises(ValueError, match="does not match"):
        plots.attention_heatmap(np.eye(3), ["a", "b"])
    with pytest.raises(ValueError, match="differ in length"):
        plots.topk_bars(["a"], [0.1, 0.2])


def test_policy_chart_has_nominal_and_empirical_bars_with_error_bars():
    nominal = {"selected": 0.15, "masked": 0.8, "random": 0.1, "kept": 0.1}
    empirical = {"selected": 0.149, "masked": 0.79, "random": 0.11, "kept": 0.10}
    counts = {"selected": 10_000, "masked": 1500, "random": 1500, "kept": 1500}
    fig = plots.policy_rates_chart(empirical, nominal, counts)
    assert [t.name for t in fig.data] == ["setting (outline)", "measured (filled)"]
    assert list(fig.data[1].marker.color)[1:] == [plots.MASKED_COLOR, plots.RANDOM_COLOR, plots.KEPT_COLOR]
    errors = list(fig.data[1].error_y.array)
    assert 0 < errors[0] < errors[1]  # more draws, tighter bound


def test_pll_strip_uses_the_given_shared_scale():
    fig = plots.pll_strip(["a", "b"], [-0.5, -3.0], zmin=-10.0)
    assert fig.data[0].zmin == -10.0 and fig.data[0].zmax == 0.0


def test_loss_curve_and_empty_figure():
    fig = plots.loss_curve([1, 2, 3], [3.0, 2.0, 1.5], [3], [2.2])
    assert len(fig.data) == 2
    assert plots.empty_figure("<b>hi</b>").layout.annotations[0].text == "&lt;b&gt;hi&lt;/b&gt;"


def test_loss_runs_chart_keeps_earlier_runs_under_the_current_one():
    runs = [("run 1", [1, 2, 3, 4], [4.0, 2.0, 4.0, 2.0]), ("run 2 <b>", [1, 2], [3.0, 1.0]),
            ("run 3", [1, 2, 3], [2.0, 1.5, 1.0])]
    fig = plots.loss_runs_chart(runs, smoothing=0.5).to_plotly_json()
    lines = [t for t in fig["data"] if t["mode"] == "lines"]
    points = [t for t in fig["data"] if t["mode"] == "markers"]
    assert [t["name"] for t in lines] == ["run 1", "run 2 &lt;b&gt;", "run 3"]  # one legend entry per run
    assert [list(t["y"]) for t in points] == [r[2] for r in runs]  # raw points kept under each line
    assert fig["data"][-1] is lines[-1] and lines[-1]["line"]["color"] == plots.TRAIN_COLOR  # current on top
    assert lines[-1]["line"]["dash"] == "solid" and lines[-1]["line"]["width"] > lines[0]["line"]["width"]
    earlier = [(t["line"]["color"], t["line"]["dash"]) for t in lines[:-1]]
    assert len(set(earlier)) == 2 and all(c != plots.TRAIN_COLOR for c, _ in earlier)  # told apart
    smooth = lines[0]["y"]
    assert smooth[0] == 4.0  # debiased: starts at the first point, not at 0
    assert max(smooth) - min(smooth) < 2.0  # smoother than the raw zig-zag (4, 2, 4, 2)
    assert all(a["legendgroup"] == b["legendgroup"] for a, b in zip(points, lines, strict=True))


def test_every_bar_panel_shares_one_zero_to_hundred_percent_scale():
    panels = [
        plots.BarPanel(["a", "b"], [0.799, 0.1]),
        plots.BarPanel(["c", "d"], [0.052, 0.01]),
        plots.BarPanel(["e", "f"], [0.0002, 0.0001]),  # a random model's slivers
    ]
    fig = plots.topk_bars_grid(panels, columns=2).to_plotly_json()
    ranges = [v["range"] for k, v in fig["layout"].items() if k.startswith("xaxis")]
    assert ranges == [[0.0, 1.0]] * 3
    assert plots.topk_bars(["a"], [0.01]).layout.xaxis.range == (0.0, 1.0)
    assert "unsure" in fig["layout"]["annotations"][2]["text"]
    assert fig["data"][2]["text"] == ["0.020%", "0.010%"]  # small, but never "0.0%"


def test_colours_have_one_meaning_and_readable_chip_text():
    roles = [plots.MASKED_COLOR, plots.RANDOM_COLOR, plots.KEPT_COLOR, plots.UNTOUCHED_COLOR,
             plots.ORIGINAL_COLOR, plots.GUESS_COLOR, plots.TRAIN_COLOR, plots.HELD_OUT_COLOR]
    assert len(set(roles)) == len(roles)
    for chip in plots.ACTION_COLORS.values():
        assert plots.contrast_ratio(chip, plots.text_color_on(chip)) >= 4.5
    assert plots.PLL_SCALE != "RdYlGn"  # red–green is unreadable for ~1 in 12 men
    fig = plots.topk_bars(["a", "b"], [0.6, 0.3], original="b")
    assert plots.ORIGINAL_COLOR in fig.layout.yaxis.ticktext[1]


def test_look_restyles_dark_projector_and_narrow_figures():
    fig = plots.attention_heatmap(np.eye(3), ["a", "b", "c"], title="a long title " * 6)
    assert fig.data[0].colorbar.title.text == "attention weight"
    assert fig.data[0].colorbar.orientation == "h"  # under the plot, not beside it
    plain = fig.to_plotly_json()["layout"]
    look = plots.Look(dark=True, projector=True, narrow=True)
    styled = plots.apply_look(fig, look).to_plotly_json()["layout"]
    assert styled["paper_bgcolor"] == "rgba(0,0,0,0)" and styled["font"]["color"] != "#000000"
    assert styled["font"]["size"] > plain["font"]["size"]
    assert "<br>" in styled["title"]["text"]
    assert plots.apply_look(plots.empty_figure(), plots.Look()).layout.paper_bgcolor is None


def test_small_multiples_label_rows_of_the_first_column_only():
    w = np.random.default_rng(0).random((8, 4, 4))
    fig = plots.attention_small_multiples(w, ["a", "b", "c", "d"], columns=2).to_plotly_json()["layout"]
    shown = [k for k, v in fig.items() if k.startswith("yaxis") and v.get("showticklabels")]
    assert shown == ["yaxis", "yaxis3", "yaxis5", "yaxis7"]
    assert not any(v.get("showticklabels") for k, v in fig.items() if k.startswith("xaxis"))


def test_on_a_phone_a_legend_above_the_plot_moves_under_it():
    """Top right, a legend shares the top margin with a title a phone wraps onto two lines: it covered it."""
    chart = plots.policy_rates_chart({"masked": 0.79, "random": 0.11}, {"masked": 0.8, "random": 0.1},
                                     title="1,000 draws: empirical vs nominal rates")
    before = chart.to_plotly_json()["layout"]
    laptop = plots.apply_look(go.Figure(chart), plots.Look(dark=True)).to_plotly_json()["layout"]
    assert laptop["legend"] == before["legend"]  # a laptop keeps it top right
    phone = plots.apply_look(chart, plots.Look(narrow=True)).to_plotly_json()["layout"]
    assert phone["legend"]["yref"] == "container" and phone["legend"]["y"] == 0
    assert phone["legend"]["yanchor"] == "bottom" and phone["legend"]["xanchor"] == "left"
    rows = 2 * plots._LEGEND_ROW_PX  # one entry a row
    assert phone["margin"]["b"] == before["margin"]["b"] + rows
    assert phone["height"] >= before["height"] + rows
    go.Figure(layout=phone)  # plotly accepts it
    single = plots.apply_look(plots.loss_curve([1, 2], [1.0, 0.5]), plots.Look(narrow=True))
    assert single.layout.legend.yref is None  # one trace: no legend to move


def test_on_a_phone_the_rates_chart_labels_only_the_measured_bars_unshrunk():
    args = ({"masked": 0.808, "random": 0.1}, {"masked": 0.8, "random": 0.1},
            {"masked": 1000, "random": 1000})
    setting, measured = plots.policy_rates_chart(*args).data
    assert list(setting.text) == ["80%", "10%"] and measured.constraintext == "both"
    setting, measured = plots.policy_rates_chart(*args, narrow=True).data
    assert setting.text is None and list(measured.text) == ["80.8%", "10.0%"]
    assert measured.constraintext == "none" and measured.cliponaxis is False


@pytest.mark.parametrize("make", [
    lambda: plots.topk_bars(["paris", "lyon"], [0.321, 0.2], original="lyon"),
    lambda: plots.topk_bars_grid([plots.BarPanel(["paris", "lyon"], [0.321, 0.2], original="lyon")]),
    lambda: plots.quiz_bars(["paris", "lyon"], [0.321, 0.2], [False, True], [True, False]),
])
def test_percentages_in_bars_contrast_with_their_bar(make):
    # Plotly's own pick was dark grey on the grey bars (about 2.7:1): unreadable on a projector.
    for look in (plots.DEFAULT_LOOK, plots.Look(dark=True), plots.Look(dark=True, projector=True)):
        trace = plots.apply_look(make(), look).to_plotly_json()["data"][0]
        colours = trace["marker"]["color"]
        inside = trace["insidetextfont"]["color"]
        assert len(inside) == len(colours)
        assert all(plots.contrast_ratio(c, t) >= 4.5 for c, t in zip(colours, inside, strict=True))
        assert trace["textposition"] == "auto"


def _seen(trace: dict, background: str) -> float:
    """Contrast of a trace's dots on ``background`` as the eye sees them (colour at its opacity)."""
    marker = trace["marker"]
    seen = plots.blend(marker["color"], background, marker.get("opacity", 1.0))
    return plots.contrast_ratio(seen, background)


@pytest.mark.parametrize("dark", [False, True])
def test_the_current_runs_loss_dots_stand_out_in_both_themes(dark):
    runs = [("run 1", [1, 2, 3], [3.0, 2.5, 2.0]), ("run 2", [1, 2, 3], [2.0, 1.5, 1.0])]
    fig = plots.apply_look(plots.loss_runs_chart(runs), plots.Look(dark=dark)).to_plotly_json()
    background = plots.DARK_PANEL if dark else "#FFFFFF"
    points = [t for t in fig["data"] if t["mode"] == "markers"]
    lines = [t for t in fig["data"] if t["mode"] == "lines"]
    assert _seen(points[-1], background) >= plots.DOT_CONTRAST  # WCAG 1.4.11: 3:1 for a graphical object
    assert _seen(points[0], background) >= 2.0  # an earlier run: fainter, but there
    assert points[-1]["marker"]["size"] >= 6
    # the current run's line and dots stay one colour (dark mode lifts both the same way)
    assert lines[-1]["line"]["color"] == points[-1]["marker"]["color"]
    assert plots.contrast_ratio(lines[-1]["line"]["color"], background) >= plots.DOT_CONTRAST


def test_a_long_title_wraps_in_projector_mode_rather_than_run_off_a_half_column():
    title = "The model's top 10 (answer: green, yours: ← you)"
    fig = plots.quiz_bars(["a", "b"], [0.5, 0.2], [True, False], [False, True], title=title)
    big = plots.apply_look(fig, plots.Look(projector=True)).to_plotly_json()["layout"]
    lines = big["title"]["text"].split("<br>")
    assert len(lines) == 2 and max(len(t) for t in lines) <= 40
    assert big["margin"]["t"] > 50 * 1.35  # the second line takes room above the plot, not from it
