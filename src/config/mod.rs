//! The pipeline configuration: the TOML schema of the whole config and its shared
//! sections (here; one model's training in `train`, the students' loss in `distill_loss`;
//! a method's own sections live in its folder under `method/`), loading (`ResolvedConfig::load`: `--set` and `${VAR}` through `keys`, paths
//! and range checks through `validate`), and the per-stage views that make a stage's cache
//! key depend on exactly the values it reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::corpus::Format;
use crate::error::{ConfigError, Origin};
use crate::method::advpicker::{AdvPickerConfig, Adversarial};
use crate::method::msd::MsdConfig;
use crate::method::mtmt::{ScoreConfig, SimPairsConfig, SimilarityConfig, WeightsConfig};
use crate::method::tsl_multi::MultiSourceConfig;
use crate::method::unitrans::UniTransConfig;
use crate::method::Method;
use crate::model::bert::TrainMode;
use crate::model::params::Freeze;
use crate::recipe::Recipe;
use crate::train::batching::BatchPlan;
use crate::train::optim::{Decay, Optimizer};
use crate::train::trainer::Schedule;
use crate::variant::Variant;

mod distill_loss;
mod keys;
#[cfg(test)]
mod tests;
mod train;
mod validate;

pub use distill_loss::*;
pub use keys::*;
pub use train::*;
pub(crate) use validate::{depth_text, train_range_errors, unit};

/// The whole configuration of one pipeline: one labeled source language, one
/// unlabeled target language, the encoder and every stage's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Drives every source of randomness.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Entity types; the BIO label set is derived from them.
    pub labels: Vec<String>,
    /// The labeled language the teachers learn from.
    pub source: Corpus,
    /// The language to recognize; its train split is used without labels.
    pub target: Corpus,
    /// More labeled source languages (`method = "tsl-multi"`): each trains a recognizer
    /// teacher of its own, the artifact a pipeline with it as `source` trains.
    #[serde(default)]
    pub sources: Vec<Corpus>,
    #[serde(default)]
    pub encoder: EncoderConfig,
    #[serde(default)]
    pub tokenize: TokenizeConfig,
    /// Training settings taken where neither the file nor a `--set` gives them: `tsl` (the
    /// defaults below) or `mtmt-paper` (the MTMT paper's, `recipe::Recipe`). Read by no
    /// stage: the values it sets are.
    #[serde(default)]
    pub recipe: Recipe,
    /// What the student learns from: `direct` (no student: the recognizer teacher is
    /// the model), `tsl` (recognizer distillation on every word), `mtmt` (both
    /// teachers), `mtst` (MTMT's loss from one multitask teacher).
    #[serde(default)]
    pub method: Method,
    /// The entity-recognizer teacher, trained on the labeled source train split.
    #[serde(default)]
    pub teacher_ner: TrainConfig,
    /// The siamese entity-similarity teacher, trained on source word pairs.
    #[serde(default)]
    pub teacher_sim: TrainConfig,
    /// How source word pairs are built for the similarity teacher.
    #[serde(default)]
    pub sim_pairs: SimPairsConfig,
    /// How the similarity teacher's score t is formed (MTMT).
    #[serde(default)]
    pub similarity: SimilarityConfig,
    /// How unlabeled target pairs are sampled and scored by the teachers.
    #[serde(default)]
    pub score: ScoreConfig,
    #[serde(default)]
    pub weights: WeightsConfig,
    /// AdvPicker's adversarial teacher (its NER updates: the papers' 10 epochs, lr 6e-5,
    /// 5% warm-up), trained on the labeled source and the unlabeled target train text.
    #[serde(default)]
    pub teacher_adv: TrainConfig<Adversarial>,
    /// AdvPicker's discriminator, generator and sentence selection.
    #[serde(default)]
    pub advpicker: AdvPickerConfig,
    /// MSD's teacher: the recognizer with heads on intermediate layers.
    #[serde(default)]
    pub teacher_msd: TrainConfig,
    /// MSD's heads and its student's extra losses.
    #[serde(default)]
    pub msd: MsdConfig,
    /// UniTrans's teachers on the translated source: trained fresh (`teacher_trans`) and
    /// the recognizer teacher fine-tuned on it (`teacher_finetune`), with these settings.
    #[serde(default)]
    pub teacher_trans: TrainConfig,
    /// UniTrans's lexicon, translation and student.
    #[serde(default)]
    pub unitrans: UniTransConfig,
    /// Multi-source TSL: how the source languages' teachers are weighted.
    #[serde(default)]
    pub multi_source: MultiSourceConfig,
    /// The student's training (defaults: the papers' student recipe).
    #[serde(default)]
    pub distill: TrainConfig<Student>,
    #[serde(default)]
    pub distill_loss: DistillLossConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    /// Where and how fast to compute; never part of a cache key.
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

/// How predictions are decoded and batched at inference.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    pub decoder: crate::eval::decode::Decoder,
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
            Selection::Last => crate::eval::MODEL_SELECTION,
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
    pub device: crate::train::device::DeviceChoice,
    /// libtorch CPU threads; 0 = its default.
    pub threads: usize,
}

impl RuntimeConfig {
    /// The resolved device, with the configured thread count applied.
    pub fn device(&self) -> anyhow::Result<tch::Device> {
        crate::train::device::set_threads(self.threads);
        self.device.resolve()
    }
}

/// The files of one language. Paths are relative to the config file's folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    pub lang: String,
    pub train: PathBuf,
    #[serde(default)]
    pub dev: Option<PathBuf>,
    #[serde(default)]
    pub test: Option<PathBuf>,
    #[serde(default)]
    pub encoding: Encoding,
    /// The language is written without spaces between words (zh, ja, th): its words are
    /// encoded without a bare word-boundary marker, as the encoder saw such text in
    /// pretraining. Off, it stays out of stage keys (made before it existed).
    #[serde(default)]
    pub unspaced: bool,
    /// The files' format: `conll`, `conllu`, `text` (one sentence per line; unlabeled files
    /// only), `jsonl` or `parquet` (HF datasets' `tokens`/`ner_tags`). Left out, each file's
    /// is detected from its content (`corpus::sniff`).
    #[serde(default)]
    pub format: Option<Format>,
    /// CoNLL: the token's column, 1-based (left out: the first).
    #[serde(default)]
    pub token_column: Option<usize>,
    /// CoNLL: the tag's column, 1-based (left out: the last).
    #[serde(default)]
    pub tag_column: Option<usize>,
    /// JSON Lines / Parquet whose `ner_tags` are ids: the tag of each id, in id order.
    #[serde(default)]
    pub tag_names: Vec<String>,
    /// The files' entity types renamed onto `labels` (`GPE_LOC = "LOC"`), or dropped (`"O"`);
    /// applied when the files are read, with the counts in the ingest manifest.
    #[serde(default)]
    pub tag_map: BTreeMap<String, String>,
}

/// Text encodings accepted for CoNLL files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "latin-1")]
    Latin1,
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

fn default_seed() -> u64 {
    13
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

/// A loaded configuration: the typed struct plus its JSON form, from which stage
/// views and cache keys are cut.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    pub path: PathBuf,
    pub config: Config,
    pub json: Value,
}

impl ResolvedConfig {
    /// Loads `path`, applies `--set KEY=VALUE` overrides, expands `${VAR}`, resolves
    /// paths and checks every value's range; an error names the key and where its value
    /// came from (the file or the `--set`).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::load_with_env(path, overrides, &|var| std::env::var(var).ok())
    }

    /// `load`, reading `${VAR}` from `env` (tests pass their own instead of the process's).
    pub fn load_with_env(
        path: &Path,
        overrides: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let text = fs_err::read_to_string(path)?;
        let syntax = |e: toml::de::Error| ConfigError::Syntax { path: path.to_path_buf(), message: e.to_string() };
        let parsed: Config = toml::from_str(&text).map_err(syntax)?;
        // Round-trip through the schema so defaults are present and every key is settable.
        let mut json = serde_json::to_value(&parsed).expect("config serializes");
        let mut set_by: Vec<(String, String)> = Vec::new();
        for assignment in overrides {
            let key = apply_override(&mut json, assignment)?;
            // Typed now, so a value of the wrong kind blames this `--set`, not the file.
            if let Err(e) = serde_json::from_value::<Config>(json.clone()) {
                let value = assignment.split_once('=').map_or("", |(_, v)| v).to_string();
                return Err(ConfigError::BadValue { key, value, message: e.to_string() });
            }
            set_by.push((key, assignment.clone()));
        }
        // The recipe's settings, then the method's own defaults, each where neither the
        // file nor a `--set` (nor, for the method's, the recipe) gave the key.
        let written =
            serde_json::to_value(toml::from_str::<toml::Table>(&text).map_err(syntax)?).expect("TOML serializes");
        let recipe: Recipe = serde_json::from_value(json["recipe"].clone()).expect("typed above");
        let method: Method = serde_json::from_value(json["method"].clone()).expect("typed above");
        let mut given: Vec<&str> = Vec::new();
        for assignment in recipe.settings().iter().chain(method.spec().defaults()) {
            let key = assignment.split_once('=').map_or(*assignment, |(k, _)| k);
            if lookup(&written, key).is_none() && !set_by.iter().any(|(set, _)| set == key) && !given.contains(&key) {
                apply_override(&mut json, assignment).expect("recipes and methods' defaults fit the schema");
                given.push(key);
            }
        }
        expand_env(&mut json, "", env)?;
        let mut config: Config = serde_json::from_value(json)
            .map_err(|e| ConfigError::Schema { origin: Origin::File(path.to_path_buf()), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new(""));
        config.resolve_paths(base);
        if let Some((key, message)) = config.range_errors().into_iter().next() {
            // The last `--set` of a key (or of the section holding it) is what set it.
            let origin = set_by
                .iter()
                .rev()
                .find(|(set, _)| key == *set || key.starts_with(&format!("{set}.")))
                .map_or(Origin::File(path.to_path_buf()), |(_, assignment)| Origin::Set(assignment.clone()));
            return Err(ConfigError::OutOfRange { origin, key, message });
        }
        let json = serde_json::to_value(&config).expect("config serializes");
        Ok(Self { path: path.to_path_buf(), config, json })
    }

    /// The sub-config a stage declared it reads, as a nested object holding only those keys.
    /// Settings added after artifacts existed stay out of it at the value that behaves as
    /// before them (`ADDED_LATER`), so those artifacts keep their keys.
    pub fn view(&self, keys: &[&str]) -> Value {
        let mut view = Value::Object(Map::new());
        for key in keys {
            // Every setting serializes (unset ones as null), so a key that is not found is a
            // stage's misspelling, unless a section above it is unset as a whole.
            let value = lookup(&self.json, key).cloned().unwrap_or_else(|| {
                let in_unset_section =
                    key.match_indices('.').any(|(i, _)| lookup(&self.json, &key[..i]).is_some_and(Value::is_null));
                assert!(in_unset_section, "a stage reads `{key}`, which is no config key");
                Value::Null
            });
            insert(&mut view, key, value);
        }
        for (key, as_before) in ADDED_LATER.iter().chain(crate::method::added_later()) {
            if lookup(&view, key).is_some_and(|v| as_before.is(v)) {
                remove(&mut view, key);
            }
        }
        view
    }

    /// This config with a variant's values set (paths are resolved already).
    pub fn derive(&self, variant: &Variant) -> Result<Self, ConfigError> {
        let mut json = self.json.clone();
        for (key, value) in &variant.set {
            insert(&mut json, key, value.clone());
        }
        let config = serde_json::from_value(json.clone()).map_err(|e| ConfigError::BadValue {
            key: variant.set.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "),
            value: variant.label.clone(),
            message: e.to_string(),
        })?;
        Ok(Self { path: self.path.clone(), config, json })
    }

    /// The resolved configuration as TOML (keys without a value are left out).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.config).expect("config serializes to TOML")
    }
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
