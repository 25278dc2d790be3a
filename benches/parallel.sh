#!/usr/bin/env bash
# What running cells side by side buys on this machine, measured in one run on the demo:
# the same work (TSL on the demo corpus, seeds 1 and 2: two teachers, two students) done
#   1. by `sweep run` serially (libtorch on every core),
#   2. by `sweep run --jobs 2` (two processes, the cores split between them),
#   3. by two `run all` one after the other, and
#   4. by the same two `run all` at once on one store (one core each).
# Each mode starts from an empty store and prints its wall time; the ratios are printed last.
#
#   bash benches/parallel.sh            # uses target/debug/mtmt-pipe
#   MTMT_PIPE=/path/to/mtmt-pipe bash benches/parallel.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${MTMT_PIPE:-$repo/target/debug/mtmt-pipe}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)

# The demo config with absolute paths, and a sweep of its TSL cells.
sed -e "s#\"examples/#\"$repo/examples/#" -e "s#\"models/#\"$repo/models/#" "$repo/pipeline.toml" >"$work/pipeline.toml"
cat >"$work/sweep.toml" <<'EOF'
name = "parallel-bench"
seeds = [1, 2]
set = ["eval.teacher=false"]

[[target]]
name = "es"
config = "pipeline.toml"

[[method]]
name = "tsl"
set = ["method=tsl"]
EOF
cd "$work"

seconds() { # runs the command, prints its wall seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
two_runs() { # both seeds' `run all` on $1, one after the other
    "$bin" --store "$1" run all --set method=tsl --set eval.teacher=false --set seed=1
    "$bin" --store "$1" run all --set method=tsl --set eval.teacher=false --set seed=2
}
two_at_once() { # both at once on $1, one core each
    local one=$((cores / 2 > 0 ? cores / 2 : 1))
    "$bin" --store "$1" run all --set method=tsl --set eval.teacher=false --set seed=1 --set runtime.threads=$one &
    "$bin" --store "$1" run all --set method=tsl --set eval.teacher=false --set seed=2 --set runtime.threads=$one &
    wait -n && wait -n
}

echo "machine: $cores cores; binary: $bin"
serial=$(seconds "$bin" --store serial sweep run sweep.toml)
echo "sweep run (serial):           ${serial}s"
jobs=$(seconds "$bin" --store jobs sweep run sweep.toml --jobs 2)
echo "sweep run --jobs 2:           ${jobs}s"
runs=$(seconds two_runs runs)
echo "two runs, one after the other: ${runs}s"
concurrent=$(seconds two_at_once concurrent)
echo "two runs at once, one store:  ${concurrent}s"
printf 'speed-up of --jobs 2: %.2fx; of two concurrent runs: %.2fx\n' \
    "$(echo "$serial / $jobs" | bc -l)" "$(echo "$runs / $concurrent" | bc -l)"
# The same artifacts: each store holds two teachers and two students, none built twice.
for store in serial jobs runs concurrent; do
    [ "$(ls "$store/teacher_ner" | wc -l)" = 2 ] && [ "$(ls "$store/distill" | wc -l)" = 2 ] ||
        { echo "$store: expected 2 teachers and 2 students" >&2; exit 1; }
done
