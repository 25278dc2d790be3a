#!/usr/bin/env bash
# bf16 inference (`eval.bf16`) against f32 on CoNLL es: the recognizer teacher (`direct`), a
# TSL and an MTMT student at the papers-budget recipe (the cells of sweeps/table3-flagship.toml
# and sweeps/papers-budget.toml, seed 13), each evaluated twice. Prints, per model, test F1 in
# f32 and bf16, their difference, the share of test words whose predicted tag agrees, and the
# evaluate stage's wall time in each precision. Trains what the store lacks first (hours on a
# CPU); reads the predictions with polars (`.venv`, installed by `scripts/setup.sh --tests`).
#   MTMT_DATA=$PWD/../shared/data bash scripts/bf16-agreement.sh [--store DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MTMT_PIPE:-target/debug/mtmt-pipe}
source scripts/lib.sh
common=(--config pipelines/conll-es.toml "$@" --set runtime.threads=1
    --set distill.max_sentences=0 --set eval.teacher=false
    --set score.sampling=balanced --set distill_loss.all_words=false)
rows=()
for method in direct tsl mtmt; do
    dirs=()
    for bf16 in false true; do
        set_=("${common[@]}" --set "method=$method" --set "eval.bf16=$bf16")
        "$BIN" "${set_[@]}" run stage evaluate >&2
        dirs+=("$(artifact_key evaluate "${set_[@]}")")
    done
    rows+=("$method ${dirs[0]} ${dirs[1]}")
done
.venv/bin/python - "$(store_of "$@")" "${rows[@]}" <<'PY'
import json, sys
import polars as pl
store = sys.argv[1]
print("| model | F1 f32 | F1 bf16 | difference | tags agreeing | evaluate wall f32 | bf16 |")
print("|---|---|---|---|---|---|---|")
for row in sys.argv[2:]:
    method, f32, bf16 = row.split()
    def read(key):
        d = f"{store}/evaluate/{key}"
        metrics = json.load(open(f"{d}/metrics.json"))["metrics"]
        model = "teacher" if method == "direct" else "student"
        f1 = metrics[model]["test"]["overall"]["f1"]
        wall = json.load(open(f"{d}/manifest.json"))["wall_time_s"]
        pred = pl.read_parquet(f"{d}/predictions.parquet").filter(
            (pl.col("model") == model) & (pl.col("split") == "test"))
        return f1, wall, pred.sort("sentence_id")["predicted"].explode()
    (a, wa, ta), (b, wb, tb) = read(f32), read(bf16)
    agree = (ta == tb).mean() * 100
    print(f"| {method} | {a:.2f} | {b:.2f} | {b - a:+.2f} | {agree:.2f}% of {len(ta)} | {wa:.0f} s | {wb:.0f} s |")
PY
