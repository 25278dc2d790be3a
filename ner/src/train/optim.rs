//! AdamW with decoupled weight decay (as `torch.optim.AdamW`) or Adam with weight decay
//! as an L2 term of the gradient (as `torch.optim.Adam`, the MTMT paper's optimizer),
//! parameter groups with their own learning-rate scale and weight decay, global
//! gradient-norm clipping, and a linear warm-up / linear decay schedule. Only trainable parameters get state; the
//! state is plain named tensors, so checkpoints restore it exactly.
//!
//! Three ways to the same update: fused CPU passes (`FusedParam`), a group's parameters
//! off the CPU as whole-buffer ops over their concatenation (`FlatGroup`: on CUDA a few
//! kernel launches instead of several per parameter), and the per-parameter chain of
//! tensor ops that both are tested against bit for bit.

use std::collections::HashMap;

use tch::{Kind, Tensor};

/// Settings shared by all groups.
#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub optimizer: Optimizer,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8, optimizer: Optimizer::AdamW }
    }
}

/// Which of the two updates, that is, how weight decay enters it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// `w <- w (1 - lr wd)` before the moments (`torch.optim.AdamW`).
    #[default]
    AdamW,
    /// `g <- g + wd w` before the moments (`torch.optim.Adam`): an L2 term of the loss,
    /// scaled by the moments as the gradient is.
    Adam,
}

/// Weight decay of the decayed parameters and the update it enters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decay {
    pub rate: f64,
    pub optimizer: Optimizer,
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
    /// Per group, its moments as one buffer each where the group is stepped as a whole.
    flat: Vec<Option<FlatGroup>>,
    config: AdamWConfig,
    /// Steps taken so far.
    pub step: i64,
}

/// Where a group's moments live: in buffers of their own per parameter, or in one buffer
/// per moment for the whole group (its parameters' moments are views into it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StateLayout {
    /// One buffer per group where all of its parameters live on one device other than
    /// the CPU (the CPU has the fused passes).
    Auto,
    /// One buffer per group wherever its parameters share a device and kind: the
    /// off-CPU path, run on the CPU to test it.
    Flat,
}

/// Whether a parameter is exempt from weight decay: biases and LayerNorm weights.
pub(crate) fn no_decay(name: &str) -> bool {
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
        Self::with_layout(params, groups, group_of, config, StateLayout::Auto)
    }

    /// `new` with the moments laid out as `layout` says.
    pub fn with_layout(
        params: Vec<(String, Tensor)>,
        groups: Vec<ParamGroup>,
        group_of: impl Fn(&str) -> usize,
        config: AdamWConfig,
        layout: StateLayout,
    ) -> Self {
        let mut params: Vec<Param> = params
            .into_iter()
            .map(|(name, var)| {
                let group = group_of(&name);
                assert!(group < groups.len(), "parameter {name} assigned to missing group {group}");
                // Moments come below: views into a group's flat buffers, or buffers of
                // their own (allocating both would hold the state twice until the first).
                Param { name, var, group, exp_avg: Tensor::new(), exp_avg_sq: Tensor::new() }
            })
            .collect();
        let flat = (0..groups.len()).map(|g| FlatGroup::new(&mut params, g, layout)).collect();
        for p in params.iter_mut().filter(|p| !p.exp_avg.defined()) {
            p.exp_avg = p.var.zeros_like().detach();
            p.exp_avg_sq = p.var.zeros_like().detach();
        }
        Self { params, groups, flat, config, step: 0 }
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
        self.update(lr, true);
    }

    /// The update as a chain of tensor ops only: the reference the fused passes are tested
    /// against bit for bit.
    #[doc(hidden)]
    pub fn step_with_tensor_ops(&mut self, lr: f64) {
        self.update(lr, false);
    }

    /// One update. With `fuse`, a group with flat moments whose parameters all have
    /// gradients is stepped as a whole, and plain contiguous f32 CPU parameters take two
    /// fused passes over their memory instead of a chain of whole-tensor ops (each a pass
    /// and a temporary), the parameters spread over the threads; the rest take the tensor
    /// ops.
    fn update(&mut self, lr: f64, fuse: bool) {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let (bias1, bias2_sqrt) = self.bias_corrections();
        let updates: Vec<Update> = self
            .groups
            .iter()
            .map(|g| Update::new(&self.config, lr * g.lr_scale, g.weight_decay, bias1, bias2_sqrt))
            .collect();
        let mut stepped = vec![false; self.params.len()];
        for (flat, update) in self.flat.iter_mut().zip(&updates).filter(|_| fuse) {
            if let Some(flat) = flat.as_mut().filter(|f| f.members.iter().all(|&i| self.params[i].var.grad().defined()))
            {
                flat.step(&self.params, update);
                flat.members.iter().for_each(|&i| stepped[i] = true);
            }
        }
        let mut fused = Vec::new();
        for (p, _) in self.params.iter_mut().zip(stepped).filter(|(_, stepped)| !stepped) {
            let grad = p.var.grad();
            if !grad.defined() {
                continue;
            }
            let update = updates[p.group];
            match FusedParam::new(p, &grad).filter(|_| fuse && !update.adds_to_gradient()) {
                Some(f) => fused.push((f, update)),
                None => update.tensor_ops(p, &grad),
            }
        }
        // The square root between the passes is libtorch's: its CPU kernel (MKL's) is not
        // the correctly rounded one, and the update is to stay bit-identical to the chain.
        use rayon::prelude::*;
        fused.par_iter().for_each(|(f, update)| f.moments(update));
        let roots: Vec<Tensor> = fused.iter().map(|(f, _)| f.exp_avg_sq.sqrt()).collect();
        fused.into_par_iter().zip(roots).for_each(|((f, update), root)| f.apply(&update, &root));
    }

    /// `1 - beta1^t` and `sqrt(1 - beta2^t)` at the current step.
    fn bias_corrections(&self) -> (f64, f64) {
        let AdamWConfig { beta1, beta2, .. } = self.config;
        (1.0 - beta1.powi(self.step as i32), (1.0 - beta2.powi(self.step as i32)).sqrt())
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

/// One parameter's update at one step: the scalars of
/// `w <- w (1 - lr wd)` (AdamW) or `g <- g + wd w` (Adam), then `m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
///  w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
#[derive(Debug, Clone, Copy)]
struct Update {
    lr: f64,
    weight_decay: f64,
    optimizer: Optimizer,
    beta1: f64,
    beta2: f64,
    eps: f64,
    bias1: f64,
    bias2_sqrt: f64,
}

impl Update {
    fn new(config: &AdamWConfig, lr: f64, weight_decay: f64, bias1: f64, bias2_sqrt: f64) -> Self {
        let AdamWConfig { beta1, beta2, eps, optimizer } = *config;
        Self { lr, weight_decay, optimizer, beta1, beta2, eps, bias1, bias2_sqrt }
    }

    /// Whether the gradient itself changes (Adam's L2 term): the fused passes read it
    /// as it is, so such an update takes the tensor ops.
    fn adds_to_gradient(&self) -> bool {
        self.optimizer == Optimizer::Adam && self.weight_decay != 0.0
    }

    fn tensor_ops(&self, p: &mut Param, grad: &Tensor) {
        self.chain(&mut p.var, grad, &mut p.exp_avg, &mut p.exp_avg_sq);
    }

    /// The update as whole-tensor ops on a parameter (or a concatenation of them), its
    /// gradient and moments.
    fn chain(&self, var: &mut Tensor, grad: &Tensor, exp_avg: &mut Tensor, exp_avg_sq: &mut Tensor) {
        let Self { lr, weight_decay, optimizer, beta1, beta2, eps, bias1, bias2_sqrt } = *self;
        let l2_grad;
        let grad = if self.adds_to_gradient() {
            l2_grad = grad + &*var * weight_decay;
            &l2_grad
        } else {
            grad
        };
        if weight_decay != 0.0 && optimizer == Optimizer::AdamW {
            let _ = var.g_mul_scalar_(1.0 - lr * weight_decay);
        }
        let _ = exp_avg.g_mul_scalar_(beta1).g_add_(&(grad * (1.0 - beta1)));
        let _ = exp_avg_sq.g_mul_scalar_(beta2).g_add_(&(grad * grad * (1.0 - beta2)));
        let denom = exp_avg_sq.sqrt() / bias2_sqrt + eps;
        let _ = var.g_sub_(&(&*exp_avg / denom * (lr / bias1)));
    }
}

/// A group stepped as a whole: its moments are one buffer each (every member's
/// `exp_avg`/`exp_avg_sq` a view into them), its parameters and gradients are concatenated
/// for the step and the new values copied back. Each op then runs once over the group, not
/// once per parameter: on CUDA, where every op is a kernel launch and a transformer layer
/// has 16 parameters, the launches are what the per-parameter step costs.
struct FlatGroup {
    /// Indices of the group's parameters, in order.
    members: Vec<usize>,
    /// Where each member starts in the buffers (and in the concatenations).
    offsets: Vec<i64>,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

impl FlatGroup {
    /// Lays out group `group`'s moments as one buffer each where `layout` asks for it and
    /// its parameters share a device and kind; `None` (moments left as they are) otherwise.
    fn new(params: &mut [Param], group: usize, layout: StateLayout) -> Option<Self> {
        let members: Vec<usize> = (0..params.len()).filter(|&i| params[i].group == group).collect();
        let first = &params[*members.first()?].var;
        let (device, kind) = (first.device(), first.kind());
        let shared = members.iter().all(|&i| params[i].var.device() == device && params[i].var.kind() == kind);
        if !shared || (layout == StateLayout::Auto && device == tch::Device::Cpu) {
            return None;
        }
        let (mut offsets, mut total) = (Vec::with_capacity(members.len()), 0);
        for &i in &members {
            offsets.push(total);
            total += params[i].var.numel() as i64;
        }
        let (exp_avg, exp_avg_sq) = (Tensor::zeros([total], (kind, device)), Tensor::zeros([total], (kind, device)));
        for (&i, &offset) in members.iter().zip(&offsets) {
            let p = &mut params[i];
            p.exp_avg = Self::slot(&exp_avg, offset, &p.var);
            p.exp_avg_sq = Self::slot(&exp_avg_sq, offset, &p.var);
        }
        Some(Self { members, offsets, exp_avg, exp_avg_sq })
    }

    /// The part of a flat `buffer` at `offset` shaped like `like`.
    fn slot(buffer: &Tensor, offset: i64, like: &Tensor) -> Tensor {
        buffer.narrow(0, offset, like.numel() as i64).view(like.size().as_slice())
    }

    /// `update` on every member at once; every member has a gradient.
    fn step(&mut self, params: &[Param], update: &Update) {
        let concat = |f: &dyn Fn(&Param) -> Tensor| {
            Tensor::cat(&self.members.iter().map(|&i| f(&params[i]).reshape([-1])).collect::<Vec<_>>(), 0)
        };
        let (mut var, grad) = (concat(&|p| p.var.shallow_clone()), concat(&|p| p.var.grad()));
        update.chain(&mut var, &grad, &mut self.exp_avg, &mut self.exp_avg_sq);
        for (&i, &offset) in self.members.iter().zip(&self.offsets) {
            let mut p = params[i].var.shallow_clone();
            p.copy_(&Self::slot(&var, offset, &p));
        }
    }
}

/// Raw views of one parameter, its gradient and its two moments, for the fused passes: only
/// for contiguous f32 CPU tensors, four distinct buffers of one length.
struct FusedParam {
    var: *mut f32,
    grad: *const f32,
    exp_avg: *mut f32,
    /// Kept as a tensor too: its square root is taken by libtorch between the passes.
    exp_avg_sq: Tensor,
    len: usize,
}

// The buffers belong to one parameter and no other `FusedParam` points into them.
unsafe impl Send for FusedParam {}
unsafe impl Sync for FusedParam {}

impl FusedParam {
    fn new(p: &Param, grad: &Tensor) -> Option<Self> {
        let plain = |t: &Tensor| t.device() == tch::Device::Cpu && t.kind() == Kind::Float && t.is_contiguous();
        let tensors = [&p.var, grad, &p.exp_avg, &p.exp_avg_sq];
        if !tensors.iter().all(|t| plain(t)) || tensors.iter().any(|t| t.numel() != p.var.numel()) {
            return None;
        }
        Some(Self {
            var: p.var.data_ptr() as *mut f32,
            grad: grad.data_ptr() as *const f32,
            exp_avg: p.exp_avg.data_ptr() as *mut f32,
            exp_avg_sq: p.exp_avg_sq.shallow_clone(),
            len: p.var.numel(),
        })
    }

    /// `f32` slices over `ptr`.
    ///
    /// SAFETY (for every use below): `new` checked that the tensors are contiguous f32 CPU
    /// tensors of `len` elements; they are distinct allocations (a parameter, its gradient,
    /// two state tensors created for it, and a fresh square root), alive for the step, and
    /// only this `FusedParam` touches them while it runs.
    unsafe fn slice<'a>(ptr: *const f32, len: usize) -> &'a mut [f32] {
        std::slice::from_raw_parts_mut(ptr as *mut f32, len)
    }

    /// The weight decay and both moments: the arithmetic of `Update::tensor_ops` with each
    /// double scalar cast to f32, as libtorch casts it.
    fn moments(&self, u: &Update) {
        let (var, grad, m, v) = unsafe {
            (
                Self::slice(self.var, self.len),
                Self::slice(self.grad, self.len),
                Self::slice(self.exp_avg, self.len),
                Self::slice(self.exp_avg_sq.data_ptr() as *const f32, self.len),
            )
        };
        let decay = (u.weight_decay != 0.0).then_some((1.0 - u.lr * u.weight_decay) as f32);
        let (b1, b2) = (u.beta1 as f32, u.beta2 as f32);
        let (one_minus_b1, one_minus_b2) = ((1.0 - u.beta1) as f32, (1.0 - u.beta2) as f32);
        mtmt_kernels::adamw_moments(var, grad, m, v, decay, b1, one_minus_b1, b2, one_minus_b2);
    }

    /// The step itself, given `root` = sqrt(exp_avg_sq).
    fn apply(&self, u: &Update, root: &Tensor) {
        let (var, m, root) = unsafe {
            (
                Self::slice(self.var, self.len),
                Self::slice(self.exp_avg, self.len),
                Self::slice(root.data_ptr() as *const f32, self.len),
            )
        };
        let (bias2_sqrt, eps, step) = (u.bias2_sqrt as f32, u.eps as f32, (u.lr / u.bias1) as f32);
        mtmt_kernels::adamw_apply(var, m, root, bias2_sqrt, eps, step);
    }
}

/// Linear warm-up over `warmup` steps, then linear decay to 0 at `total`.
pub(crate) fn linear_schedule(step: i64, warmup: i64, total: i64) -> f64 {
    if step < warmup {
        (step + 1) as f64 / warmup as f64
    } else {
        ((total - step) as f64 / (total - warmup).max(1) as f64).max(0.0)
    }
}
