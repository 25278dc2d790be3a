"""Prints, for each store given, every artifact's stage, wall time and device (manifest.json),
then each evaluation's overall F1s (metrics.json). Usage: summary.py STORE..."""
import json
import sys
from pathlib import Path


def f1s(node, path=()):
    if isinstance(node, dict):
        if "overall" in node and "f1" in node["overall"]:
            yield "/".join(path), node["overall"]["f1"]
        for k, v in node.items():
            yield from f1s(v, path + (k,))


for store in map(Path, sys.argv[1:]):
    print(f"# {store}")
    for manifest in sorted(store.glob("*/*/manifest.json"), key=lambda p: p.stat().st_mtime):
        m = json.loads(manifest.read_text())
        device = (m.get("computed_on") or {}).get("device", "?")
        print(f"  {m['stage']:<16} {m['key'][:8]} {m['wall_time_s']:8.1f} s  {device}")
    for metrics in sorted(store.glob("evaluate/*/metrics.json")):
        for name, f1 in f1s(json.loads(metrics.read_text())):
            print(f"  F1 {metrics.parent.name[:8]} {name:<24} {f1:6.2f}")
