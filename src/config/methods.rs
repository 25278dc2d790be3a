//! The sections of the settings that only some methods read: MSD, UniTrans, multi-source
//! TSL, AdvPicker, and MTMT's pairs, similarity, weights and student loss.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
