#!/usr/bin/env python3
"""The tool crate's import graph between its top-level modules (a method room counts as one
module of its own), read from `crate::` paths outside test code, and its import circles:
every strongly connected set of more than one module, largest first (issue 44: the layers
should have none). The NER core (`ner/`, crate `mtmt-ner`) is a crate below it, which the
compiler keeps from importing the tool; its modules appear here as the targets of edges.

    python3 scripts/module-cycles.py [--edges] [--check]

`--check` exits 1 where a circle is found (`cargo test` runs it: the lib's
`method::tests`).
"""
import collections
import glob
import re
import sys

# The method registry's own functions and types: a path through them names `method`.
REGISTRY = {"Method", "MethodSpec", "range_errors", "resolve_paths", "added_later", "stage_figures",
            "teacher_figures", "StudentLoss", "StudentRun"}


def module_of(path):
    if path.startswith("stages/"):
        return "stages"
    parts = path[len("src/"):].split("/")
    if parts[0] == "method" and len(parts) > 1:
        name = parts[1].removesuffix(".rs")
        return "method" if name == "mod" else f"method::{name}"
    return parts[0].removesuffix(".rs")


def edges():
    out = collections.defaultdict(set)
    for path in sorted(glob.glob("src/**/*.rs", recursive=True) + glob.glob("stages/**/*.rs", recursive=True)):
        if path.endswith("tests.rs") or path in ("src/main.rs", "src/lib.rs"):
            continue
        source = module_of(path)
        code = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
        for m in re.finditer(r"crate::([a-z_0-9]+)(?:::([A-Za-z_0-9]+))?", code):
            target = m.group(1)
            if target == "method" and m.group(2) and m.group(2) not in REGISTRY:
                target = f"method::{m.group(2)}"
            if target != source:
                out[source].add(target)
    return out


def circles(graph):
    """Tarjan's strongly connected components with more than one node."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return sorted(found, key=len, reverse=True)


if __name__ == "__main__":
    graph = edges()
    if "--edges" in sys.argv:
        for source in sorted(graph):
            print(f"{source} -> {', '.join(sorted(graph[source]))}")
    found = circles(graph)
    print(f"{len(graph)} modules import others; {len(found)} import circle(s)")
    for component in found:
        print(f"  {len(component)} modules: {' '.join(component)}")
    if "--check" in sys.argv and found:
        sys.exit(1)
