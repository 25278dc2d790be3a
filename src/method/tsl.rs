//! `tsl` (teacher-student learning, single source): the student matches the recognizer
//! teacher's label distribution on every word of the target train text.

use super::student::{all_words_loss, StudentLoss, StudentRun};
use super::MethodSpec;
use crate::stage_name::StageName;
use crate::train::data::Batch;
use crate::train::fit::fit;
use crate::train::trainer::all_batches;

pub struct Tsl;

impl MethodSpec for Tsl {
    fn recognizer(&self) -> StageName {
        StageName::TeacherNer
    }
    fn student(&self) -> Option<&dyn StudentLoss> {
        Some(self)
    }
}

impl StudentLoss for Tsl {
    fn inputs(&self) -> &'static [StageName] {
        &[]
    }

    fn train(&self, run: &mut StudentRun) -> anyhow::Result<()> {
        let StudentRun { ctx, student, opt, schedule, seed, device, set, teacher, loss, .. } = run;
        let (seed, device) = (*seed, *device);
        let plan = all_batches(&set.lengths(), schedule, seed);
        ctx.log(format!("TSL: {} target sentences on {device:?}", set.len()));
        fit(ctx, &student.vs, opt, &plan, schedule, seed, |_, idx| {
            let batch = Batch::new(set, idx, device);
            Ok((all_words_loss(&student.logits(&batch, true), teacher, idx, loss.ner), batch.tokens))
        })?;
        Ok(())
    }
}
