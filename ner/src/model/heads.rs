//! Heads on the encoder's hidden states. Predictions and losses are taken at the
//! first subword of each word only: callers gather those rows first.

use super::Pass;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// `classifier.*`: dropout, then a linear map to label logits (HF `BertForTokenClassification`).
pub struct TokenClassifier {
    classifier: nn::Linear,
    dropout: f64,
}

impl TokenClassifier {
    pub fn new(p: nn::Path, hidden: i64, labels: i64, dropout: f64) -> Self {
        Self { classifier: nn::linear(p / "classifier", hidden, labels, Default::default()), dropout }
    }

    /// Logits [words, labels] from the hidden states of words' first subwords [words, hidden].
    pub fn forward(&self, word_states: &Tensor, pass: Pass) -> Tensor {
        self.classifier.forward(&word_states.dropout(self.dropout, pass.trains()))
    }
}

/// The siamese similarity of two words: sigmoid of the cosine of their hidden states.
/// It has no trainable part, so t lies in [sigmoid(-1), sigmoid(1)] = [0.269, 0.731]
/// (`calibration::Calibration` widens it).
pub fn similarity(a: &Tensor, b: &Tensor) -> Tensor {
    cosine(a, b).sigmoid()
}

/// The cosine of two words' hidden states, row by row.
pub fn cosine(a: &Tensor, b: &Tensor) -> Tensor {
    Tensor::cosine_similarity(a, b, -1, 1e-8)
}

/// Rows of `hidden` [batch, len, dim] at (row, col) pairs: the states of selected words.
pub fn gather_words(hidden: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
    let (_, len, dim) = hidden.size3().expect("hidden states are [batch, len, dim]");
    hidden.reshape([-1, dim]).index_select(0, &(rows * len + cols))
}

/// Mean cross-entropy of logits [n, labels] against label ids [n].
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.log_softmax(-1, Kind::Float).nll_loss(labels)
}
