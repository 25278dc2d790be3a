//! MSD's classification heads on intermediate layers (`msd.*`): one token classifier
//! (dropout + linear, as the final head) on the output of each encoder layer from `first`
//! to the last but one, and `omega`, learned logits whose softmax mixes the heads' losses:
//! `loss = main + aux_weight * sum_k softmax(omega)_k loss_k`.

use tch::{nn, Kind, Tensor};

use mtmt_ner::model::heads::{gather_words, TokenClassifier};
use mtmt_ner::model::Pass;
use mtmt_ner::train::data::Batch;

/// Where the heads' variables live in a model's variable store (`msd.head.{layer}.*`,
/// `msd.omega`).
pub(crate) const PREFIX: &str = "msd";

pub(crate) struct LayerHeads {
    heads: Vec<TokenClassifier>,
    omega: Tensor,
    /// The hidden-state index (0 = embeddings, i = layer i's output) of the first head.
    first: usize,
}

impl LayerHeads {
    /// Heads on layers `first..layers` (1-based layer outputs; the last layer has the main
    /// head), randomly initialised under `p`.
    pub fn new(p: nn::Path, hidden: i64, labels: i64, dropout: f64, first: usize, layers: usize) -> Self {
        let heads = (first..layers).map(|l| TokenClassifier::new(&p / "head" / l, hidden, labels, dropout)).collect();
        let omega = p.zeros("omega", &[(layers - first) as i64]);
        Self { heads, omega, first }
    }

    /// Each head's label logits [words, labels] at the batch's words, from the encoder's
    /// hidden states (`BertModel::forward`: embeddings, then every layer).
    pub fn logits(&self, states: &[Tensor], batch: &Batch, pass: Pass) -> Vec<Tensor> {
        self.heads
            .iter()
            .enumerate()
            .map(|(k, head)| {
                head.forward(&gather_words(&states[self.first + k], &batch.word_rows, &batch.word_cols), pass)
            })
            .collect()
    }

    /// `sum_k softmax(omega)_k losses_k` of the heads' (scalar) losses.
    pub fn mix(&self, losses: &[Tensor]) -> Tensor {
        let weights = self.omega.softmax(0, Kind::Float);
        losses.iter().enumerate().map(|(k, l)| weights.get(k as i64) * l).sum()
    }
}
