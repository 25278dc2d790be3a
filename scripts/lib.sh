# What the measurement scripts share; sourced from the repository root, with BIN set to
# the mtmt-pipe binary.

# store_of ARGS...: the store those pipeline arguments name (`--store DIR`), else
# $MTMT_STORE, else `artifacts`.
store_of() {
    local store
    store=$(printf '%s\n' "$@" | awk 'prev == "--store" { print; exit } { prev = $0 }')
    echo "${store:-${MTMT_STORE:-artifacts}}"
}

# artifact_key STAGE ARGS...: STAGE's artifact key under those pipeline arguments.
artifact_key() {
    local stage=$1
    shift
    "$BIN" "$@" status --json | .venv/bin/python -c \
        'import json, sys; print(next(s["key"] for s in json.load(sys.stdin) if s["stage"] == sys.argv[1]))' "$stage"
}
