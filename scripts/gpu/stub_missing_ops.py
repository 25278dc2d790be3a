"""Turns each function of tch's generated C++ shim (torch-sys libtch/torch_api_generated.cpp)
whose op the target libtorch lacks into one that throws, so the shim compiles against an older
libtorch than the tch release was generated for; the Rust side then gets an error only if it
calls one of them. The failing ops are read from the compiler's errors.
Usage: stub_missing_ops.py torch_api_generated.cpp ERRORS.log   (edits the .cpp in place)"""
import re
import sys

path, log = sys.argv[1:]
lines = open(path).read().split("\n")
failing = sorted({int(n) for n in re.findall(r"torch_api_generated\.cpp:(\d+):\d+: error", open(log).read())})
for number in failing:
    i = number - 1
    if "outputs__ = torch::" not in lines[i]:
        sys.exit(f"{path}:{number}: an error outside an op call, not stubbed: {lines[i].strip()}")
    lines[i] = '    throw std::invalid_argument("this op is not in the libtorch this shim was compiled against");'
    # The function's remaining lines use the op's outputs: drop them up to the PROTECT's end.
    i += 1
    while lines[i].strip() != ")":
        lines[i] = ""
        i += 1
open(path, "w").write("\n".join(lines))
print(f"stubbed {len(failing)} op(s) missing from this libtorch")
