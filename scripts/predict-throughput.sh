#!/usr/bin/env bash
# `predict` on a large corpus against transformers' `pipeline("ner")` on the same model,
# exported (issue 45, point 3): the same raw text (the CoNLL es, de and nl train splits'
# sentences, one per line, repeated up to N lines), the same threads, one after another.
# Prints, per engine, seconds, sentences/s and words/s (words: whitespace-split), and how
# many of the sentences' entity spans the two agree on (a check that both tagged the same
# text with the same model, not a quality figure).
#
#   MTMT_DATA=../shared/data bash scripts/predict-throughput.sh [N] [MODEL]
#
# MODEL: a stage or artifact key of the current config's store (default `teacher_ner`:
# the demo's after `run all`; its size, not its training, sets the speed). Environment:
# THREADS (default 2), MTMT_PIPE (default target/debug/mtmt-pipe), STORE (default
# artifacts), BATCH (transformers' batch size, default 32; predict's is `eval.batch_size`),
# BF16 (default 1; 0 skips `predict --bf16`, which pays only where the CPU has AMX or a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
MODEL=${2:-teacher_ner}
THREADS=${THREADS:-2}
BIN=${MTMT_PIPE:-target/debug/mtmt-pipe}
STORE=${STORE:-artifacts}
BATCH=${BATCH:-32}
: "${MTMT_DATA:?set MTMT_DATA to the benchmarks folder}"
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

.venv/bin/python - "$N" "$work/text.txt" "$MTMT_DATA" <<'PY'
import sys
n, out, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sentences, words = [], []
for path in ["conll2002/es/train.txt", "conll2003/de/train.txt", "conll2002/nl/train.txt"]:
    for line in open(f"{data}/{path}", encoding="utf-8", errors="replace"):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append(" ".join(words))
            words = []
        else:
            words.append(fields[0])
with open(out, "w", encoding="utf-8") as f:
    for i in range(n):
        f.write(sentences[i % len(sentences)] + "\n")
PY
words=$(wc -w < "$work/text.txt")
echo "text: $N sentences, $words words (CoNLL es/de/nl train, repeated); model: $MODEL; $THREADS threads; $(nproc) cores"

"$BIN" --store "$STORE" export "$MODEL" "$work/exported" > /dev/null

timed() { # NAME OUT COMMAND...: runs it with its stdout into OUT, prints its rate
    local name=$1 out=$2; shift 2
    local start end
    start=$(date +%s.%N)
    "$@" > "$out"
    end=$(date +%s.%N)
    .venv/bin/python -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); w=int(sys.argv[4]); print(f'{sys.argv[5]:<34} {s:8.1f} s {n/s:8.0f} sentences/s {w/s:9.0f} words/s')" \
        "$start" "$end" "$N" "$words" "$name"
}
timed "mtmt-pipe predict (f32)" "$work/f32.jsonl" "$BIN" --store "$STORE" predict --model "$MODEL" \
    --input-format text --set runtime.threads="$THREADS" -q "$work/text.txt"
if [ "${BF16:-1}" != 0 ]; then
    timed "mtmt-pipe predict --bf16" "$work/bf16.jsonl" "$BIN" --store "$STORE" predict --model "$MODEL" \
        --input-format text --bf16 --set runtime.threads="$THREADS" -q "$work/text.txt"
fi
timed "transformers pipeline(\"ner\") f32" /dev/null .venv/bin/python - "$work/exported" "$work/text.txt" \
    "$work/hf.jsonl" "$THREADS" "$BATCH" <<'PY'
import json, sys
import torch
from transformers import pipeline
model, text, out, threads, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
ner = pipeline("ner", model=model, aggregation_strategy="first", device=-1)
lines = [l.rstrip("\n") for l in open(text, encoding="utf-8")]
with open(out, "w", encoding="utf-8") as f:
    for line, entities in zip(lines, ner(lines, batch_size=batch)):
        f.write(json.dumps([[e["start"], e["end"], e["entity_group"]] for e in entities]) + "\n")
PY

.venv/bin/python - "$work/f32.jsonl" "$work/hf.jsonl" "$work/text.txt" <<'PY'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
theirs = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
lines = [l.rstrip("\n") for l in open(sys.argv[3], encoding="utf-8")]
def spans(record):
    return {(e["start"], e["end"], e["type"]) for e in record["entities"]}
def hf_spans(entities, line):
    # SentencePiece offsets start at the space before a word: skip it.
    out = set()
    for start, end, kind in entities:
        while start < end and line[start].isspace():
            start += 1
        out.add((start, end, kind))
    return out
same = sum(spans(o) == hf_spans(h, l) for o, h, l in zip(ours, theirs, lines))
print(f"sentences whose entity spans (start, end, type) agree between predict (f32) and transformers: "
      f"{same} of {len(ours)} ({100 * same / max(len(ours), 1):.1f}%)")
PY
