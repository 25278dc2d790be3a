//! `teacher_sim`: the siamese entity-similarity teacher, the pretrained encoder
//! fine-tuned on source word pairs built from gold source tags (two words of two
//! different sentences; target 1 when their classes match). Pairs are drawn among the
//! sentences of each batch, so one forward serves many pairs. With
//! `similarity.calibrated`, it then fits t = sigmoid(scale * cos + bias) on source train
//! pairs (`calibration.json`). Reports pair accuracy, F1, calibration error and Brier
//! score on source dev pairs drawn the same way.

use serde::Deserialize;
use tch::{Device, Kind};

use super::calibration::{calibration_error, Calibration};
use super::pairs::{balanced, batch_classes, Balance};
use super::siamese::{bce, pair_cosine, pair_similarity, pair_targets, word_offsets, Siamese};
use super::{SimPairsConfig, SimilarityConfig};
use crate::Method;
use mtmt_ner::model::params;
use mtmt_ner::model::Pass;
use mtmt_ner::train::batching::{sorted_batches, BatchPlan};
use mtmt_ner::train::data::{Batch, EncodedSet};
use mtmt_ner::train::rng::Rng;
use mtmt_ner::trainer::{all_batches, StepLoss, Steps};
use mtmt_stage::artifacts::{source_train, EncoderFiles, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::fit::fit;
use mtmt_stage::settings::TrainConfig;
use mtmt_stage::side::{Side, Split};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary;

pub struct TeacherSim;

/// Source train batches whose pairs fit the calibration (64 pairs each by default).
const CALIBRATION_BATCHES: usize = 200;

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    encoder: EncoderFiles,
    teacher_sim: TrainConfig,
    sim_pairs: SimPairsConfig,
    /// Out of the view when off (`config::ADDED_LATER`).
    #[serde(default)]
    similarity: SimilarityConfig,
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
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        // CALIBRATION with `similarity.calibrated` only.
        &[files::MODEL, files::CURVE, super::CALIBRATION]
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
        let mut opt = params::optimizer(&model.vs, t.decay(), |_| 1.0);
        let schedule = t.schedule();
        let plan = all_batches(&set.lengths(), &schedule, p.seed);
        let balance =
            Balance { positive_ratio: p.sim_pairs.positive_ratio, o_anchor_ratio: p.sim_pairs.o_anchor_ratio };
        ctx.log(format!("{} source sentences, {} pairs per batch", set.len(), p.sim_pairs.pairs_per_batch));
        let mut pairs_seen = 0usize;
        fit(ctx, &model.vs, &mut opt, Steps { batches: &plan, schedule: &schedule, seed: p.seed }, |step, idx| {
            let mut rng = Rng::derived(p.seed, &format!("sim pairs {step}"));
            let pairs =
                balanced(&batch_classes(&set, idx, p.sim_pairs.same), p.sim_pairs.pairs_per_batch, balance, &mut rng);
            anyhow::ensure!(!pairs.is_empty(), "a batch of {} sentences yields no pair: raise batch_size", idx.len());
            pairs_seen += pairs.len();
            let batch = Batch::new(&set, idx, device);
            let sim = pair_similarity(&model.word_states(&batch, Pass::Train), &word_offsets(&batch), &pairs);
            Ok(StepLoss::single(bce(&sim, &pair_targets(&pairs, device)).mean(Kind::Float), batch.tokens))
        })?;
        ctx.summary.insert(summary::TRAIN_PAIRS.into(), pairs_seen.into());
        params::save_trained(&model.vs, &ctx.output(files::MODEL))?;

        let pairs = SourcePairs { model: &model, p, balance, device };
        let calibration = if p.similarity.calibrated {
            // The first epoch's batches, at most CALIBRATION_BATCHES of them.
            let batches: Vec<Vec<usize>> = all_batches(&set.lengths(), &schedule, p.seed)
                .into_iter()
                .take(CALIBRATION_BATCHES)
                .map(|(_, b)| b)
                .collect();
            fit_calibration(ctx, &pairs.cosines(&set, &batches, "calibration")?)?
        } else {
            Calibration::IDENTITY
        };
        let dev_path = ctx.input(StageName::TokenizeSource, files::encoded(Side::Source, Split::Dev));
        if dev_path.exists() {
            let dev = EncodedSet::read(&dev_path)?;
            let plan = BatchPlan { batch_size: t.batch_size, max_tokens: None, chunk_batches: 1 };
            let (cos, same) = pairs.cosines(&dev, &sorted_batches(&dev.lengths(), &plan), "dev")?;
            let mut report = pair_figures(&cos, &same, calibration);
            report["pairs"] = cos.len().into();
            ctx.log(format!("source dev pairs: {report}"));
            if p.similarity.calibrated {
                report[summary::PAPER_SCORE] = pair_figures(&cos, &same, Calibration::IDENTITY);
                ctx.log(format!("the same with the paper's sigmoid(cos): {}", report[summary::PAPER_SCORE]));
            }
            ctx.summary.insert(summary::SOURCE_DEV_PAIRS.into(), report);
        }
        Ok(())
    }
}

/// Source word pairs drawn as in training, scored by the trained teacher.
struct SourcePairs<'a> {
    model: &'a Siamese,
    p: &'a Params,
    balance: Balance,
    device: Device,
}

impl SourcePairs<'_> {
    /// The pairs' cosines and whether their classes match, per batch of `batches` (`name`
    /// tells the draws apart).
    fn cosines(&self, set: &EncodedSet, batches: &[Vec<usize>], name: &str) -> anyhow::Result<(Vec<f64>, Vec<bool>)> {
        let _guard = tch::no_grad_guard();
        let sp = &self.p.sim_pairs;
        let (mut cos, mut same) = (Vec::new(), Vec::new());
        for (b, idx) in batches.iter().enumerate() {
            let mut rng = Rng::derived(self.p.seed, &format!("{name} pairs {b}"));
            let pairs = balanced(&batch_classes(set, idx, sp.same), sp.pairs_per_batch, self.balance, &mut rng);
            if pairs.is_empty() {
                continue;
            }
            let batch = Batch::new(set, idx, self.device);
            let c = pair_cosine(&self.model.word_states(&batch, Pass::Infer), &word_offsets(&batch), &pairs);
            cos.extend(Vec::<f64>::try_from(c.to_kind(Kind::Double))?);
            same.extend(pairs.iter().map(|pair| pair.same));
        }
        Ok((cos, same))
    }
}

/// Fits t = sigmoid(scale * cos + bias) to source train pairs (`similarity.calibrated`),
/// logs and records it, and writes `calibration.json`.
fn fit_calibration(ctx: &mut StageContext, (cos, same): &(Vec<f64>, Vec<bool>)) -> anyhow::Result<Calibration> {
    let fitted = Calibration::fit(cos, same)?;
    ctx.log(format!(
        "calibration on {} source train pairs: t = sigmoid({:.3} cos + {:.3})",
        cos.len(),
        fitted.scale,
        fitted.bias
    ));
    ctx.summary.insert(summary::CALIBRATION.into(), serde_json::to_value(fitted)?);
    mtmt_ner::atomic::write_file(&ctx.output(super::CALIBRATION), serde_json::to_string_pretty(&fitted)?.as_bytes())?;
    Ok(fitted)
}

/// Accuracy, F1 of "same class" (t > 0.5), ECE and Brier score of pairs' t under `c`.
fn pair_figures(cos: &[f64], same: &[bool], c: Calibration) -> serde_json::Value {
    let t: Vec<f64> = cos.iter().map(|&x| c.apply_one(x)).collect();
    let (mut tp, mut fp, mut fn_, mut correct) = (0usize, 0usize, 0usize, 0usize);
    for (&t, &same) in t.iter().zip(same) {
        let said_same = t > 0.5;
        correct += usize::from(said_same == same);
        tp += usize::from(said_same && same);
        fp += usize::from(said_same && !same);
        fn_ += usize::from(!said_same && same);
    }
    let (ece, brier) = calibration_error(&t, same);
    serde_json::json!({
        summary::ACCURACY: 100.0 * correct as f64 / t.len().max(1) as f64,
        summary::F1_SAME: 200.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64,
        summary::ECE: ece,
        summary::BRIER: brier,
    })
}
