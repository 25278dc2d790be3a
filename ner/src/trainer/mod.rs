//! The training loop shared by every model: epochs of batches, AdamW with
//! warm-up and decay, clipping, periodic checkpoints, and exact resumption. Batch
//! order and dropout masks are functions of (seed, epoch, step), so a run resumed
//! from a checkpoint takes the same steps as one never interrupted. It sits above the
//! model and its evaluation (a checkpoint holds trained weights and the last dev scores),
//! which are built on the training primitives (`train`).

use std::collections::HashMap;
use std::time::Instant;

use tch::{nn, Tensor};

pub mod checkpoint;

use crate::train::batching::{epoch_batches, BatchPlan};
use crate::train::optim::{linear_schedule, AdamW};
use crate::train::rng::Rng;
use checkpoint::{CheckpointDir, CurvePoint, StepTimes, TrainState};

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub epochs: usize,
    pub batch: BatchPlan,
    pub lr: f64,
    /// Fraction of all steps spent warming up.
    pub warmup_ratio: f64,
    pub max_grad_norm: f64,
    /// Save a checkpoint every this many steps (and at each epoch's end); 0 = epoch ends only.
    pub checkpoint_every: i64,
}

/// The steps of one training run: (epoch, batch) in order, the schedule they follow and
/// the seed each step's dropout derives from.
#[derive(Clone, Copy)]
pub struct Steps<'a> {
    pub batches: &'a [(usize, Vec<usize>)],
    pub schedule: &'a Schedule,
    pub seed: u64,
}

impl Schedule {
    /// The warm-up steps of a run of `total` steps.
    pub fn warmup_steps(&self, total: i64) -> i64 {
        (self.warmup_ratio * total as f64).round() as i64
    }
}

/// Every step's batch, epoch by epoch, as a pure function of the seed.
pub fn all_batches(lengths: &[usize], schedule: &Schedule, seed: u64) -> Vec<(usize, Vec<usize>)> {
    (0..schedule.epochs)
        .flat_map(|epoch| {
            let mut rng = Rng::derived(seed, &format!("epoch {epoch}"));
            epoch_batches(lengths, &schedule.batch, &mut rng).into_iter().map(move |b| (epoch, b))
        })
        .collect()
}

/// Epochs of groups of items used as batches (MTMT's pair groups): each epoch visits
/// every group once, in an order drawn from the seed.
pub fn group_batches(groups: &[Vec<usize>], epochs: usize, seed: u64) -> Vec<(usize, Vec<usize>)> {
    (0..epochs)
        .flat_map(|epoch| {
            let mut order: Vec<usize> = (0..groups.len()).collect();
            Rng::derived(seed, &format!("epoch {epoch}")).shuffle(&mut order);
            order.into_iter().map(move |g| (epoch, groups[g].clone()))
        })
        .collect()
}

/// What a training step updates besides the model: one optimizer's state or several, all
/// of it saved in and restored from checkpoints.
pub trait Optimizers {
    /// The state as named tensors.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores what `state` saved.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> anyhow::Result<()>;
    /// Number of parameters being trained (counted once if several optimizers share them).
    fn trainable_parameters(&self) -> i64;
}

impl Optimizers for AdamW {
    fn state(&self) -> Vec<(String, Tensor)> {
        AdamW::state(self)
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> anyhow::Result<()> {
        AdamW::load_state(self, state)
    }
    fn trainable_parameters(&self) -> i64 {
        AdamW::trainable_parameters(self)
    }
}

/// What one step reports: its loss (the one logged), the batch's real tokens, and named
/// losses recorded beside it where there are several: the terms of the loss
/// (`StepLoss::terms`), or the loss of each update of a step that takes several.
pub struct StepOutcome {
    pub loss: f64,
    pub tokens: usize,
    pub terms: Vec<(&'static str, f64)>,
}

/// A step's loss as `train` takes it: the total it backpropagates, its named terms (each
/// as weighted in the total, so that they sum to it up to rounding; the curve records them
/// beside the total) and the batch's real tokens.
pub struct StepLoss {
    pub total: Tensor,
    pub terms: Vec<(&'static str, Tensor)>,
    pub tokens: usize,
}

impl StepLoss {
    /// A loss of one term.
    pub fn single(total: Tensor, tokens: usize) -> Self {
        Self { total, terms: Vec::new(), tokens }
    }

    /// The sum of named terms (scalars).
    pub fn sum(terms: Vec<(&'static str, Tensor)>, tokens: usize) -> Self {
        let total = terms.iter().map(|(_, t)| t.shallow_clone()).reduce(|a, b| a + b).expect("at least one term");
        Self { total, terms, tokens }
    }
}

/// A clock for the parts of a step: `lap` returns the seconds since the last lap.
pub struct Laps(Instant);

impl Laps {
    pub fn start() -> Self {
        Self(Instant::now())
    }
    pub fn lap(&mut self) -> f64 {
        std::mem::replace(&mut self.0, Instant::now()).elapsed().as_secs_f64()
    }
}

/// Backpropagates `loss` and takes one AdamW step at `lr` after clipping the gradients at
/// `max_grad_norm`, adding each part's time to `times` (the forward pass ends at `laps`'s
/// next lap). `opt.zero_grad()` comes first, before the forward pass.
pub fn update(opt: &mut AdamW, loss: &Tensor, max_grad_norm: f64, lr: f64, times: &mut StepTimes, laps: &mut Laps) {
    times.batch_forward_loss += laps.lap();
    loss.backward();
    times.backward += laps.lap();
    opt.clip_grad_norm(max_grad_norm);
    times.clip += laps.lap();
    opt.step(lr);
    times.optimizer += laps.lap();
}

/// Takes the (epoch, batch) `steps` in order (or, for tests, until `stop_after`
/// steps), resuming from `checkpoints` if they hold a checkpoint. `step_loss` gets the
/// step number and batch and returns the loss in training mode (`StepLoss`); one clipped
/// AdamW update per step follows.
pub fn train(
    vs: &nn::VarStore,
    opt: &mut AdamW,
    run: Steps,
    checkpoints: Option<&CheckpointDir>,
    stop_after: Option<i64>,
    mut step_loss: impl FnMut(i64, &[usize]) -> anyhow::Result<StepLoss>,
    on_step: impl FnMut(&mut TrainState, f64),
) -> anyhow::Result<TrainState> {
    let Steps { schedule, .. } = run;
    let max_grad_norm = schedule.max_grad_norm;
    let step = |opt: &mut AdamW, step: i64, batch: &[usize], lr_factor: f64, times: &mut StepTimes| {
        let mut laps = Laps::start();
        opt.zero_grad();
        let StepLoss { total, terms, tokens } = step_loss(step, batch)?;
        update(opt, &total, max_grad_norm, schedule.lr * lr_factor, times, &mut laps);
        let loss = total.double_value(&[]);
        let terms = terms.iter().map(|(name, t)| (*name, t.double_value(&[]))).collect();
        times.bookkeeping += laps.lap();
        Ok(StepOutcome { loss, tokens, terms })
    };
    train_steps(vs, opt, run, checkpoints, stop_after, step, on_step)
}

/// The loop of `train` for steps that update the model their own way (several optimizers,
/// several updates per batch): `step` gets the optimizers, the step number, the batch, the
/// schedule's learning-rate factor (warm-up then decay) and the step-time accumulator. Seeds,
/// progress, loss bookkeeping and checkpoints are handled here.
pub fn train_steps<O: Optimizers>(
    vs: &nn::VarStore,
    opt: &mut O,
    run: Steps,
    checkpoints: Option<&CheckpointDir>,
    stop_after: Option<i64>,
    mut step_fn: impl FnMut(&mut O, i64, &[usize], f64, &mut StepTimes) -> anyhow::Result<StepOutcome>,
    mut on_step: impl FnMut(&mut TrainState, f64),
) -> anyhow::Result<TrainState> {
    let Steps { batches: steps, schedule, seed } = run;
    let total = steps.len() as i64;
    let warmup = schedule.warmup_steps(total);
    let mut progress = match checkpoints {
        Some(c) => c.load(vs, opt)?.unwrap_or_default(),
        None => TrainState::default(),
    };
    while progress.step < total {
        let step = progress.step;
        let (epoch, batch) = &steps[step as usize];
        tch::manual_seed(Rng::derived(seed, &format!("dropout {step}")).next_u64() as i64);
        let lr_factor = linear_schedule(step, warmup, total);
        let started = std::time::Instant::now();
        let StepOutcome { loss, tokens, terms } = step_fn(opt, step, batch, lr_factor, &mut progress.times)?;
        let tokens_per_s = tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let mut laps = Laps::start();
        anyhow::ensure!(loss.is_finite(), "loss became {loss} at step {step}");
        let names: Vec<&str> = terms.iter().map(|(name, _)| *name).collect();
        if progress.loss_terms.is_empty() {
            progress.loss_terms = names.iter().map(|n| n.to_string()).collect();
        }
        anyhow::ensure!(
            progress.loss_terms == names,
            "step {step}: loss terms {names:?}, the run's are {:?}",
            progress.loss_terms
        );
        let terms = terms.into_iter().map(|(_, value)| value).collect();
        progress.step += 1;
        progress.tokens += tokens as u64;
        progress.loss_sum += loss;
        progress.loss_count += 1;
        progress.curve.push(CurvePoint { step, epoch: *epoch, loss, lr: schedule.lr * lr_factor, tokens_per_s, terms });
        let epoch_ends = progress.step == total || steps[progress.step as usize].0 != *epoch;
        if epoch_ends {
            progress.epoch_losses.push(progress.loss_sum / progress.loss_count as f64);
            progress.loss_sum = 0.0;
            progress.loss_count = 0;
        }
        on_step(&mut progress, loss);
        let periodic = schedule.checkpoint_every > 0 && progress.step % schedule.checkpoint_every == 0;
        if let Some(c) = checkpoints.filter(|_| (periodic || epoch_ends) && progress.step < total) {
            if epoch_ends {
                c.save_epoch(vs, progress.epoch_losses.len())?;
            }
            c.save(vs, opt, &progress)?;
        }
        progress.times.bookkeeping += laps.lap();
        progress.times.steps += 1;
        if stop_after == Some(progress.step) {
            if let Some(c) = checkpoints {
                c.save(vs, opt, &progress)?;
            }
            break;
        }
    }
    Ok(progress)
}
