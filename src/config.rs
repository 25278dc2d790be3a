//! The pipeline configuration: the TOML schema, `${VAR}` expansion, `--set`
//! overrides typed by the schema, path resolution, and the per-stage views that
//! make a stage's cache key depend on exactly the values it reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::corpus::Format;
use crate::error::{ConfigError, Origin};
use crate::method::Method;
use crate::model::bert::TrainMode;
use crate::model::params::Freeze;
use crate::recipe::Recipe;
use crate::train::batching::BatchPlan;
use crate::train::optim::{Decay, Optimizer};
use crate::train::trainer::Schedule;
use crate::variant::Variant;

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

/// Whose training a `TrainConfig` describes: it picks the defaults of the learning rate
/// (methods.md: teachers 5e-5, students 1e-4), the epochs and the warm-up.
pub trait ModelRole: Default + Clone + std::fmt::Debug {
    const LR: f64;
    const EPOCHS: usize = 3;
    const WARMUP: f64 = 0.1;
}

#[derive(Debug, Clone, Default)]
pub struct Teacher;
#[derive(Debug, Clone, Default)]
pub struct Student;

impl ModelRole for Teacher {
    const LR: f64 = 5e-5;
}
impl ModelRole for Student {
    const LR: f64 = 1e-4;
}

/// AdvPicker's adversarial teacher: its NER updates as released (lr 6e-5, 10 epochs, 5%
/// warm-up).
#[derive(Debug, Clone, Default)]
pub struct Adversarial;

impl ModelRole for Adversarial {
    const LR: f64 = 6e-5;
    const EPOCHS: usize = 10;
    const WARMUP: f64 = 0.05;
}

/// MSD (methods.md): heads on intermediate layers, mixed by learned weights, distilled
/// head by head, plus MMD between teacher and student [CLS] vectors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsdConfig {
    /// The first layer (1-based) with a head of its own; every layer from it to the last
    /// but one has one (released: 4, so 8 heads on a 12-layer encoder).
    pub first_layer: usize,
    /// Weight of the heads' mixed loss beside the final head's (released: 0.1).
    pub aux_weight: f64,
    /// Scale of each of the student's two MMD terms (released: 1/1000).
    pub mmd_weight: f64,
}

impl Default for MsdConfig {
    fn default() -> Self {
        Self { first_layer: 4, aux_weight: 0.1, mmd_weight: 1e-3 }
    }
}

/// UniTrans (methods.md): the labeled source translated word by word into the target
/// language with a lexicon induced by CSLS over the encoder's word vectors (or a user's
/// dictionary), teachers on it, and a student with soft labels plus voted hard labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UniTransConfig {
    /// A word's vector: `contextual` (the encoder's hidden state at its first subword in
    /// layer `layer`, averaged over its occurrences in the first `context_sentences`
    /// sentences, 0 = all) or `input` (the mean of its subwords' input embeddings, which
    /// follows spelling: docs/measurements.md, "UniTrans's lexicon").
    pub word_vectors: WordVectors,
    pub layer: usize,
    pub context_sentences: usize,
    /// The most frequent words of each side the lexicon is induced over.
    pub vocabulary: usize,
    /// CSLS neighbourhood size (released: 10).
    pub csls_k: i64,
    /// A bilingual dictionary in the MUSE text format (`source target` per line) to use
    /// instead of an induced lexicon; its content enters the key.
    pub dictionary: Option<PathBuf>,
    /// eta: the weight of the cross-entropy on the words where all three teachers agree
    /// (released: 1).
    pub hard_weight: f64,
    /// A replaced word takes the spelling its translation has in the target text (away from
    /// a sentence start) rather than the source word's casing: German capitalizes its
    /// nouns, so the released code takes de casing from the target text.
    pub target_casing: bool,
}

impl Default for UniTransConfig {
    fn default() -> Self {
        Self {
            word_vectors: WordVectors::Contextual,
            layer: 8,
            context_sentences: 0,
            vocabulary: 20000,
            csls_k: 10,
            dictionary: None,
            hard_weight: 1.0,
            target_casing: false,
        }
    }
}

/// How the lexicon's word vectors are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordVectors {
    Input,
    Contextual,
}

/// Multi-source TSL (methods.md): the student learns the mix of the source languages'
/// teachers, weighted by a language-similarity model: a low-rank bilinear score between a
/// sentence's pooled vector (the pretrained encoder) and a learned embedding per source
/// language, trained to identify the language of the sources' train sentences.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiSourceConfig {
    /// `sentence` (released: each target sentence weighs the teachers by the softmax of its
    /// scores at temperature = the variance of all scores), `corpus` (the paper's Eq. 11:
    /// those weights averaged over the target text, the same for every sentence), `uniform`
    /// (1/K each: the ablation; nothing is trained).
    pub weighting: Weighting,
    /// Rank of the bilinear score (released: 64).
    pub rank: i64,
    /// Weight of the penalty ||P^T P - I||^2 on the language embeddings P (released: 0.01).
    pub orthogonality: f64,
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// Train sentences per source language the similarity model learns from, the first
    /// ones (0 = all).
    pub max_sentences: usize,
}

impl Default for MultiSourceConfig {
    fn default() -> Self {
        Self {
            weighting: Weighting::Sentence,
            rank: 64,
            orthogonality: 0.01,
            epochs: 10,
            lr: 1e-4,
            batch_size: 32,
            max_sentences: 0,
        }
    }
}

/// How multi-source TSL weighs its teachers on a target sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    Sentence,
    Corpus,
    Uniform,
}

/// AdvPicker (methods.md): per source batch an NER update, a discriminator update and a
/// generator update of the encoder with flipped labels; then the target sentences whose
/// discriminator probability is closest to 0.5 are kept for the student.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvPickerConfig {
    /// The discriminator's learning rate (released: 5e-3).
    pub discriminator_lr: f64,
    /// The generator (encoder, flipped labels) learning rate (released: 6e-7).
    pub generator_lr: f64,
    /// The discriminator's hidden width: Linear(hidden -> this) - ReLU - Linear(-> 1).
    pub discriminator_hidden: i64,
    /// Target sentences the adversarial teacher sees, as a share of the source sentences
    /// it trains on (released: 1/3), drawn at random from the target train text; 0 = all.
    pub target_ratio: f64,
    /// Share of the target train sentences kept for the student: those whose mean
    /// discriminator probability is closest to 0.5 (released: 0.8).
    pub keep: f64,
    /// Seed teachers: with N > 1, adversarial teachers are trained with seeds seed ..
    /// seed + N - 1 (each the artifact that seed's own run trains) and each target sentence
    /// takes the soft labels of the one most confident on it (released: 5); 1 = the run's.
    pub teachers: u64,
}

impl Default for AdvPickerConfig {
    fn default() -> Self {
        Self {
            discriminator_lr: 5e-3,
            generator_lr: 6e-7,
            discriminator_hidden: 500,
            target_ratio: 1.0 / 3.0,
            keep: 0.8,
            teachers: 1,
        }
    }
}

/// Fine-tuning settings of one model; `R` picks the learning-rate default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, bound = "")]
pub struct TrainConfig<R: ModelRole = Teacher> {
    pub epochs: usize,
    /// Sentences per batch.
    pub batch_size: usize,
    /// Cap on padded tokens per batch; 0 = none.
    pub max_tokens: usize,
    pub lr: f64,
    /// Fraction of steps of linear warm-up (then linear decay to 0).
    pub warmup: f64,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    /// Bottom encoder layers kept frozen.
    pub freeze_layers: usize,
    pub freeze_embeddings: bool,
    /// Dropout before the classification head.
    pub dropout: f64,
    /// The head's learning rate as a multiple of `lr`.
    pub head_lr_scale: f64,
    /// Checkpoint every this many steps (0 = at epoch ends only), for resuming.
    pub checkpoint_every: i64,
    /// Train on the first this many sentences of the split; 0 = all.
    pub max_sentences: usize,
    /// Dropout on the attention probabilities inside the encoder, as the recipe (HF BERT)
    /// has it. Off, attention takes libtorch's fused kernel: faster, other numbers.
    pub attention_dropout: bool,
    /// Dropout inside the frozen bottom (embeddings and `freeze_layers`), as the recipe has
    /// it. Off, the frozen bottom runs as at inference, without autograd: faster, other numbers.
    pub frozen_dropout: bool,
    /// `adamw` (decoupled weight decay, the TSL/UniTrans recipe) or `adam` (weight decay as
    /// an L2 term of the gradient, `torch.optim.Adam`: the MTMT paper's optimizer).
    pub optimizer: Optimizer,
    /// Mixed precision: the encoder's dense products in bfloat16 while training
    /// (attention, parameters, optimizer and everything else in f32), much as PyTorch's CPU
    /// autocast. Off, all in f32 as the recipe. On, faster where the CPU has bf16
    /// instructions (AVX512-BF16, AMX), other numbers.
    pub bf16: bool,
    #[serde(skip)]
    role: std::marker::PhantomData<R>,
}

impl<R: ModelRole> TrainConfig<R> {
    /// The pretrained parameters kept fixed.
    pub fn freeze(&self) -> Freeze {
        Freeze { embeddings: self.freeze_embeddings, layers: self.freeze_layers }
    }

    /// How the encoder runs while training: where it drops out, in which precision.
    pub fn mode(&self) -> TrainMode {
        TrainMode::new(self.freeze(), self.attention_dropout, self.frozen_dropout, self.bf16)
    }

    /// The weight decay and the update it enters.
    pub fn decay(&self) -> Decay {
        Decay { rate: self.weight_decay, optimizer: self.optimizer }
    }

    /// The training schedule this config describes.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            epochs: self.epochs,
            batch: BatchPlan {
                batch_size: self.batch_size,
                max_tokens: (self.max_tokens > 0).then_some(self.max_tokens),
                chunk_batches: 50,
            },
            lr: self.lr,
            warmup_ratio: self.warmup,
            max_grad_norm: self.max_grad_norm,
            checkpoint_every: self.checkpoint_every,
        }
    }
}

impl<R: ModelRole> Default for TrainConfig<R> {
    fn default() -> Self {
        Self {
            epochs: R::EPOCHS,
            batch_size: 32,
            max_tokens: 0,
            lr: R::LR,
            warmup: R::WARMUP,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
            freeze_layers: 3,
            freeze_embeddings: true,
            dropout: 0.1,
            head_lr_scale: 1.0,
            checkpoint_every: 200,
            max_sentences: 0,
            attention_dropout: true,
            frozen_dropout: true,
            optimizer: Optimizer::AdamW,
            bf16: false,
            role: std::marker::PhantomData,
        }
    }
}

/// Source pairs for the similarity teacher: two words from two different sentences,
/// target 1 when their classes match.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimPairsConfig {
    /// `type`: B-/I- ignored, `O` its own class; `label`: the full BIO label.
    pub same: SameClass,
    /// Pairs drawn among the sentences of each batch (one forward serves them all).
    pub pairs_per_batch: usize,
    /// Share of positive pairs.
    pub positive_ratio: f64,
    /// Share of anchors drawn from `O` words (the rest from entity classes, uniformly).
    pub o_anchor_ratio: f64,
}

impl Default for SimPairsConfig {
    fn default() -> Self {
        Self { same: SameClass::Type, pairs_per_batch: 64, positive_ratio: 0.5, o_anchor_ratio: 0.2 }
    }
}

/// The similarity score: the paper's t = sigmoid(cos), or calibrated.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimilarityConfig {
    /// t = sigmoid(scale * cos + bias), the two fitted by the similarity teacher on source
    /// pairs (`model::calibration`), used by the pair scores, gamma and the student.
    pub calibrated: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameClass {
    #[default]
    Type,
    Label,
}

/// Target pairs: sampled in groups of sentences (a group is one student batch), never
/// with gold labels: uniformly, or balanced by the recognizer teacher's predicted types.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreConfig {
    /// `balanced` (the paper's); `uniform` under `method = "mtmt"` unless set (its default).
    pub sampling: PairSampling,
    /// Sentences per group (= per student batch).
    pub group_size: usize,
    /// Pairs per sentence of a group.
    pub pairs_per_sentence: usize,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self { sampling: PairSampling::Balanced, group_size: 32, pairs_per_sentence: 16 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairSampling {
    Uniform,
    #[default]
    Balanced,
}

/// The confidence weights of the MTMT loss.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsConfig {
    /// `false`: every weight is 1 (the "w/o weighting" ablation).
    pub enabled: bool,
    /// `paper`: beta = (2t-1)^2; `code`: beta = min((2t-1)^2 + 0.5, 1) as in the released code.
    pub formula: WeightFormula,
}

impl Default for WeightsConfig {
    fn default() -> Self {
        Self { enabled: true, formula: WeightFormula::Paper }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightFormula {
    #[default]
    Paper,
    Code,
}

/// How the student matches the teachers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistillLossConfig {
    /// `kl`: soft cross-entropy to the teacher's distribution; `mse`: squared error
    /// averaged over classes (the papers'); `mse_sum`: summed over classes (MTMT's code).
    pub ner: NerLoss,
    /// MTMT: also distill every word of the group's sentences, TSL-style (`true` under
    /// `method = "mtmt"` unless set: its default; `false` is the paper's form).
    pub all_words: bool,
    /// Weight of that all-word term.
    pub all_words_weight: f64,
}

impl Default for DistillLossConfig {
    fn default() -> Self {
        Self { ner: NerLoss::Kl, all_words: false, all_words_weight: 1.0 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NerLoss {
    #[default]
    Kl,
    Mse,
    MseSum,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// CoNLL: the token's column, 1-based (left out: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_column: Option<usize>,
    /// CoNLL: the tag's column, 1-based (left out: the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_column: Option<usize>,
    /// JSON Lines / Parquet whose `ner_tags` are ids: the tag of each id, in id order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_names: Vec<String>,
    /// The files' entity types renamed onto `labels` (`GPE_LOC = "LOC"`), or dropped (`"O"`);
    /// applied when the files are read, with the counts in the ingest manifest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
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
            let value = lookup(&self.json, key).cloned().unwrap_or(Value::Null);
            insert(&mut view, key, value);
        }
        for (key, as_before) in ADDED_LATER {
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

impl Config {
    fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for corpus in [&mut self.source, &mut self.target].into_iter().chain(&mut self.sources) {
            join(&mut corpus.train);
            corpus.dev.as_mut().map(join);
            corpus.test.as_mut().map(join);
        }
        join(&mut self.encoder.tokenizer);
        self.unitrans.dictionary.as_mut().map(join);
        join(&mut self.encoder.weights);
        join(&mut self.encoder.config);
    }

    /// Every value outside its range, as (key, what is wrong): checked once, when the
    /// config is resolved, so no stage meets a value it cannot use.
    fn range_errors(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, key: &str, message: String| {
            if !ok {
                errors.push((key.to_string(), message));
            }
        };
        check(!self.labels.is_empty(), "labels", "must name at least one entity type".into());
        for (i, label) in self.labels.iter().enumerate() {
            check(
                !label.is_empty() && label != "O" && !label.contains(char::is_whitespace),
                "labels",
                format!("holds `{label}`: an entity type is a non-empty word other than `O`"),
            );
            check(!self.labels[..i].contains(label), "labels", format!("names `{label}` twice"));
        }
        let sections = [("source".to_string(), &self.source), ("target".to_string(), &self.target)].into_iter();
        let sources = self.sources.iter().enumerate().map(|(i, c)| (format!("sources[{i}]"), c));
        for (section, corpus) in sections.chain(sources) {
            corpus_range_errors(&section, corpus, &self.labels, &mut check);
        }
        let max_len = self.tokenize.max_len;
        check(max_len >= 3, "tokenize.max_len", format!("is {max_len}: must be at least 3 (CLS, a subword, SEP)"));
        // The encoder's depth bounds `freeze_layers`; an unreadable config.json is reported
        // by the stages that hash and read it.
        let encoder: Option<Value> =
            fs_err::read_to_string(&self.encoder.config).ok().and_then(|text| serde_json::from_str(&text).ok());
        let encoder_size = |field: &str| encoder.as_ref().and_then(|c| c.get(field)?.as_u64()).map(|n| n as usize);
        let layers = encoder_size("num_hidden_layers");
        if let Some(positions) = encoder_size("max_position_embeddings") {
            check(
                max_len <= positions,
                "tokenize.max_len",
                format!(
                    "is {max_len}: the encoder has {positions} positions (its config.json's max_position_embeddings)"
                ),
            );
        }
        train_range_errors("teacher_ner", &self.teacher_ner, max_len, layers, &mut check);
        train_range_errors("teacher_sim", &self.teacher_sim, max_len, layers, &mut check);
        train_range_errors("distill", &self.distill, max_len, layers, &mut check);
        train_range_errors("teacher_adv", &self.teacher_adv, max_len, layers, &mut check);
        train_range_errors("teacher_msd", &self.teacher_msd, max_len, layers, &mut check);
        train_range_errors("teacher_trans", &self.teacher_trans, max_len, layers, &mut check);
        let u = &self.unitrans;
        check(u.vocabulary >= 1, "unitrans.vocabulary", "must be at least 1".into());
        check(u.csls_k >= 1, "unitrans.csls_k", "must be at least 1".into());
        // Bounded by the encoder's depth only where contextual vectors are made.
        let contextual = self.method == Method::UniTrans && u.word_vectors == WordVectors::Contextual;
        check(
            !contextual || layers.is_none_or(|n| u.layer >= 1 && u.layer <= n),
            "unitrans.layer",
            format!("is {}: must lie in [1, the encoder's layers]", u.layer),
        );
        check(
            u.hard_weight.is_finite() && u.hard_weight >= 0.0,
            "unitrans.hard_weight",
            format!("is {}: must be 0 or more", u.hard_weight),
        );
        let m = &self.msd;
        // Where MSD runs, or where a value other than the default was given under any
        // method (a bad value is wrong whichever method reads it); the default stays fine
        // for the other methods on a shallower encoder.
        let msd_checked = self.method == Method::Msd || m.first_layer != MsdConfig::default().first_layer;
        check(
            !msd_checked || (m.first_layer >= 1 && layers.is_none_or(|n| m.first_layer < n)),
            "msd.first_layer",
            format!("is {}: must lie in [1, the encoder's layers)", m.first_layer),
        );
        for (key, w) in [("msd.aux_weight", m.aux_weight), ("msd.mmd_weight", m.mmd_weight)] {
            check(w >= 0.0 && w.is_finite(), key, format!("is {w}: must be 0 or positive"));
        }
        let a = &self.advpicker;
        for (key, lr) in
            [("advpicker.discriminator_lr", a.discriminator_lr), ("advpicker.generator_lr", a.generator_lr)]
        {
            check(lr > 0.0 && lr.is_finite(), key, format!("is {lr}: must be a positive number"));
        }
        check(a.discriminator_hidden >= 1, "advpicker.discriminator_hidden", "must be at least 1".into());
        check(
            a.target_ratio >= 0.0 && a.target_ratio.is_finite(),
            "advpicker.target_ratio",
            format!("is {}: must be 0 (all) or positive", a.target_ratio),
        );
        check(a.keep > 0.0 && a.keep <= 1.0, "advpicker.keep", format!("is {}: must lie in (0, 1]", a.keep));
        check(a.teachers >= 1, "advpicker.teachers", "must be at least 1".into());
        let langs: Vec<&str> = std::iter::once(&self.source).chain(&self.sources).map(|c| c.lang.as_str()).collect();
        for (i, lang) in langs.iter().enumerate().skip(1) {
            check(!langs[..i].contains(lang), "sources", format!("names source language `{lang}` twice"));
        }
        check(
            self.method != Method::TslMulti || !self.sources.is_empty(),
            "sources",
            "is empty: method `tsl-multi` needs at least one more labeled source language ([[sources]])".into(),
        );
        let ms = &self.multi_source;
        check(ms.rank >= 1, "multi_source.rank", "must be at least 1".into());
        check(ms.epochs >= 1, "multi_source.epochs", "must be at least 1".into());
        check(ms.batch_size >= 1, "multi_source.batch_size", "must be at least 1".into());
        check(ms.lr.is_finite() && ms.lr > 0.0, "multi_source.lr", format!("is {}: must be above 0", ms.lr));
        check(
            ms.orthogonality.is_finite() && ms.orthogonality >= 0.0,
            "multi_source.orthogonality",
            format!("is {}: must be 0 or more", ms.orthogonality),
        );
        let n = self.teacher_sim.batch_size;
        check(n != 1, "teacher_sim.batch_size", format!("is {n}: pairs need two sentences per batch"));
        let sp = &self.sim_pairs;
        check(sp.pairs_per_batch >= 1, "sim_pairs.pairs_per_batch", "must be at least 1".into());
        check(
            unit(sp.positive_ratio),
            "sim_pairs.positive_ratio",
            format!("is {}: must lie in [0, 1]", sp.positive_ratio),
        );
        check(
            unit(sp.o_anchor_ratio),
            "sim_pairs.o_anchor_ratio",
            format!("is {}: must lie in [0, 1]", sp.o_anchor_ratio),
        );
        check(
            !self.similarity.calibrated || self.method == Method::Mtmt,
            "similarity.calibrated",
            format!(
                "is on under method {}: only MTMT's similarity teacher fits a calibration",
                serde_json::to_string(&self.method).unwrap_or_default()
            ),
        );
        let g = self.score.group_size;
        check(g >= 2, "score.group_size", format!("is {g}: pairs need two sentences per group"));
        check(self.score.pairs_per_sentence >= 1, "score.pairs_per_sentence", "must be at least 1".into());
        let w = self.distill_loss.all_words_weight;
        check(w.is_finite() && w >= 0.0, "distill_loss.all_words_weight", format!("is {w}: must be 0 or more"));
        check(self.eval.batch_size >= 1, "eval.batch_size", "must be at least 1".into());
        check(
            self.eval.selection != Selection::SourceDev || self.method.spec().student().is_none(),
            "eval.selection",
            "is source_dev, but a student learns from target text and is scored on no source dev split while \
             training: use last or target_dev (source_dev selects the recognizer of `method = \"direct\"`)"
                .into(),
        );
        errors
    }

    /// The BIO label list: `O`, then `B-X`, `I-X` for each entity type in config order.
    pub fn bio_labels(&self) -> Vec<String> {
        bio_labels(&self.labels)
    }
}

/// The range checks of one corpus's reading settings, keys under `section`.
fn corpus_range_errors(section: &str, c: &Corpus, labels: &[String], check: &mut impl FnMut(bool, &str, String)) {
    let key = |field: &str| format!("{section}.{field}");
    for (field, column) in [("token_column", c.token_column), ("tag_column", c.tag_column)] {
        check(column != Some(0), &key(field), "is 0: columns count from 1".into());
    }
    check(
        c.token_column.is_none() || c.token_column != c.tag_column,
        &key("tag_column"),
        "is the token's column".into(),
    );
    for (from, to) in &c.tag_map {
        check(
            to == "O" || labels.contains(to),
            &key("tag_map"),
            format!("maps `{from}` to `{to}`, which is not one of the labels ({}) nor `O`", labels.join(", ")),
        );
    }
}

/// Whether `x` lies in [0, 1].
fn unit(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

/// The range checks of one model's training settings, keys under `section`.
fn train_range_errors<R: ModelRole>(
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

/// The BIO label list for a set of entity types.
pub fn bio_labels(types: &[String]) -> Vec<String> {
    let mut labels = vec!["O".to_string()];
    for t in types {
        labels.push(format!("B-{t}"));
        labels.push(format!("I-{t}"));
    }
    labels
}

/// Settings added after artifacts existed, with the value that behaves as before them. At
/// that value a setting stays out of every stage's view and key; set otherwise, it enters
/// the view of the stages that read it (or its section).
pub const ADDED_LATER: &[(&str, AsBefore)] = &[
    ("source.unspaced", AsBefore::Flag(false)),
    ("target.unspaced", AsBefore::Flag(false)),
    ("teacher_ner.attention_dropout", AsBefore::Flag(true)),
    ("teacher_ner.frozen_dropout", AsBefore::Flag(true)),
    ("teacher_sim.attention_dropout", AsBefore::Flag(true)),
    ("teacher_sim.frozen_dropout", AsBefore::Flag(true)),
    ("distill.attention_dropout", AsBefore::Flag(true)),
    ("distill.frozen_dropout", AsBefore::Flag(true)),
    ("teacher_ner.bf16", AsBefore::Flag(false)),
    ("teacher_sim.bf16", AsBefore::Flag(false)),
    ("distill.bf16", AsBefore::Flag(false)),
    ("similarity.calibrated", AsBefore::Flag(false)),
    ("unitrans.target_casing", AsBefore::Flag(false)),
    ("teacher_ner.optimizer", AsBefore::Name("adamw")),
    ("teacher_sim.optimizer", AsBefore::Name("adamw")),
    ("distill.optimizer", AsBefore::Name("adamw")),
    ("teacher_adv.optimizer", AsBefore::Name("adamw")),
    ("teacher_msd.optimizer", AsBefore::Name("adamw")),
    ("teacher_trans.optimizer", AsBefore::Name("adamw")),
    ("eval.selection", AsBefore::Name("last")),
    ("tokenize.label_past_bare_marker", AsBefore::Flag(false)),
    ("source.format", AsBefore::Absent),
    ("source.token_column", AsBefore::Absent),
    ("source.tag_column", AsBefore::Absent),
    ("source.tag_names", AsBefore::Absent),
    ("source.tag_map", AsBefore::Absent),
    ("target.format", AsBefore::Absent),
    ("target.token_column", AsBefore::Absent),
    ("target.tag_column", AsBefore::Absent),
    ("target.tag_names", AsBefore::Absent),
    ("target.tag_map", AsBefore::Absent),
];

/// The value of a setting added later (`ADDED_LATER`) that behaves as before it.
#[derive(Debug, Clone, Copy)]
pub enum AsBefore {
    Flag(bool),
    /// A choice, by its name in the config.
    Name(&'static str),
    /// Left out of the config (an optional setting, or an empty list or map).
    Absent,
}

impl AsBefore {
    fn is(self, value: &Value) -> bool {
        match self {
            AsBefore::Flag(b) => value.as_bool() == Some(b),
            AsBefore::Name(name) => value.as_str() == Some(name),
            AsBefore::Absent => value.is_null(),
        }
    }
}

/// Removes a dotted key from a view (and the sections it leaves empty).
fn remove(root: &mut Value, key: &str) {
    let Some((parent, last)) = key.rsplit_once('.') else {
        root.as_object_mut().map(|m| m.remove(key));
        return;
    };
    let section = parent.split('.').try_fold(&mut *root, |v, part| v.as_object_mut()?.get_mut(part));
    if let Some(map) = section.and_then(Value::as_object_mut) {
        map.remove(last);
        if map.is_empty() {
            remove(root, parent);
        }
    }
}

/// Looks up a dotted key such as `tokenize.max_len`.
pub fn lookup<'a>(json: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(json, |v, part| v.as_object()?.get(part))
}

fn insert(root: &mut Value, key: &str, value: Value) {
    let mut node = root;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let map = node.as_object_mut().expect("views are objects");
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        node = map.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Every settable key of a config, in dotted form.
pub fn leaf_keys(json: &Value) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v.as_object() {
            Some(map) => {
                for (k, child) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(child, &key, out);
                }
            }
            None => out.push(prefix.to_string()),
        }
    }
    let mut out = Vec::new();
    walk(json, "", &mut out);
    out
}

/// Applies one `KEY=VALUE`, parsing VALUE as the type the schema has at KEY; returns KEY.
fn apply_override(json: &mut Value, assignment: &str) -> Result<String, ConfigError> {
    let (key, raw) =
        assignment.split_once('=').ok_or_else(|| ConfigError::BadAssignment { assignment: assignment.to_string() })?;
    let key = key.trim();
    let existing = match lookup(json, key) {
        Some(v) if !v.is_object() => v.clone(),
        _ => return Err(ConfigError::UnknownKey { key: key.to_string(), valid: leaf_keys(json) }),
    };
    let bad = |message: &str| ConfigError::BadValue {
        key: key.to_string(),
        value: raw.to_string(),
        message: message.to_string(),
    };
    let value = match &existing {
        Value::String(_) => Value::String(raw.to_string()),
        Value::Bool(_) => Value::Bool(raw.parse().map_err(|_| bad("expected true or false"))?),
        // Counts and sizes are unsigned in the schema: say so here, not as a schema error.
        Value::Number(n) if n.is_u64() => {
            Value::from(raw.parse::<u64>().map_err(|_| bad("expected an integer of 0 or more"))?)
        }
        Value::Number(n) if n.is_i64() => Value::from(raw.parse::<i64>().map_err(|_| bad("expected an integer"))?),
        Value::Number(_) => match raw.parse::<f64>() {
            Ok(x) if x.is_finite() => Value::from(x),
            Ok(_) => return Err(bad("expected a finite number (not NaN or infinite)")),
            Err(_) => return Err(bad("expected a number")),
        },
        // Lists and unset optional values: read VALUE as a TOML literal, else as a string.
        _ => match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
            Ok(mut table) => {
                serde_json::to_value(table.remove("v").expect("parsed v")).map_err(|e| bad(&e.to_string()))?
            }
            Err(_) if existing.is_null() => Value::String(raw.to_string()),
            Err(_) => return Err(bad("expected a TOML value such as [\"PER\", \"LOC\"]")),
        },
    };
    let (parent, last) = key.rsplit_once('.').map_or(("", key), |(p, l)| (p, l));
    let target = if parent.is_empty() {
        Some(&mut *json)
    } else {
        parent.split('.').try_fold(&mut *json, |v, part| v.as_object_mut()?.get_mut(part))
    };
    target.and_then(Value::as_object_mut).expect("key was found above").insert(last.to_string(), value);
    Ok(key.to_string())
}

/// Replaces `${VAR}` in every string. A variable at the start of a value whose
/// content is a relative path is made absolute against the working directory, so
/// `MTMT_DATA=../shared/data` means the same wherever the config file lives.
fn expand_env(json: &mut Value, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    match json {
        Value::String(s) if s.contains("${") => *s = expand_str(s, key, env)?,
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let child = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
                expand_env(v, &child, env)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                expand_env(v, key, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_str(s: &str, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        let var = &rest[start + 2..start + len];
        let mut value =
            env(var).ok_or_else(|| ConfigError::MissingEnv { key: key.to_string(), var: var.to_string() })?;
        if out.is_empty() && start == 0 && Path::new(&value).is_relative() {
            if let Ok(cwd) = std::env::current_dir() {
                value = cwd.join(value).to_string_lossy().into_owned();
            }
        }
        out.push_str(&rest[..start]);
        out.push_str(&value);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment the tests' configs see: set here, never in the process, so tests
    /// running in parallel cannot race on it.
    fn env(var: &str) -> Option<String> {
        (var == "MTMT_TEST_ROOT").then(|| "/data".to_string())
    }

    fn demo(extra: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let text = format!(
            "labels = [\"PER\", \"LOC\"]\n{extra}\n[source]\nlang = \"en\"\ntrain = \"en.txt\"\n\
             [target]\nlang = \"es\"\ntrain = \"${{MTMT_TEST_ROOT}}/es.txt\"\n"
        );
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn load(path: &Path, overrides: &[&str]) -> Result<ResolvedConfig, ConfigError> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        ResolvedConfig::load_with_env(path, &overrides, &env)
    }

    #[test]
    fn set_is_typed_by_schema_and_unknown_keys_list_valid_ones() {
        let (_d, path) = demo("");
        let cfg = load(&path, &["tokenize.max_len=64"]).unwrap();
        assert_eq!(cfg.config.tokenize.max_len, 64);
        assert_eq!(cfg.config.target.train, PathBuf::from("/data/es.txt"));
        assert!(
            cfg.config.source.train.ends_with("en.txt") && cfg.config.source.train.is_absolute() == path.is_absolute()
        );

        let err = load(&path, &["tokenize.max_len=abc"]).unwrap_err();
        assert!(err.to_string().contains("expected an integer"), "{err}");
        let err = load(&path, &["tokenize.maxlen=3"]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown config key `tokenize.maxlen`") && msg.contains("tokenize.max_len"), "{msg}");

        let cfg = load(&path, &["labels=[\"PER\"]", "target.dev=dev.txt"]).unwrap();
        assert_eq!(cfg.config.labels, vec!["PER"]);
        assert!(cfg.config.target.dev.unwrap().ends_with("dev.txt"));
    }

    #[test]
    fn a_bad_set_value_blames_the_set_not_the_file() {
        let (_d, path) = demo("");
        let err = load(&path, &["teacher_ner.epochs=-1"]).unwrap_err().to_string();
        assert_eq!(err, "--set teacher_ner.epochs=-1: expected an integer of 0 or more");
        let err = load(&path, &["method=foo"]).unwrap_err().to_string();
        assert!(err.starts_with("--set method=foo: unknown variant `foo`"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_key_and_where_they_came_from() {
        let (_d, path) = demo("");
        for (set, key) in [
            ("teacher_ner.dropout=1.5", "teacher_ner.dropout"),
            ("score.pairs_per_sentence=0", "score.pairs_per_sentence"),
            ("distill.epochs=0", "distill.epochs"),
            ("teacher_sim.batch_size=0", "teacher_sim.batch_size"),
            ("tokenize.max_len=1", "tokenize.max_len"),
            ("teacher_ner.lr=-1", "teacher_ner.lr"),
            ("distill.warmup=-1", "distill.warmup"),
            ("sim_pairs.positive_ratio=2", "sim_pairs.positive_ratio"),
            ("labels=[\"PER\", \"PER\"]", "labels"),
            ("teacher_ner.max_tokens=10", "teacher_ner.max_tokens"),
        ] {
            let err = load(&path, &[set]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--set {set}: `{key}` ")), "{set}: {err}");
        }
        // From the file, the file is named.
        let (_d, path) = demo("[teacher_ner]\nepochs = 0\n");
        let err = load(&path, &[]).unwrap_err().to_string();
        assert_eq!(err, format!("{}: `teacher_ner.epochs` is 0: must be at least 1", path.display()));
        // A later --set that repairs it is accepted.
        assert_eq!(load(&path, &["teacher_ner.epochs=2"]).unwrap().config.teacher_ner.epochs, 2);
    }

    #[test]
    fn freeze_layers_cannot_exceed_the_encoders_depth() {
        let (dir, path) = demo("");
        std::fs::write(dir.path().join("config.json"), r#"{"num_hidden_layers": 4}"#).unwrap();
        assert!(load(&path, &["encoder.config=config.json", "teacher_ner.freeze_layers=4"]).is_ok());
        let err = load(&path, &["encoder.config=config.json", "teacher_ner.freeze_layers=99"]).unwrap_err();
        assert!(err.to_string().contains("`teacher_ner.freeze_layers` is 99: the encoder has 4 layers"), "{err}");
        // MSD's heads start below the last layer: the default is checked only where MSD runs.
        let err = load(&path, &["encoder.config=config.json", "method=msd"]).unwrap_err();
        assert!(err.to_string().contains("`msd.first_layer` is 4: must lie in [1, the encoder's layers)"), "{err}");
        assert!(load(&path, &["encoder.config=config.json", "method=msd", "msd.first_layer=2"]).is_ok());
        // A value given out of range is refused under any method.
        let err = load(&path, &["encoder.config=config.json", "msd.first_layer=40"]).unwrap_err();
        assert!(err.to_string().contains("`msd.first_layer` is 40"), "{err}");
    }

    #[test]
    fn missing_env_var_names_key_and_variable() {
        let (_d, path) = demo("");
        let text = std::fs::read_to_string(&path).unwrap().replace("MTMT_TEST_ROOT", "MTMT_UNSET_VAR_FOR_TEST");
        std::fs::write(&path, text).unwrap();
        let err = load(&path, &[]).unwrap_err().to_string();
        assert!(err.contains("target.train") && err.contains("MTMT_UNSET_VAR_FOR_TEST"), "{err}");
    }

    #[test]
    fn views_hold_only_declared_keys() {
        let (_d, path) = demo("seed = 7");
        let cfg = load(&path, &[]).unwrap();
        let view = cfg.view(&["tokenize.max_len", "source.lang", "labels"]);
        assert_eq!(
            view,
            serde_json::json!({"tokenize": {"max_len": 128}, "source": {"lang": "en"}, "labels": ["PER", "LOC"]})
        );
    }

    #[test]
    fn a_methods_defaults_yield_to_the_file_and_to_set() {
        let form = |extra: &str, overrides: &[&str]| {
            let (_d, path) = demo(extra);
            let c = load(&path, overrides).unwrap().config;
            (c.score.sampling, c.distill_loss.all_words)
        };
        assert_eq!(form("", &[]), (PairSampling::Uniform, true), "MTMT's default");
        assert_eq!(form("method = \"mtst\"", &[]), (PairSampling::Balanced, false));
        assert_eq!(form("", &["method=tsl"]), (PairSampling::Balanced, false));
        assert_eq!(form("", &["score.sampling=balanced"]), (PairSampling::Balanced, true));
        assert_eq!(form("[distill_loss]\nall_words = false", &[]), (PairSampling::Uniform, false));
        let paper = ["score.sampling=balanced", "distill_loss.all_words=false"];
        assert_eq!(form("", &paper), (PairSampling::Balanced, false), "the paper's form");
    }

    #[test]
    fn bio_labels_follow_type_order() {
        assert_eq!(bio_labels(&["PER".into(), "ORG".into()]), ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]);
    }

    #[test]
    fn a_recipe_sets_what_the_file_and_the_command_line_leave_open() {
        let (_d, path) = demo("recipe = \"mtmt-paper\"\n[teacher_sim]\nlr = 2e-5\n");
        let c = load(&path, &["distill.epochs=1"]).unwrap().config;
        assert_eq!((c.distill.lr, c.distill.optimizer, c.distill.weight_decay), (1e-6, Optimizer::Adam, 0.0));
        assert_eq!((c.teacher_ner.lr, c.teacher_ner.freeze_layers, c.teacher_ner.freeze_embeddings), (1e-5, 0, false));
        assert_eq!((c.teacher_ner.dropout, c.tokenize.max_len), (0.2, 128));
        // The file's and the `--set`'s values stand.
        assert_eq!((c.teacher_sim.lr, c.distill.epochs), (2e-5, 1));
        // Without a recipe, the defaults (the TSL/UniTrans recipe).
        let (_d, path) = demo("");
        let c = load(&path, &[]).unwrap().config;
        assert_eq!((c.distill.lr, c.distill.optimizer, c.teacher_ner.freeze_layers), (1e-4, Optimizer::AdamW, 3));
    }
}
