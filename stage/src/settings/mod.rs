//! The settings every layer reads: one model's training (`TrainConfig`, in `train`), the
//! students' loss (`distill_loss`), evaluation, runtime, the encoder's files and
//! tokenization, and the helpers a section's range check uses. The config schema
//! (`config::Config`), which gathers these with the methods' own sections, sits above the
//! methods; a method's room and the stages read these from here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use mtmt_ner::model::bert::TrainMode;
use mtmt_ner::model::params::Freeze;
use mtmt_ner::train::batching::BatchPlan;
use mtmt_ner::train::optim::{Decay, Optimizer};
use mtmt_ner::trainer::Schedule;

mod distill_loss;
mod train;

pub use distill_loss::*;
pub use mtmt_ner::corpus::Corpus;
pub use train::*;

/// How predictions are decoded and batched at inference.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    pub decoder: mtmt_ner::eval::decode::Decoder,
    /// Forbid `I-X` as a sentence's first tag (Viterbi only).
    pub start_constraint: bool,
    /// Sentences per inference batch.
    pub batch_size: usize,
    /// Also evaluate the recognizer teacher (direct transfer) when the method has a
    /// student, for a side-by-side report; sweeps turn it off (their `direct` cell has it).
    pub teacher: bool,
    /// Which epoch's checkpoint of the method's model (the student; the recognizer under
    /// `direct`) is evaluated (`Selection`).
    pub selection: Selection,
    /// Inference with the encoder's dense products in bfloat16 (softmax, LayerNorm and
    /// attention stay f32): faster where the CPU or GPU has bf16 units, other floats.
    pub bf16: bool,
}

/// The teachers' passes over the target train text that the students learn from
/// (`score_tokens`, and MTMT's `score_pairs`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    /// Those passes with the encoder's dense products in bfloat16, as `eval.bf16` does for
    /// evaluation: faster where the CPU or GPU has bf16 units, other floats.
    pub bf16: bool,
}

/// Model selection: which epoch's checkpoint of a model is the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The last epoch's: no labels choose it.
    #[default]
    Last,
    /// The epoch of the best source-language dev F1 (recorded while training; only a model
    /// trained on the labeled source has one).
    SourceDev,
    /// The epoch of the best target-language dev F1: the released codes of MTMT, AdvPicker
    /// and MSD select so. It uses target labels: not zero-shot, and marked as such wherever
    /// a figure computed with it is shown.
    TargetDev,
}

impl Selection {
    /// Whether the choice reads target-language labels.
    pub fn uses_target_labels(self) -> bool {
        self == Selection::TargetDev
    }

    /// How a result was selected, for people: printed beside every figure.
    pub fn describe(self) -> &'static str {
        match self {
            Selection::Last => mtmt_ner::eval::MODEL_SELECTION,
            Selection::SourceDev => "best source-language dev F1 among the epochs (no target-language labels used)",
            Selection::TargetDev => {
                "best target-language dev F1 among the epochs (USES TARGET LABELS: not zero-shot, the papers' protocol)"
            }
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            decoder: Default::default(),
            start_constraint: true,
            batch_size: 128,
            teacher: true,
            selection: Selection::Last,
            bf16: false,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    pub device: mtmt_ner::train::device::DeviceChoice,
    /// libtorch CPU threads; 0 = its default.
    pub threads: usize,
}

impl RuntimeConfig {
    /// The resolved device, with the configured thread count applied.
    pub fn device(&self) -> anyhow::Result<tch::Device> {
        mtmt_ner::train::device::set_threads(self.threads);
        self.device.resolve()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderConfig {
    /// A HF `tokenizer.json` or a WordPiece `vocab.txt`.
    #[serde(default = "default_tokenizer")]
    pub tokenizer: PathBuf,
    /// HF BERT-style safetensors weights (`BertModel` names, with or without `bert.`).
    #[serde(default = "default_weights")]
    pub weights: PathBuf,
    /// The HF `config.json` giving the encoder's sizes.
    #[serde(default = "default_model_config")]
    pub config: PathBuf,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self { tokenizer: default_tokenizer(), weights: default_weights(), config: default_model_config() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizeConfig {
    /// Maximum subwords per sentence, CLS and SEP included.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Lowercase before WordPiece (only used with a `vocab.txt`; tokenizer.json carries its own normalizer).
    #[serde(default)]
    pub lowercase: bool,
    /// A word whose first piece is a bare SentencePiece marker `▁` (8-10% of CoNLL words
    /// under e5's tokenizer: `Aragón` is `▁` `Aragó` `n`) is labeled at its next piece, the
    /// first that carries characters, instead of at the marker. Off (the default), the
    /// label sits on the first piece, as transformers' pipelines read it.
    #[serde(default)]
    pub label_past_bare_marker: bool,
}

impl Default for TokenizeConfig {
    fn default() -> Self {
        Self { max_len: default_max_len(), lowercase: false, label_past_bare_marker: false }
    }
}

fn default_max_len() -> usize {
    128
}
const DEFAULT_ENCODER: &str = "models/multilingual-e5-small";

fn default_tokenizer() -> PathBuf {
    Path::new(DEFAULT_ENCODER).join("tokenizer.json")
}
fn default_weights() -> PathBuf {
    Path::new(DEFAULT_ENCODER).join("model.safetensors")
}
fn default_model_config() -> PathBuf {
    Path::new(DEFAULT_ENCODER).join("config.json")
}

/// The BIO label list for a set of entity types.
pub fn bio_labels(types: &[String]) -> Vec<String> {
    let mut labels = vec!["O".to_string()];
    for t in types {
        labels.push(format!("B-{t}"));
        labels.push(format!("I-{t}"));
    }
    labels
}

/// The value of a setting added later (`ADDED_LATER`) that behaves as before it.
#[derive(Debug, Clone, Copy)]
pub enum AsBefore {
    Flag(bool),
    /// A choice, by its name in the config.
    Name(&'static str),
    /// Left out of the config: an unset optional setting, or an empty list or map.
    Absent,
}

impl AsBefore {
    pub fn is(self, value: &Value) -> bool {
        match self {
            AsBefore::Flag(b) => value.as_bool() == Some(b),
            AsBefore::Name(name) => value.as_str() == Some(name),
            AsBefore::Absent => {
                value.is_null()
                    || value.as_array().is_some_and(Vec::is_empty)
                    || value.as_object().is_some_and(Map::is_empty)
            }
        }
    }
}

/// Whether `x` lies in [0, 1].
pub fn unit(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

/// The range checks of one model's training settings, keys under `section`.
pub fn train_range_errors<R: ModelRole>(
    section: &str,
    t: &TrainConfig<R>,
    max_len: usize,
    layers: Option<usize>,
    check: &mut impl FnMut(bool, &str, String),
) {
    let key = |field: &str| format!("{section}.{field}");
    check(t.epochs >= 1, &key("epochs"), format!("is {}: must be at least 1", t.epochs));
    check(t.batch_size >= 1, &key("batch_size"), format!("is {}: must be at least 1", t.batch_size));
    check(
        t.max_tokens == 0 || t.max_tokens >= max_len,
        &key("max_tokens"),
        format!(
            "is {}: must be 0 (no cap) or at least tokenize.max_len ({max_len}), so every sentence fits a batch",
            t.max_tokens
        ),
    );
    check(t.lr.is_finite() && t.lr > 0.0, &key("lr"), format!("is {}: must be above 0", t.lr));
    check(unit(t.warmup), &key("warmup"), format!("is {}: must lie in [0, 1] (a share of the steps)", t.warmup));
    check(
        t.weight_decay.is_finite() && t.weight_decay >= 0.0,
        &key("weight_decay"),
        format!("is {}: must be 0 or more", t.weight_decay),
    );
    check(
        t.max_grad_norm.is_finite() && t.max_grad_norm > 0.0,
        &key("max_grad_norm"),
        format!("is {}: must be above 0", t.max_grad_norm),
    );
    check((0.0..1.0).contains(&t.dropout), &key("dropout"), format!("is {}: must lie in [0, 1)", t.dropout));
    check(
        t.head_lr_scale.is_finite() && t.head_lr_scale > 0.0,
        &key("head_lr_scale"),
        format!("is {}: must be above 0", t.head_lr_scale),
    );
    check(
        t.checkpoint_every >= 0,
        &key("checkpoint_every"),
        format!("is {}: must be 0 (epoch ends) or more", t.checkpoint_every),
    );
    if let Some(layers) = layers {
        check(
            t.freeze_layers <= layers,
            &key("freeze_layers"),
            format!("is {}: the encoder has {layers} layers", t.freeze_layers),
        );
    }
}

/// The encoder's depth as an upper bound reads (`12`) and the note that says so, or words
/// where its config.json could not be read.
pub fn depth_text(layers: Option<usize>) -> (String, String) {
    match layers {
        Some(n) => (n.to_string(), format!(" (the encoder has {n} layers)")),
        None => ("the encoder's layers".to_string(), String::new()),
    }
}

/// Looks up a dotted key such as `tokenize.max_len`.
pub fn lookup<'a>(json: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(json, |v, part| v.as_object()?.get(part))
}

/// A resolved config's values as the layers below its schema read them (a method's room,
/// a stage's `variant_inputs`), by dotted key, typed by the reader. The config has passed
/// its schema and range checks, so a key that is missing or of another type is a bug in
/// the reader, which this says.
#[derive(Debug, Clone, Copy)]
pub struct ConfigValues<'a>(pub &'a Value);

impl ConfigValues<'_> {
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> T {
        let value = lookup(self.0, key).unwrap_or_else(|| panic!("`{key}` is no config key"));
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("config key `{key}`: {e}"))
    }
}
