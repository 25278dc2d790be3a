//! What every training stage does around the trainer: resume from the stage's
//! checkpoint folder, show progress, and record losses and throughput (the manifest's
//! summary, and the per-step curve `curve.parquet`).

use tch::nn;

use crate::artifacts::SourceDev;
use crate::files;
use crate::settings::{ModelRole, TrainConfig};
use crate::stage::StageContext;
use crate::summary;
use mtmt_ner::eval::conlleval::Scores;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::train::optim::AdamW;
use mtmt_ner::trainer::checkpoint::{CheckpointDir, StepTimes, TrainState};
use mtmt_ner::trainer::{all_batches, train, train_steps, Optimizers, Schedule, StepLoss, StepOutcome, Steps};

/// Scores the model on the source dev split after each epoch (`artifacts::SourceDev`).
pub type EpochScore<'a> = Option<&'a dyn Fn() -> anyhow::Result<Scores>>;

/// Trains over `steps` with checkpoints in the stage's resume folder; logs and
/// records (in the manifest summary) the epoch losses and training tokens/s.
pub fn fit(
    ctx: &mut StageContext,
    vs: &nn::VarStore,
    opt: &mut AdamW,
    run: Steps,
    step_loss: impl FnMut(i64, &[usize]) -> anyhow::Result<StepLoss>,
) -> anyhow::Result<TrainState> {
    fit_scored(ctx, vs, opt, run, step_loss, None)
}

/// A recognizer teacher's training as every recognizer stage has it: an optimizer over
/// the tagger's trainable parameters, the schedule and batch order of `t` over sentences
/// of `lengths`, `fit_recognizer`, and the trained parameters saved as the artifact's
/// `MODEL`. The caller builds the tagger (with any parameters of its own) and calls
/// `prepare_training` first; `step_loss` is its loss on a batch.
pub fn train_recognizer<R: ModelRole>(
    ctx: &mut StageContext,
    tagger: &Tagger,
    t: &TrainConfig<R>,
    lengths: &[usize],
    labels: &[String],
    seed: u64,
    step_loss: impl FnMut(i64, &[usize]) -> anyhow::Result<StepLoss>,
) -> anyhow::Result<()> {
    let mut opt = tagger.optimizer(t.decay(), t.head_lr_scale);
    let schedule = t.schedule();
    let plan = all_batches(lengths, &schedule, seed);
    fit_recognizer(ctx, tagger, &mut opt, Steps { batches: &plan, schedule: &schedule, seed }, labels, step_loss)?;
    tagger.save_trained(&ctx.output(files::MODEL))
}

/// `fit` for a recognizer teacher: scored on the source dev split after every epoch where
/// the source has one (`artifacts::SourceDev`), the last score recorded in the summary.
fn fit_recognizer(
    ctx: &mut StageContext,
    tagger: &Tagger,
    opt: &mut AdamW,
    run: Steps,
    labels: &[String],
    step_loss: impl FnMut(i64, &[usize]) -> anyhow::Result<StepLoss>,
) -> anyhow::Result<()> {
    let dev = SourceDev::read(ctx, labels, run.schedule.batch.batch_size)?;
    let scorer = dev.scorer(tagger);
    let state = fit_scored(ctx, &tagger.vs, opt, run, step_loss, dev.exists().then_some(&scorer))?;
    dev.record(ctx, tagger, state.last_dev)
}

/// `fit`, scoring the model after every epoch with `score` (kept in the curve).
pub(crate) fn fit_scored(
    ctx: &mut StageContext,
    vs: &nn::VarStore,
    opt: &mut AdamW,
    run: Steps,
    step_loss: impl FnMut(i64, &[usize]) -> anyhow::Result<StepLoss>,
    score: EpochScore,
) -> anyhow::Result<TrainState> {
    fit_around(ctx, opt.trainable_parameters(), run.batches.len(), run.schedule, score, |checkpoints, on_step| {
        train(vs, opt, run, Some(checkpoints), None, step_loss, on_step)
    })
}

/// `fit` for steps that update the model their own way (`trainer::train_steps`).
pub fn fit_steps<O: Optimizers>(
    ctx: &mut StageContext,
    vs: &nn::VarStore,
    opt: &mut O,
    run: Steps,
    step_fn: impl FnMut(&mut O, i64, &[usize], f64, &mut StepTimes) -> anyhow::Result<StepOutcome>,
    score: EpochScore,
) -> anyhow::Result<TrainState> {
    fit_around(ctx, opt.trainable_parameters(), run.batches.len(), run.schedule, score, |checkpoints, on_step| {
        train_steps(vs, opt, run, Some(checkpoints), None, step_fn, on_step)
    })
}

/// Resumption, progress and the record of a training run that `run` carries out.
fn fit_around(
    ctx: &mut StageContext,
    trainable: i64,
    steps: usize,
    schedule: &Schedule,
    score: EpochScore,
    run: impl FnOnce(&CheckpointDir, &mut dyn FnMut(&mut TrainState, f64)) -> anyhow::Result<TrainState>,
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
    let mut failed = None;
    let state = run(&checkpoints, &mut |state, _| {
        bar.inc(1);
        let Some(score) = score else { return };
        // Epochs a checkpoint from before these scores finished unscored.
        while state.epoch_dev_f1.len() + 1 < state.epoch_losses.len() {
            state.epoch_dev_f1.push(f64::NAN);
        }
        if state.epoch_dev_f1.len() < state.epoch_losses.len() && failed.is_none() {
            match score() {
                Ok(scores) => {
                    state.epoch_dev_f1.push(scores.overall.f1);
                    state.last_dev = Some(scores);
                }
                Err(e) => failed = Some(e),
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e.context("scoring the source dev split after an epoch"));
    }
    bar.finish();
    // Every epoch but the last, whose model the stage writes itself: what model selection
    // downstream chooses from (`eval.selection`).
    for (epoch, path) in checkpoints.saved_epochs() {
        let kept = ctx.output(&crate::files::epoch_model(epoch));
        // The resume folder and the artifact share the store's file system.
        if fs_err::hard_link(&path, &kept).is_err() {
            fs_err::copy(&path, &kept)?;
        }
    }
    if !state.epoch_dev_f1.is_empty() {
        ctx.log(format!("source dev F1 per epoch {:.2?}", state.epoch_dev_f1));
    }
    let losses: Vec<f64> = state.curve.iter().map(|p| p.loss).collect();
    let warmup_steps = schedule.warmup_steps(steps as i64) as usize;
    for warning in mtmt_ner::health::training(&losses, warmup_steps, schedule.lr) {
        ctx.warn(warning);
    }
    let tokens_per_s = state.tokens as f64 / started.elapsed().as_secs_f64();
    ctx.log(format!("epoch losses {:?}; {tokens_per_s:.0} training tokens/s", state.epoch_losses));
    ctx.summary.insert(summary::EPOCH_LOSSES.into(), serde_json::to_value(&state.epoch_losses)?);
    ctx.summary.insert(summary::TRAIN_TOKENS_PER_S.into(), tokens_per_s.into());
    write_curve(ctx, &state)?;
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

/// The training curve as `curve.parquet`, one row per step: the loss, a `loss_<term>` column
/// per term where the loss has several, the learning rate, tokens/s, and `source_dev_f1` on
/// each epoch's last step where the stage scores one.
fn write_curve(ctx: &StageContext, state: &TrainState) -> anyhow::Result<()> {
    use polars::prelude::{Column, DataFrame};
    let curve = &state.curve;
    let column = |name: &str, values: Vec<f64>| Column::new(name.into(), values);
    let mut epoch_end = 0;
    let dev: Vec<Option<f64>> = curve
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let last = curve.get(i + 1).is_none_or(|next| next.epoch != p.epoch);
            last.then(|| {
                epoch_end += 1;
                state.epoch_dev_f1.get(epoch_end - 1).copied()
            })
            .flatten()
        })
        .collect();
    let mut columns = vec![
        Column::new("step".into(), curve.iter().map(|p| p.step).collect::<Vec<_>>()),
        Column::new("epoch".into(), curve.iter().map(|p| p.epoch as u32).collect::<Vec<_>>()),
        column("loss", curve.iter().map(|p| p.loss).collect()),
    ];
    for (k, term) in state.loss_terms.iter().enumerate() {
        // Steps checkpointed before terms were recorded have none.
        let values: Vec<Option<f64>> = curve.iter().map(|p| p.terms.get(k).copied()).collect();
        columns.push(Column::new(format!("{}{term}", crate::files::LOSS_TERM_PREFIX).into(), values));
    }
    columns.extend([
        column("lr", curve.iter().map(|p| p.lr).collect()),
        column("tokens_per_s", curve.iter().map(|p| p.tokens_per_s).collect()),
        Column::new("source_dev_f1".into(), dev),
    ]);
    let mut df = DataFrame::new(curve.len(), columns)?;
    mtmt_ner::table::write(&mut df, &ctx.output(crate::files::CURVE), ctx.provenance())
}
