"""Share of a CoNLL file's words whose first subword would be the bare SentencePiece
word-boundary marker `▁` under the encoder's tokenizer.json: words with no `▁`-prefixed
vocabulary piece covering their first characters. An approximation of the Unigram
tokenizer (it only asks whether such a piece exists), label-free, for the notes in
docs/discussion.md.

    python3 scripts/bare_marker_share.py models/multilingual-e5-small/tokenizer.json \
        ../shared/data/wikiann/{zh,ar,hi}/test.txt
"""
import json
import sys


def main(tokenizer_json, *files):
    vocab = {piece for piece, _ in json.load(open(tokenizer_json, encoding="utf-8"))["model"]["vocab"]}
    for path in files:
        words = [line.split(" ")[0] for line in open(path, encoding="utf-8") if line.strip()]
        bare = sum(1 for w in words if not any("▁" + w[:k] in vocab for k in range(1, len(w) + 1)))
        print(f"{path}: {bare / len(words):.1%} of {len(words)} words start with a bare marker")


if __name__ == "__main__":
    main(*sys.argv[1:])
