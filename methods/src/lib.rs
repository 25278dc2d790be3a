//! The methods (crate `mtmt-methods`): which teachers a student learns from, which tables
//! are built for it and its loss, one room per method. The stages ask the method
//! (`Method::spec`) instead of matching on it. A method with settings or stages of its
//! own is a folder that owns them: its config sections (struct, defaults, range checks),
//! its stages, its model parts and its student loss; this module is the registry
//! (`Method::spec`, what the methods declare for the reports and the schema).
//!
//! The crate sits on the stage layer (`mtmt-stage`, where the `Method` name lives, so
//! that a stage's context can carry it) and the NER core; the shared stages
//! (`mtmt-stages`) and the tool sit above it.
//!
//! - `direct`: the recognizer teacher alone (direct transfer), no student.
//! - `tsl`: the student matches the recognizer's distribution on every target word.
//! - `mtmt`: recognizer + siamese similarity teacher, pairs with confidence weights.
//! - `mtst`: MTMT's loss from one multitask teacher (the paper's ablation).
//! - `advpicker`: an adversarially trained recognizer; the student learns on the target
//!   sentences its language discriminator picks.
//! - `msd`: heads on intermediate layers, distilled head by head, plus MMD on [CLS].
//! - `tsl-multi`: TSL from several source languages' teachers, mixed per sentence by
//!   language similarity.
//! - `unitrans`: teachers on a word-by-word translation of the source; the student
//!   learns the fine-tuned teacher's soft labels and the three teachers' agreed labels.

pub mod advpicker;
mod direct;
pub mod msd;
pub mod mtmt;
pub mod student;
mod tsl;
pub mod tsl_multi;
pub mod unitrans;

use tch::Tensor;

pub use mtmt_stage::method_name::Method;
use mtmt_stage::settings::{AsBefore, ConfigValues};
use mtmt_stage::stage::StageContext;
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary::{self, Figure, TeacherFigure};
use mtmt_stage::variant::Variant;
pub use student::{DynStudentLoss, NoSettings, StudentLoss, StudentRun};

/// What a method is made of, asked of its name (`method.spec()`): `Method` is declared
/// in the stage layer below, so the registry reaches it through this trait.
pub trait Spec {
    fn spec(self) -> &'static dyn MethodSpec;
}

impl Spec for Method {
    /// The registry of methods.
    fn spec(self) -> &'static dyn MethodSpec {
        match self {
            Method::Direct => &direct::Direct,
            Method::Tsl => &tsl::Tsl,
            Method::Mtmt => &mtmt::Mtmt::TWO_TEACHERS,
            Method::Mtst => &mtmt::Mtmt::ONE_TEACHER,
            Method::AdvPicker => &advpicker::AdvPicker,
            Method::Msd => &msd::Msd,
            Method::TslMulti => &tsl_multi::TslMulti,
            Method::UniTrans => &unitrans::UniTrans,
        }
    }
}

/// The methods' own settings added after artifacts existed (`config::ADDED_LATER`).
pub fn added_later() -> impl Iterator<Item = &'static (&'static str, AsBefore)> {
    [mtmt::ADDED_LATER, unitrans::ADDED_LATER, advpicker::ADDED_LATER, msd::ADDED_LATER].into_iter().flatten()
}

/// The figures the methods' own stages record that the sweep report shows per cell.
pub fn stage_figures() -> impl Iterator<Item = &'static Figure> {
    [advpicker::FIGURES, unitrans::FIGURES, tsl_multi::FIGURES].into_iter().flatten()
}

/// The source-only teachers' source-dev figures (the recognizer's and the methods' own
/// teachers'), shown once per teacher artifact in the sweep report.
pub fn teacher_figures() -> impl Iterator<Item = &'static TeacherFigure> {
    const RECOGNIZER: &[TeacherFigure] = &[TeacherFigure {
        stage: StageName::TeacherNer,
        what: "entity F1",
        path: &[summary::SOURCE_DEV, "overall", "f1"],
    }];
    [RECOGNIZER, mtmt::TEACHER_FIGURES, msd::TEACHER_FIGURES].into_iter().flatten()
}

/// One method: its teachers and its student.
pub trait MethodSpec: Sync {
    /// The teacher whose label distributions on target words the student learns from
    /// (`score_tokens` runs it).
    fn recognizer(&self) -> StageName;
    /// Copies of the recognizer under variants of the config (other seeds) whose label
    /// distributions `score_tokens` merges with the recognizer's own (`merge_recognizers`).
    fn recognizer_variants(&self, _cfg: ConfigValues) -> Vec<Variant> {
        vec![]
    }
    /// Stages besides the recognizers whose artifacts `merge_recognizers` reads.
    fn merge_inputs(&self) -> &'static [StageName] {
        &[]
    }
    /// One label distribution per target sentence (ids `sentence_ids`) from the recognizer's
    /// (`per_teacher[0]`) and its variants' (in `recognizer_variants` order); with no
    /// variant, the recognizer's.
    fn merge_recognizers(
        &self,
        per_teacher: Vec<Vec<Tensor>>,
        _sentence_ids: &[u32],
        _ctx: &mut StageContext,
    ) -> anyhow::Result<Vec<Tensor>> {
        let [own]: [Vec<Tensor>; 1] = per_teacher.try_into().map_err(|_| anyhow::anyhow!("one recognizer expected"))?;
        Ok(own)
    }
    /// Teachers that vote with the recognizer: `score_tokens` marks the words on which
    /// every one's top label is the recognizer's (UniTrans's hard labels).
    fn voters(&self) -> &'static [StageName] {
        &[]
    }
    /// The teacher that scores target word pairs (`score_pairs` runs it), for methods
    /// whose student learns from pairs.
    fn pair_scorer(&self) -> Option<StageName> {
        None
    }
    /// A teacher of the method's own that `evaluate` scores beside the direct-transfer
    /// teacher (`teacher_ner`), under its stage name.
    fn own_teacher(&self) -> Option<StageName> {
        None
    }
    /// The student's loss; `None` when the recognizer teacher is the model (direct transfer).
    fn student(&self) -> Option<&dyn DynStudentLoss>;
    /// Settings whose default is another under this method, as `KEY=VALUE`: the config
    /// applies them where neither the file nor a `--set` gives the key.
    fn defaults(&self) -> &'static [&'static str] {
        &[]
    }
}
