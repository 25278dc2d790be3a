//! `tsl` (teacher-student learning, single source): the student matches the recognizer
//! teacher's label distribution on every word of the target train text.

use tch::Tensor;

use super::student::{all_words_loss, DynStudentLoss, NoSettings, StudentLoss, StudentRun};
use super::MethodSpec;
use mtmt_ner::model::Pass;
use mtmt_ner::train::data::Batch;
use mtmt_ner::trainer::{all_batches, StepLoss, Steps};
use mtmt_stage::fit::fit;
use mtmt_stage::stage_name::StageName;

pub struct Tsl;

impl MethodSpec for Tsl {
    fn recognizer(&self) -> StageName {
        StageName::TeacherNer
    }
    fn student(&self) -> Option<&dyn DynStudentLoss> {
        Some(self)
    }
}

impl StudentLoss for Tsl {
    type Settings = NoSettings;

    fn inputs(&self) -> &'static [StageName] {
        &[]
    }

    fn train(&self, run: &mut StudentRun, _: NoSettings) -> anyhow::Result<()> {
        let every: Vec<usize> = (0..run.set.len()).collect();
        train_on(run, &every, "TSL", None)
    }
}

/// A loss term a method adds to TSL's, from the student's logits at the batch's words and
/// the batch's sentences (indices into `run.set`), with its name in the training curve.
pub(super) type ExtraLoss<'a> = (&'static str, &'a dyn Fn(&Tensor, &[usize]) -> Tensor);

/// TSL's training on the sentences `sentences` (indices into `run.set`): batches drawn from
/// them alone, every word of each distilled from the recognizer, plus `extra` if any.
pub(super) fn train_on(
    run: &mut StudentRun,
    sentences: &[usize],
    method: &str,
    extra: Option<ExtraLoss>,
) -> anyhow::Result<()> {
    let StudentRun { ctx, student, opt, schedule, seed, device, set, teacher, loss, .. } = run;
    let (seed, device) = (*seed, *device);
    let lengths: Vec<usize> = sentences.iter().map(|&i| set.input_ids[i].len()).collect();
    let plan: Vec<(usize, Vec<usize>)> = all_batches(&lengths, schedule, seed)
        .into_iter()
        .map(|(epoch, batch)| (epoch, batch.into_iter().map(|k| sentences[k]).collect()))
        .collect();
    ctx.log(format!("{method}: {} of {} target sentences on {device:?}", sentences.len(), set.len()));
    fit(ctx, &student.vs, opt, Steps { batches: &plan, schedule, seed }, |_, idx| {
        let batch = Batch::new(set, idx, device);
        let logits = student.logits(&batch, Pass::Train);
        let soft = all_words_loss(&logits, teacher, idx, loss.ner);
        Ok(match extra {
            None => StepLoss::single(soft, batch.tokens),
            Some((name, extra)) => StepLoss::sum(vec![("distill", soft), (name, extra(&logits, idx))], batch.tokens),
        })
    })?;
    Ok(())
}
