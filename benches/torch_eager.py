"""PyTorch counterparts of `mtmt-pipe bench train`: the same encoder weights, freezing
policy, optimizer (AdamW, no decay on biases/LayerNorm, clipping 1.0) and the very same
batches (read from the file the Rust bench writes), timed the same way.

--mode eager: HF transformers' BertModel as it is (dropout 0.1 inside, as the recipe).
--bf16: the training steps under torch.autocast(device, torch.bfloat16) (mixed precision).
--device cuda: model and batches on the GPU, clocks read after the device's queue drains.
--mode lean: the lean loop the training-speed issue compares with, written against the
    same weights without HF: a functional BERT forward with scaled_dot_product_attention,
    the frozen bottom (embeddings + layers) run without autograd, dropout only before the
    head, fused AdamW where this torch has it.
Prints one JSON line: {"train_tokens_per_s": ..., "infer_tokens_per_s": ..., "infer_bf16_tokens_per_s": ...,
"profile": {...}} (inference in f32, then under bf16 autocast), the
profile being each kind of op's share of the CPU time (on CUDA: of the GPU time) of a few
training steps run after the timed ones under torch.profiler (self time, so nested ops are not
counted twice)."""
import argparse
import json
import time

import torch
import torch.nn.functional as F
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
ap.add_argument("--mode", choices=["eager", "lean"], default="eager")
ap.add_argument("--bf16", action="store_true")
ap.add_argument("--device", default="cpu", help="cpu, or cuda: the device mtmt-pipe measured on")
args = ap.parse_args()
if args.threads > 0:
    torch.set_num_threads(args.threads)
torch.manual_seed(0)
device = torch.device(args.device)


def sync():
    """Waits for the device's queued work: a host clock read after it times the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize()


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


class Lean(torch.nn.Module):
    """BERT as a few functional lines over the checkpoint's tensors (names as in HF)."""

    def __init__(self):
        super().__init__()
        config = BertConfig.from_json_file(args.encoder_config)
        self.heads, self.eps = config.num_attention_heads, config.layer_norm_eps
        self.layers = config.num_hidden_layers
        state = {k.removeprefix("bert."): v for k, v in load_file(args.encoder_weights).items()}
        self.w = torch.nn.ParameterDict({k.replace(".", "/"): torch.nn.Parameter(v) for k, v in state.items()
                                         if k.startswith(("embeddings.", "encoder."))})
        self.classifier = torch.nn.Linear(config.hidden_size, args.labels)

    def p(self, name):
        return self.w[name.replace(".", "/")]

    def layer(self, i, x, mask):
        p = lambda n: self.p(f"encoder.layer.{i}.{n}")
        b, l, d = x.shape
        split = lambda t: t.view(b, l, self.heads, d // self.heads).transpose(1, 2)
        lin = lambda t, n: F.linear(t, p(f"{n}.weight"), p(f"{n}.bias"))
        q, k, v = (split(lin(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, l, d)
        x = F.layer_norm(lin(a, "attention.output.dense") + x, (d,), p("attention.output.LayerNorm.weight"),
                         p("attention.output.LayerNorm.bias"), self.eps)
        h = F.gelu(lin(x, "intermediate.dense"))
        return F.layer_norm(lin(h, "output.dense") + x, (d,), p("output.LayerNorm.weight"),
                            p("output.LayerNorm.bias"), self.eps)

    def forward(self, ids, mask, rows, cols):
        mask = mask.bool()[:, None, None, :]
        with torch.no_grad():  # the frozen bottom needs no graph
            x = (F.embedding(ids, self.p("embeddings.word_embeddings.weight"))
                 + self.p("embeddings.position_embeddings.weight")[: ids.shape[1]]
                 + self.p("embeddings.token_type_embeddings.weight")[0])
            x = F.layer_norm(x, (x.shape[-1],), self.p("embeddings.LayerNorm.weight"),
                             self.p("embeddings.LayerNorm.bias"), self.eps)
            for i in range(args.freeze_layers):
                x = self.layer(i, x, mask)
        for i in range(args.freeze_layers, self.layers):
            x = self.layer(i, x, mask)
        return self.classifier(F.dropout(x[rows, cols], 0.1, self.training))


model = (Tagger() if args.mode == "eager" else Lean()).to(device)
for name, p in model.named_parameters():
    name = name.replace("/", ".").replace("w.", "bert.", 1) if name.startswith("w.") else name
    frozen = name.startswith("bert.embeddings.") or any(
        name.startswith(f"bert.encoder.layer.{i}.") for i in range(args.freeze_layers))
    p.requires_grad_(not frozen)
params = [(n.replace("/", "."), p) for n, p in model.named_parameters() if p.requires_grad]
no_decay = lambda n: n.endswith(".bias") or "LayerNorm" in n
fused = {"fused": True} if args.mode == "lean" else {}
opt = torch.optim.AdamW([
    {"params": [p for n, p in params if not no_decay(n)], "weight_decay": 0.01},
    {"params": [p for n, p in params if no_decay(n)], "weight_decay": 0.0},
], lr=args.lr, eps=1e-8, **fused)

data = load_file(args.batches)
steps = len([k for k in data if k.endswith(".input_ids")])
batches = [tuple(data[f"b{i}.{f}"].to(device) for f in ("input_ids", "attention_mask", "word_rows", "word_cols",
                                                        "labels")) for i in range(steps)]


def tokens(b):
    return int(b[1].sum())


def train_step(ids, mask, rows, cols, labels):
    opt.zero_grad()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
        logits = model(ids, mask, rows, cols)
    torch.nn.functional.cross_entropy(logits.float(), labels).backward()
    torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
    opt.step()


model.train()
timed_tokens, start = 0, None
for i, (ids, mask, rows, cols, labels) in enumerate(batches):
    if i == args.warmup_steps:
        sync()
        start = time.perf_counter()
    train_step(ids, mask, rows, cols, labels)
    if i >= args.warmup_steps:
        timed_tokens += tokens(batches[i])
sync()
train_tps = timed_tokens / (time.perf_counter() - start)

# Kinds of ops by name (self CPU time); the rest is "other".
KINDS = {
    "matrix multiplies": ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm"),
    "attention (softmax, fused kernels)": ("aten::_softmax", "aten::_softmax_backward_data",
                                           "aten::_scaled_dot_product_flash_attention_for_cpu",
                                           "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
                                           "aten::_scaled_dot_product_efficient_attention",
                                           "aten::_scaled_dot_product_efficient_attention_backward",
                                           "aten::_scaled_dot_product_flash_attention",
                                           "aten::_scaled_dot_product_flash_attention_backward"),
    "dropout masks (bernoulli)": ("aten::bernoulli_", "aten::bernoulli", "aten::native_dropout",
                                  "aten::native_dropout_backward"),
    "elementwise mul/div/add (dropout, residuals, mask)": ("aten::mul", "aten::div", "aten::add", "aten::add_",
                                                           "aten::mul_", "aten::div_", "aten::masked_fill"),
    "GELU": ("aten::gelu", "aten::gelu_backward"),
    "LayerNorm": ("aten::native_layer_norm", "aten::native_layer_norm_backward"),
    "copies, casts and layout (contiguous, transpose, cat)": ("aten::copy_", "aten::_to_copy", "aten::clone", "aten::cat",
                                                             "aten::contiguous"),
    "optimizer and clipping (foreach/fused)": ("aten::_fused_adamw_", "aten::_foreach_mul_", "aten::_foreach_norm",
                                               "aten::linalg_vector_norm", "aten::_foreach_add_"),
}
from torch.profiler import ProfilerActivity, profile
# On CUDA the shares are of the GPU's time (each op's own kernels), not of the host's launches.
cuda = device.type == "cuda"
with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
    for b in batches[:3]:
        train_step(*b)
    sync()
# On CUDA the kernels are events too, their time also counted as their launching op's self time:
# only the ops (aten::) are summed, so that each kernel counts once.
times = {e.key: e.self_device_time_total if cuda else e.self_cpu_time_total for e in prof.key_averages()
         if not cuda or e.key.startswith("aten::")}
total = sum(times.values())
shares = {kind: sum(times.get(op, 0) for op in ops) / total for kind, ops in KINDS.items()}
shares["other"] = 1.0 - sum(shares.values())

model.eval()
with torch.no_grad():
    for ids, mask, rows, cols, _ in batches[:args.warmup_steps]:
        model(ids, mask, rows, cols)
    sync()
    start = time.perf_counter()
    for ids, mask, rows, cols, _ in batches:
        model(ids, mask, rows, cols).softmax(-1)
    sync()
    infer_tps = sum(tokens(b) for b in batches) / (time.perf_counter() - start)
    # Inference again under bf16 autocast, as `eval.bf16` runs it.
    with torch.autocast(device.type, dtype=torch.bfloat16):
        for ids, mask, rows, cols, _ in batches[:args.warmup_steps]:
            model(ids, mask, rows, cols)
        sync()
        start = time.perf_counter()
        for ids, mask, rows, cols, _ in batches:
            model(ids, mask, rows, cols).float().softmax(-1)
        sync()
        infer_bf16_tps = sum(tokens(b) for b in batches) / (time.perf_counter() - start)
print(json.dumps({"train_tokens_per_s": train_tps, "infer_tokens_per_s": infer_tps,
                  "infer_bf16_tokens_per_s": infer_bf16_tps, "profile": shares}))
