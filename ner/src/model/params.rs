//! Operations on a model's variables: freezing the pretrained bottom, listing what
//! trains, the optimizer's groups, and saving or loading only what training changed
//! (frozen parameters equal the pretrained encoder, which the cache key already names).

use std::path::Path;

use anyhow::Context;
use tch::{nn, Tensor};

use crate::train::optim::{no_decay, AdamW, AdamWConfig, Decay, ParamGroup};

/// Which pretrained parameters stay fixed during fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freeze {
    pub embeddings: bool,
    /// The bottom this many encoder layers.
    pub layers: usize,
}

/// Marks the frozen parameters of the encoder under `prefix` as not requiring gradients.
pub fn freeze(vs: &nn::VarStore, prefix: &str, freeze: Freeze) {
    for (name, var) in vs.variables() {
        let Some(name) = name.strip_prefix(prefix) else { continue };
        let frozen_layer = (0..freeze.layers).any(|i| name.starts_with(&format!("encoder.layer.{i}.")));
        if frozen_layer || (freeze.embeddings && name.starts_with("embeddings.")) {
            let _ = var.set_requires_grad(false);
        }
    }
}

/// Trainable (name, variable) pairs, sorted by name so optimizer state lines up across runs.
pub fn trainable(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, v)| v.requires_grad()).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// AdamW (or Adam, as `decay` says) over the trainable parameters: no weight decay on
/// biases and LayerNorm weights; `lr_scale` gives each parameter's learning-rate multiplier.
pub fn optimizer(vs: &nn::VarStore, decay: Decay, lr_scale: impl Fn(&str) -> f64) -> AdamW {
    optimizer_over(vs, |_| true, decay, lr_scale)
}

/// `optimizer` over the trainable parameters whose names `include` accepts (a model
/// trained by several optimizers, each over its part).
pub fn optimizer_over(
    vs: &nn::VarStore,
    include: impl Fn(&str) -> bool,
    decay: Decay,
    lr_scale: impl Fn(&str) -> f64,
) -> AdamW {
    let vars: Vec<(String, Tensor)> = trainable(vs).into_iter().filter(|(name, _)| include(name)).collect();
    let mut groups: Vec<ParamGroup> = Vec::new();
    let mut group_of = std::collections::HashMap::new();
    for (name, _) in &vars {
        let group =
            ParamGroup { lr_scale: lr_scale(name), weight_decay: if no_decay(name) { 0.0 } else { decay.rate } };
        let index = groups.iter().position(|g| *g == group).unwrap_or_else(|| {
            groups.push(group);
            groups.len() - 1
        });
        group_of.insert(name.clone(), index);
    }
    let config = AdamWConfig { optimizer: decay.optimizer, ..AdamWConfig::default() };
    AdamW::new(vars, groups, |name| group_of[name], config)
}

/// Saves the trainable parameters.
pub fn save_trained(vs: &nn::VarStore, path: &Path) -> anyhow::Result<()> {
    save_trained_over(vs, path, |_| true)
}

/// Saves the trainable parameters whose names `include` accepts.
pub fn save_trained_over(vs: &nn::VarStore, path: &Path, include: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let vars: Vec<(String, Tensor)> = trainable(vs).into_iter().filter(|(name, _)| include(name)).collect();
    let refs: Vec<(&str, &Tensor)> = vars.iter().map(|(n, t)| (n.as_str(), t)).collect();
    crate::atomic::write_with(path, |tmp| {
        Tensor::write_safetensors(&refs, tmp).with_context(|| format!("writing {}", path.display()))
    })
}

/// Loads what `save_trained` wrote over the current (pretrained) values: the tensors
/// whose names start with one of `prefixes`, each of which must exist in `vs`.
pub fn load_trained(vs: &nn::VarStore, path: &Path, prefixes: &[&str]) -> anyhow::Result<()> {
    let tensors = Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))?;
    let vars = vs.variables();
    let _guard = tch::no_grad_guard();
    for (name, t) in tensors.into_iter().filter(|(n, _)| prefixes.iter().any(|p| n.starts_with(p))) {
        let mut var =
            vars.get(&name).with_context(|| format!("{}: unknown tensor {name}", path.display()))?.shallow_clone();
        var.copy_(&t);
    }
    Ok(())
}
