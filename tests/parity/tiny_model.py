"""Writes a random tiny HF model of FAMILY (`bert`: BertModel; `xlm-roberta`:
XLMRobertaModel, whose positions count from padding_idx + 1) as model.safetensors +
config.json and, for a fixed padded batch, its inputs and last hidden states
(reference.safetensors) into OUT_DIR. Usage: tiny_model.py OUT_DIR FAMILY [VOCAB] (VOCAB:
the vocabulary size, 99 by default; a real tokenizer's, to run the pipeline on the model).
Run with the project's .venv Python (transformers is a test-only dependency)."""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
roberta = sys.argv[2] == "xlm-roberta"
Config, Model = (XLMRobertaConfig, XLMRobertaModel) if roberta else (BertConfig, BertModel)
vocab = int(sys.argv[3]) if len(sys.argv) > 3 else 99
# RoBERTa positions run from padding_idx + 1: two more position embeddings for the same lengths.
config = Config(vocab_size=vocab, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                intermediate_size=37, max_position_embeddings=130 if roberta else 128,
                type_vocab_size=1 if roberta else 2, layer_norm_eps=1e-12, hidden_act="gelu", pad_token_id=1)
model = Model(config, add_pooling_layer=False).eval()
# Make LayerNorm and biases non-trivial so a wrong name or order shows up.
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("bias") or "LayerNorm" in name:
            p.add_(torch.randn_like(p) * 0.1)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / "model.safetensors")
config.to_json_file(out / "config.json")

lengths = [17, 9, 3, 12]
ids = torch.full((len(lengths), max(lengths)), config.pad_token_id, dtype=torch.long)
mask = torch.zeros_like(ids)
for row, n in enumerate(lengths):
    ids[row, :n] = torch.randint(2, config.vocab_size, (n,))
    mask[row, :n] = 1
with torch.no_grad():
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
save_file({"input_ids": ids, "attention_mask": mask, "last_hidden_state": hidden.contiguous()},
          out / "reference.safetensors")
