//! `teacher_adv`: AdvPicker's adversarial recognizer teacher (methods.md). Per source batch,
//! three updates, each with its own AdamW: (1) the recognizer's cross-entropy on the labeled
//! source batch; (2) the discriminator (`discriminator`) learns to tell source
//! tokens (1) from target tokens (0) on the encoder's last hidden layer, the encoder held
//! fixed; (3) the encoder, as generator, is pushed the other way with flipped labels at a
//! tiny learning rate, so its features become language-independent. The target text is the
//! unlabeled target train split, so the artifact is keyed per target; its tags are never
//! read. Writes the recognizer (`model.safetensors`, what `score_tokens` loads) and the
//! discriminator (`discriminator.safetensors`, what `select` loads).

use std::collections::HashMap;

use serde::Deserialize;
use tch::Tensor;

use super::discriminator::{language_bce, real_tokens, Discriminator};
use super::Adversarial;
use crate::Method;
use mtmt_ner::model::heads::cross_entropy;
use mtmt_ner::model::params;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::model::Pass;
use mtmt_ner::train::batching::{epoch_batches, BatchPlan};
use mtmt_ner::train::data::{Batch, EncodedSet};
use mtmt_ner::train::optim::AdamW;
use mtmt_ner::train::rng::Rng;
use mtmt_ner::trainer::checkpoint::StepTimes;
use mtmt_ner::trainer::{all_batches, update, Laps, Optimizers, StepOutcome, Steps};
use mtmt_stage::artifacts::{source_train, target_train, EncoderFiles, SourceDev, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::fit::{fit_steps, EpochScore};
use mtmt_stage::settings::{bio_labels, TrainConfig};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

/// The discriminator's variables live under this name in the teacher's variable store.
const DISCRIMINATOR: &str = "discriminator";

pub struct TeacherAdv;

/// The `advpicker` settings the teacher reads (not `keep`: that is the selection's).
#[derive(Deserialize)]
pub(crate) struct Adversary {
    discriminator_lr: f64,
    generator_lr: f64,
    discriminator_hidden: i64,
    target_ratio: f64,
}

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    labels: Vec<String>,
    encoder: EncoderFiles,
    teacher_adv: TrainConfig<Adversarial>,
    advpicker: Adversary,
}

impl StageSpec for TeacherAdv {
    fn name(&self) -> StageName {
        StageName::TeacherAdv
    }
    fn version(&self) -> u32 {
        2
    }
    fn description(&self) -> &'static str {
        "AdvPicker's recognizer teacher, trained adversarially against a language discriminator"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::TokenizeSource, StageName::TokenizeTarget]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::MODEL, super::DISCRIMINATOR, files::CURVE]
    }
}

/// The three optimizers of a step; the recognizer and the generator update the same
/// encoder parameters, each with its own moments.
struct AdversarialOptimizers {
    recognizer: AdamW,
    discriminator: AdamW,
    generator: AdamW,
}

impl AdversarialOptimizers {
    fn parts(&self) -> [(&'static str, &AdamW); 3] {
        [("recognizer", &self.recognizer), ("discriminator", &self.discriminator), ("generator", &self.generator)]
    }
}

impl Optimizers for AdversarialOptimizers {
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut state = Vec::new();
        for (part, opt) in self.parts() {
            state.extend(opt.state().into_iter().map(|(n, t)| (format!("{part}.{n}"), t)));
        }
        state
    }
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> anyhow::Result<()> {
        let part = |prefix: &str| -> HashMap<String, Tensor> {
            let prefix = format!("{prefix}.");
            state.iter().filter_map(|(k, t)| Some((k.strip_prefix(&prefix)?.to_string(), t.shallow_clone()))).collect()
        };
        self.recognizer.load_state(&part("recognizer"))?;
        self.discriminator.load_state(&part("discriminator"))?;
        self.generator.load_state(&part("generator"))
    }
    fn trainable_parameters(&self) -> i64 {
        // The generator's parameters are the recognizer's encoder.
        self.recognizer.trainable_parameters() + self.discriminator.trainable_parameters()
    }
}

/// For each of `steps` steps, the target sentences beside its source batch: passes over a
/// random subset of the target text (`ratio` x the source sentences; 0 = all of it), each
/// pass batched as the source is (`plan`: shuffled, length-bucketed, so a batch holds
/// sentences of similar length and pads little) in its own order drawn from the seed.
fn target_batches(
    lengths: &[usize],
    sources: usize,
    ratio: f64,
    steps: usize,
    plan: &BatchPlan,
    seed: u64,
) -> Vec<Vec<usize>> {
    let mut pool: Vec<usize> = (0..lengths.len()).collect();
    Rng::derived(seed, "adversarial target subset").shuffle(&mut pool);
    if ratio > 0.0 {
        pool.truncate(((ratio * sources as f64).round() as usize).clamp(1, lengths.len().max(1)));
    }
    let pool_lengths: Vec<usize> = pool.iter().map(|&i| lengths[i]).collect();
    let mut batches = Vec::with_capacity(steps);
    for pass in 0.. {
        if batches.len() >= steps || pool.is_empty() {
            break;
        }
        let mut rng = Rng::derived(seed, &format!("adversarial target pass {pass}"));
        let pass_batches = epoch_batches(&pool_lengths, plan, &mut rng);
        batches.extend(pass_batches.into_iter().map(|b| b.into_iter().map(|k| pool[k]).collect::<Vec<_>>()));
    }
    batches.truncate(steps);
    batches
}

impl Stage for TeacherAdv {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let (t, a) = (&p.teacher_adv, &p.advpicker);
        let labels = bio_labels(&p.labels);
        let source = source_train(ctx, t.max_sentences)?;
        // Text only: `Batch` of a target sentence never reads a tag.
        let target: EncodedSet = target_train(ctx, 0)?;
        anyhow::ensure!(!target.is_empty(), "AdvPicker needs unlabeled target train text; the split is empty");
        let mut tagger =
            Tagger::pretrained(&p.encoder.config, &p.encoder.weights, labels.len(), t.dropout, device, p.seed)?;
        let hidden = tagger.bert.config.hidden_size;
        let discriminator = Discriminator::new(tagger.vs.root() / DISCRIMINATOR, hidden, a.discriminator_hidden);
        tagger.prepare_training(t.freeze(), t.mode());
        let is_discriminator = |name: &str| name.starts_with(DISCRIMINATOR);
        let mut opts = AdversarialOptimizers {
            recognizer: tagger.optimizer_over(|n| !is_discriminator(n), t.decay(), t.head_lr_scale),
            discriminator: params::optimizer_over(&tagger.vs, is_discriminator, t.decay(), |_| 1.0),
            generator: params::optimizer_over(&tagger.vs, |n| n.starts_with("bert."), t.decay(), |_| 1.0),
        };
        let schedule = t.schedule();
        let plan = all_batches(&source.lengths(), &schedule, p.seed);
        let targets =
            target_batches(&target.lengths(), source.len(), a.target_ratio, plan.len(), &schedule.batch, p.seed);
        let seen: std::collections::BTreeSet<usize> = targets.iter().flatten().copied().collect();
        ctx.log(format!(
            "{} source sentences, {} of {} target sentences, on {device:?}",
            source.len(),
            seen.len(),
            target.len()
        ));
        let adversary = AdversarialStep { tagger: &tagger, discriminator: &discriminator, t, a };
        let dev = SourceDev::read(ctx, &labels, t.batch_size)?;
        let scorer = dev.scorer(&tagger);
        let score: EpochScore = dev.exists().then_some(&scorer);
        let state = fit_steps(
            ctx,
            &tagger.vs,
            &mut opts,
            Steps { batches: &plan, schedule: &schedule, seed: p.seed },
            |opts, step, idx, lr_factor, times| {
                let (src, tgt) =
                    (Batch::new(&source, idx, device), Batch::new(&target, &targets[step as usize], device));
                adversary.step(opts, &src, &tgt, lr_factor, times)
            },
            score,
        )?;
        tagger.save_trained(&ctx.output(files::MODEL))?;
        params::save_trained_over(&tagger.vs, &ctx.output(super::DISCRIMINATOR), is_discriminator)?;
        dev.record(ctx, &tagger, state.last_dev)
    }
}

/// One training step of the adversarial teacher: its three updates on a source batch and
/// a target batch.
struct AdversarialStep<'a> {
    tagger: &'a Tagger,
    discriminator: &'a Discriminator,
    t: &'a TrainConfig<Adversarial>,
    a: &'a Adversary,
}

impl AdversarialStep<'_> {
    fn step(
        &self,
        opts: &mut AdversarialOptimizers,
        src: &Batch,
        tgt: &Batch,
        lr_factor: f64,
        times: &mut StepTimes,
    ) -> anyhow::Result<StepOutcome> {
        let (tagger, t, a, max_norm) = (self.tagger, self.t, self.a, self.t.max_grad_norm);
        let mut laps = Laps::start();
        // (1) The recognizer on the labeled source batch.
        opts.recognizer.zero_grad();
        let src_hidden = tagger.bert.last_hidden(&src.input_ids, &src.attention_mask, Pass::Train);
        let logits = tagger.logits_at(&src_hidden, src, Pass::Train);
        let ner = cross_entropy(&logits, src.labels.as_ref().expect("source is labeled"));
        update(&mut opts.recognizer, &ner, max_norm, t.lr * lr_factor, times, &mut laps);
        // (2) The discriminator on fixed features: the source states of (1), the target
        // states without a graph. BCE over every real token of both, source = 1.
        opts.discriminator.zero_grad();
        let tgt_hidden = tch::no_grad(|| tagger.bert.last_hidden(&tgt.input_ids, &tgt.attention_mask, Pass::Train));
        let side_logits = |hidden: &Tensor, mask: &Tensor| self.discriminator.forward(&real_tokens(hidden, mask));
        let (src_side, tgt_side) =
            (side_logits(&src_hidden.detach(), &src.attention_mask), side_logits(&tgt_hidden, &tgt.attention_mask));
        let discriminated = language_loss(&src_side, &tgt_side, false);
        update(&mut opts.discriminator, &discriminated, max_norm, a.discriminator_lr * lr_factor, times, &mut laps);
        // (3) The encoder as generator: flipped labels, gradients into the encoder only.
        opts.generator.zero_grad();
        let src_hidden = tagger.bert.last_hidden(&src.input_ids, &src.attention_mask, Pass::Train);
        let tgt_hidden = tagger.bert.last_hidden(&tgt.input_ids, &tgt.attention_mask, Pass::Train);
        let generated = language_loss(
            &side_logits(&src_hidden, &src.attention_mask),
            &side_logits(&tgt_hidden, &tgt.attention_mask),
            true,
        );
        update(&mut opts.generator, &generated, max_norm, a.generator_lr * lr_factor, times, &mut laps);
        // Three updates, three losses: the recognizer's is the one logged, the curve keeps
        // all three (they are not summed).
        let loss = ner.double_value(&[]);
        let terms = vec![
            ("ner", loss),
            ("discriminator", discriminated.double_value(&[])),
            ("generator", generated.double_value(&[])),
        ];
        times.bookkeeping += laps.lap();
        Ok(StepOutcome { loss, tokens: src.tokens + tgt.tokens, terms })
    }
}

/// BCE of the discriminator over every real token of both sides, as one mean: source
/// tokens labeled 1 and target tokens 0, or the other way round when `flipped`.
fn language_loss(source: &Tensor, target: &Tensor, flipped: bool) -> Tensor {
    let n = (source.size()[0] + target.size()[0]) as f64;
    let (a, b) = (source.size()[0] as f64 / n, target.size()[0] as f64 / n);
    language_bce(source, !flipped) * a + language_bce(target, flipped) * b
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn target_batches_cover_the_subset_pass_after_pass_in_length_buckets() {
        let lengths: Vec<usize> = (0..100).map(|i| 5 + (i * 37) % 90).collect();
        let plan = BatchPlan { batch_size: 4, max_tokens: None, chunk_batches: 50 };
        let batches = target_batches(&lengths, 30, 1.0 / 3.0, 10, &plan, 7);
        assert_eq!(batches.len(), 10);
        let subset: BTreeSet<usize> = batches.iter().flatten().copied().collect();
        assert_eq!(subset.len(), 10, "a subset of 30 / 3 sentences");
        // A pass is 3 batches (4 + 4 + 2 sentences) and visits the whole subset once.
        for pass in batches.chunks(3).take(3) {
            assert_eq!(pass.iter().flatten().copied().collect::<BTreeSet<_>>(), subset);
        }
        // Length-bucketed: each batch's sentences are sorted longest first.
        assert!(batches.iter().all(|b| b.windows(2).all(|w| lengths[w[0]] >= lengths[w[1]])));
        assert_eq!(batches, target_batches(&lengths, 30, 1.0 / 3.0, 10, &plan, 7));
        assert_ne!(batches, target_batches(&lengths, 30, 1.0 / 3.0, 10, &plan, 8));
        // Ratio 0: all the target text.
        let all: BTreeSet<usize> = target_batches(&lengths[..12], 30, 0.0, 3, &plan, 7).into_iter().flatten().collect();
        assert_eq!(all.len(), 12);
    }
}
