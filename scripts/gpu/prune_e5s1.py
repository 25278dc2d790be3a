"""Writes a copy of an E5S1 encoder file (docs: ../shared/docs/encoder.md) whose word-embedding
rows are zeroed except those of the subword ids that the given CoNLL files' words encode to,
so that the file compresses to what a GPU machine's 64 MiB transfer takes. A run on those
files looks up only kept rows, so it computes exactly what the whole file would.

The ids are found the way mtmt-pipe encodes (src/subword.rs): each word on its own with the
tokenizer, no special tokens; the four special ids are always kept.
Usage: prune_e5s1.py SRC.bin TOKENIZER.json OUT.bin CONLL_FILE...
Prints the number of kept rows."""
import struct
import sys

from tokenizers import Tokenizer

src, tokenizer_path, out, *files = sys.argv[1:]
tokenizer = Tokenizer.from_file(tokenizer_path)
words = set()
for path in files:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if fields and not line.startswith("-DOCSTART-"):
                words.add(fields[0])
keep = {0, 1, 2, 3}
for encoding in tokenizer.encode_batch(sorted(words), add_special_tokens=False):
    keep.update(encoding.ids)

data = bytearray(open(src, "rb").read())
assert data[:4] == b"E5S1", f"{src}: not an E5S1 file"
pos = 8
hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
pos += 7 * 4 + 4
block = struct.unpack_from("<i", data, pos)[0]
pos += 4
n_pieces = struct.unpack_from("<i", data, pos)[0]
pos += 4 * 4  # n_pieces, bos, eos, pad
pos += 4  # unk
blob_len = struct.unpack_from("<Q", data, pos)[0]
pos += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
pos += 4  # normalisation map: count
map_len = struct.unpack_from("<I", data, pos)[0]
pos += 4 + map_len
n_tensors = struct.unpack_from("<i", data, pos)[0]
pos += 4
tensors = {}
for _ in range(n_tensors):
    name_len = struct.unpack_from("<H", data, pos)[0]
    name = data[pos + 2:pos + 2 + name_len].decode()
    pos += 2 + name_len
    dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", data, pos)
    pos += 1 + 4 + 8 + 8
    tensors[name] = (dtype, count, offset, nbytes)

dtype, count, offset, nbytes = tensors["emb.word"]
assert dtype == 1 and count == vocab * hidden, "emb.word is not a Q4_0 [vocab, hidden] table"
row = hidden // block * (2 + block // 2)  # blocks of one f16 scale + 16 bytes
assert row * vocab == nbytes
for i in range(vocab):
    if i not in keep:
        data[offset + i * row:offset + (i + 1) * row] = bytes(row)  # scale 0: the row is 0
open(out, "wb").write(data)
print(f"{len(keep)} of {vocab} word-embedding rows kept ({len(words)} distinct words)")
