//! The entity recognizer: the BERT encoder (`bert.*`) with a token-classification
//! head (`classifier.*`), as HF `BertForTokenClassification`. Freezing, optimizer
//! groups, saving only what training changed, and batched no-grad inference.

use std::path::Path;

use anyhow::Context;
use tch::{nn, Device, Kind, Tensor};

use super::bert::{load_safetensors, BertConfig, BertModel};
use super::heads::{gather_words, TokenClassifier};
use crate::train::batching::{sorted_batches, BatchPlan};
use crate::train::data::{Batch, EncodedSet};
use crate::train::optim::{no_decay, AdamW, AdamWConfig, ParamGroup};

/// Which pretrained parameters stay fixed during fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freeze {
    pub embeddings: bool,
    /// The bottom this many encoder layers.
    pub layers: usize,
}

pub struct Tagger {
    pub vs: nn::VarStore,
    pub bert: BertModel,
    pub head: TokenClassifier,
    pub n_labels: i64,
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
        Ok(Self { vs, bert, head, n_labels: n_labels as i64 })
    }

    /// Marks frozen parameters as not requiring gradients.
    pub fn freeze(&mut self, freeze: Freeze) {
        for (name, var) in self.vs.variables() {
            let frozen_layer = (0..freeze.layers).any(|i| name.starts_with(&format!("bert.encoder.layer.{i}.")));
            if frozen_layer || (freeze.embeddings && name.starts_with("bert.embeddings.")) {
                let _ = var.set_requires_grad(false);
            }
        }
    }

    /// Trainable (name, variable) pairs, sorted by name so optimizer state lines up across runs.
    pub fn trainable(&self) -> Vec<(String, Tensor)> {
        let mut vars: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().filter(|(_, v)| v.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// AdamW over the trainable parameters: no weight decay on biases and LayerNorm
    /// weights; the head's learning rate scaled by `head_lr_scale`.
    pub fn optimizer(&self, weight_decay: f64, head_lr_scale: f64) -> AdamW {
        let groups = vec![
            ParamGroup { lr_scale: 1.0, weight_decay },
            ParamGroup { lr_scale: 1.0, weight_decay: 0.0 },
            ParamGroup { lr_scale: head_lr_scale, weight_decay },
            ParamGroup { lr_scale: head_lr_scale, weight_decay: 0.0 },
        ];
        let group_of = |name: &str| (usize::from(no_decay(name))) + if name.starts_with("classifier.") { 2 } else { 0 };
        AdamW::new(self.trainable(), groups, group_of, AdamWConfig::default())
    }

    /// Label logits at each kept word's first subword: [words, labels].
    pub fn logits(&self, batch: &Batch, train: bool) -> Tensor {
        let hidden = self.bert.last_hidden(&batch.input_ids, &batch.attention_mask, train);
        self.head.forward(&gather_words(&hidden, &batch.word_rows, &batch.word_cols), train)
    }

    /// Saves the parameters training changed (the frozen ones equal the pretrained encoder).
    pub fn save_trained(&self, path: &Path) -> anyhow::Result<()> {
        let vars = self.trainable();
        let refs: Vec<(&str, &Tensor)> = vars.iter().map(|(n, t)| (n.as_str(), t)).collect();
        Tensor::write_safetensors(&refs, path).with_context(|| format!("writing {}", path.display()))
    }

    /// Loads what `save_trained` wrote on top of the pretrained weights.
    pub fn load_trained(&mut self, path: &Path) -> anyhow::Result<()> {
        let tensors = Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))?;
        let vars = self.vs.variables();
        let _guard = tch::no_grad_guard();
        for (name, t) in tensors {
            let mut var =
                vars.get(&name).with_context(|| format!("{}: unknown tensor {name}", path.display()))?.shallow_clone();
            var.copy_(&t);
        }
        Ok(())
    }

    /// Label probabilities of every kept word, per sentence ([words, labels] each),
    /// computed without gradients in length-sorted batches.
    pub fn predict_probs(&self, set: &EncodedSet, plan: &BatchPlan) -> Vec<Tensor> {
        let _guard = tch::no_grad_guard();
        let mut out: Vec<Option<Tensor>> = (0..set.len()).map(|_| None).collect();
        for indices in sorted_batches(&set.lengths(), plan) {
            let batch = Batch::new(set, &indices, self.vs.device());
            let probs = self.logits(&batch, false).softmax(-1, Kind::Float).to_device(Device::Cpu);
            let mut offset = 0;
            for (&i, &words) in indices.iter().zip(&batch.words_per_sentence) {
                out[i] = Some(probs.narrow(0, offset, words as i64));
                offset += words as i64;
            }
        }
        out.into_iter().map(|t| t.expect("every sentence is in one batch")).collect()
    }
}
