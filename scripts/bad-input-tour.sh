#!/usr/bin/env bash
# The bad-input cases of issue 43 (point 8), as a user meets them, on a copy of the demo's
# files: prints each command, what it says and its exit status. Trains the demo's TSL
# student once (about 2 minutes) for `predict` and `export`. The full-disk case mounts a
# 2 MiB tmpfs and is skipped where that is not allowed (it needs root).
#   bash scripts/bad-input-tour.sh
REPO=$(cd "$(dirname "$0")/.." && pwd)
B=$REPO/target/debug/mtmt-pipe
W=$(mktemp -d); cd "$W"
cp -r "$REPO"/examples/demo/* .; cp "$REPO/pipeline.toml" .
sed -i -e "s#examples/demo/##g" -e "s#\"models/#\"$REPO/models/#g" pipeline.toml
case_() { echo; echo "### $1"; shift; echo "\$ $*"; "$@" 2>&1 | sed "s#$W#WS#g" | tail -n ${TAIL:-8}; echo "rc=${PIPESTATUS[0]}"; }
case_ "max_len above the encoder's positions" $B --store st run all --set tokenize.max_len=1024
echo "(training the demo's TSL student for predict/export)"; $B --store st --set method=tsl run all > /dev/null 2>&1 || echo "demo run failed"
printf 'Ana vive en Lisboa.\nEl Gobierno habló.\n\nOtra línea más aquí.\nY una cuarta.\n' > in.txt
case_ "predict --input-format conll on a plain file" $B --store st --set method=tsl predict --input-format conll in.txt
cat > up.toml <<'T'
name = "../outside"
seeds = [1]
compare = [["tsl", "mtmt"]]
[[target]]
name = "es"
config = "pipeline.toml"
[[method]]
name = "tsl"
set = []
T
case_ "sweep name with ../" $B --store st sweep run up.toml --dry-run
sed -i 's#"../outside"#"/tmp/abs"#' up.toml
case_ "sweep name absolute" $B --store st sweep run up.toml --dry-run
sed -i 's#"/tmp/abs"#"ok"#' up.toml
case_ "compare with a method no cell has" $B --store st sweep run up.toml --dry-run
case_ "lr=nan" $B --store st dag --set distill.lr=nan
case_ "msd.first_layer=40 (method tsl)" $B --store st dag --set msd.first_layer=40
touch afile
case_ "store path that is a file" $B --store afile run stage ingest_source
case_ "output path under a file" $B --store st --set method=tsl export distill afile/out
case_ "inspect a non-Parquet path" $B --store st inspect pipeline.toml
mkdir -p outside/keep; echo precious > outside/keep/file; rm -rf st/teacher_sim; ln -s $W/outside st/teacher_sim
case_ "gc with a stage folder that is a symlink" $B --store st gc
echo "outside/keep/file still there: $(cat outside/keep/file)"; rm st/teacher_sim
sed -i 's#compare = .*##' up.toml
case_ "sweep submit --dry-run" $B --store st sweep submit up.toml --dry-run
# A 2 MiB tmpfs as the store: the encoder checkpoint (about 470 MB) cannot fit.
mkdir -p full && { mount -t tmpfs -o size=2M tmpfs full 2>/dev/null || echo "(full disk: skipped, cannot mount a tmpfs here)"; } && mountpoint -q full && TAIL=3 case_ "full disk (store on a 2 MiB tmpfs)" $B --store full/st --set method=tsl run all
ls full/st 2>/dev/null; umount full 2>/dev/null
cd /; rm -rf "$W"
