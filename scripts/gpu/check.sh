#!/usr/bin/env bash
# The CUDA check, run on a lent GPU machine from the repository root with .gpu/ carried
# (scripts/gpu/pack.sh): mtmt-pipe on that machine's own libtorch (PyTorch's, found through
# python3; libtorch_cuda preloaded, since the binary links only the CPU libraries), then
#   1. doctor: libtorch sees CUDA;
#   2. the demo pipeline (MTMT) on CUDA;
#   3. bench train on CUDA on CoNLL English, beside PyTorch eager and a lean loop on the same GPU;
#   4. the baselines sweep's es cells direct, TSL and MTMT (seed 13) on CUDA, to compare with
#      the CPU's (docs/baselines/results.md) in F1 and time;
#   5. the demo on CUDA again, and on the CPU, for determinism and device parity.
# Each step gets what is left of BUDGET seconds (default 480); the log and the es report come
# back under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
source scripts/gpu/env.sh

step "demo pipeline (MTMT) on CUDA"
timed $bin --store $work/demo-cuda run all --set runtime.device=cuda

step "bench train on CUDA, CoNLL English"
timed $bin --config pipelines/conll-es.toml --store $work/bench bench train --set runtime.device=cuda --python python3

step "es cells of sweeps/baselines.toml, seed 13, on CUDA"
for cell in 1 2 3; do
    timed $bin --store $work/es sweep run sweeps/baselines.toml --seed 13 --cell $cell --set runtime.device=cuda
done
$bin --store $work/es sweep report sweeps/baselines.toml --out $work/es-report \
    && cp $work/es-report/results.md "$OUT/es-results.md" && cp $work/es-report/runs.parquet "$OUT/es-runs.parquet"

step "demo again on CUDA (determinism), then on the CPU (device parity)"
timed $bin --store $work/demo-cuda2 run all --set runtime.device=cuda
timed $bin --store $work/demo-cpu run all --set runtime.device=cpu

step "summary"
python3 scripts/gpu/summary.py $work/demo-cuda $work/demo-cuda2 $work/demo-cpu $work/es
