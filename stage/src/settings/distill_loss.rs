//! The students' loss settings (`distill_loss`), which every method with a student reads.

use serde::{Deserialize, Serialize};

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
