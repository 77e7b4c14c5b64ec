"""Class tab: three activities for a lesson — guess first (quiz), watch an encoder write, side by side.

Wiring only: every handler turns UI values into a call of :mod:`mlm_explorer.quiz`,
:mod:`mlm_explorer.generate` or :mod:`mlm_explorer.compare`, and the result into
figures (``plots``) and tables (``views``). What a visitor plays lives in the
session (``session.extras``) and nowhere else: the quiz round, the last
generation trace (re-drawn by the step slider without the model) and the two
model slots of the comparison.
"""

from __future__ import annotations

import functools
import math

import gradio as gr
import pandas as pd

from mlm_explorer import plots
from mlm_explorer.compare import (
    MAX_TOP_K,
    PROBE_PAIRS,
    ModelSlots,
    agreement_line,
    compare_models,
    compare_sentences,
)
from mlm_explorer.generate import MULTI_SWEEP, GenerationTrace, generate, start_sequence
from mlm_explorer.links import LinkField
from mlm_explorer.masking import MAX_SEED
from mlm_explorer.models import ModelLoadError
from mlm_explorer.quiz import (
    MAX_GUESSES,
    MAX_ROUND,
    MIN_ROUND,
    QuizRound,
    from_item,
    load_bundled_items,
    parse_items,
    score_item,
    split_guesses,
    start_round,
)
from mlm_explorer.ui import common, look
from mlm_explorer.ui.common import (
    check_user_text,
    download_buttons,
    forget_export,
    md_escape,
    remember_export,
    session_model,
    user_error,
)
from mlm_explorer.ui.look import TabParts
from mlm_explorer.ui.state import SESSION_MODEL, OnLoad, Session
from mlm_explorer.views import (
    GENERATION_COLUMNS,
    REVEAL_COLUMNS,
    SCORE_CARD_COLUMNS,
    comparison_columns,
    comparison_table,
    generation_table,
    quiz_reveal_table,
    quiz_round_table,
    score_card_table,
)

# The app's caps on generation: one forward pass per written token, so at most
# APP_MAX_BLANKS × APP_MAX_SWEEPS (160) passes a click, about 2 s for the bundled model on two cores.
APP_MAX_BLANKS = 16
APP_MAX_SWEEPS = 10
APP_MAX_PROMPT_CHARS = 300
#: A teacher's pasted list: at most this many characters (the library then caps the lines).
MAX_LIST_CHARS = 1_000_000  # 10,000 lines of 100 characters; reading it is a regex per line

BUNDLED_SOURCE = "Bundled sentences"
TEACHER_SOURCE = "My own list"
START_BLANKS = "Only blanks"
START_PROMPT = "A prompt with [MASK] blanks"
STRATEGY_LABELS = {
    "iterative": "iterative: most confident blank first",
    "gibbs": "Gibbs: re-mask and sample each blank, N sweeps",
    "left-to-right": "left-to-right: always the leftmost blank",
    "mask-predict": "mask-predict: every blank at once, then re-mask the least sure, N rounds",
}
WHY_NOT_A_GENERATOR = (
    "**Why a masked LM is not a left-to-right writer.** A masked language model was trained to fill a "
    "few blanks in a text that is mostly there: it reads the words on *both* sides of each blank and "
    "predicts each blank on its own. It was never trained to produce a whole text, and it has no "
    "notion of \"the next word\": starting from a row of blanks it has almost no context, so it fills in "
    "the safest words first (punctuation, *the*, *of*), the blanks disagree with each other, and "
    "resampling (Gibbs) can wander instead of converging. A left-to-right model such as GPT is trained "
    "for exactly the task of continuing a text, one word after another. Mask-predict writes every blank "
    "in one pass, as non-autoregressive translation does: blanks written without seeing each other "
    "often repeat a word, and the next rounds re-mask the least sure to repair it. "
    "This tab opens on a prompt that gives the model something to go on; pick *Only blanks* to watch it "
    "write from nothing."
)
#: Sub-activity of a state link (``?tab=class&activity=write``) → the sub-tab's id.
ACTIVITIES = (("quiz", "class-quiz"), ("write", "class-write"), ("compare", "class-compare"))
QUIZ_TAB, WRITE_TAB, COMPARE_TAB = (tab for _, tab in ACTIVITIES)
QUIZ_START_OUTPUTS = 12  # what quiz_start returns (a link that opens a round returns as many)
DEFAULT_PROMPT = "Once upon a time, a [MASK] [MASK] lived in a [MASK] near the [MASK] ."
DEFAULT_COMPARE_TEXT = "Whisk the eggs with the [MASK] in a bowl."
# Link conditions: a field of one activity is written (and read) only when the link opens that activity.
ON_QUIZ, ON_WRITE, ON_COMPARE = ((("activity", alias),) for alias, _ in ACTIVITIES)
ON_GIBBS = (*ON_WRITE, ("strategy", "gibbs"))  # temperature and top-k act on Gibbs only
ON_SWEEPS = (*ON_WRITE, ("strategy", ("gibbs", "mask-predict")))  # Gibbs' sweeps, mask-predict's rounds
QUIZ_PLACEHOLDER = "The [cat] sat on the mat.\nShe drank a cup of [tea].\nWater boils at 100 [degrees]."


# ---------------------------------------------------------------------------- helpers


def _extras(session: Session) -> dict:
    return session.extras


def _whole(value: object, name: str, low: int, high: int) -> int:
    """A slider or number value as a whole number in [low, high], else a clear error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise user_error(f"{name} must be a number, got {str(value)[:20]!r}.") from None
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        raise user_error(f"{name} must be a whole number from {low} to {high}, got {value}.")
    return int(number)


# ---------------------------------------------------------------------------- quiz


def _quiz(session: Session) -> tuple[QuizRound, int]:
    game = _extras(session).get("quiz")
    if game is None:
        raise user_error("No round yet: press New round.")
    return game, _extras(session).get("quiz_shown", 0)


def _item_view(game: QuizRound, shown: int) -> tuple[str, str]:
    """The progress line and the sentence with its blank, as Markdown."""
    if shown >= len(game.items):
        n = len(game.items)
        return f"Round over: {n} of {n} played.", "### Well played! See the score card."
    item = game.items[shown]
    return f"Item {game.number(shown)} of {game.full_size}", f"### {md_escape(item.blanked)}"


def _item_number(game: QuizRound, shown: int) -> int:
    """The item a link to this round opens (0: none, the round is over)."""
    return game.number(shown) if shown < len(game.items) else 0


def _score_card(game: QuizRound, session: Session):
    """The score card as a chart and a table, fitted to this page."""
    card = game.score_card()
    chart = plots.score_card_chart(
        [card.student_hits1, card.student_hits5], [card.model_hits1, card.model_hits5], card.n,
        title=f"Score card after {card.n} of {len(game.items)}",
    )
    return look.figure(chart, session), look.table(score_card_table(game), session)


def quiz_start(source: str, size: float, seed: float, teacher_list: str, session: Session, item: float = 1):
    """Start a round of 5–10 items from the bundled set or the teacher's list (at its item ``item``)."""
    n = _whole(size, "The number of items", MIN_ROUND, MAX_ROUND)
    s = _whole(seed, "The seed", 0, MAX_SEED)
    notes = ""
    if source == TEACHER_SOURCE:
        if not isinstance(teacher_list, str) or not teacher_list.strip():
            raise user_error("Paste your list first: one sentence a line, the hidden word in [brackets].")
        if len(teacher_list) > MAX_LIST_CHARS:
            raise user_error(
                f"The list is {len(teacher_list):,} characters long; the limit is {MAX_LIST_CHARS:,}."
            )
        try:
            parsed = parse_items(teacher_list)
        except ValueError as err:
            raise user_error(err) from None
        items = parsed.items
        skipped = [md_escape(p) for p in parsed.problems[:5]]
        more = len(parsed.problems) - len(skipped)
        if parsed.message:
            notes += f"⚠️ {md_escape(parsed.message)} "
        if skipped:
            notes += "Skipped: " + "; ".join(skipped) + (f"; and {more} more." if more > 0 else "")
        if len(items) < MIN_ROUND:
            why = (" " + "; ".join(parsed.problems[:3]) + ("…" if len(parsed.problems) > 3 else "")
                   if parsed.problems else "")
            raise user_error(
                f"A round needs at least {MIN_ROUND} usable sentences; the list has {len(items)}."
                + (f" Skipped:{why}" if why else "")
            )
    else:
        items = load_bundled_items()
    origin = "teacher's list" if source == TEACHER_SOURCE else "bundled"
    game = start_round(items, min(n, len(items)), s, source=origin)
    first = _whole(item, "The item", 1, MAX_ROUND)
    if first > 1:  # a link to a round under way: the class joins at the teacher's item
        game = from_item(game, min(first, len(game.items)))
    _extras(session)["quiz"] = game
    _extras(session)["quiz_shown"] = 0
    forget_export(session, "quiz-round")  # nothing revealed in this round yet
    progress, sentence = _item_view(game, 0)
    chart, card = _score_card(game, session)
    return (
        session, progress, sentence, gr.update(value="", interactive=True), notes,
        look.figure(plots.empty_figure("Type your guess, then press Reveal."), session), _empty_reveal(),
        chart, card, gr.update(interactive=True), gr.update(interactive=False), _item_number(game, 0),
    )


def quiz_on_link(activity: str, source: str, size: float, seed: float, teacher_list: str, item: float,
                 session: Session):
    """A link to a round under way (``item`` ≥ 1): start the same round at the same item."""
    try:
        number = int(float(item))
    except (TypeError, ValueError):
        number = 0
    if _linked_activity(activity, session) != QUIZ_TAB or number < 1:
        return tuple(gr.skip() for _ in range(QUIZ_START_OUTPUTS))
    return quiz_start(source, size, seed, teacher_list, session, number)


def _empty_reveal() -> pd.DataFrame:
    return pd.DataFrame(columns=REVEAL_COLUMNS)


def _where(score, what: str) -> str:
    pieces = how = ""
    if score.in_place:
        pieces = f" ({len(score.pieces)} word pieces: {md_escape(' '.join(score.pieces))})"
        how = " — scored by its pseudo-log-likelihood in place, since it is not one token"
    # plots.percent, as the reveal table shows it: 45.2%, and 0.0030% rather than "0.00%"
    prob = plots.percent(score.prob)
    return f"{what} **{md_escape(score.word)}**{pieces}: p = {prob}, rank {score.rank:,}{how}."


def quiz_reveal(guess: str, session: Session):
    """Reveal the current item: the model's top-k, where the guess ranks, and the answer."""
    game, shown = _quiz(session)
    if shown >= len(game.items):
        raise user_error("The round is over: press New round.")
    if shown < game.current:
        raise user_error("This item is already revealed: press Next.")
    if not isinstance(guess, str) or not guess.strip():
        raise user_error("Type your guess first (one word; or several separated by commas, best first).")
    lm = session_model(session)
    try:
        split_guesses(guess)
        reveal = score_item(lm, game.items[shown], guess, top_k=10)
    except ValueError as err:
        raise user_error(err) from None
    game = game.with_reveal(reveal)
    _extras(session)["quiz"] = game
    item = reveal.item
    verdict = (
        "**You got it!**" if reveal.student_hit1
        else "**Right on a later guess.**" if reveal.student_hit5 else "**Not this time.**"
    )
    model_line = (
        "The model got it first try." if reveal.model_hit1
        else "The model had it in its top 5." if reveal.model_hit5 else "The model missed it."
    )
    lines = [f"{verdict} The hidden word was **{md_escape(item.answer)}**. {model_line}"]
    lines.append("- " + _where(reveal.answer, "The answer"))
    lines += ["- " + _where(g, f"Your guess {n}") for n, g in enumerate(reveal.guesses, start=1)]
    if any(s.in_place for s in (reveal.answer, *reveal.guesses)):
        lines.append(
            "\nA word of several pieces is not one entry of the model's list: it is written into the "
            "sentence and each piece is hidden in turn (pseudo-log-likelihood), then ranked against the "
            "single tokens by that score."
        )
    if item.note:
        lines.append(f"\n**Why the model finds this hard:** {md_escape(item.note)}")
    guessed = [g.word for g in reveal.guesses]
    answer_ids = {reveal.answer.pieces[0]} if not reveal.answer.in_place else set()
    bars = plots.quiz_bars(
        [c.token for c in reveal.top_k], [c.prob for c in reveal.top_k],
        [c.token in answer_ids for c in reveal.top_k],
        [any(_same_token(c.token, g) for g in guessed) for c in reveal.top_k],
        title=f"The model's top {len(reveal.top_k)} (answer: green, yours: ← you)",
    )
    chart, card = _score_card(game, session)
    remember_export(session, "quiz-round", quiz_round_table(game))
    last = game.done
    return (
        session, "\n".join(lines), look.figure(bars, session), look.table(quiz_reveal_table(reveal), session),
        chart, card,
        gr.update(interactive=False), gr.update(interactive=True, value="Show the score" if last else "Next"),
    )


def _same_token(token: str, word: str) -> bool:
    shown = token[1:] if token[:1] in {"Ġ", "▁"} else token
    return shown.casefold() == word.strip().casefold()


def quiz_next(session: Session):
    """Show the next item of the round (or the end of the round)."""
    game, shown = _quiz(session)
    if shown >= game.current and not game.done:
        raise user_error("Reveal this item first.")
    shown = min(shown + 1, len(game.items))
    _extras(session)["quiz_shown"] = shown
    progress, sentence = _item_view(game, shown)
    over = shown >= len(game.items)
    return (
        session, progress, sentence, gr.update(value="", interactive=not over), "",
        look.figure(plots.empty_figure(
            "Round over: start a new one." if over else "Type your guess, then press Reveal."), session),
        _empty_reveal(), gr.update(interactive=not over), gr.update(interactive=False),
        _item_number(game, shown),
    )


def show_list_box(source: str):
    """Show the list box only for a teacher's own list."""
    return gr.update(visible=source == TEACHER_SOURCE)


# ---------------------------------------------------------------------------- write


def _unit(strategy: str) -> str:
    """What one pass over the blanks is called: a mask-predict "round", a Gibbs "sweep"."""
    return "round" if strategy == "mask-predict" else "sweep"


def _trace_step(trace: GenerationTrace, step: int, session: Session):
    tokens = trace.tokens_at(step)
    keep = [i for i, s in enumerate(trace.special_mask) if not s]
    ids = trace.ids_at(step)
    changed = trace.steps[step - 1].position if step > 0 else None
    unit = _unit(trace.strategy)
    sweep = f", {unit} {trace.steps[step - 1].sweep}" if step > 0 else ""
    fig = plots.generation_strip(
        [tokens[i] for i in keep], changed=keep.index(changed) if changed in keep else None,
        blanks=[ids[i] == trace.mask_token_id for i in keep], positions=keep,
        title=f"Step {step} of {len(trace.steps)}{sweep}",
        columns=5 if look.session_look(session).narrow else None,  # a phone: rows of 5 readable cells
    )
    if step == 0:
        text = f"Start: {md_escape(trace.start_text)}"
    else:
        s = trace.steps[step - 1]
        text = (
            f"Step {step}: position {s.position} ← **{md_escape(s.token)}** (model's p = {s.prob:.1%}). "
            f"Sentence now: {md_escape(s.text)}"
        )
        if trace.strategy == "mask-predict":
            # Its steps are written one by one here, but a round's tokens all come from one pass.
            together = sum(1 for t in trace.steps if t.sweep == s.sweep)
            what = "every blank" if s.sweep == 1 else "the blanks re-masked (the least sure)"
            text += (f"\n\nRound {s.sweep}: one pass wrote {what}, {together} tokens at once, "
                     "each without seeing the others of its round; the steps show them one by one.")
    return look.figure(fig, session), text


def generate_text(
    start: str, length: float, prompt: str, strategy: str, sweeps: float, temperature: float, top_k: float,
    seed: float, with_left_to_right: bool, session: Session,
):
    """Fill blanks step by step with the chosen strategy; every step kept for the step slider."""
    lm = session_model(session)
    key = next((k for k, label in STRATEGY_LABELS.items() if strategy in (k, label)), None)
    if key is None:
        raise user_error(f"Unknown strategy {str(strategy)[:40]!r}.")
    n_sweeps = _whole(sweeps, "Sweeps", 1, APP_MAX_SWEEPS) if key in MULTI_SWEEP else None
    k = _whole(top_k, "Top-k", 0, 1000)
    s = _whole(seed, "The seed", 0, MAX_SEED)
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise user_error("The temperature must be a number.") from None
    if start == START_PROMPT:
        text = check_user_text(prompt, "prompt")
        if len(text) > APP_MAX_PROMPT_CHARS:
            raise user_error(f"The prompt is {len(text)} characters; the limit is {APP_MAX_PROMPT_CHARS}.")
        source: str | int = text
    else:
        source = _whole(length, "The length", 1, APP_MAX_BLANKS)
    try:
        # Counted before any pass: a prompt of 50 blanks would otherwise run Gibbs' 500 passes first.
        blanks = len(start_sequence(lm, source)[1])
        if blanks > APP_MAX_BLANKS:
            raise ValueError(f"At most {APP_MAX_BLANKS} blanks here; the prompt has {blanks}.")
        trace = generate(lm, source, key, steps=n_sweeps, temperature=t, top_k=k, seed=s)
        other = None
        if with_left_to_right and key != "left-to-right":
            other = generate(lm, source, "left-to-right")
    except ValueError as err:
        raise user_error(err) from None
    _extras(session)["trace"] = trace
    series = {STRATEGY_LABELS[key].split(":")[0]: list(trace.pll_per_sweep)}
    unit = _unit(key)
    summary = f"**{md_escape(STRATEGY_LABELS[key].split(':')[0])}** wrote: **{md_escape(trace.text)}** " \
              f"(PLL {trace.pll_per_sweep[-1]:.2f} after the last {unit})"
    if other is not None:
        series["left-to-right"] = list(other.pll_per_sweep)
        summary += f"\n\n**left-to-right** on the same start wrote: **{md_escape(other.text)}** " \
                   f"(PLL {other.pll_per_sweep[-1]:.2f})"
    if trace.message:
        summary += f"\n\n⚠️ {md_escape(trace.message)}"
    fig, step_text = _trace_step(trace, len(trace.steps), session)
    table = generation_table(trace)
    remember_export(session, "generation", table)
    slider = gr.update(minimum=0, maximum=len(trace.steps), value=len(trace.steps), interactive=True)
    chart = plots.pll_per_sweep_chart(series, f"Sentence PLL after each {unit}", unit=unit)
    pll = look.figure(chart, session)
    return session, summary, slider, fig, step_text, pll, look.table(table, session)


def generation_step(step: float, session: Session):
    """Draw one step of the last generation (no model run)."""
    trace = _extras(session).get("trace")
    if trace is None:
        return look.figure(plots.empty_figure("Press Write first."), session), ""
    n = _whole(step, "The step", 0, len(trace.steps))
    return _trace_step(trace, n, session)


def write_on_link(activity: str, *args):
    """A link to the Write activity: write with its settings (seeded, so the class sees the same text)."""
    if _linked_activity(activity, args[-1]) != WRITE_TAB:
        return tuple(gr.skip() for _ in range(7))
    return generate_text(*args)


def show_start(start: str):
    """Length slider for blanks, prompt box for a prompt."""
    return gr.update(visible=start != START_PROMPT), gr.update(visible=start == START_PROMPT)


# ---------------------------------------------------------------------------- compare


def _slots(session: Session) -> ModelSlots:
    return _extras(session).setdefault("model_slots", ModelSlots())


def _model_for(key: str, session: Session):
    """The model behind a picker key, through this session's two slots."""
    if key == SESSION_MODEL:
        if session.own_model is None:
            raise user_error("No model has been fine-tuned in this session yet (see the Fine-tune tab).")
        own = session.own_model
        return _slots(session).get(f"{SESSION_MODEL}@{id(own)}", lambda _: own)
    known = {k for _, k in common.model_choices(session)}
    try:
        if key not in known:
            key = common.check_typed_name(key)
        return _slots(session).get(key, common.load_key)
    except ModelLoadError as err:
        raise user_error(err) from None


def compare_choices(session: Session):
    """Refresh both model lists (a model fine-tuned since the page opened appears)."""
    choices = common.model_choices(session)
    return gr.update(choices=choices), gr.update(choices=choices)


def model_names(key_a: str, key_b: str, session: Session | None = None) -> str:
    """Both chosen models by their full names, one line each (what a phone's narrow box cuts off)."""
    labels = dict((key, label) for label, key in common.model_choices(session))
    a, b = (md_escape(labels.get(k, str(k or "(none)"))) for k in (key_a, key_b))
    return f"**A**: {a}  \n**B**: {b}"


def open_compare(key_a: str, key_b: str, session: Session):
    """Refresh both lists; with a model fine-tuned here and B still equal to A, offer before vs after."""
    choices = common.model_choices(session)
    b = SESSION_MODEL if session.own_model is not None and key_b == key_a != SESSION_MODEL else key_b
    return gr.update(choices=choices), gr.update(choices=choices, value=b)


def compare_two_models(key_a: str, key_b: str, text: str, top_k: float, session: Session):
    """One sentence, two models: their top-k on one probability scale and whether they agree."""
    text = check_user_text(text)
    k = _whole(top_k, "Top-k", 1, MAX_TOP_K)
    if not key_a or not key_b:
        raise user_error("Choose two models.")
    lm_a = _model_for(key_a, session)
    lm_b = _model_for(key_b, session)
    name_a, name_b = common.display_name(lm_a, key_a), common.display_name(lm_b, key_b)
    try:
        result = compare_models(lm_a, lm_b, text, k, labels=(name_a, name_b))
    except ValueError as err:
        raise user_error(err) from None
    line = md_escape(agreement_line(result, "A", "B"))
    line = f"**A** = {md_escape(name_a)}, **B** = {md_escape(name_b)}. {line}"
    if any(w.prob_a is None or w.prob_b is None for w in result.words):
        line += " (No bar: that word is not one token of that model's vocabulary.)"
    if result.message:
        line += f"\n\n⚠️ {md_escape(result.message)}"
    if key_a == key_b:  # said where it stays, not only in a toast that fades
        line += "\n\n⚠️ A and B are the same model, so every ratio is 1: pick another model for B."
    fig = plots.compare_bars(
        [w.word for w in result.words], [w.prob_a for w in result.words], [w.prob_b for w in result.words],
        f"A: {name_a}", f"B: {name_b}", title="Two models, one sentence",
    )
    table = comparison_table(result, "A", "B")
    remember_export(session, "compare-models", table)
    return session, line, look.figure(fig, session), look.table(table, session)


def compare_two_sentences(text_a: str, text_b: str, top_k: float, session: Session):
    """Two sentences, one model: the two top-k aligned by token with the probability ratio A/B."""
    text_a = check_user_text(text_a, "sentence A")
    text_b = check_user_text(text_b, "sentence B")
    k = _whole(top_k, "Top-k", 1, MAX_TOP_K)
    lm = session_model(session)
    try:
        result = compare_sentences(lm, text_a, text_b, k)
    except ValueError as err:
        raise user_error(err) from None
    line = md_escape(agreement_line(result, "A", "B"))
    if result.message:
        line += f"\n\n⚠️ {md_escape(result.message)}"
    fig = plots.compare_bars(
        [w.word for w in result.words], [w.prob_a for w in result.words], [w.prob_b for w in result.words],
        f"A: {text_a}", f"B: {text_b}", title="One model, two sentences",
    )
    table = comparison_table(result, "A", "B")
    remember_export(session, "compare-sentences", table)
    return line, look.figure(fig, session), look.table(table, session)


def compare_on_link(activity: str, text_a: str, text_b: str, top_k: float, session: Session):
    """A link to the Compare activity: compare its two sentences (one model, two passes)."""
    if _linked_activity(activity, session) != COMPARE_TAB:
        return tuple(gr.skip() for _ in range(3))
    return compare_two_sentences(text_a, text_b, top_k, session)


# ---------------------------------------------------------------------------- layout

#: The Class tab's figures before a first result, by element id (redrawn for the page on open).
PLACEHOLDERS = {
    "quiz-bars": "Press New round to begin.",
    "quiz-score": "No score yet.",
    "gen-strip": "Press Write.",
    "gen-pll": "PLL per sweep appears here.",
    "cmp-models-plot": "Press Compare the models.",
    "cmp-sents-plot": "Press Compare the sentences.",
}


def _placeholder(elem_id: str):
    return plots.empty_figure(PLACEHOLDERS[elem_id])


def open_class(session: Session):
    """The Class tab's empty figures, fitted to this page (dark theme, projector text)."""
    return tuple(look.figure(_placeholder(key), session) for key in PLACEHOLDERS)



def _build_quiz(session: gr.State, activity: gr.Textbox) -> tuple[list, list, OnLoad]:
    gr.Markdown(
        "**Guess first.** Read the sentence, type the missing word, *then* reveal what the model thinks. "
        f"A round has {MIN_ROUND}–{MAX_ROUND} sentences; the score card compares you with the model "
        f"(hits@1: right first time; hits@5: right within your first {MAX_GUESSES} guesses, or the "
        "model's top 5). Nothing is kept after you close the page; download the round as CSV."
    )
    # The sentence and the guess beside the model's answer on a laptop, stacked on a phone.
    with gr.Row(equal_height=False, elem_classes=["two-up"]):
        with gr.Column(scale=1, min_width=320):
            with gr.Row():
                source = gr.Radio([BUNDLED_SOURCE, TEACHER_SOURCE], value=BUNDLED_SOURCE, label="Sentences",
                                  elem_id="quiz-source", scale=2, min_width=200)
                size = gr.Slider(MIN_ROUND, MAX_ROUND, value=MIN_ROUND, step=1, label="Items in a round",
                                 elem_id="quiz-size", scale=2, min_width=160)
                seed = gr.Number(0, label="Round seed", precision=0, elem_id="quiz-seed", scale=1,
                                 min_width=100)
            teacher = gr.Textbox(
                label=f"Your list: one sentence a line (at least {MIN_ROUND}), the hidden word in [brackets]",
                lines=5,
                visible=False, placeholder=QUIZ_PLACEHOLDER, max_length=MAX_LIST_CHARS, elem_id="quiz-list",
            )
            start = gr.Button("New round", variant="primary", elem_id="quiz-start")
            # The item on screen (0: no round), for "Copy link": a class joins the round there.
            item = gr.Number(0, precision=0, visible=False, elem_id="quiz-item")
            notes = gr.Markdown(elem_id="quiz-notes")
            progress = gr.Markdown(elem_id="quiz-progress")
            sentence = gr.Markdown("### Press New round to begin.", elem_id="quiz-sentence")
            guess = gr.Textbox(
                label="Your guess (one word; or up to 5, best first, separated by commas)",
                interactive=False, elem_id="quiz-guess",
            )
            with gr.Row(elem_classes=["action-row"]):
                reveal = gr.Button("Reveal", variant="primary", interactive=False, elem_id="quiz-reveal",
                                   min_width=110)
                nxt = gr.Button("Next", interactive=False, elem_id="quiz-next", min_width=110)
        with gr.Column(scale=1, min_width=320, elem_id="quiz-results", elem_classes=["results"]):
            result = gr.Markdown(elem_id="quiz-result")
            bars = gr.Plot(_placeholder("quiz-bars"), show_label=False,
                           elem_id="quiz-bars")
    reveal_table = gr.Dataframe(
        headers=REVEAL_COLUMNS, label="Your guesses in the model's eyes", wrap=True, interactive=False,
        elem_id="quiz-reveal-table", elem_classes=["results-table"],
    )
    with gr.Row(equal_height=False, elem_classes=["two-up"]):
        with gr.Column(scale=1, min_width=320):
            chart = gr.Plot(_placeholder("quiz-score"), show_label=False, elem_id="quiz-score")
        with gr.Column(scale=1, min_width=320):
            card = gr.Dataframe(headers=SCORE_CARD_COLUMNS, label="Score card", interactive=False,
                                elem_id="quiz-card", elem_classes=["results-table"])
            download_buttons(session, "quiz-round", "reveal an item", "quiz", formats=("csv",),
                             labels={"csv": "Download the round (CSV)"})

    source.change(show_list_box, [source], [teacher], api_name=False, show_progress="hidden")
    started = [session, progress, sentence, guess, notes, bars, reveal_table, chart, card, reveal, nxt, item]
    start.click(quiz_start, [source, size, seed, teacher, session], started, api_name="quiz_start",
                concurrency_limit=4)
    gr.on(
        [reveal.click, guess.submit], quiz_reveal, [guess, session],
        [session, result, bars, reveal_table, chart, card, reveal, nxt],
        api_name="quiz_reveal", concurrency_limit=4,
    )
    nxt.click(
        quiz_next, [session],
        [session, progress, sentence, guess, result, bars, reveal_table, reveal, nxt, item],
        api_name="quiz_next", show_progress="hidden",
    )
    sources = (("bundled", BUNDLED_SOURCE), ("own", TEACHER_SOURCE))
    links = [
        (LinkField("sentences", "class", "choice", choices=sources, default=BUNDLED_SOURCE, when=ON_QUIZ),
         source),
        # A pasted list travels in the link while it is short (up to links.MAX_LINK_TEXT characters).
        (LinkField("list", "class", "text", default="", when=(*ON_QUIZ, ("sentences", "own"))), teacher),
        (LinkField("items", "class", "int", MIN_ROUND, MAX_ROUND, default=MIN_ROUND, when=ON_QUIZ), size),
        (LinkField("seed", "class", "int", 0, MAX_SEED, default=0, when=ON_QUIZ), seed),
        (LinkField("item", "class", "int", 0, MAX_ROUND, default=0, when=ON_QUIZ), item),
    ]
    assert len(started) == QUIZ_START_OUTPUTS
    on_link = OnLoad(quiz_on_link, [activity, source, size, seed, teacher, item, session], started)
    return [bars, chart], links, on_link


def _build_write(session: gr.State, activity: gr.Textbox) -> tuple[list, list, OnLoad]:
    gr.Markdown(WHY_NOT_A_GENERATOR)
    gr.Markdown(
        f"Caps here: at most {APP_MAX_BLANKS} blanks and {APP_MAX_SWEEPS} sweeps (Gibbs: one model pass per "
        f"written token, at most {APP_MAX_BLANKS * APP_MAX_SWEEPS} a click; mask-predict: one pass a round); "
        "the command line allows more "
        "(`python -m mlm_explorer generate`)."
    )
    with gr.Row(equal_height=False, elem_classes=["two-up"]):
        with gr.Column(scale=1, min_width=320):
            with gr.Row():
                start = gr.Radio([START_BLANKS, START_PROMPT], value=START_PROMPT, label="Start from",
                                 scale=2, min_width=200, elem_id="gen-start")
                length = gr.Slider(1, APP_MAX_BLANKS, value=10, step=1, label="Blanks", scale=2,
                                   min_width=160, visible=False, elem_id="gen-length")
            prompt = gr.Textbox(label="Prompt", value=DEFAULT_PROMPT, visible=True,
                                max_length=APP_MAX_PROMPT_CHARS, elem_id="gen-prompt")
            strategy = gr.Radio([(label, key) for key, label in STRATEGY_LABELS.items()], value="gibbs",
                                label="Strategy", elem_id="gen-strategy")
            with gr.Row():
                sweeps = gr.Slider(1, APP_MAX_SWEEPS, value=3, step=1, min_width=150, elem_id="gen-sweeps",
                                   label="Sweeps / rounds")
                temperature = gr.Slider(0.1, 3.0, value=1.0, step=0.1, label="Temperature (Gibbs)",
                                        min_width=150, elem_id="gen-temperature")
            with gr.Row():
                top_k = gr.Slider(0, 100, value=20, step=1, label="Top-k (Gibbs; 0 = all)", min_width=150,
                                  elem_id="gen-top-k")
                seed = gr.Number(0, label="Seed", precision=0, min_width=100, elem_id="gen-seed")
            with_l2r = gr.Checkbox(True, label="Also fill left-to-right on the same start, to compare",
                                   elem_id="gen-with-l2r")
            run = gr.Button("Write", variant="primary", elem_id="gen-run")
        with gr.Column(scale=1, min_width=320, elem_id="gen-results", elem_classes=["results"]):
            summary = gr.Markdown(elem_id="gen-summary")
            step = gr.Slider(0, 1, value=0, step=1, label="Step: walk through the trace", interactive=False,
                             elem_id="gen-step")
            strip = gr.Plot(_placeholder("gen-strip"), show_label=False, elem_id="gen-strip")
            step_text = gr.Markdown(elem_id="gen-step-text")
            pll = gr.Plot(_placeholder("gen-pll"), show_label=False,
                          elem_id="gen-pll")
    table = gr.Dataframe(headers=GENERATION_COLUMNS, label="Every step", wrap=True, interactive=False,
                         elem_id="gen-table", elem_classes=["results-table"])
    download_buttons(session, "generation", "press Write", "gen")

    start.change(show_start, [start], [length, prompt], api_name=False, show_progress="hidden")
    gr.on(
        [start.input, length.release, prompt.input, strategy.input, sweeps.release, temperature.release,
         top_k.release, seed.input, with_l2r.input],
        None, None, None, js=look.stale_js("#gen-results", "#gen-table"), api_name=False, queue=False,
    )
    inputs = [start, length, prompt, strategy, sweeps, temperature, top_k, seed, with_l2r, session]
    outputs = [session, summary, step, strip, step_text, pll, table]
    written = run.click(generate_text, inputs, outputs, api_name="generate", concurrency_limit=2)
    look.mark_fresh(written, "#gen-results", "#gen-table")
    step.change(generation_step, [step, session], [strip, step_text], api_name="generate_step",
                show_progress="hidden", trigger_mode="always_last")
    starts = (("blanks", START_BLANKS), ("prompt", START_PROMPT))
    strategies = tuple((k, k) for k in STRATEGY_LABELS)
    on_blanks, on_prompt = (*ON_WRITE, ("start", "blanks")), (*ON_WRITE, ("start", "prompt"))
    links = [
        (LinkField("start", "class", "choice", choices=starts, default=START_PROMPT, when=ON_WRITE), start),
        (LinkField("length", "class", "int", 1, APP_MAX_BLANKS, default=10, when=on_blanks), length),
        (LinkField("prompt", "class", "text", default=DEFAULT_PROMPT, when=on_prompt), prompt),
        (LinkField("strategy", "class", "choice", choices=strategies, default="gibbs", when=ON_WRITE),
         strategy),
        (LinkField("sweeps", "class", "int", 1, APP_MAX_SWEEPS, default=3, when=ON_SWEEPS), sweeps),
        (LinkField("temp", "class", "number", 0.1, 3.0, default=1.0, when=ON_GIBBS), temperature),
        (LinkField("topk", "class", "int", 0, 100, default=20, when=ON_GIBBS), top_k),
        (LinkField("seed", "class", "int", 0, MAX_SEED, default=0, when=ON_WRITE), seed),
        (LinkField("l2r", "class", "bool", default=True, when=ON_WRITE), with_l2r),
    ]
    return [strip, pll], links, OnLoad(write_on_link, [activity, *inputs], outputs)


def _build_compare(session: gr.State, activity: gr.Textbox) -> tuple:
    gr.Markdown(
        "**Two models, one sentence.** The same blank through two models on one probability scale: the "
        "bundled model against one fine-tuned in this session is *before vs after*. A Hugging Face id can "
        "be typed into either list. Two models are kept in memory for you at most; choosing a third "
        "lets go of the oldest. After fine-tuning, B offers the fine-tuned model when you open this tab. "
        "A is the solid bar, B the hatched one."
    )
    choices = common.model_choices()
    first = common.default_key()
    with gr.Row(equal_height=False, elem_classes=["two-up"]):
        with gr.Column(scale=1, min_width=320):
            # One above the other, each as wide as the column: a laptop shows a long name (a model
            # fine-tuned here, a hub id) whole. A phone's box cannot, so the names line under them
            # (shown on a phone only) spells both out, wrapped.
            model_a = gr.Dropdown(choices, value=first, label="Model A", allow_custom_value=True,
                                  elem_id="cmp-model-a")
            model_b = gr.Dropdown(choices, value=first, label="Model B", allow_custom_value=True,
                                  elem_id="cmp-model-b")
            names = gr.Markdown(model_names(first, first), elem_id="cmp-model-names",
                                elem_classes=["phone-only"])
            text = gr.Textbox(label="Sentence with one [MASK]", elem_id="cmp-text",
                              value=DEFAULT_COMPARE_TEXT)
            k_models = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Top-k", elem_id="cmp-models-k")
            run_models = gr.Button("Compare the models", variant="primary", elem_id="cmp-models-run")
        with gr.Column(scale=1, min_width=320, elem_id="cmp-models-results", elem_classes=["results"]):
            line_models = gr.Markdown(elem_id="cmp-models-line")
            fig_models = gr.Plot(_placeholder("cmp-models-plot"), show_label=False,
                                 elem_id="cmp-models-plot")
    table_models = gr.Dataframe(headers=comparison_columns(), label="Both models", interactive=False,
                                elem_id="cmp-models-table", elem_classes=["results-table"])
    download_buttons(session, "compare-models", "press Compare the models", "cmp-models")

    gr.Markdown(
        "**Two sentences, one model.** Change one word and see how the guesses move: each row is one "
        "token with its probability after A and after B, and the ratio A / B (2.0 = twice as likely "
        "after A). The classic probe of learned bias: *The man worked as a …* vs *The woman worked as a …*."
    )
    with gr.Row(equal_height=False, elem_classes=["two-up"]):
        with gr.Column(scale=1, min_width=320):
            text_a = gr.Textbox(label="Sentence A", value=PROBE_PAIRS[0][0], elem_id="cmp-a")
            text_b = gr.Textbox(label="Sentence B", value=PROBE_PAIRS[0][1], elem_id="cmp-b")
            k_sents = gr.Slider(1, MAX_TOP_K, value=8, step=1, label="Top-k", elem_id="cmp-sents-k")
            probe_pairs = gr.Examples([list(p) for p in PROBE_PAIRS], inputs=[text_a, text_b],
                                      label="Probe pairs")
            run_sents = gr.Button("Compare the sentences", variant="primary", elem_id="cmp-sents-run")
        with gr.Column(scale=1, min_width=320, elem_id="cmp-sents-results", elem_classes=["results"]):
            line_sents = gr.Markdown(elem_id="cmp-sents-line")
            fig_sents = gr.Plot(_placeholder("cmp-sents-plot"), show_label=False,
                                elem_id="cmp-sents-plot")
    table_sents = gr.Dataframe(headers=comparison_columns(), label="Both sentences", interactive=False,
                               elem_id="cmp-sents-table", elem_classes=["results-table"])
    download_buttons(session, "compare-sentences", "press Compare the sentences", "cmp-sents")

    for dropdown in (model_a, model_b):
        dropdown.focus(compare_choices, [session], [model_a, model_b], api_name=False, show_progress="hidden")
    gr.on([model_a.change, model_b.change], model_names, [model_a, model_b, session], [names],
          api_name=False, show_progress="hidden", queue=False)
    gr.on(
        [model_a.input, model_b.input, text.input, k_models.release], None, None, None,
        js=look.stale_js("#cmp-models-results", "#cmp-models-table"), api_name=False, queue=False,
    )
    gr.on(
        [text_a.input, text_b.input, k_sents.release], None, None, None,
        js=look.stale_js("#cmp-sents-results", "#cmp-sents-table"), api_name=False, queue=False,
    )
    look.stale_on_examples(probe_pairs, "#cmp-sents-results", "#cmp-sents-table")
    compared = run_models.click(
        compare_two_models, [model_a, model_b, text, k_models, session],
        [session, line_models, fig_models, table_models],
        api_name="compare_models", concurrency_limit=2,
    )
    look.mark_fresh(compared, "#cmp-models-results", "#cmp-models-table")
    compared = gr.on(
        [run_sents.click, text_b.submit], compare_two_sentences, [text_a, text_b, k_sents, session],
        [line_sents, fig_sents, table_sents],
        api_name="compare_sentences", concurrency_limit=2,
    )
    look.mark_fresh(compared, "#cmp-sents-results", "#cmp-sents-table")
    # Only a model the picker offers (never a name typed here, nor one fine-tuned in this session):
    # a student's page can load it.
    offered = tuple((key, key) for _, key in choices)
    links = [
        (LinkField("ma", "class", "choice", choices=offered, default=first, when=ON_COMPARE), model_a),
        (LinkField("mb", "class", "choice", choices=offered, default=first, when=ON_COMPARE), model_b),
        (LinkField("text", "class", "text", default=DEFAULT_COMPARE_TEXT, when=ON_COMPARE), text),
        (LinkField("mk", "class", "int", 1, MAX_TOP_K, default=5, when=ON_COMPARE), k_models),
        (LinkField("a", "class", "text", default=PROBE_PAIRS[0][0], when=ON_COMPARE), text_a),
        (LinkField("b", "class", "text", default=PROBE_PAIRS[0][1], when=ON_COMPARE), text_b),
        (LinkField("k", "class", "int", 1, MAX_TOP_K, default=8, when=ON_COMPARE), k_sents),
    ]
    on_link = OnLoad(compare_on_link, [activity, text_a, text_b, k_sents, session],
                     [line_sents, fig_sents, table_sents])
    return model_a, model_b, [fig_models, fig_sents], links, on_link


def _linked_activity(activity: str, session: Session) -> str:
    """The activity the page's link opened, else the one on screen.

    The Class tab's content is drawn when it first shows, and its sub-tabs then mount on the quiz
    and report that selection, which can reach ``activity`` before a linked Write or Compare runs
    its action; the link's own value is what that action must follow.
    """
    linked = look.linked_value(session, "class", "activity")
    return linked if isinstance(linked, str) else activity


def select_activity(activity: str):
    """The sub-tab ``activity`` names, as the sub-tabs' own ``selected`` value (set on the server,
    so the sub-tabs mount on it when the Class tab is drawn after the link set it)."""
    known = {tab for _, tab in ACTIVITIES}
    return gr.Tabs(selected=activity if activity in known else QUIZ_TAB)


def activity_selected(tab_id: str, session: Session):
    """A sub-tab was selected: it is the activity, unless the sub-tabs merely mounted on the quiz
    before the sub-tab a link named was shown; that one is then put back, once."""
    linked = look.linked_value(session, "class", "activity")
    if isinstance(linked, str) and linked != tab_id:
        return linked, gr.Tabs(selected=linked)
    if linked == tab_id:
        look.consume_linked(session, "class", "activity", tab_id)
    return tab_id, gr.skip()


def build_class_tab(session: gr.State) -> TabParts:
    """Layout and wiring of the Class tab: Quiz, Write and Compare sub-tabs; returns its link fields."""
    gr.Markdown("Three activities for a lesson: guess before the model does, watch it try to write, "
                "and put two models or two sentences side by side.")
    # Which sub-activity is open, for "Copy link" (set in the browser, no server call).
    activity = gr.Textbox(value=ACTIVITIES[0][1], visible=False, elem_id="class-activity")
    with gr.Tabs(elem_id="class-tabs", overflow_behavior="wrap") as class_tabs:  # no "…" menu on a phone
        with gr.Tab("Quiz", id="class-quiz") as quiz_tab:
            figures, quiz_links, quiz_link = _build_quiz(session, activity)
        with gr.Tab("Write", id="class-write") as write_tab:
            more, write_links, write_link = _build_write(session, activity)
            figures += more
        with gr.Tab("Compare", id="class-compare") as compare_tab:
            model_a, model_b, more, compare_links, compare_link = _build_compare(session, activity)
            figures += more
    for tab in (quiz_tab, write_tab, compare_tab):
        tab.select(functools.partial(activity_selected, tab.id), [session], [activity, class_tabs],
                   api_name=False, queue=False, show_progress="hidden")
    compare_tab.select(
        open_compare, [model_a, model_b, session], [model_a, model_b], api_name="compare_choices",
        show_progress="hidden",
    )
    activity.change(select_activity, [activity], [class_tabs], api_name=False, queue=False,
                    show_progress="hidden")
    # The activity is always written, as the tab is: it names the view. A link without it opens the quiz.
    links = [(LinkField("activity", "class", "choice", choices=ACTIVITIES, default=QUIZ_TAB, always=True),
              activity),
             *quiz_links, *write_links, *compare_links]
    return TabParts(links=links, on_open=OnLoad(open_class, [session], figures),
                    on_link=[quiz_link, write_link, compare_link])
