//! Multi-source TSL's language-similarity model (TSL paper, Eq. 8-11): a sentence's
//! pooled vector g(u) (the pretrained encoder, not fine-tuned) scored against a learned
//! embedding per source language, s(u, mu_k) = (U g(u)) . (V mu_k), a bilinear form of
//! rank `rank`. Trained to identify the source language of the sources' sentences, with
//! the penalty ||P^T P - I||_F^2 on the embeddings P (one row per language; it differs from
//! the paper's ||P P^T - I||_F^2 by a constant, so the gradients are the same). Variables
//! `lang_sim.u.weight`, `lang_sim.v.weight`, `lang_sim.languages`.

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use mtmt_ner::model::bert::BertModel;
use mtmt_ner::model::Pass;
use mtmt_ner::train::batching::sorted_batches;
use mtmt_ner::train::data::{Batch, EncodedSet};
use mtmt_stage::artifacts::INFERENCE;

/// The prefix of the model's variables.
pub(crate) const PREFIX: &str = "lang_sim";

pub(crate) struct LanguageSimilarity {
    u: nn::Linear,
    v: nn::Linear,
    /// P: [languages, hidden], initialised to each language's mean sentence vector.
    pub languages: Tensor,
}

impl LanguageSimilarity {
    pub fn new(p: nn::Path, rank: i64, means: &Tensor) -> Self {
        let hidden = means.size()[1];
        let no_bias = nn::LinearConfig { bias: false, ..Default::default() };
        Self {
            u: nn::linear(&p / "u", hidden, rank, no_bias),
            v: nn::linear(&p / "v", hidden, rank, no_bias),
            languages: p.var_copy("languages", means),
        }
    }

    /// Scores [n, languages] of sentence vectors [n, hidden].
    pub fn forward(&self, vectors: &Tensor) -> Tensor {
        self.u.forward(vectors).matmul(&self.v.forward(&self.languages).tr())
    }

    /// ||P^T P - I||_F^2 over the language embeddings (rows of P here).
    pub(crate) fn orthogonality(&self) -> Tensor {
        let k = self.languages.size()[0];
        let gram = self.languages.matmul(&self.languages.tr());
        (gram - Tensor::eye(k, (Kind::Float, self.languages.device()))).square().sum(Kind::Float)
    }
}

/// Each sentence's vector [n, hidden]: the mean of the encoder's last hidden states over its
/// real subwords (the pooling e5 was trained with), on the CPU, in set order.
pub(crate) fn sentence_vectors(bert: &BertModel, set: &EncodedSet, device: Device) -> Tensor {
    let _guard = tch::no_grad_guard();
    let hidden = bert.config.hidden_size;
    let mut out = Tensor::zeros([set.len() as i64, hidden], (Kind::Float, Device::Cpu));
    for idx in sorted_batches(&set.lengths(), &INFERENCE) {
        let batch = Batch::new(set, &idx, device);
        let states = bert.last_hidden(&batch.input_ids, &batch.attention_mask, Pass::Infer);
        let mask = batch.attention_mask.to_kind(Kind::Float).unsqueeze(-1);
        let mean =
            (states * &mask).sum_dim_intlist(1, false, Kind::Float) / mask.sum_dim_intlist(1, false, Kind::Float);
        let rows = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let _ = out.index_copy_(0, &rows, &mean.to_device(Device::Cpu));
    }
    out
}

/// Teacher weights [n, languages] from scores [n, languages]: softmax of each row at
/// temperature = the variance of all scores (the paper's tau, "so that the weights are not
/// too biased to either 0 or 1").
pub(crate) fn sentence_weights(scores: &Tensor) -> Tensor {
    let tau = scores.var(false).clamp_min(1e-12);
    (scores / tau).softmax(-1, Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_distributions_and_follow_the_scores() {
        let scores = Tensor::from_slice2(&[[2.0f32, 0.0, -1.0], [0.0, 0.0, 0.0], [-3.0, 1.0, 1.0]]);
        let w = sentence_weights(&scores);
        let sums = Vec::<f32>::try_from(w.sum_dim_intlist(-1, false, Kind::Float)).unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-6), "{sums:?}");
        let w = Vec::<f32>::try_from(w.flatten(0, -1)).unwrap();
        assert!(w[0] > w[1] && w[1] > w[2]);
        assert!((w[3] - 1.0 / 3.0).abs() < 1e-6 && (w[7] - w[8]).abs() < 1e-6 && w[6] < w[7]);
    }

    #[test]
    fn orthonormal_embeddings_pay_no_penalty() {
        let vs = nn::VarStore::new(Device::Cpu);
        let eye = Tensor::eye(4, (Kind::Float, Device::Cpu)).narrow(0, 0, 2);
        let model = LanguageSimilarity::new(vs.root(), 3, &eye);
        assert!(model.orthogonality().double_value(&[]).abs() < 1e-12);
        assert_eq!(model.forward(&Tensor::ones([5, 4], (Kind::Float, Device::Cpu))).size(), [5, 2]);
        let doubled = LanguageSimilarity::new(vs.root() / "b", 3, &(eye * 2.0));
        // Gram = 4 I: (4 - 1)^2 on each of the 2 diagonal entries.
        assert!((doubled.orthogonality().double_value(&[]) - 18.0).abs() < 1e-9);
    }
}
