# Sourced by check.sh and sweep.sh on the GPU machine, in the repository root: unpacks .gpu/
# (scripts/gpu/pack.sh), finds that machine's libtorch through python3 and preloads its CUDA
# library (the binary links only the CPU ones), converts the encoder. Defines $bin, $work,
# and `step` and `timed` (each command gets what is left of BUDGET seconds, default 480).
t0=$(date +%s)
deadline=$((t0 + ${BUDGET:-480}))
left() { echo $((deadline - $(date +%s))); }
step() { echo; echo "=== $* (at $(($(date +%s) - t0)) s, $(left) s left)"; }
timed() { local l s=$SECONDS; l=$(left); if [ "$l" -lt 20 ]; then echo "skipped: out of time"; return 1; fi
          timeout -k 10 "$l" "$@"; echo "(exit $?, $((SECONDS - s)) s wall)"; }

work=/tmp/mtmt-gpu
mkdir -p $work/data models/multilingual-e5-small
xz -dc .gpu/mtmt-pipe.xz > $work/mtmt-pipe && chmod +x $work/mtmt-pipe
xz -dc .gpu/e5-small-q4.bin.xz > $work/e5-small-q4.bin
xz -dc .gpu/tokenizer.json.xz > models/multilingual-e5-small/tokenizer.json
tar -C $work/data -xJf .gpu/data.tar.xz
export MTMT_DATA=$work/data
bin=$work/mtmt-pipe
torch=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
export LD_LIBRARY_PATH=$torch/lib
ldd $bin | grep -E "not found|torch|c10"
# libtorch registers CUDA when libtorch_cuda is loaded: preload it.
export LD_PRELOAD=$torch/lib/libtorch_cuda.so
$bin doctor | tee $work/doctor.txt
grep -q "cuda: true" $work/doctor.txt || { echo "libtorch sees no CUDA device: nothing to check"; exit 1; }
# bench finds its reference script where the binary was built.
[ -e /work/main ] || { mkdir -p /work && ln -s "$PWD" /work/main; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda)'


$bin convert-encoder $work/e5-small-q4.bin models/multilingual-e5-small/ || exit 1

