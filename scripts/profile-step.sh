#!/usr/bin/env bash
# Where our training step goes, by kind of work (issue 45, point 2): `perf record` samples
# `bench train`'s timed steps alone (the bench enables the recording for them through
# perf's control fifos), and the samples' functions are sorted into kinds: the matrix
# multiplies (MKL's f32 GEMM; oneDNN's JIT-compiled kernels, which run the bf16 products
# and GELU), attention, dropout masks, casts, elementwise work, LayerNorm, AdamW, clipping,
# the OpenMP threads' waiting, the kernel (page faults), allocation. Shares are of the
# samples of all threads; the milliseconds put them on the step's wall time. The
# torch.profiler shares that `bench train` prints are the PyTorch references'; these are
# ours, on any machine with perf (AMX or not), without a profiler inside libtorch.
#
#   MTMT_DATA=../shared/data bash scripts/profile-step.sh [--set KEY=VALUE ...]
#
# The arguments go to `bench train` (e.g. the three speed options). Environment: CONFIG
# (default pipelines/conll-es.toml), STEPS (default 20), FREQ (samples/s, default 999),
# MTMT_PIPE (default target/debug/mtmt-pipe), KEEP (keep the perf data, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MTMT_PIPE:-target/debug/mtmt-pipe}
CONFIG=${CONFIG:-pipelines/conll-es.toml}
command -v perf > /dev/null || { echo "profile-step.sh: needs perf (Debian: linux-perf)" >&2; exit 2; }
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] && echo "perf data: $work/perf.data" || rm -rf "$work"' EXIT
mkfifo "$work/ctl" "$work/ack"

perf record -q -D -1 --control "fifo:$work/ctl,$work/ack" -F "${FREQ:-999}" -o "$work/perf.data" -- \
    "$BIN" bench train --config "$CONFIG" --steps "${STEPS:-20}" --no-compare \
    --perf-control "$work/ctl" "$work/ack" "$@" | tee "$work/bench.txt"
# Sample counts, not percentages: JIT code spreads over thousands of addresses, each of
# which a percentage would round to 0.00.
perf report -i "$work/perf.data" --no-children -F sample,dso,sym --stdio -t $'\t' 2> /dev/null \
    | grep -v '^#' > "$work/report.tsv"

.venv/bin/python - "$work/report.tsv" "$work/bench.txt" <<'PY'
import re, sys
# First match wins: (kind, pattern over "dso<TAB>symbol").
KINDS = [
    ("matrix multiplies, f32 (MKL; with bf16 products: attention's)", r"mkl_blas|sgemm|gemm_kernel"),
    ("oneDNN JIT kernels: bf16 matrix multiplies, GELU", r"^\[JIT\]"),
    ("attention (fused kernel, softmax)", r"flash_attention|softmax_|_softmax"),
    ("dropout masks (libtorch's bernoulli; parallel_dropout's)", r"bernoulli|CPUGeneratorImpl|mt19937|random64|dropout_mask"),
    ("casts f32 <-> bf16", r"reduced_float_copy|BFloat16"),
    ("copies and layout", r"copy_kernel|direct_copy|memcpy|memmove|cat_serial|transpose|clone"),
    ("LayerNorm", r"[Ll]ayer_?[Nn]orm"),
    ("AdamW (mtmt-kernels)", r"adamw"),
    ("gradient norm (clipping)", r"norm_kernel|Sqrt|pow_tensor|vector_norm"),
    ("loss (log-softmax, NLL)", r"log_softmax|nll_loss"),
    ("elementwise (add, mul, div, fill, where)", r"add_kernel|mul_kernel|div_|fill_kernel|where_kernel|masked|threshold|binary_op|unary_op"),
    ("OpenMP threads waiting (libgomp)", r"^libgomp"),
    ("rayon threads (scheduling, waiting)", r"rayon_core|crossbeam"),
    ("kernel (page faults, scheduling)", r"^\[kernel"),
    ("allocation (malloc, free)", r"^libc\.so.*(malloc|free|_int_|cfree)"),
]
samples = {}
for line in open(sys.argv[1]):
    fields = line.rstrip("\n").split("\t")
    if len(fields) < 3 or not fields[0].strip().isdigit():
        continue
    count, what = int(fields[0]), "\t".join(f.strip() for f in fields[1:])
    kind = next((k for k, pattern in KINDS if re.search(pattern, what)), "other")
    samples[kind] = samples.get(kind, 0) + count
total = sum(samples.values())
shares = {kind: 100.0 * n / total for kind, n in samples.items()}
step = re.search(r"training step, ([\d.]+) ms", open(sys.argv[2]).read())
step_ms = float(step.group(1)) if step else None
print(f"mtmt-pipe training step by kind of work (perf, self time of the timed steps, {total} samples):")
for kind, share in sorted(shares.items(), key=lambda kv: -kv[1]):
    ms = f"{share / 100 * step_ms:7.1f} ms" if step_ms else ""
    print(f"  {kind:<68} {share:5.1f}% {ms}")
products = sum(v for k, v in shares.items() if k.startswith(("matrix multiplies", "oneDNN")))
print(f"  outside the matrix multiplies (MKL and oneDNN's kernels): {100 - products:.1f}%")
PY
