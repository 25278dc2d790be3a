//! What every training stage does around the trainer: resume from the stage's
//! checkpoint folder, show progress, and record losses and throughput.

use tch::{nn, Tensor};

use crate::stage::StageContext;
use crate::train::checkpoint::{CheckpointDir, Progress};
use crate::train::optim::AdamW;
use crate::train::trainer::{train, Schedule};

/// Trains over `steps` with checkpoints in the stage's resume folder; logs and
/// records (in the manifest summary) the epoch losses and training tokens/s.
pub fn fit(
    ctx: &mut StageContext,
    vs: &nn::VarStore,
    opt: &mut AdamW,
    steps: &[(usize, Vec<usize>)],
    schedule: &Schedule,
    seed: u64,
    step_loss: impl FnMut(i64, &[usize]) -> anyhow::Result<(Tensor, usize)>,
) -> anyhow::Result<Progress> {
    ctx.log(format!("{} steps; {} trainable parameters", steps.len(), opt.trainable_parameters()));
    let checkpoints = CheckpointDir::new(ctx.resume_dir()?);
    if let Some(step) = checkpoints.saved_step() {
        ctx.log(format!("resuming from the checkpoint at step {step}"));
    }
    let bar = ctx.progress(steps.len() as u64, "training steps");
    let started = std::time::Instant::now();
    let progress = train(vs, opt, steps, schedule, seed, Some(&checkpoints), None, step_loss, |_, _| bar.inc(1))?;
    bar.finish();
    let tokens_per_s = progress.tokens as f64 / started.elapsed().as_secs_f64();
    ctx.log(format!("epoch losses {:?}; {tokens_per_s:.0} training tokens/s", progress.epoch_losses));
    ctx.summary.insert("epoch_losses".into(), serde_json::to_value(&progress.epoch_losses)?);
    ctx.summary.insert("train_tokens_per_s".into(), tokens_per_s.into());
    Ok(progress)
}
