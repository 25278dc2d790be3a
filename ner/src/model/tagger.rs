//! The entity recognizer (and the MTMT student): the BERT encoder (`bert.*`) with a
//! token-classification head (`classifier.*`), as HF `BertForTokenClassification`,
//! and batched no-grad inference.

use std::path::Path;

use tch::{nn, Device, Kind, Tensor};

use super::bert::{load_safetensors, BertConfig, BertModel, TrainMode};
use super::heads::{gather_words, TokenClassifier};
use super::params;
pub use super::params::Freeze;
use super::Pass;
use crate::train::batching::BatchPlan;
use crate::train::data::{per_sentence, Batch, EncodedSet};
use crate::train::optim::{AdamW, Decay};

/// The variables of the tagger itself: its encoder and its head.
const TAGGER_PREFIXES: [&str; 2] = ["bert.", "classifier."];

pub struct Tagger {
    pub vs: nn::VarStore,
    pub bert: BertModel,
    pub head: TokenClassifier,
}

impl Tagger {
    /// A tagger whose encoder holds the pretrained weights and whose head is freshly
    /// initialised from `seed`.
    pub fn pretrained(
        config: &Path,
        weights: &Path,
        n_labels: usize,
        dropout: f64,
        device: Device,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let config = BertConfig::from_file(config)?;
        tch::manual_seed(crate::train::rng::Rng::derived(seed, "head init").next_u64() as i64);
        let mut vs = nn::VarStore::new(device);
        let root = vs.root();
        let hidden = config.hidden_size;
        let bert = BertModel::new(&root / "bert", config);
        let head = TokenClassifier::new(root, hidden, n_labels as i64, dropout);
        load_safetensors(&mut vs, weights, "bert.")?;
        Ok(Self { vs, bert, head })
    }

    /// Freezes the pretrained bottom and sets how training runs (dropout, precision).
    pub fn prepare_training(&mut self, freeze: Freeze, mode: TrainMode) {
        params::freeze(&self.vs, "bert.", freeze);
        self.bert.mode = mode;
    }

    pub fn trainable(&self) -> Vec<(String, Tensor)> {
        params::trainable(&self.vs)
    }

    /// AdamW (or Adam) over the trainable parameters; the head's learning rate scaled by
    /// `head_lr_scale`.
    pub fn optimizer(&self, decay: Decay, head_lr_scale: f64) -> AdamW {
        self.optimizer_over(|_| true, decay, head_lr_scale)
    }

    /// `optimizer` over the trainable parameters whose names `include` accepts (when a
    /// method trains parts of the variable store with optimizers of their own).
    pub fn optimizer_over(&self, include: impl Fn(&str) -> bool, decay: Decay, head_lr_scale: f64) -> AdamW {
        params::optimizer_over(&self.vs, include, decay, |name| {
            if name.starts_with("classifier.") {
                head_lr_scale
            } else {
                1.0
            }
        })
    }

    /// Label logits at each kept word's first subword: [words, labels].
    pub fn logits(&self, batch: &Batch, pass: Pass) -> Tensor {
        self.states_and_logits(batch, pass).1
    }

    /// Label logits [words, labels] at the batch's words, from last-layer hidden states
    /// [batch, len, dim] already computed.
    pub fn logits_at(&self, hidden: &Tensor, batch: &Batch, pass: Pass) -> Tensor {
        self.head.forward(&gather_words(hidden, &batch.word_rows, &batch.word_cols), pass)
    }

    /// The words' last-layer states [words, dim] and their label logits [words, labels].
    pub fn states_and_logits(&self, batch: &Batch, pass: Pass) -> (Tensor, Tensor) {
        let hidden = self.bert.last_hidden(&batch.input_ids, &batch.attention_mask, pass);
        let states = gather_words(&hidden, &batch.word_rows, &batch.word_cols);
        let logits = self.head.forward(&states, pass);
        (states, logits)
    }

    /// Saves what training changed of the tagger itself (`bert.*`, `classifier.*`), not
    /// what a method added to its variable store (a discriminator, more heads).
    pub fn save_trained(&self, path: &Path) -> anyhow::Result<()> {
        params::save_trained_over(&self.vs, path, |name| TAGGER_PREFIXES.iter().any(|p| name.starts_with(p)))
    }

    /// Loads what `save_trained` saved, or the tagger's part of a training stage's epoch
    /// checkpoint (which holds whatever the stage trained).
    pub fn load_trained(&mut self, path: &Path) -> anyhow::Result<()> {
        params::load_trained(&self.vs, path, &TAGGER_PREFIXES)
    }

    /// Label probabilities of every kept word, per sentence ([words, labels] each),
    /// computed without gradients in length-sorted batches.
    pub fn predict_probs(&self, set: &EncodedSet, plan: &BatchPlan) -> Vec<Tensor> {
        per_sentence(set, plan, self.vs.device(), |batch| {
            self.logits(batch, Pass::Infer).softmax(-1, Kind::Float).to_device(Device::Cpu)
        })
    }
}
