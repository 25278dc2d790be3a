//! `distill`: the student, a fresh copy of the pretrained encoder with a classification
//! head, trained on unlabeled target text from the teachers' outputs with its method's
//! loss (`method::*`: TSL on every word, MTMT on weighted pairs, ...).

use serde::Deserialize;

use mtmt_methods::{Method, Spec, StudentRun};
use mtmt_stage::artifacts::{EncoderFiles, ENCODER_FILES};
use mtmt_stage::files;
use mtmt_stage::settings::{bio_labels, DistillLossConfig, Student, TrainConfig};
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

pub struct Distill;

#[derive(Deserialize)]
pub struct Params {
    seed: u64,
    method: Method,
    labels: Vec<String>,
    encoder: EncoderFiles,
    distill: TrainConfig<Student>,
    distill_loss: DistillLossConfig,
}

impl StageSpec for Distill {
    fn name(&self) -> StageName {
        StageName::Distill
    }
    fn version(&self) -> u32 {
        1
    }
    fn description(&self) -> &'static str {
        "the student, trained on unlabeled target text from the teachers (TSL or MTMT)"
    }
    fn inputs(&self, method: Method) -> Vec<StageName> {
        let mut inputs = vec![StageName::TokenizeTarget, StageName::ScoreTokens];
        if let Some(student) = method.spec().student() {
            inputs.extend_from_slice(student.inputs());
        }
        inputs
    }
    fn method_reads(&self, method: Method) -> Vec<String> {
        method.spec().student().map_or_else(Vec::new, |s| s.reads())
    }
    fn files(&self) -> &'static [&'static str] {
        ENCODER_FILES
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::MODEL, files::CURVE]
    }
}

impl Stage for Distill {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let Some(loss) = p.method.spec().student() else {
            anyhow::bail!("method = \"direct\" has no student");
        };
        let labels = bio_labels(&p.labels);
        let mut run = StudentRun::new(ctx, &p.encoder, labels.len(), &p.distill, p.distill_loss.clone(), p.seed)?;
        loss.train(&mut run)?;
        let StudentRun { ctx, student, .. } = run;
        student.save_trained(&ctx.output(files::MODEL))
    }
}
