"""About: what masked language modelling is, why 80/10/10, and the current model's card."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from mlm_explorer.ui.common import describe_model, md_escape, session_model
from mlm_explorer.ui.state import Session

EXPLAINER = """
### What is masked language modelling?
A masked language model (BERT, RoBERTa, DistilBERT, ALBERT, ...) is trained on a simple game: hide some
words of a sentence and guess them back. It reads the **whole** sentence at once, left *and* right of each
blank, and outputs a probability for every word of its vocabulary at every hidden position.
Doing this on billions of sentences teaches it grammar, facts and, alas, the biases of its texts (try
*"The man worked as a [MASK]."* against *"The woman worked as a [MASK]."*).

### Why 80/10/10?
During pretraining BERT selects 15% of the tokens as targets. If every target became `[MASK]`, the model
would only learn to be useful where it sees `[MASK]` — a token that never appears in real text. So of the
selected tokens **80%** become `[MASK]`, **10%** a random token and **10%** stay unchanged, and the model
must predict the original at all of them: it cannot trust any token blindly, so every position keeps a
useful representation (Devlin et al., 2019, §3.1 and Appendix C.2).

### Why doesn't it write text left to right?
A GPT-style model predicts the *next* token from the ones before it, so it can generate one token after
another. A masked LM was never trained to continue a text: it fills blanks given context on both sides,
and it predicts each blank **independently** in one pass. Filling several blanks at once can therefore
give words that do not agree with each other; the Fill tab's *iterative* mode fills one blank at a time
to show the difference. Scoring a sentence needs one pass per token (pseudo-log-likelihood).
"""

#: How the three tokenizer families cut words (shown with the Inside tab's tokenizer view).
TOKENIZERS = """
### How is text cut into tokens?
A model never sees letters: its tokenizer cuts the text into pieces from a fixed vocabulary (about 30,000
for BERT), so a rare word becomes several pieces rather than one "unknown" token. Only a character the
vocabulary lacks altogether (an emoji, for BERT) becomes `[UNK]`; byte-level BPE (RoBERTa) has no unknowns.
- **WordPiece** (BERT, DistilBERT) keeps whole common words and marks a piece that *continues* a word
  with `##`: *snowboarding* → `snow ##boarding`, *embeddings* → `em ##bed ##ding ##s`. The vocabulary
  is built by merging the pieces that make the training text most likely.
- **Byte-level BPE** (RoBERTa) works on bytes, so any character can be spelled; it repeatedly merges the
  most frequent pair. A piece that *starts* a word carries the space in front of it, shown as `Ġ`.
- **SentencePiece** (ALBERT, here with a unigram model) treats the space as a character too, written `▁`
  at the start of a word, and keeps the pieces that best explain the text.

Whole-word masking hides every piece of a word together, so the model cannot guess `##boarding` from `snow`.
The *Inside → The tokenizer* view shows each token's id and characters, and another model's split beside it.
"""

_CARD_FILES = ("MODEL_CARD.md", "README.md")
_CARD_MAX_CHARS = 6000  # a card is documentation, not a page to scroll through for minutes


def _strip_front_matter(text: str) -> str:
    """Drop a hub README's YAML header (metadata, not prose)."""
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4 :].lstrip()
    return text


def _card_path(name: str) -> Path | None:
    """The model card on disk: in the model's folder, or in the hub cache (never downloaded here)."""
    folder = Path(name)
    if folder.is_dir():
        return next((folder / f for f in _CARD_FILES if (folder / f).is_file()), None)
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "README.md")
    except Exception:  # not a repo id, or an unreadable cache: no card, not an error
        return None
    return Path(cached) if isinstance(cached, str) else None


def clip_markdown(text: str, max_chars: int, source: str) -> str:
    r"""``text`` cut to at most ``max_chars`` at a blank line, so no table or list is cut in half.

    A cut text ends with a line naming ``source``, where the rest is.

    >>> clip_markdown("a\n\n| x |\n| y |", 8, "CARD.md")
    'a\n\n_… the rest is in CARD.md._'
    """
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    cut = head.rfind("\n\n")
    head = head[:cut] if cut > 0 else head.rsplit("\n", 1)[0]
    return f"{head.rstrip()}\n\n_… the rest is in {source}._"


def model_card(session: Session) -> str:
    """The current model's summary and, when it has one on disk, its model card."""
    lm = session_model(session)
    summary = describe_model(lm, session.model_key)
    card = ""
    path = _card_path(str(getattr(lm.model, "name_or_path", "") or lm.name))
    if path is not None:
        text = _strip_front_matter(path.read_text(encoding="utf-8", errors="replace"))
        card = clip_markdown(text, _CARD_MAX_CHARS, path.name)
    if session.uses_own_model:
        card = f"Fine-tuned in this session: {md_escape(session.own_label)}"
    # The card is the model author's Markdown: gr.Markdown sanitises its HTML.
    return f"### Current model\n{summary}\n\n{card or '_This model has no model card on disk._'}"


def build_about_tab(card: gr.Markdown) -> None:
    """Layout of the About tab; ``card`` (refreshed by the model picker) is rendered here."""
    gr.Markdown(EXPLAINER)
    gr.Markdown(TOKENIZERS)
    card.render()
