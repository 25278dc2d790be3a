//! The keys of the figures stages record in their manifest's `summary`, shared by the
//! stages that write them and the sweep report that reads them, and how a method declares
//! the figures of its own stages that reports show (`Figure`, `TeacherFigure`).

use crate::stage_name::StageName;

/// A figure a method's own stage records, shown per cell in the sweep report: the stage,
/// what it is, its path in the manifest's summary, its unit. A summary value that is an
/// object (one number per source language) gives one figure per key.
#[derive(Clone, Copy, Debug)]
pub struct Figure {
    pub stage: StageName,
    pub what: &'static str,
    pub path: &'static [&'static str],
    pub unit: Unit,
}

/// A source-only teacher's source-dev figure, shown once per teacher artifact (cells share
/// them) in the sweep report's teacher checks.
#[derive(Clone, Copy, Debug)]
pub struct TeacherFigure {
    pub stage: StageName,
    pub what: &'static str,
    pub path: &'static [&'static str],
}

/// How a figure a stage records is written and shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// Already x100 (an F1): two decimals.
    Score,
    /// A fraction: shown as a percentage.
    Share,
    /// A whole count.
    Count,
    /// A weight in [0, 1]: three decimals.
    Weight,
}

impl Unit {
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Score => format!("{value:.2}"),
            Unit::Share => format!("{:.1}%", 100.0 * value),
            Unit::Count => format!("{value:.0}"),
            Unit::Weight => format!("{value:.3}"),
        }
    }
}

/// `evaluate`: per model and split, the entity scores.
pub const METRICS: &str = "metrics";
/// `evaluate`: how the method's model was chosen among its epochs (`eval.selection`).
pub const SELECTION: &str = "selection";
/// Every stage: what its health checks found (`health`).
pub(crate) const WARNINGS: &str = "warnings";
/// Recognizer teachers: entity scores on source dev.
pub const SOURCE_DEV: &str = "source_dev";
/// Similarity teacher: pair accuracy and F1 on source dev pairs.
pub const SOURCE_DEV_PAIRS: &str = "source_dev_pairs";
/// Recognizer teachers: the BIO label list.
pub const LABELS: &str = "labels";
/// Similarity teacher: pairs seen in training.
pub const TRAIN_PAIRS: &str = "train_pairs";
/// Training stages: mean loss of each epoch.
pub const EPOCH_LOSSES: &str = "epoch_losses";
/// Training stages: seconds in each part of the steps (`StepTimes`).
pub(crate) const STEP_TIMES: &str = "step_times_s";
/// Training stages: real subword tokens per second.
pub(crate) const TRAIN_TOKENS_PER_S: &str = "train_tokens_per_s";
/// Scoring stages: sentences per second.
pub const SENTENCES_PER_S: &str = "sentences_per_s";
/// `score_pairs`, `weights`: pairs written.
pub const PAIRS: &str = "pairs";
/// `score_pairs`: sentence groups.
pub const GROUPS: &str = "groups";
/// `score_pairs`: pairs scored per second.
pub const PAIRS_PER_S: &str = "pairs_per_s";
/// `select`: target sentences kept for AdvPicker's student.
pub const KEPT_SENTENCES: &str = "kept_sentences";
/// `lang_sim`: each source language's mean teacher weight over the target text.
pub const MEAN_TEACHER_WEIGHTS: &str = "mean_teacher_weights";
/// `lexicon`: the share of source words whose translation's own best translation back is
/// the word (label-free: how consistent the induced lexicon is).
pub const LEXICON_MUTUAL: &str = "mutual_nearest_neighbours";
/// `lexicon`: the share of entries that translate a word to itself.
pub const LEXICON_SELF_TRANSLATED: &str = "self_translated";
/// `lexicon`: the share of entries that translate a word to a longer word starting with
/// it (vectors that follow spelling).
pub const LEXICON_PREFIXED: &str = "prefix_translated";
/// `lexicon` with `unitrans.target_casing`: the share of the translations found inside
/// target sentences that the target text spells with a capital (German nouns).
pub const LEXICON_TARGET_CAPITALIZED: &str = "target_capitalized";
/// `translate`: the share of source words replaced by a translation.
pub const TRANSLATED_WORDS: &str = "translated_words";
/// `score_tokens` under UniTrans: the share of target words all three teachers agree on.
pub const AGREEMENT: &str = "agreement";
/// `score_tokens` with several recognizers: the sentences that took each one's labels.
pub const SENTENCES_PER_TEACHER: &str = "sentences_per_teacher";
/// MTMT students: pairs per sentence forward.
pub const PAIRS_PER_SENTENCE_FORWARD: &str = "pairs_per_sentence_forward";

/// Inside `SOURCE_DEV_PAIRS`.
pub const ACCURACY: &str = "accuracy";
pub const F1_SAME: &str = "f1_same";
/// Inside `SOURCE_DEV_PAIRS`: expected calibration error (10 bins) and Brier score of t.
pub const ECE: &str = "ece";
pub const BRIER: &str = "brier";
/// Inside `SOURCE_DEV_PAIRS` when calibrated: the same figures for the paper's sigmoid(cos).
pub const PAPER_SCORE: &str = "paper_score";
/// `teacher_sim` with `similarity.calibrated`: the fitted scale and bias.
pub const CALIBRATION: &str = "calibration";

/// The health warnings of a manifest's summary (none when it recorded none).
pub fn warnings(summary: &serde_json::Value) -> Vec<String> {
    summary[WARNINGS]
        .as_array()
        .map(|list| list.iter().filter_map(|w| w.as_str().map(String::from)).collect())
        .unwrap_or_default()
}
