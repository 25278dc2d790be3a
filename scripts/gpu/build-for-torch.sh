#!/usr/bin/env bash
# Builds target/gpu/mtmt-pipe-torch-VERSION: the dev binary relinked against libtorch VERSION
# instead of the project's 2.13, for a machine whose only libtorch is another version (the GPU
# machines lent here have PyTorch 2.11, and no Rust toolchain). libtorch's C++ ABI changes between
# versions: the 2.13 binary loads on 2.11 but reads tensors wrongly (safetensors loading fails with
# "incoherent element sizes in bytes"). So tch's C++ shim (torch-sys's libtch) is compiled against
# VERSION's headers (ops VERSION lacks become functions that throw: stub_missing_ops.py), put into a
# copy of torch-sys's rlib, and the binary is relinked with rustc's own link line against VERSION's
# libraries. The Rust code is unchanged. Run after `cargo build`: bash scripts/gpu/build-for-torch.sh 2.11.0
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:?usage: build-for-torch.sh TORCH_VERSION}
tch_version=$(grep -A1 '^name = "torch-sys"' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
# One folder per libtorch and tch version: its objects are reused by the next build.
w=$PWD/target/gpu/torch-$version-tch-$tch_version
mkdir -p "$w"
if [ ! -d "$w/torch/lib" ]; then
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: "torch==$version" -d "$w"
    unzip -q -o "$w"/torch-"$version"-*.whl 'torch/lib/*' 'torch/include/*' -d "$w"
    rm "$w"/torch-"$version"-*.whl
fi
libtch=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/torch-sys-"$tch_version"/libtch | head -1)
# torch-sys's own flags (its build.rs), with VERSION's headers.
flags=(-O2 -ffunction-sections -fdata-sections -fPIC -m64 -std=c++17 -D_GLIBCXX_USE_CXX11_ABI=1 -DGLOG_USE_GLOG_EXPORT -w
       -I"$w" -I"$w/torch/include" -I"$w/torch/include/torch/csrc/api/include")
if [ ! -s "$w/torch_api_generated.o" ]; then
    cp "$libtch"/* "$w"/
    g++ "${flags[@]}" -c "$w/torch_api.cpp" -o "$w/torch_api.o"
    if ! g++ "${flags[@]}" -fmax-errors=1000 -c "$w/torch_api_generated.cpp" -o "$w/torch_api_generated.o" 2> "$w/errors.log"; then
        python3 scripts/gpu/stub_missing_ops.py "$w/torch_api_generated.cpp" "$w/errors.log"
        g++ "${flags[@]}" -c "$w/torch_api_generated.cpp" -o "$w/torch_api_generated.o"
    fi
fi
# rustc's link line (save-temps keeps the symbols object it names; the touch makes rustc run,
# and print it, even where the binary is up to date).
touch src/main.rs
cargo rustc -q --bin mtmt-pipe -- --print link-args -C save-temps > "$w/link-args.txt"
[ -s "$w/link-args.txt" ] || { echo "rustc printed no link line" >&2; exit 1; }
rlib=$(grep -o '[^"]*/libtorch_sys-[0-9a-f]*\.rlib' "$w/link-args.txt" | head -1)
cp "$rlib" "$w/"
for member in $(ar t "$rlib" | grep -E 'torch_api(_generated)?\.o$'); do
    cp "$w/$(echo "$member" | sed -E 's/^[0-9a-f]+-//')" "$w/$member"
    (cd "$w" && ar r "$(basename "$rlib")" "$member")
done
out=$PWD/target/gpu/mtmt-pipe-torch-$version
python3 - "$w" "$rlib" "$out" <<'PY'
import re, sys
w, rlib, out = sys.argv[1:]
line = open(f"{w}/link-args.txt").read().strip().splitlines()[-1]
line = line.replace(f'"{rlib}"', f'"{w}/{rlib.rsplit("/", 1)[1]}"')
line, n = re.subn(r'"-L" "[^"]*\.libtorch/lib"', f'"-L" "{w}/torch/lib"', line)
assert n == 1, "no libtorch search path in rustc's link line"
# VERSION's libraries name CUDA libraries this machine need not have: leave them to the loader.
line = re.sub(r'"-o" "[^"]*"', f'"-o" "{out}" "-Wl,--allow-shlib-undefined"', line)
open(f"{w}/link.sh", "w").write(line + "\n")
PY
bash "$w/link.sh"
rm -rf "$(grep -o '"[^"]*/rustc[A-Za-z0-9]*/symbols.o"' "$w/link-args.txt" | tr -d '"' | xargs dirname)"
echo "built $out against libtorch $version"
