//! A BERT encoder (post-LayerNorm, erf GELU, absolute positions) that loads any HF
//! `BertModel`-style safetensors checkpoint, sized by its `config.json`. Struct and
//! variable names follow the checkpoint's tensor names, so loading is a name match.
//! `forward` returns every layer's hidden states, so heads can sit on any layer.

use std::path::Path;

use super::dropout::dropout;
use super::Pass;
use anyhow::Context;
use serde::Deserialize;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The subset of HF's `config.json` a BERT forward needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub hidden_size: i64,
    pub num_hidden_layers: usize,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    pub max_position_embeddings: i64,
    pub type_vocab_size: i64,
    pub vocab_size: i64,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// `bert`, or `roberta` / `xlm-roberta` (the same layers; positions counted from
    /// `pad_token_id + 1` over real tokens, as HF's RoBERTa embeddings do).
    #[serde(default = "default_model_type")]
    pub model_type: String,
    #[serde(default)]
    pub pad_token_id: i64,
}

fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_act() -> String {
    "gelu".into()
}
fn default_model_type() -> String {
    "bert".into()
}

/// The checkpoint families that share BERT's layers.
const MODEL_TYPES: [&str; 3] = ["bert", "roberta", "xlm-roberta"];

impl BertConfig {
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = fs_err::read_to_string(path)?;
        let cfg: Self = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(cfg.hidden_act == "gelu", "{}: only hidden_act = \"gelu\" is supported", path.display());
        anyhow::ensure!(
            MODEL_TYPES.contains(&cfg.model_type.as_str()),
            "{}: model_type `{}` is not supported (one of {MODEL_TYPES:?})",
            path.display(),
            cfg.model_type
        );
        Ok(cfg)
    }

    /// RoBERTa-style positions: the padding id when they count from it, else `None`.
    pub(crate) fn roberta_padding(&self) -> Option<i64> {
        (self.model_type != "bert").then_some(self.pad_token_id)
    }
}

fn layer_norm(p: nn::Path, cfg: &BertConfig) -> nn::LayerNorm {
    let config = nn::LayerNormConfig { eps: cfg.layer_norm_eps, ..Default::default() };
    nn::layer_norm(p, vec![cfg.hidden_size], config)
}

/// `embeddings.*`: word + position + token-type embeddings, LayerNorm, dropout.
pub(crate) struct Embeddings {
    word_embeddings: nn::Embedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: nn::Embedding,
    layer_norm: nn::LayerNorm,
    dropout: f64,
    roberta_padding: Option<i64>,
}

impl Embeddings {
    fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        let d = cfg.hidden_size;
        Self {
            word_embeddings: nn::embedding(&p / "word_embeddings", cfg.vocab_size, d, Default::default()),
            position_embeddings: nn::embedding(
                &p / "position_embeddings",
                cfg.max_position_embeddings,
                d,
                Default::default(),
            ),
            token_type_embeddings: nn::embedding(
                &p / "token_type_embeddings",
                cfg.type_vocab_size,
                d,
                Default::default(),
            ),
            layer_norm: layer_norm(&p / "LayerNorm", cfg),
            dropout: cfg.hidden_dropout_prob,
            roberta_padding: cfg.roberta_padding(),
        }
    }

    /// BERT positions start at 0; RoBERTa's at padding id + 1 over real tokens (padding
    /// keeps the padding id). Every token has type 0.
    fn forward(&self, input_ids: &Tensor, drop: bool, parallel_dropout: bool) -> Tensor {
        let positions = match self.roberta_padding {
            None => Tensor::arange(input_ids.size()[1], (Kind::Int64, input_ids.device())).unsqueeze(0),
            Some(pad) => {
                let real = input_ids.ne(pad).to_kind(Kind::Int64);
                real.cumsum(1, Kind::Int64) * &real + pad
            }
        };
        let types = input_ids.zeros_like();
        let sum = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(&positions)
            + self.token_type_embeddings.forward(&types);
        dropout(&self.layer_norm.forward(&sum), self.dropout, drop, parallel_dropout)
    }
}

/// `x W^T + b`; with `bf16`, the product in bfloat16 from f32 parameters and input, the
/// result left in bfloat16 (what `torch.autocast("cpu", torch.bfloat16)` does to a linear
/// layer), so the next product takes it without a cast and a residual sum promotes it
/// back to f32. Gradients reach the f32 parameters through the casts.
fn dense(l: &nn::Linear, x: &Tensor, bf16: bool) -> Tensor {
    if !bf16 {
        return l.forward(x);
    }
    let k = Kind::BFloat16;
    x.to_kind(k).linear(&l.ws.to_kind(k), l.bs.as_ref().map(|b| b.to_kind(k)))
}

/// `attention.self.*`: multi-head scaled dot-product attention.
pub(crate) struct SelfAttention {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    heads: i64,
    dropout: f64,
}

impl SelfAttention {
    fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        let d = cfg.hidden_size;
        Self {
            query: nn::linear(&p / "query", d, d, Default::default()),
            key: nn::linear(&p / "key", d, d, Default::default()),
            value: nn::linear(&p / "value", d, d, Default::default()),
            heads: cfg.num_attention_heads,
            dropout: cfg.attention_probs_dropout_prob,
        }
    }

    /// `mask`: [batch, 1, 1, len] booleans, true where a key may be attended. Without
    /// dropout (`drop` false) libtorch takes its fused attention kernel. With `bf16` the
    /// projections run in bfloat16 but attention itself in f32: libtorch's CPU attention
    /// kernels are slower in bfloat16 than in f32 at BERT's head size (32-64). With
    /// dropout drawn in parallel (`mode.parallel_dropout`, on the CPU), attention is written
    /// out (as HF BERT's eager attention) so that its probabilities take that dropout.
    fn forward(&self, x: &Tensor, mask: &Tensor, drop: bool, mode: &TrainMode) -> Tensor {
        let (b, l, d) = x.size3().expect("hidden states are [batch, len, hidden]");
        let split = |t: Tensor| t.view([b, l, self.heads, d / self.heads]).transpose(1, 2);
        let project = |p: &nn::Linear| split(dense(p, x, mode.bf16).to_kind(Kind::Float));
        let (q, k, v) = (project(&self.query), project(&self.key), project(&self.value));
        let context = if drop && mode.parallel_dropout && x.device() == tch::Device::Cpu {
            // Scaling the queries costs less than scaling the [len x len] scores.
            let scores = (q / ((d / self.heads) as f64).sqrt()).matmul(&k.transpose(-2, -1));
            let probs = scores.masked_fill(&mask.logical_not(), f64::NEG_INFINITY).softmax(-1, Kind::Float);
            dropout(&probs, self.dropout, true, true).matmul(&v)
        } else {
            let p = if drop { self.dropout } else { 0.0 };
            Tensor::scaled_dot_product_attention(&q, &k, &v, Some(mask), p, false, None, false)
        };
        context.transpose(1, 2).contiguous().view([b, l, d])
    }
}

/// `encoder.layer.{i}.*`: attention and feed-forward blocks, each followed by
/// dropout, a residual connection and LayerNorm (post-LN).
pub(crate) struct Layer {
    attention: SelfAttention,
    attention_output_dense: nn::Linear,
    attention_output_layer_norm: nn::LayerNorm,
    intermediate_dense: nn::Linear,
    output_dense: nn::Linear,
    output_layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl Layer {
    fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        let (d, f) = (cfg.hidden_size, cfg.intermediate_size);
        let attention = &p / "attention";
        Self {
            attention: SelfAttention::new(&attention / "self", cfg),
            attention_output_dense: nn::linear(&attention / "output" / "dense", d, d, Default::default()),
            attention_output_layer_norm: layer_norm(&attention / "output" / "LayerNorm", cfg),
            intermediate_dense: nn::linear(&p / "intermediate" / "dense", d, f, Default::default()),
            output_dense: nn::linear(&p / "output" / "dense", f, d, Default::default()),
            output_layer_norm: layer_norm(&p / "output" / "LayerNorm", cfg),
            dropout: cfg.hidden_dropout_prob,
        }
    }

    /// `drop`: dropout as training has it; `mode` says where (attention), how its masks
    /// are drawn and the precision.
    fn forward(&self, x: &Tensor, mask: &Tensor, drop: bool, mode: &TrainMode) -> Tensor {
        let (bf16, parallel) = (mode.bf16, mode.parallel_dropout);
        let attended = self.attention.forward(x, mask, drop && mode.attention_dropout, mode);
        let projected = dense(&self.attention_output_dense, &attended, bf16);
        let attended =
            self.attention_output_layer_norm.forward(&(dropout(&projected, self.dropout, drop, parallel) + x));
        let inner = dense(&self.intermediate_dense, &attended, bf16).gelu("none");
        let output = dropout(&dense(&self.output_dense, &inner, bf16), self.dropout, drop, parallel) + attended;
        self.output_layer_norm.forward(&output)
    }
}

/// How the encoder runs while training: where it drops out and in which precision. The
/// recipe (HF BERT) drops out everywhere, in f32; the training options turn parts of that
/// off, which is faster and gives other numbers. Inference runs without dropout, in f32
/// unless `BertModel::infer_bf16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainMode {
    /// Dropout after the embeddings.
    pub embeddings_dropout: bool,
    /// Dropout on the attention probabilities (off: the fused attention kernel).
    pub attention_dropout: bool,
    /// The bottom this many layers run without dropout.
    pub quiet_layers: usize,
    /// The dense layers' products in bfloat16, attention and the rest in f32 (mixed precision).
    pub bf16: bool,
    /// The encoder's dropout masks drawn over all threads (`super::dropout`), not by
    /// libtorch's serial generator (the head's stays libtorch's).
    pub parallel_dropout: bool,
}

impl Default for TrainMode {
    fn default() -> Self {
        Self {
            embeddings_dropout: true,
            attention_dropout: true,
            quiet_layers: 0,
            bf16: false,
            parallel_dropout: false,
        }
    }
}

impl TrainMode {
    /// The recipe, less the attention dropout unless `attention`, less the dropout in the
    /// frozen bottom (`freeze`) unless `frozen` (that bottom then runs as at inference; it
    /// records no autograd graph either way, nothing in it requiring gradients), and in
    /// mixed precision if `bf16`, with its dropout masks drawn in parallel if `parallel_dropout`.
    pub fn new(
        freeze: super::params::Freeze,
        attention: bool,
        frozen: bool,
        bf16: bool,
        parallel_dropout: bool,
    ) -> Self {
        Self {
            embeddings_dropout: frozen || !freeze.embeddings,
            attention_dropout: attention,
            quiet_layers: if frozen { 0 } else { freeze.layers },
            bf16,
            parallel_dropout,
        }
    }
}

/// The encoder: `embeddings` then `encoder.layer.{0..n}`.
pub struct BertModel {
    pub config: BertConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    /// How training runs (the recipe unless set).
    pub mode: TrainMode,
    /// Inference with the dense layers' products in bfloat16, as `TrainMode::bf16` has them
    /// in training (`eval.bf16`, `predict --bf16`); off, inference is f32 throughout.
    pub infer_bf16: bool,
}

impl BertModel {
    /// Creates the variables under `p` (named as in HF checkpoints), randomly initialised.
    pub fn new(p: nn::Path, config: BertConfig) -> Self {
        let embeddings = Embeddings::new(&p / "embeddings", &config);
        let layers = (0..config.num_hidden_layers).map(|i| Layer::new(&p / "encoder" / "layer" / i, &config)).collect();
        Self { config, embeddings, layers, mode: TrainMode::default(), infer_bf16: false }
    }

    /// Hidden states after the embeddings and after each layer (`num_hidden_layers + 1`
    /// tensors of [batch, len, hidden]). `attention_mask` is [batch, len], nonzero on
    /// real tokens; padding is never attended.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor, pass: Pass) -> Vec<Tensor> {
        let train = pass.trains();
        let mask = attention_mask.to_kind(Kind::Bool).unsqueeze(1).unsqueeze(1);
        let inference = TrainMode { bf16: self.infer_bf16, ..self.mode };
        let mode = if train { &self.mode } else { &inference };
        let mut states =
            vec![self.embeddings.forward(input_ids, train && mode.embeddings_dropout, mode.parallel_dropout)];
        for (i, layer) in self.layers.iter().enumerate() {
            let drop = train && i >= mode.quiet_layers;
            let next = layer.forward(states.last().expect("at least the embeddings"), &mask, drop, mode);
            states.push(next);
        }
        states
    }

    /// The last layer's hidden states.
    pub fn last_hidden(&self, input_ids: &Tensor, attention_mask: &Tensor, pass: Pass) -> Tensor {
        self.forward(input_ids, attention_mask, pass).pop().expect("at least the embeddings")
    }
}

/// Loads the variables of `vs` under `prefix` (e.g. `"bert."`, or `""` for all) from a
/// safetensors file, matching names with the prefix removed; a checkpoint saved with
/// the prefix (HF `BertFor...`, `RobertaFor...` models) matches too. Extra tensors in the file (a
/// pooler, say) are ignored; a missing one is an error naming it.
pub fn load_safetensors(vs: &mut nn::VarStore, path: &Path, prefix: &str) -> anyhow::Result<()> {
    let tensors = Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))?;
    let by_name: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
    let _guard = tch::no_grad_guard();
    for (name, mut var) in vs.variables() {
        let Some(short) = name.strip_prefix(prefix) else { continue };
        let src = by_name
            .get(short)
            .or_else(|| by_name.get(&format!("bert.{short}")))
            .or_else(|| by_name.get(&format!("roberta.{short}")))
            .with_context(|| format!("{}: no tensor `{short}`", path.display()))?;
        anyhow::ensure!(
            src.size() == var.size(),
            "{}: tensor `{name}` has shape {:?}, the model expects {:?}",
            path.display(),
            src.size(),
            var.size()
        );
        var.copy_(&src.to_kind(var.kind()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attention written out for parallel dropout computes what libtorch's fused kernel
    /// does: at dropout 0 the two agree to rounding, padding keys masked alike.
    #[test]
    fn written_out_attention_matches_the_fused_kernel() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let attention = SelfAttention {
            dropout: 0.0,
            ..SelfAttention::new(vs.root(), &serde_json::from_str::<BertConfig>(TINY).unwrap())
        };
        let x = Tensor::randn([2, 5, 8], (Kind::Float, tch::Device::Cpu));
        let real = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 0, 0]).view([2, 5]);
        let mask = real.to_kind(Kind::Bool).unsqueeze(1).unsqueeze(1);
        let mode = |parallel_dropout| TrainMode { parallel_dropout, ..TrainMode::default() };
        let fused = attention.forward(&x, &mask, true, &mode(false));
        let written = attention.forward(&x, &mask, true, &mode(true));
        let worst = (&fused - &written).abs().max().double_value(&[]);
        assert!(worst < 1e-5, "differ by {worst}");
    }

    const TINY: &str = r#"{"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 16, "max_position_embeddings": 16, "type_vocab_size": 1, "vocab_size": 10}"#;
}
