#!/usr/bin/env bash
# Two training configurations against each other on a noisy machine: `bench train
# --no-compare` for A, then B, N times in turn, each run's training tokens/s read from its
# output; prints every pair's ratio B/A and the median, so that a drift of the machine's
# speed between runs falls on both sides of a pair.
#
#   MTMT_DATA=../shared/data bash scripts/bench-pair.sh "A's --set options" "B's --set options" [N]
#
# e.g. "" "--set teacher_ner.parallel_dropout=true" 5. Environment: CONFIG (default
# pipelines/conll-es.toml), STEPS (default 20), MTMT_PIPE (default target/debug/mtmt-pipe).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MTMT_PIPE:-target/debug/mtmt-pipe}
A=$1 B=$2 N=${3:-5}
rate() { # OPTIONS: one run's training tokens/s
    # shellcheck disable=SC2086 # the options are words
    "$BIN" bench train --config "${CONFIG:-pipelines/conll-es.toml}" --steps "${STEPS:-20}" --no-compare $1 \
        | sed -n 's/^mtmt-pipe training tokens\/s: //p'
}
echo "A: [${A}]  B: [${B}]  $N pairs, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
ratios=()
for i in $(seq "$N"); do
    a=$(rate "$A")
    b=$(rate "$B")
    r=$(python3 -c "print(f'{$b / $a:.3f}')")
    ratios+=("$r")
    echo "pair $i: A $a tokens/s, B $b tokens/s, B/A $r"
done
python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[1:])); print(f'B/A: median {statistics.median(r):.3f}, min {r[0]:.3f}, max {r[-1]:.3f}')" "${ratios[@]}"
