//! `teacher_ner`: the entity-recognizer teacher, the pretrained encoder fine-tuned
//! with a token-classification head on the labeled source train split (cross-entropy
//! at first subwords). It resumes from its last checkpoint if a run was interrupted, and
//! reports source-dev F1 (Viterbi, start constraint) for inspection only: the model kept
//! is the last one. (MTST's multitask teacher, the same model with a pair term, is in
//! MTMT's room: `teacher_mt`.)

use serde::Deserialize;

use crate::artifacts::{source_train, EncoderFiles, ENCODER_FILES};
use crate::config::{bio_labels, TrainConfig};
use crate::files;
use crate::fit::train_recognizer;
use crate::method::Method;
use crate::model::heads::cross_entropy;
use crate::model::tagger::Tagger;
use crate::model::Pass;
use crate::stage::{Stage, StageContext, StageSpec};
use crate::stage_name::StageName;
use crate::train::data::Batch;
use crate::train::trainer::StepLoss;

/// The recognizer teacher.
pub struct TeacherNer;

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    labels: Vec<String>,
    encoder: EncoderFiles,
    teacher_ner: TrainConfig,
}

impl StageSpec for TeacherNer {
    fn name(&self) -> StageName {
        StageName::TeacherNer
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "entity-recognizer teacher fine-tuned on the labeled source train split"
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
        ctx.log(format!("{} sentences, {} subwords on {device:?}", set.len(), set.tokens()));
        train_recognizer(ctx, &tagger, t, &set.lengths(), &labels, p.seed, |_, idx| {
            let batch = Batch::new(&set, idx, device);
            let loss =
                cross_entropy(&tagger.logits(&batch, Pass::Train), batch.labels.as_ref().expect("source is labeled"));
            Ok(StepLoss::single(loss, batch.tokens))
        })
    }
}
