"""Loads an `mtmt-pipe export` folder with transformers' Auto classes (no extra argument)
and checks it against the tool's own `predict --probs` JSON Lines: the same words, label
distributions at each word's first subword within 1e-4, the same top labels.
Usage: export_parity.py FOLDER OURS.jsonl ARCHITECTURE"""
import json, sys, torch
from transformers import AutoModelForTokenClassification, AutoTokenizer
folder, ours, architecture = sys.argv[1], sys.argv[2], sys.argv[3]
model = AutoModelForTokenClassification.from_pretrained(folder).eval()
tok = AutoTokenizer.from_pretrained(folder)
assert model.config.id2label[1] == "B-PER", model.config.id2label
assert model.config.architectures == [architecture], model.config.architectures
worst, same, words = 0.0, 0, 0
for line in open(ours):
    r = json.loads(line)
    enc = tok(r["tokens"], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        probs = model(**enc).logits.softmax(-1)[0]
    ids = enc.word_ids()
    first = [i for i, w in enumerate(ids) if w is not None and (i == 0 or ids[i - 1] != w)]
    theirs = probs[first]
    mine = torch.tensor([p for p in r["probs"] if p])
    assert theirs.shape == mine.shape, (theirs.shape, mine.shape, r["tokens"])
    worst = max(worst, (theirs - mine).abs().max().item())
    same += (theirs.argmax(-1) == mine.argmax(-1)).sum().item()
    words += len(first)
print(worst, same, words)
assert worst < 1e-4 and same == words, (worst, same, words)
