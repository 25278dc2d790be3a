//! Multi-source TSL's section of the settings (`multi_source`): its struct, defaults and
//! range checks.

use serde::{Deserialize, Serialize};

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
    pub(crate) rank: i64,
    /// Weight of the penalty ||P^T P - I||^2 on the language embeddings P (released: 0.01).
    pub(crate) orthogonality: f64,
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

impl MultiSourceConfig {
    /// The range checks of this section (`Config::range_errors`).
    pub fn range_errors(&self, check: &mut impl FnMut(bool, &str, String)) {
        let ms = self;
        check(ms.rank >= 1, "multi_source.rank", "must be at least 1".into());
        check(ms.epochs >= 1, "multi_source.epochs", "must be at least 1".into());
        check(ms.batch_size >= 1, "multi_source.batch_size", "must be at least 1".into());
        check(ms.lr.is_finite() && ms.lr > 0.0, "multi_source.lr", format!("is {}: must be above 0", ms.lr));
        check(
            ms.orthogonality.is_finite() && ms.orthogonality >= 0.0,
            "multi_source.orthogonality",
            format!("is {}: must be 0 or more", ms.orthogonality),
        );
    }
}
