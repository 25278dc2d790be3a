//! `advpicker` (AdvPicker, methods.md): the recognizer teacher is trained adversarially
//! against a language discriminator (`teacher_adv`); the discriminator then picks the target
//! sentences whose features it cannot place (`select`); the student is distilled TSL-style
//! from the adversarial teacher on those sentences only. With `advpicker.teachers = N`, the
//! teachers of seeds seed .. seed + N - 1 label the target text and each sentence takes the
//! labels of the most confident one (the released code's seed ensemble; the paper's
//! "highest sum of each predicted label confidence"); selection stays the run's own teacher's.

use std::collections::HashSet;

use tch::{Kind, Tensor};

use mtmt_ner::table;
use mtmt_stage::settings::AsBefore;
use mtmt_stage::settings::ConfigValues;
use mtmt_stage::stage::StageContext;
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary;
use mtmt_stage::summary::{Figure, Unit};
use mtmt_stage::variant::Variant;

use crate::student::{DynStudentLoss, NoSettings, StudentLoss, StudentRun};
use crate::tsl::train_on;
use crate::MethodSpec;

mod config;
mod discriminator;
mod select;
mod teacher_adv;

pub use config::{AdvPickerConfig, Adversarial};
pub use select::Select;
pub use teacher_adv::TeacherAdv;

/// The figures its stages record that the sweep report shows.
pub(crate) const FIGURES: &[Figure] = &[
    Figure {
        stage: StageName::TeacherAdv,
        what: "source dev entity F1",
        path: &[summary::SOURCE_DEV, "overall", "f1"],
        unit: Unit::Score,
    },
    Figure {
        stage: StageName::Select,
        what: "target train sentences kept",
        path: &[summary::KEPT_SENTENCES],
        unit: Unit::Count,
    },
];

/// Its settings added after artifacts existed (`config::ADDED_LATER`).
pub const ADDED_LATER: &[(&str, AsBefore)] =
    &[("teacher_adv.optimizer", AsBefore::Name("adamw")), ("teacher_adv.parallel_dropout", AsBefore::Flag(false))];

// The files its stages write into their artifacts (`mtmt_stage::files` has the shared ones).
/// `teacher_adv`: AdvPicker's trained discriminator (beside the recognizer's `MODEL`).
pub(crate) const DISCRIMINATOR: &str = "discriminator.safetensors";
/// `select`: AdvPicker's discriminator probability of every target train sentence and
/// whether the student learns from it.
pub const SELECTION: &str = "selection.parquet";

pub struct AdvPicker;

impl MethodSpec for AdvPicker {
    fn recognizer(&self) -> StageName {
        StageName::TeacherAdv
    }
    fn own_teacher(&self) -> Option<StageName> {
        Some(StageName::TeacherAdv)
    }
    fn recognizer_variants(&self, cfg: ConfigValues) -> Vec<Variant> {
        let (seed, teachers): (u64, u64) = (cfg.get("seed"), cfg.get("advpicker.teachers"));
        (1..teachers).map(|k| Variant::seed(seed + k)).collect()
    }
    fn merge_recognizers(
        &self,
        per_teacher: Vec<Vec<Tensor>>,
        _sentence_ids: &[u32],
        ctx: &mut StageContext,
    ) -> anyhow::Result<Vec<Tensor>> {
        let (merged, chosen) = most_confident(per_teacher);
        ctx.log(format!("sentences labelled by each seed teacher (the run's first): {chosen:?}"));
        ctx.summary.insert(summary::SENTENCES_PER_TEACHER.into(), chosen.into());
        Ok(merged)
    }
    fn student(&self) -> Option<&dyn DynStudentLoss> {
        Some(self)
    }
}

impl StudentLoss for AdvPicker {
    type Settings = NoSettings;

    fn inputs(&self) -> &'static [StageName] {
        &[StageName::Select]
    }

    fn train(&self, run: &mut StudentRun, _: NoSettings) -> anyhow::Result<()> {
        let path = run.ctx.input(StageName::Select, SELECTION);
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
        train_on(run, &sentences, "AdvPicker", None)
    }
}

/// Per sentence, the distributions (words x labels) of the teacher with the highest sum over
/// words of its top label probability, the earlier teacher on ties; and how many sentences
/// each teacher labelled.
fn most_confident(per_teacher: Vec<Vec<Tensor>>) -> (Vec<Tensor>, Vec<usize>) {
    let mut chosen = vec![0usize; per_teacher.len()];
    let sentences = per_teacher.first().map_or(0, Vec::len);
    let merged = (0..sentences)
        .map(|i| {
            let confidence = |t: &Vec<Tensor>| t[i].max_dim(-1, false).0.sum(Kind::Double).double_value(&[]);
            let best = (1..per_teacher.len()).fold(0, |best, t| {
                if confidence(&per_teacher[t]) > confidence(&per_teacher[best]) {
                    t
                } else {
                    best
                }
            });
            chosen[best] += 1;
            per_teacher[best][i].shallow_clone()
        })
        .collect();
    (merged, chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sentence_takes_the_most_confident_teachers_labels() {
        let probs = |rows: &[[f32; 2]]| Tensor::from_slice(rows.concat().as_slice()).view([rows.len() as i64, 2]);
        // Sentence 0: teacher 1 is surer (0.9 + 0.8 > 0.6 + 0.7); sentence 1: a tie keeps teacher 0.
        let a = vec![probs(&[[0.6, 0.4], [0.3, 0.7]]), probs(&[[0.5, 0.5]])];
        let b = [probs(&[[0.1, 0.9], [0.8, 0.2]]), probs(&[[0.5, 0.5]])];
        let (merged, chosen) = most_confident(vec![a, b.iter().map(Tensor::shallow_clone).collect()]);
        assert_eq!(chosen, [1, 1]);
        assert!(merged[0].equal(&b[0]));
        assert_eq!(merged[1].size(), [1, 2]);
    }
}
