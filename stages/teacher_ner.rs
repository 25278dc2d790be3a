//! `teacher_ner`: the entity-recognizer teacher, the pretrained encoder fine-tuned
//! with a token-classification head on the labeled source train split (cross-entropy
//! at first subwords). `teacher_mt` (the MTST ablation) is the same model trained on
//! both tasks at once: cross-entropy plus the similarity BCE on source word pairs
//! drawn inside each batch, so one teacher serves as recognizer and evaluator.
//! Both resume from their last checkpoint if a run was interrupted, and report
//! source-dev F1 (Viterbi, start constraint) for inspection only: the model kept is
//! the last one.

use serde::Deserialize;

use crate::artifacts::{source_train, EncoderFiles, ENCODER_FILES};
use crate::config::{bio_labels, TrainConfig};
use crate::files;
use crate::method::mtmt::pairs::{balanced, batch_classes, Balance};
use crate::method::mtmt::siamese::{bce, pair_similarity, pair_targets, word_offsets};
use crate::method::mtmt::SimPairsConfig;
use crate::method::Method;
use crate::model::heads::cross_entropy;
use crate::model::tagger::Tagger;
use crate::model::Pass;
use crate::stage::{Stage, StageContext, StageSpec};
use crate::stage_name::StageName;
use crate::train::data::Batch;
use crate::train::fit::fit_recognizer;
use crate::train::rng::Rng;
use crate::train::trainer::{all_batches, StepLoss, Steps};

/// The recognizer teacher; with `multitask`, the MTST single teacher.
pub struct TeacherNer {
    pub multitask: bool,
}

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    labels: Vec<String>,
    encoder: EncoderFiles,
    teacher_ner: TrainConfig,
    sim_pairs: Option<SimPairsConfig>,
}

impl StageSpec for TeacherNer {
    fn name(&self) -> StageName {
        if self.multitask {
            StageName::TeacherMt
        } else {
            StageName::TeacherNer
        }
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        if self.multitask {
            "one multitask teacher (recognizer + similarity) for the MTST ablation"
        } else {
            "entity-recognizer teacher fine-tuned on the labeled source train split"
        }
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::TokenizeSource]
    }
    fn reads(&self) -> &'static [&'static str] {
        if self.multitask {
            &["seed", "labels", "teacher_ner", "sim_pairs"]
        } else {
            &["seed", "labels", "teacher_ner"]
        }
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::MODEL, files::CURVE]
    }
}

impl Stage for TeacherNer {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = source_train(ctx, p.teacher_ner.max_sentences)?;
        let t = &p.teacher_ner;
        let mut tagger =
            Tagger::pretrained(&p.encoder.config, &p.encoder.weights, labels.len(), t.dropout, device, p.seed)?;
        tagger.prepare_training(t.freeze(), t.mode());
        let mut opt = tagger.optimizer(t.decay(), t.head_lr_scale);
        let schedule = t.schedule();
        let plan = all_batches(&set.lengths(), &schedule, p.seed);
        ctx.log(format!("{} sentences, {} subwords on {device:?}", set.len(), set.tokens()));
        fit_recognizer(
            ctx,
            &tagger,
            &mut opt,
            Steps { batches: &plan, schedule: &schedule, seed: p.seed },
            &labels,
            |step, idx| {
                let batch = Batch::new(&set, idx, device);
                let (states, logits) = tagger.states_and_logits(&batch, Pass::Train);
                let ner = cross_entropy(&logits, batch.labels.as_ref().expect("source is labeled"));
                let Some(sp) = &p.sim_pairs else { return Ok(StepLoss::single(ner, batch.tokens)) };
                let mut terms = vec![("ner", ner)];
                {
                    let balance = Balance { positive_ratio: sp.positive_ratio, o_anchor_ratio: sp.o_anchor_ratio };
                    let mut rng = Rng::derived(p.seed, &format!("sim pairs {step}"));
                    let pairs = balanced(&batch_classes(&set, idx, sp.same), sp.pairs_per_batch, balance, &mut rng);
                    if !pairs.is_empty() {
                        let sim = pair_similarity(&states, &word_offsets(&batch), &pairs);
                        terms.push(("similarity", bce(&sim, &pair_targets(&pairs, device)).mean(tch::Kind::Float)));
                    }
                }
                Ok(StepLoss::sum(terms, batch.tokens))
            },
        )?;
        tagger.save_trained(&ctx.output(files::MODEL))?;
        Ok(())
    }
}
