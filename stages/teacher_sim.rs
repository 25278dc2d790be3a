//! `teacher_sim`: the siamese entity-similarity teacher, the pretrained encoder
//! fine-tuned on source word pairs built from gold source tags (two words of two
//! different sentences; target 1 when their classes match). Pairs are drawn among the
//! sentences of each batch, so one forward serves many pairs. Reports pair accuracy
//! and F1 on source dev pairs drawn the same way.

use serde::Deserialize;
use tch::Kind;

use crate::artifacts::{source_train, EncoderFiles, ENCODER_FILES};
use crate::config::{SimPairsConfig, TrainConfig};
use crate::files;
use crate::method::Method;
use crate::model::params;
use crate::model::siamese::{bce, pair_similarity, pair_targets, word_offsets, Siamese};
use crate::pairs::{balanced, batch_classes, Balance};
use crate::side::{Side, Split};
use crate::stage::{Stage, StageContext, StageSpec};
use crate::stage_name::StageName;
use crate::summary;
use crate::train::batching::{sorted_batches, BatchPlan};
use crate::train::data::{Batch, EncodedSet};
use crate::train::fit::fit;
use crate::train::rng::Rng;
use crate::train::trainer::{all_batches, StepLoss};

pub struct TeacherSim;

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    encoder: EncoderFiles,
    teacher_sim: TrainConfig,
    sim_pairs: SimPairsConfig,
}

impl StageSpec for TeacherSim {
    fn name(&self) -> StageName {
        StageName::TeacherSim
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "siamese entity-similarity teacher trained on source word pairs (MTMT only)"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::TokenizeSource]
    }
    fn reads(&self) -> &'static [&'static str] {
        &["seed", "teacher_sim", "sim_pairs"]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::MODEL, files::CURVE]
    }
}

impl Stage for TeacherSim {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let t = &p.teacher_sim;
        let set = source_train(ctx, t.max_sentences)?;
        let mut model = Siamese::pretrained(&p.encoder.config, &p.encoder.weights, device)?;
        params::freeze(&model.vs, "bert.", t.freeze());
        model.bert.mode = t.mode();
        let mut opt = params::optimizer(&model.vs, t.weight_decay, |_| 1.0);
        let schedule = t.schedule();
        let plan = all_batches(&set.lengths(), &schedule, p.seed);
        let balance =
            Balance { positive_ratio: p.sim_pairs.positive_ratio, o_anchor_ratio: p.sim_pairs.o_anchor_ratio };
        ctx.log(format!("{} source sentences, {} pairs per batch", set.len(), p.sim_pairs.pairs_per_batch));
        let mut pairs_seen = 0usize;
        fit(ctx, &model.vs, &mut opt, &plan, &schedule, p.seed, |step, idx| {
            let mut rng = Rng::derived(p.seed, &format!("sim pairs {step}"));
            let pairs =
                balanced(&batch_classes(&set, idx, p.sim_pairs.same), p.sim_pairs.pairs_per_batch, balance, &mut rng);
            anyhow::ensure!(!pairs.is_empty(), "a batch of {} sentences yields no pair: raise batch_size", idx.len());
            pairs_seen += pairs.len();
            let batch = Batch::new(&set, idx, device);
            let sim = pair_similarity(&model.word_states(&batch, true), &word_offsets(&batch), &pairs);
            Ok(StepLoss::single(bce(&sim, &pair_targets(&pairs, device)).mean(Kind::Float), batch.tokens))
        })?;
        ctx.summary.insert(summary::TRAIN_PAIRS.into(), pairs_seen.into());
        params::save_trained(&model.vs, &ctx.output(files::MODEL))?;

        let dev_path = ctx.input(StageName::TokenizeSource, files::encoded(Side::Source, Split::Dev));
        if dev_path.exists() {
            let dev = EncodedSet::read(&dev_path)?;
            let (mut tp, mut fp, mut fn_, mut correct, mut total) = (0usize, 0usize, 0usize, 0usize, 0usize);
            let plan = BatchPlan { batch_size: t.batch_size, max_tokens: None, chunk_batches: 1 };
            let _guard = tch::no_grad_guard();
            for (b, idx) in sorted_batches(&dev.lengths(), &plan).iter().enumerate() {
                let mut rng = Rng::derived(p.seed, &format!("dev pairs {b}"));
                let pairs = balanced(
                    &batch_classes(&dev, idx, p.sim_pairs.same),
                    p.sim_pairs.pairs_per_batch,
                    balance,
                    &mut rng,
                );
                if pairs.is_empty() {
                    continue;
                }
                let batch = Batch::new(&dev, idx, device);
                let sim = Vec::<f32>::try_from(pair_similarity(
                    &model.word_states(&batch, false),
                    &word_offsets(&batch),
                    &pairs,
                ))?;
                for (pair, s) in pairs.iter().zip(sim) {
                    let said_same = s > 0.5;
                    total += 1;
                    correct += usize::from(said_same == pair.same);
                    tp += usize::from(said_same && pair.same);
                    fp += usize::from(said_same && !pair.same);
                    fn_ += usize::from(!said_same && pair.same);
                }
            }
            let f1 = 200.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64;
            let accuracy = 100.0 * correct as f64 / total.max(1) as f64;
            ctx.log(format!("source dev pairs: {total}, accuracy {accuracy:.2}, F1 (same) {f1:.2}"));
            ctx.summary.insert(
                summary::SOURCE_DEV_PAIRS.into(),
                serde_json::json!({"pairs": total, summary::ACCURACY: accuracy, summary::F1_SAME: f1}),
            );
        }
        Ok(())
    }
}
