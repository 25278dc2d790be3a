//! `teacher_mt`: MTST's one multitask teacher (the paper's ablation), the recognizer
//! teacher's model trained on both tasks at once: cross-entropy at first subwords plus
//! the similarity BCE on source word pairs drawn inside each batch (`sim_pairs`), so one
//! teacher serves as recognizer and evaluator. Trained and checkpointed as `teacher_ner`
//! (its `teacher_ner` settings), source-dev F1 for inspection only.

use serde::Deserialize;

use super::pairs::{balanced, batch_classes, Balance};
use super::siamese::{bce, pair_similarity, pair_targets, word_offsets};
use super::SimPairsConfig;
use crate::Method;
use mtmt_ner::model::heads::cross_entropy;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::model::Pass;
use mtmt_ner::train::data::Batch;
use mtmt_ner::train::rng::Rng;
use mtmt_ner::trainer::StepLoss;
use mtmt_stage::artifacts::{source_train, EncoderFiles, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::fit::train_recognizer;
use mtmt_stage::settings::{bio_labels, TrainConfig};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

pub struct TeacherMt;

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    labels: Vec<String>,
    encoder: EncoderFiles,
    teacher_ner: TrainConfig,
    sim_pairs: SimPairsConfig,
}

impl StageSpec for TeacherMt {
    fn name(&self) -> StageName {
        StageName::TeacherMt
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "one multitask teacher (recognizer + similarity) for the MTST ablation"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::TokenizeSource]
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::MODEL, files::CURVE]
    }
}

impl Stage for TeacherMt {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let set = source_train(ctx, p.teacher_ner.max_sentences)?;
        let t = &p.teacher_ner;
        let mut tagger =
            Tagger::pretrained(&p.encoder.config, &p.encoder.weights, labels.len(), t.dropout, device, p.seed)?;
        tagger.prepare_training(t.freeze(), t.mode());
        ctx.log(format!("{} sentences, {} subwords on {device:?}", set.len(), set.tokens()));
        let sp = &p.sim_pairs;
        let balance = Balance { positive_ratio: sp.positive_ratio, o_anchor_ratio: sp.o_anchor_ratio };
        train_recognizer(ctx, &tagger, t, &set.lengths(), &labels, p.seed, |step, idx| {
            let batch = Batch::new(&set, idx, device);
            let (states, logits) = tagger.states_and_logits(&batch, Pass::Train);
            let mut terms = vec![("ner", cross_entropy(&logits, batch.labels.as_ref().expect("source is labeled")))];
            let mut rng = Rng::derived(p.seed, &format!("sim pairs {step}"));
            let pairs = balanced(&batch_classes(&set, idx, sp.same), sp.pairs_per_batch, balance, &mut rng);
            if !pairs.is_empty() {
                let sim = pair_similarity(&states, &word_offsets(&batch), &pairs);
                terms.push(("similarity", bce(&sim, &pair_targets(&pairs, device)).mean(tch::Kind::Float)));
            }
            Ok(StepLoss::sum(terms, batch.tokens))
        })
    }
}
