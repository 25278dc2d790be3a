#!/usr/bin/env python3
"""The import graph between the top-level modules of each crate of the workspace (a method
room counts as a module of its own), read from `crate::` paths outside test code, and its
import circles: every strongly connected set of more than one module, largest first
(issue 44: the layers should have none). Between crates the compiler forbids a circle
(the NER core `ner/`, the stage layer `stage/`, the methods `methods/`, the shared stages
`stages/`, the tool `src/`, each on the last), so only edges within a crate are read.

    python3 scripts/module-cycles.py [--edges] [--check]

`--check` exits 1 where a circle is found (`cargo test` runs it: the tool's `layout`
tests).
"""
import collections
import glob
import re
import sys

# Each crate's source folder and the name its modules go by here.
CRATES = {"src/": "", "ner/src/": "ner::", "stage/src/": "stage::", "methods/src/": "method::", "stages/": "stages::"}
ROOTS = {"lib.rs", "mod.rs", "main.rs"}


def crate_of(path):
    return next(folder for folder in sorted(CRATES, key=len, reverse=True) if path.startswith(folder))


def module_of(path):
    """The crate-qualified top-level module a file belongs to (`None`: the crate root)."""
    folder = crate_of(path)
    parts = path[len(folder):].split("/")
    if folder == "stages/":
        return "stages"  # one module: the stages and their registry
    if len(parts) == 1 and parts[0] in ROOTS:
        return "method" if folder == "methods/src/" else None
    return CRATES[folder] + parts[0].removesuffix(".rs")


def edges():
    out = collections.defaultdict(set)
    paths = sorted(p for folder in CRATES for p in glob.glob(f"{folder}**/*.rs", recursive=True))
    for path in paths:
        source = module_of(path)
        if path.endswith("tests.rs") or source is None:
            continue
        folder = crate_of(path)
        code = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
        for m in re.finditer(r"\bcrate::([A-Za-z_0-9]+)", code):
            name = m.group(1)
            if folder == "stages/":
                continue  # the stages import no module of their own crate but its root
            # An item of a crate's root (a type, the methods' registry) names the root.
            target = ("method" if folder == "methods/src/" else None) if name[0].isupper() else CRATES[folder] + name
            if target is not None and target != source:
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
