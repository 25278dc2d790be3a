#!/usr/bin/env bash
# Packs into .gpu/ (ignored) what scripts/gpu/check.sh and sweep.sh need on a GPU machine that
# has PyTorch TORCH (default 2.11.0, the machines lent here) but no Rust toolchain, no network
# and a 64 MiB transfer: the binary relinked against that libtorch (build-for-torch.sh), stripped;
# the default encoder with the word-embedding rows that no carried word uses zeroed
# (prune_e5s1.py: a run on these files computes what the whole encoder would), its tokenizer,
# and the CoNLL files. Run here after `cargo build`: MTMT_DATA=$PWD/../shared/data bash scripts/gpu/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${MTMT_DATA:?set MTMT_DATA to the benchmark data folder}
torch=${TORCH:-2.11.0}
bash scripts/gpu/build-for-torch.sh "$torch"
rm -rf .gpu && mkdir .gpu
strip -o .gpu/mtmt-pipe target/gpu/mtmt-pipe-torch-"$torch"
.venv/bin/python scripts/gpu/prune_e5s1.py models/multilingual-e5-small/e5-small-q4.bin \
    models/multilingual-e5-small/tokenizer.json .gpu/e5-small-q4.bin \
    examples/demo/*/*.txt "$data"/conll2002/*/*.txt "$data"/conll2003/*/*.txt
cp models/multilingual-e5-small/tokenizer.json .gpu/
xz -T2 -6 .gpu/mtmt-pipe .gpu/e5-small-q4.bin .gpu/tokenizer.json
tar -C "$data" -cJf .gpu/data.tar.xz conll2002 conll2003
du -ch .gpu/*
