//! `teacher_trans` / `teacher_finetune`: UniTrans's teachers on the translated source
//! (`translate`, methods.md). `teacher_trans` is the pretrained encoder fine-tuned on the
//! translated sentences alone (the paper's Theta_trans, data transfer); `teacher_finetune`
//! is the recognizer teacher (`teacher_ner`, Theta_src) fine-tuned further on them (the
//! paper's Theta_teach, whose soft labels the student learns). Both train with the
//! `teacher_trans` settings, resume from their last checkpoint, and report source-dev F1
//! for inspection only.

use serde::Deserialize;

use crate::Method;
use mtmt_ner::model::heads::cross_entropy;
use mtmt_ner::model::tagger::Tagger;
use mtmt_ner::model::Pass;
use mtmt_ner::train::data::{Batch, EncodedSet};
use mtmt_ner::trainer::StepLoss;
use mtmt_stage::artifacts::{EncoderFiles, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::fit::train_recognizer;
use mtmt_stage::settings::{bio_labels, TrainConfig};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

/// Theta_trans; with `finetune`, Theta_teach.
pub struct TeacherTrans {
    pub finetune: bool,
}

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    labels: Vec<String>,
    encoder: EncoderFiles,
    teacher_trans: TrainConfig,
}

impl StageSpec for TeacherTrans {
    fn name(&self) -> StageName {
        if self.finetune {
            StageName::TeacherFinetune
        } else {
            StageName::TeacherTrans
        }
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        if self.finetune {
            "UniTrans: the recognizer teacher fine-tuned on the translated source (the student's teacher)"
        } else {
            "UniTrans: a recognizer trained on the translated source alone"
        }
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        let mut inputs = vec![StageName::TokenizeSource, StageName::Translate];
        if self.finetune {
            inputs.push(StageName::TeacherNer);
        }
        inputs
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::MODEL, files::CURVE]
    }
}

impl Stage for TeacherTrans {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let device = ctx.device()?;
        let labels = bio_labels(&p.labels);
        let t = &p.teacher_trans;
        let set =
            EncodedSet::read(&ctx.input(StageName::Translate, super::ENCODED_TRANSLATED))?.truncated(t.max_sentences);
        let mut tagger =
            Tagger::pretrained(&p.encoder.config, &p.encoder.weights, labels.len(), t.dropout, device, p.seed)?;
        if self.finetune {
            tagger.load_trained(&ctx.input(StageName::TeacherNer, files::MODEL))?;
        }
        tagger.prepare_training(t.freeze(), t.mode());
        ctx.log(format!("{} translated sentences, {} subwords on {device:?}", set.len(), set.tokens()));
        train_recognizer(ctx, &tagger, t, &set.lengths(), &labels, p.seed, |_, idx| {
            let batch = Batch::new(&set, idx, device);
            let gold = batch.labels.as_ref().expect("translated is labeled");
            Ok(StepLoss::single(cross_entropy(&tagger.logits(&batch, Pass::Train), gold), batch.tokens))
        })
    }
}
