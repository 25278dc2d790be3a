//! `teacher_ner`: the entity-recognizer teacher, the pretrained encoder fine-tuned
//! with a token-classification head on the labeled source train split (cross-entropy
//! at first subwords). It resumes from its last checkpoint if a run was interrupted, and
//! reports source-dev F1 (Viterbi, start constraint) for inspection only: the model kept
//! is the last one. (MTST's multitask teacher, the same model with a pair term, is in
//! MTMT's room: `teacher_mt`.)

use serde::Deserialize;

use mtmt_methods::Method;
use mtmt_ner::model::heads::cross_entropy;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::model::Pass;
use mtmt_ner::train::data::Batch;
use mtmt_ner::trainer::StepLoss;
use mtmt_stage::artifacts::{source_train, EncoderFiles, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::fit::train_recognizer;
use mtmt_stage::settings::{bio_labels, TrainConfig};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

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
