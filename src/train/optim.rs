//! AdamW with decoupled weight decay (as `torch.optim.AdamW`), parameter groups with
//! their own learning-rate scale and weight decay, global gradient-norm clipping, and
//! a linear warm-up / linear decay schedule. Only trainable parameters get state; the
//! state is plain named tensors, so checkpoints restore it exactly.

use std::collections::HashMap;

use tch::{Kind, Tensor};

/// Settings shared by all groups.
#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

/// A group's learning-rate multiplier and weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamGroup {
    pub lr_scale: f64,
    pub weight_decay: f64,
}

struct Param {
    name: String,
    var: Tensor,
    group: usize,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

pub struct AdamW {
    params: Vec<Param>,
    groups: Vec<ParamGroup>,
    config: AdamWConfig,
    /// Steps taken so far.
    pub step: i64,
}

/// Whether a parameter is exempt from weight decay: biases and LayerNorm weights.
pub fn no_decay(name: &str) -> bool {
    name.ends_with(".bias") || name.contains("LayerNorm") || name.contains("layer_norm")
}

impl AdamW {
    /// `params` are (name, variable) pairs of trainable variables; `group_of` assigns
    /// each name an index into `groups`.
    pub fn new(
        params: Vec<(String, Tensor)>,
        groups: Vec<ParamGroup>,
        group_of: impl Fn(&str) -> usize,
        config: AdamWConfig,
    ) -> Self {
        let params = params
            .into_iter()
            .map(|(name, var)| {
                let group = group_of(&name);
                assert!(group < groups.len(), "parameter {name} assigned to missing group {group}");
                let exp_avg = var.zeros_like().detach();
                let exp_avg_sq = var.zeros_like().detach();
                Param { name, var, group, exp_avg, exp_avg_sq }
            })
            .collect();
        Self { params, groups, config, step: 0 }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut grad = p.var.grad();
            if grad.defined() {
                let _ = grad.zero_();
            }
        }
    }

    /// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let _guard = tch::no_grad_guard();
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.var.grad()).filter(Tensor::defined).collect();
        if grads.is_empty() {
            return 0.0;
        }
        let squares: Vec<Tensor> = grads.iter().map(|g| g.pow_tensor_scalar(2).sum(Kind::Float)).collect();
        let norm = Tensor::stack(&squares, 0).sum(Kind::Float).sqrt().double_value(&[]);
        let coef = (max_norm / (norm + 1e-6)).min(1.0);
        if coef < 1.0 {
            for mut g in grads {
                let _ = g.g_mul_scalar_(coef);
            }
        }
        norm
    }

    /// One update at base learning rate `lr` (each group scales it).
    pub fn step(&mut self, lr: f64) {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let AdamWConfig { beta1, beta2, eps } = self.config;
        let bias1 = 1.0 - beta1.powi(self.step as i32);
        let bias2_sqrt = (1.0 - beta2.powi(self.step as i32)).sqrt();
        for p in &mut self.params {
            let grad = p.var.grad();
            if !grad.defined() {
                continue;
            }
            let group = self.groups[p.group];
            let lr = lr * group.lr_scale;
            if group.weight_decay != 0.0 {
                let _ = p.var.g_mul_scalar_(1.0 - lr * group.weight_decay);
            }
            let _ = p.exp_avg.g_mul_scalar_(beta1).g_add_(&(&grad * (1.0 - beta1)));
            let _ = p.exp_avg_sq.g_mul_scalar_(beta2).g_add_(&(&grad * &grad * (1.0 - beta2)));
            let denom = p.exp_avg_sq.sqrt() / bias2_sqrt + eps;
            let _ = p.var.g_sub_(&(&p.exp_avg / denom * (lr / bias1)));
        }
    }

    /// The optimizer state as named tensors (`exp_avg.NAME`, `exp_avg_sq.NAME`, `step`).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("step".to_string(), Tensor::from(self.step))];
        for p in &self.params {
            out.push((format!("exp_avg.{}", p.name), p.exp_avg.shallow_clone()));
            out.push((format!("exp_avg_sq.{}", p.name), p.exp_avg_sq.shallow_clone()));
        }
        out
    }

    /// Restores what `state` saved.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> anyhow::Result<()> {
        let _guard = tch::no_grad_guard();
        let get = |key: String| state.get(&key).ok_or_else(|| anyhow::anyhow!("optimizer state lacks `{key}`"));
        self.step = get("step".into())?.int64_value(&[]);
        for p in &mut self.params {
            p.exp_avg.copy_(get(format!("exp_avg.{}", p.name))?);
            p.exp_avg_sq.copy_(get(format!("exp_avg_sq.{}", p.name))?);
        }
        Ok(())
    }

    /// Number of parameters being trained.
    pub fn trainable_parameters(&self) -> i64 {
        self.params.iter().map(|p| p.var.numel() as i64).sum()
    }
}

/// Linear warm-up over `warmup` steps, then linear decay to 0 at `total`.
pub fn linear_schedule(step: i64, warmup: i64, total: i64) -> f64 {
    if step < warmup {
        (step + 1) as f64 / warmup as f64
    } else {
        ((total - step) as f64 / (total - warmup).max(1) as f64).max(0.0)
    }
}
