#!/usr/bin/env bash
# The teachers' scoring passes in bf16 (`scoring.bf16`) against f32, on the current config
# (default: the demo, MTMT): `run all` in each precision (the teachers are shared: only
# score_tokens, score_pairs and what reads them run twice), then `score_tokens --force`
# alternated ROUNDS times in each to time it. Prints the scoring rates, the share of target
# words whose top label the recognizer's scores agree on, the largest probability
# difference, and the student's test F1 in each precision. Extra arguments go to every
# command (`--store DIR`, `--config FILE`, `--set ...`); reads the tables with polars (`.venv`).
#   bash scripts/scoring-bf16.sh [--store DIR] [--set ...]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MTMT_PIPE:-target/debug/mtmt-pipe}
ROUNDS=${ROUNDS:-3}
source scripts/lib.sh
for bf16 in false true; do
    "$BIN" "$@" --set "scoring.bf16=$bf16" run all >&2
done
rates=()
for _ in $(seq "$ROUNDS"); do
    for bf16 in false true; do
        rate=$("$BIN" "$@" --set "scoring.bf16=$bf16" run stage score_tokens --force 2>&1 |
            sed -n 's/.*(\([0-9.]*\) sentences\/s).*/\1/p')
        rates+=("$bf16:$rate")
    done
done
.venv/bin/python - "$(store_of "$@")" \
    "$(artifact_key score_tokens "$@")" "$(artifact_key score_tokens "$@" --set scoring.bf16=true)" \
    "$(artifact_key evaluate "$@")" "$(artifact_key evaluate "$@" --set scoring.bf16=true)" "${rates[@]}" <<'PY'
import json, sys
import numpy as np
import polars as pl
store, tokens_f32, tokens_bf16, eval_f32, eval_bf16, *rates = sys.argv[1:]
read = lambda key: pl.read_parquet(f"{store}/score_tokens/{key}/token_probs.parquet").sort(["sentence_id", "word"])
a, b = read(tokens_f32), read(tokens_bf16)
same = (a["label"] == b["label"]).sum()
diff = max(np.abs(np.array(x) - np.array(y)).max() for x, y in zip(a["probs"].to_list(), b["probs"].to_list()))
per = {p: [float(r.split(":")[1]) for r in rates if r.startswith(p)] for p in ("false", "true")}
print(f"score_tokens sentences/s, alternated: f32 {per['false']}, bf16 {per['true']} "
      f"(bf16/f32 of the medians: {np.median(per['true']) / np.median(per['false']):.2f}x)")
print(f"recognizer's top label on the target train words: {same} of {len(a)} agree ({100 * same / len(a):.2f}%); "
      f"largest probability difference {diff:.4f}")
f1 = lambda key: json.load(open(f"{store}/evaluate/{key}/metrics.json"))["metrics"]["student"]["test"]["overall"]["f1"]
print(f"student test F1: f32 scoring {f1(eval_f32):.2f}, bf16 scoring {f1(eval_bf16):.2f}")
PY
