//! MTMT's sections of the settings (`sim_pairs`, `similarity`, `score`, `weights`; MTST
//! reads them too): their structs, defaults and range checks.

use serde::{Deserialize, Serialize};

use crate::Method;
use mtmt_stage::settings::{unit, TrainConfig};

/// Source pairs for the similarity teacher: two words from two different sentences,
/// target 1 when their classes match.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimPairsConfig {
    /// `type`: B-/I- ignored, `O` its own class; `label`: the full BIO label.
    pub same: SameClass,
    /// Pairs drawn among the sentences of each batch (one forward serves them all).
    pub(crate) pairs_per_batch: usize,
    /// Share of positive pairs.
    pub positive_ratio: f64,
    /// Share of anchors drawn from `O` words (the rest from entity classes, uniformly).
    pub(crate) o_anchor_ratio: f64,
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
    /// pairs (`calibration`), used by the pair scores, gamma and the student.
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
    pub(crate) group_size: usize,
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
    pub(crate) formula: WeightFormula,
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

impl SimPairsConfig {
    /// The range checks of this section (`Config::range_errors`).
    pub fn range_errors(&self, check: &mut impl FnMut(bool, &str, String)) {
        let sp = self;
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
    }
}

/// The range checks across MTMT's sections and of the settings they must agree with
/// (`Config::range_errors`, which checks each section's own ranges).
pub fn range_errors(
    teacher_sim: &TrainConfig,
    similarity: &SimilarityConfig,
    score: &ScoreConfig,
    method: Method,
    check: &mut impl FnMut(bool, &str, String),
) {
    let n = teacher_sim.batch_size;
    check(n != 1, "teacher_sim.batch_size", format!("is {n}: pairs need two sentences per batch"));
    check(
        !similarity.calibrated || method == Method::Mtmt,
        "similarity.calibrated",
        format!(
            "is on under method {}: only MTMT's similarity teacher fits a calibration",
            serde_json::to_string(&method).unwrap_or_default()
        ),
    );
    let g = score.group_size;
    check(g >= 2, "score.group_size", format!("is {g}: pairs need two sentences per group"));
    check(score.pairs_per_sentence >= 1, "score.pairs_per_sentence", "must be at least 1".into());
}
