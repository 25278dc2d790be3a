//! What every training stage does around the trainer: resume from the stage's
//! checkpoint folder, show progress, and record losses and throughput (the manifest's
//! summary, and the per-step curve `curve.parquet`).

use tch::{nn, Tensor};

use super::checkpoint::{CheckpointDir, CurvePoint, StepTimes, TrainState};
use super::optim::AdamW;
use super::trainer::{train, train_steps, Optimizers, Schedule, StepOutcome};
use crate::stage::StageContext;
use crate::summary;

/// Trains over `steps` with checkpoints in the stage's resume folder; logs and
/// records (in the manifest summary) the epoch losses and training tokens/s.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    ctx: &mut StageContext,
    vs: &nn::VarStore,
    opt: &mut AdamW,
    steps: &[(usize, Vec<usize>)],
    schedule: &Schedule,
    seed: u64,
    step_loss: impl FnMut(i64, &[usize]) -> anyhow::Result<(Tensor, usize)>,
) -> anyhow::Result<TrainState> {
    fit_around(ctx, opt.trainable_parameters(), steps.len(), |checkpoints, on_step| {
        train(vs, opt, steps, schedule, seed, Some(checkpoints), None, step_loss, on_step)
    })
}

/// `fit` for steps that update the model their own way (`trainer::train_steps`).
#[allow(clippy::too_many_arguments)]
pub fn fit_steps<O: Optimizers>(
    ctx: &mut StageContext,
    vs: &nn::VarStore,
    opt: &mut O,
    steps: &[(usize, Vec<usize>)],
    schedule: &Schedule,
    seed: u64,
    step_fn: impl FnMut(&mut O, i64, &[usize], f64, &mut StepTimes) -> anyhow::Result<StepOutcome>,
) -> anyhow::Result<TrainState> {
    fit_around(ctx, opt.trainable_parameters(), steps.len(), |checkpoints, on_step| {
        train_steps(vs, opt, steps, schedule, seed, Some(checkpoints), None, step_fn, on_step)
    })
}

/// Resumption, progress and the record of a training run that `run` carries out.
fn fit_around(
    ctx: &mut StageContext,
    trainable: i64,
    steps: usize,
    run: impl FnOnce(&CheckpointDir, &mut dyn FnMut(&TrainState, f64)) -> anyhow::Result<TrainState>,
) -> anyhow::Result<TrainState> {
    ctx.log(format!("{steps} steps; {trainable} trainable parameters"));
    let checkpoints = CheckpointDir::new(ctx.resume_dir()?);
    let resumed = checkpoints.saved_step();
    if let Some(step) = resumed {
        ctx.log(format!("resuming from the checkpoint at step {step}"));
    }
    let done = resumed.unwrap_or(0).max(0) as u64;
    let bar = ctx.progress(steps as u64, done, "training steps");
    let started = std::time::Instant::now();
    let state = run(&checkpoints, &mut |_, _| bar.inc(1))?;
    bar.finish();
    let tokens_per_s = state.tokens as f64 / started.elapsed().as_secs_f64();
    ctx.log(format!("epoch losses {:?}; {tokens_per_s:.0} training tokens/s", state.epoch_losses));
    ctx.summary.insert(summary::EPOCH_LOSSES.into(), serde_json::to_value(&state.epoch_losses)?);
    ctx.summary.insert(summary::TRAIN_TOKENS_PER_S.into(), tokens_per_s.into());
    write_curve(ctx, &state.curve)?;
    let t = &state.times;
    let total = t.total();
    if t.steps > 0 && total > 0.0 {
        let parts: Vec<String> = t
            .parts()
            .iter()
            .map(|(part, s)| format!("{part} {:.0} ms ({:.1}%)", 1000.0 * s / t.steps as f64, 100.0 * s / total))
            .collect();
        ctx.log(format!("per step: {}", parts.join(", ")));
        ctx.summary.insert(summary::STEP_TIMES.into(), serde_json::to_value(t)?);
    }
    Ok(state)
}

/// The training curve as `curve.parquet`, one row per step.
fn write_curve(ctx: &StageContext, curve: &[CurvePoint]) -> anyhow::Result<()> {
    use polars::prelude::{Column, DataFrame};
    let column = |name: &str, values: Vec<f64>| Column::new(name.into(), values);
    let mut df = DataFrame::new(
        curve.len(),
        vec![
            Column::new("step".into(), curve.iter().map(|p| p.step).collect::<Vec<_>>()),
            Column::new("epoch".into(), curve.iter().map(|p| p.epoch as u32).collect::<Vec<_>>()),
            column("loss", curve.iter().map(|p| p.loss).collect()),
            column("lr", curve.iter().map(|p| p.lr).collect()),
            column("tokens_per_s", curve.iter().map(|p| p.tokens_per_s).collect()),
        ],
    )?;
    crate::table::write(&mut df, &ctx.output(crate::files::CURVE), ctx.provenance())
}
