#!/usr/bin/env bash
# Seeds of a sweep on a lent GPU machine (repository root, .gpu/ carried: scripts/gpu/pack.sh),
# JOBS cells at once sharing the GPU, within BUDGET seconds; then its report, whatever finished.
# Usage: BUDGET=400 JOBS=3 bash scripts/gpu/sweep.sh sweeps/papers-budget.toml 13 [14 ...]
# CARRY=docs/gpu/X-runs.parquet: an earlier GPU report's cells join this report (`--carry`:
# rows whose evaluate key the cells still have), so seeds run in separate sessions report together.
# Back under $OUT: log.txt, results.md, runs.parquet.
set -uo pipefail
cd "$(dirname "$0")/../.."
sweep=$1
shift
seeds=("$@")
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
source scripts/gpu/env.sh

step "$sweep, seeds ${seeds[*]}, ${JOBS:-2} jobs on CUDA"
# Leave time for the report; cells cut off resume from the store on a later run, not on this machine.
deadline=$((deadline - 20))
timed $bin --store $work/store sweep run "$sweep" $(printf -- '--seed %s ' "${seeds[@]}") --jobs "${JOBS:-2}" --set runtime.device=cuda
pkill -f "$bin" ; sleep 1
step "report"
$bin --store $work/store sweep report "$sweep" --out $work/report ${CARRY:+--carry "$CARRY"} && cp $work/report/results.md $work/report/runs.parquet "$OUT/"
python3 scripts/gpu/summary.py $work/store
