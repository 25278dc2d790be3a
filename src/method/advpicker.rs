//! `advpicker` (AdvPicker, methods.md): the recognizer teacher is trained adversarially
//! against a language discriminator (`teacher_adv`); the discriminator then picks the target
//! sentences whose features it cannot place (`select`); the student is distilled TSL-style
//! from the adversarial teacher on those sentences only.

use std::collections::HashSet;

use super::student::{StudentLoss, StudentRun};
use super::tsl::train_on;
use super::MethodSpec;
use crate::files;
use crate::stage_name::StageName;
use crate::table;

pub struct AdvPicker;

impl MethodSpec for AdvPicker {
    fn recognizer(&self) -> StageName {
        StageName::TeacherAdv
    }
    fn own_teacher(&self) -> Option<StageName> {
        Some(StageName::TeacherAdv)
    }
    fn student(&self) -> Option<&dyn StudentLoss> {
        Some(self)
    }
}

impl StudentLoss for AdvPicker {
    fn inputs(&self) -> &'static [StageName] {
        &[StageName::Select]
    }

    fn train(&self, run: &mut StudentRun) -> anyhow::Result<()> {
        let path = run.ctx.input(StageName::Select, files::SELECTION);
        let df = table::read_columns(&path, &["sentence_id", "kept"])?;
        let ids = table::u32_column(&df, &path, "sentence_id")?;
        let kept = df.column("kept")?.bool()?;
        let chosen: HashSet<u32> =
            ids.iter().zip(kept.iter()).filter(|(_, k)| *k == Some(true)).map(|(&id, _)| id).collect();
        let sentences: Vec<usize> = (0..run.set.len()).filter(|&i| chosen.contains(&run.set.sentence_ids[i])).collect();
        anyhow::ensure!(
            !sentences.is_empty(),
            "{}: no kept sentence among the student's target sentences (the table does not belong to this target text)",
            path.display()
        );
        train_on(run, &sentences, "AdvPicker")
    }
}
