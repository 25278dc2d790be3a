"""PyTorch-eager counterpart of `mtmt-pipe bench train`: the same encoder weights,
freezing policy, optimizer (AdamW, no decay on biases/LayerNorm, clipping 1.0) and the
very same batches (read from the file the Rust bench writes), timed the same way.
Prints one JSON line: {"train_tokens_per_s": ..., "infer_tokens_per_s": ...}."""
import argparse
import json
import time

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel

ap = argparse.ArgumentParser()
ap.add_argument("--encoder-config", required=True)
ap.add_argument("--encoder-weights", required=True)
ap.add_argument("--batches", required=True)
ap.add_argument("--labels", type=int, required=True)
ap.add_argument("--freeze-layers", type=int, default=3)
ap.add_argument("--lr", type=float, default=5e-5)
ap.add_argument("--warmup-steps", type=int, default=2)
ap.add_argument("--threads", type=int, default=0)
args = ap.parse_args()
if args.threads > 0:
    torch.set_num_threads(args.threads)
torch.manual_seed(0)


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        config = BertConfig.from_json_file(args.encoder_config)
        self.bert = BertModel(config, add_pooling_layer=False)
        state = load_file(args.encoder_weights)
        self.bert.load_state_dict({k.removeprefix("bert."): v for k, v in state.items()}, strict=False)
        self.dropout = torch.nn.Dropout(0.1)
        self.classifier = torch.nn.Linear(config.hidden_size, args.labels)

    def forward(self, ids, mask, rows, cols):
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.classifier(self.dropout(hidden[rows, cols]))


model = Tagger()
for name, p in model.named_parameters():
    frozen = name.startswith("bert.embeddings.") or any(
        name.startswith(f"bert.encoder.layer.{i}.") for i in range(args.freeze_layers))
    p.requires_grad_(not frozen)
params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
no_decay = lambda n: n.endswith(".bias") or "LayerNorm" in n
opt = torch.optim.AdamW([
    {"params": [p for n, p in params if not no_decay(n)], "weight_decay": 0.01},
    {"params": [p for n, p in params if no_decay(n)], "weight_decay": 0.0},
], lr=args.lr, eps=1e-8)

data = load_file(args.batches)
steps = len([k for k in data if k.endswith(".input_ids")])
batches = [tuple(data[f"b{i}.{f}"] for f in ("input_ids", "attention_mask", "word_rows", "word_cols", "labels"))
           for i in range(steps)]


def tokens(b):
    return int(b[1].sum())


model.train()
timed_tokens, start = 0, None
for i, (ids, mask, rows, cols, labels) in enumerate(batches):
    if i == args.warmup_steps:
        start = time.perf_counter()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(ids, mask, rows, cols), labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
    opt.step()
    if i >= args.warmup_steps:
        timed_tokens += tokens(batches[i])
train_tps = timed_tokens / (time.perf_counter() - start)

model.eval()
with torch.no_grad():
    for ids, mask, rows, cols, _ in batches[:args.warmup_steps]:
        model(ids, mask, rows, cols)
    start = time.perf_counter()
    for ids, mask, rows, cols, _ in batches:
        model(ids, mask, rows, cols).softmax(-1)
    infer_tps = sum(tokens(b) for b in batches) / (time.perf_counter() - start)
print(json.dumps({"train_tokens_per_s": train_tps, "infer_tokens_per_s": infer_tps}))
