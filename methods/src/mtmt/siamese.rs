//! The siamese entity-similarity evaluator: one encoder (`bert.*`) applied to two
//! sentences; two selected words are compared by t = sigmoid(cos(h_i, h'_j)). It has
//! no head: training moves the encoder's representations.

use std::path::Path;

use tch::{nn, Device, Kind, Tensor};

use super::pairs::Pair;
use mtmt_ner::model::bert::{load_safetensors, BertConfig, BertModel};
use mtmt_ner::model::heads::{cosine, gather_words};
use mtmt_ner::model::params;
use mtmt_ner::model::Pass;
use mtmt_ner::train::data::{prefix_offsets, Batch};

pub(crate) struct Siamese {
    pub vs: nn::VarStore,
    pub bert: BertModel,
}

impl Siamese {
    pub fn pretrained(config: &Path, weights: &Path, device: Device) -> anyhow::Result<Self> {
        let config = BertConfig::from_file(config)?;
        let mut vs = nn::VarStore::new(device);
        let bert = BertModel::new(vs.root() / "bert", config);
        load_safetensors(&mut vs, weights, "bert.")?;
        Ok(Self { vs, bert })
    }

    /// Last-layer states of every kept word's first subword, in batch order: [words, dim].
    pub fn word_states(&self, batch: &Batch, pass: Pass) -> Tensor {
        let hidden = self.bert.last_hidden(&batch.input_ids, &batch.attention_mask, pass);
        gather_words(&hidden, &batch.word_rows, &batch.word_cols)
    }

    /// Loads a trained encoder, from a similarity teacher or from a tagger (whose
    /// classification head it leaves aside).
    pub fn load_trained(&self, path: &Path) -> anyhow::Result<()> {
        params::load_trained(&self.vs, path, &["bert."])
    }
}

/// Index of each batch row's first word among the batch's words.
pub(crate) fn word_offsets(batch: &Batch) -> Vec<usize> {
    prefix_offsets(batch.words_per_sentence.iter().copied())
}

/// t for each pair from the batch's word states [words, dim].
pub(crate) fn pair_similarity(states: &Tensor, offsets: &[usize], pairs: &[Pair]) -> Tensor {
    pair_cosine(states, offsets, pairs).sigmoid()
}

/// The cosine of each pair's two words from the batch's word states [words, dim].
pub(crate) fn pair_cosine(states: &Tensor, offsets: &[usize], pairs: &[Pair]) -> Tensor {
    let index = |pick: fn(&Pair) -> (usize, usize)| {
        let idx: Vec<i64> = pairs
            .iter()
            .map(|p| {
                let (row, word) = pick(p);
                (offsets[row] + word) as i64
            })
            .collect();
        Tensor::from_slice(&idx).to_device(states.device())
    };
    let a = states.index_select(0, &index(|p| (p.a.row, p.a.word)));
    let b = states.index_select(0, &index(|p| (p.b.row, p.b.word)));
    cosine(&a, &b)
}

/// The pairs' targets: 1 where the two words' classes match.
pub(crate) fn pair_targets(pairs: &[Pair], device: Device) -> Tensor {
    let t: Vec<f32> = pairs.iter().map(|p| if p.same { 1.0 } else { 0.0 }).collect();
    Tensor::from_slice(&t).to_device(device)
}

/// Binary cross-entropy of predicted t against targets in [0, 1], per pair.
pub(crate) fn bce(t: &Tensor, target: &Tensor) -> Tensor {
    t.binary_cross_entropy::<Tensor>(target, None, tch::Reduction::None).to_kind(Kind::Float)
}
