#!/usr/bin/env bash
# Continued pretraining of the bundled encoder on the mixed corpus, then its scores against the
# current assets/model. Made for one GPU in about ten minutes of wall time all told (bf16 is
# automatic on a GPU); it also runs, slowly, on a CPU with a smaller batch and budget.
#
#   scripts/fetch_corpus_sources.sh && python -m mlm_explorer corpus --out corpus   # once, with network
#   OUT=runs/bundled-v2 scripts/train_bundled.sh                                     # no network needed
#
# Settings (environment variables, defaults in brackets):
#   CORPUS [corpus]        folder written by `python -m mlm_explorer corpus` (train.txt.gz, heldout/)
#   OUT [runs/bundled-v2]  output folder: model, training.json, logs, evaluation.json / .md
#   INIT [assets/model]    warm start; the trained MLM head must be kept (checked before training)
#   MINUTES [6]            training time budget (the schedule spans it: 6% warm-up, linear decay)
#   BATCH [256] SEQ_LEN [64] LR [1e-4] EVAL_EVERY [250] SEED [0]
#   WHOLE_WORD [0]         1: whole-word masking (a word's pieces are selected together)
#   FREQUENT []            e.g. 1e-3: mask frequent tokens less (pretrain --mask-frequent-less)
#   SWEEP []               several runs side by side on the same device, e.g. "1e-4 2e-4 2e-4w_s1": each
#                          word is a learning rate, a trailing "w" adds whole-word masking and "_s<N>"
#                          sets the seed (SEED otherwise). Each run writes OUT/<word>/; among the runs that
#                          could ship (the app's showcase right and CI's bars reached: SHIP_BARS in
#                          mlm_explorer/showcase.py; all runs, if none could), the one with the best mean
#                          held-out whole-word accuracy over the corpus sources (our own validation
#                          slices, not the public cloze set) is the winner, and OUT/sweep.md and
#                          sweep.json compare them all
#   EVAL_LINES []          held-out lines per source to score (default all; a CPU check uses fewer)
#   ALLOW_NEW_HEAD [0]     1: train even if the head would be re-initialised (not for the bundled model)
#   PACK []                also write OUT as <name>.tgz.part-aa, -ab, ... (15 MiB pieces) plus
#                          evaluation.md and training.json into this folder: a few small files that a
#                          remote machine can hand back; rebuild with `cat PACK/*.tgz.part-* | tar xz`
#                          (with SWEEP: only the winner is packed, with sweep.md and sweep.json)
#
# Why these settings: batch 256 x 64 tokens and 250-step evaluation are the recipe that made
# assets/model (MODEL_CARD.md); lr 1e-4 (BERT's, half of 2e-4 and a third of the first run's
# 3e-4) because this run continues from a trained model and head rather than a new head.
set -euo pipefail
cd "$(dirname "$0")/.."

CORPUS="${CORPUS:-corpus}"
OUT="${OUT:-runs/bundled-v2}"
INIT="${INIT:-assets/model}"
MINUTES="${MINUTES:-6}"
BATCH="${BATCH:-256}"
SEQ_LEN="${SEQ_LEN:-64}"
LR="${LR:-1e-4}"
EVAL_EVERY="${EVAL_EVERY:-250}"
SEED="${SEED:-0}"
EVAL_LINES="${EVAL_LINES:-}"
PACK="${PACK:-}"
WHOLE_WORD="${WHOLE_WORD:-0}"
FREQUENT="${FREQUENT:-}"
SWEEP="${SWEEP:-}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true PYTHONUNBUFFERED=1

for f in "$CORPUS/train.txt.gz" "$CORPUS/heldout.txt" "$CORPUS/SOURCES.md"; do
    [[ -f "$f" ]] || { echo "error: $f not found: run scripts/fetch_corpus_sources.sh, then python -m mlm_explorer corpus --out $CORPUS" >&2; exit 2; }
done
mkdir -p "$OUT"

pack() {  # pack FOLDER: FOLDER as 15 MiB pieces named after OUT, into PACK
    mkdir -p "$PACK"
    tar -czf - -C "$(dirname "$1")" "$(basename "$1")" | split -b 15m - "$PACK/$(basename "$OUT").tgz.part-"
}

# Runs side by side share the device: on one H100, three runs of 6 minutes each made about 3,770
# steps (10.5 steps/s each, 31 together) where one run alone makes 39 steps/s; another time three
# 5-minute runs made 5,260 each (17.5 steps/s). A sweep buys choice with steps: use it to choose a
# recipe, then give the chosen one the device to itself.
if [[ -n "$SWEEP" ]]; then
    set -f  # SWEEP's words are never file patterns
    word_pattern='^([0-9]+(\.[0-9]+)?(e-?[0-9]+)?)(w?)(_s([0-9]+))?$'  # 2e-4, 0.0002, 2e-4w, 2e-4w_s1
    for word in $SWEEP; do  # every word checked before any run starts
        [[ "$word" =~ $word_pattern ]] || {
            echo "error: SWEEP word '$word' is not a learning rate (with an optional w and _s<seed>)" >&2; exit 2; }
    done
    started=$(date +%s)
    pids=()
    for word in $SWEEP; do
        [[ "$word" =~ $word_pattern ]]
        lr="${BASH_REMATCH[1]}"; ww=0; [[ -n "${BASH_REMATCH[4]}" ]] && ww=1; seed="${BASH_REMATCH[6]:-$SEED}"
        OUT="$OUT/$word" LR="$lr" WHOLE_WORD="$ww" SEED="$seed" SWEEP="" PACK="" \
            bash "$PWD/scripts/train_bundled.sh" > "$OUT/$word.log" 2>&1 &
        pids+=($!)
        echo "started $word (lr $lr, whole-word $ww, seed $seed): log in $OUT/$word.log"
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
    echo "sweep: $(( $(date +%s) - started )) s wall, $failed of ${#pids[@]} runs failed"
    winner=$(python scripts/pick_run.py "$OUT" $SWEEP) || { tail -n 30 "$OUT"/*.log >&2; exit 1; }
    cat "$OUT/sweep.md"
    if [[ -n "$PACK" ]]; then
        pack "$OUT/$winner"
        cp "$OUT/sweep.md" "$OUT/sweep.json" "$PACK/"
        ls -l "$PACK"
    fi
    echo "winner: $OUT/$winner"
    exit 0
fi

python - <<PY 2>&1 | tee "$OUT/environment.txt"
import platform, torch, transformers
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, GPU: {gpu}")
PY

# The warm start must keep the trained MLM head (cls.predictions.transform.*): a new head starts
# the loss at ln(30522) = 10.3 and wastes the budget relearning what the bundled model knows.
if [[ "${ALLOW_NEW_HEAD:-0}" != 1 ]]; then
    python - "$INIT" <<'PY'
import sys
from pathlib import Path
try:
    from mlm_explorer.pretrain import warm_start
    report = warm_start(Path(sys.argv[1]))[2]
except Exception as err:  # the check is advisory when pretrain's internals change
    print(f"note: could not check the warm start ({type(err).__name__}: {err}); going on", file=sys.stderr)
    sys.exit(0)
if "cls.predictions.transform.dense.weight" in report.new:
    print("error: pretrain --init would re-initialise the trained MLM head of " + sys.argv[1]
          + " (new: cls.predictions.*); update pretrain, or set ALLOW_NEW_HEAD=1", file=sys.stderr)
    sys.exit(3)
print(f"warm start keeps the MLM head: {len(report.loaded)} tensors loaded, new: {list(report.new) or 'none'}")
PY
fi

whole_word=()
if [[ "$WHOLE_WORD" == 1 ]]; then whole_word=(--whole-word); fi
started=$(date +%s)
python -m mlm_explorer pretrain \
    --init "$INIT" --corpus "$CORPUS/train.txt.gz" --heldout "$CORPUS/heldout.txt" --out "$OUT" \
    --minutes "$MINUTES" --batch-size "$BATCH" --seq-len "$SEQ_LEN" --lr "$LR" \
    --eval-every "$EVAL_EVERY" --checkpoint-minutes 100000 --seed "$SEED" --json \
    "${whole_word[@]}" ${FREQUENT:+--mask-frequent-less "$FREQUENT"} \
    > "$OUT/pretrain_summary.json" 2> >(tee "$OUT/pretrain.log" >&2)
echo "pretrain: $(( $(date +%s) - started )) s wall; $(cat "$OUT/pretrain_summary.json")"
rm -rf "$OUT/checkpoint"  # optimizer state: large, and not part of a model folder
cp "$CORPUS/SOURCES.md" "$OUT/SOURCES.md"

python scripts/evaluate_run.py --model "$OUT" --baseline "$INIT" --corpus "$CORPUS" \
    ${EVAL_LINES:+--max-lines "$EVAL_LINES"} | tee "$OUT/evaluation.md"
if [[ -n "$PACK" ]]; then
    pack "$OUT"
    cp "$OUT/evaluation.md" "$OUT/training.json" "$PACK/"
    ls -l "$PACK"
fi
echo "total: $(( $(date +%s) - started )) s wall; figures in $OUT/evaluation.json and $OUT/training.json"
