//! The methods: which teachers a student learns from, which tables are built for it and
//! its loss, one room per method. The stages ask the method (`Method::spec`) instead of
//! matching on it. A method with settings or stages of its own is a folder that owns
//! them: its config sections (struct, defaults, range checks), its stages, its model
//! parts and its student loss; this module is the registry (`Method`, `Method::spec`,
//! `range_errors`).
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

pub(crate) mod advpicker;
mod direct;
pub mod msd;
pub mod mtmt;
pub mod student;
mod tsl;
pub(crate) mod tsl_multi;
pub(crate) mod unitrans;

use tch::Tensor;

pub use crate::method_name::Method;
use crate::settings::{AsBefore, ConfigValues};
use crate::stage::StageContext;
use crate::stage_name::StageName;
use crate::summary::{self, Figure, TeacherFigure};
use crate::variant::Variant;
pub use student::{StudentLoss, StudentRun};

impl Method {
    /// What the method is made of: the registry of methods.
    pub fn spec(self) -> &'static dyn MethodSpec {
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
pub(crate) fn added_later() -> impl Iterator<Item = &'static (&'static str, AsBefore)> {
    [mtmt::ADDED_LATER, unitrans::ADDED_LATER, advpicker::ADDED_LATER, msd::ADDED_LATER].into_iter().flatten()
}

/// The figures the methods' own stages record that the sweep report shows per cell.
pub(crate) fn stage_figures() -> impl Iterator<Item = &'static Figure> {
    [advpicker::FIGURES, unitrans::FIGURES, tsl_multi::FIGURES].into_iter().flatten()
}

/// The source-only teachers' source-dev figures (the recognizer's and the methods' own
/// teachers'), shown once per teacher artifact in the sweep report.
pub(crate) fn teacher_figures() -> impl Iterator<Item = &'static TeacherFigure> {
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
    fn student(&self) -> Option<&dyn StudentLoss>;
    /// Settings whose default is another under this method, as `KEY=VALUE`: the config
    /// applies them where neither the file nor a `--set` gives the key.
    fn defaults(&self) -> &'static [&'static str] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Each method room and what it owns: its config sections and its stages. Outside the
    /// room, only the registries may name them: this module (`Method::spec` and the
    /// lists above), the method names, the config schema (one field per section, and its
    /// range check), the stage names and the stage registry.
    const ROOMS: &[(&str, &[&str], &[&str])] = &[
        (
            "mtmt",
            &["sim_pairs", "similarity", "score", "weights", "teacher_sim"],
            &["TeacherSim", "ScorePairs", "Weights"],
        ),
        ("advpicker", &["advpicker", "teacher_adv"], &["TeacherAdv", "Select"]),
        ("msd", &["msd", "teacher_msd"], &["TeacherMsd"]),
        ("unitrans", &["unitrans", "teacher_trans"], &["Lexicon", "Translate", "TeacherTrans", "TeacherFinetune"]),
        ("tsl_multi", &["multi_source"], &["PoolSource", "PoolTarget", "LangSim"]),
    ];
    const REGISTRIES: &[&str] =
        &["src/method/mod.rs", "src/method_name.rs", "src/config/mod.rs", "src/stage_name.rs", "stages/mod.rs"];

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().unwrap() != "tests.rs" {
                out.push(path);
            }
        }
    }

    /// Where a line of code (comments and test modules left out) names a room's config
    /// section (a key string `"S.…"` / `"S"`, or a field access `.S.`) or its stage.
    fn mentions(line: &str, section_or_stage: &str, stage: bool) -> bool {
        if stage {
            return line
                .match_indices(&format!("StageName::{section_or_stage}"))
                .any(|(i, m)| !line[i + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'));
        }
        let s = section_or_stage;
        // `score`, `similarity` and `weights` are also ordinary words (a column, a loss
        // term, an encoder file): as sections they are matched in key strings only.
        let common = ["score", "similarity", "weights"].contains(&s);
        line.contains(&format!("\"{s}."))
            || (!common && (line.contains(&format!("\"{s}\"")) || line.contains(&format!(".{s}."))))
    }

    /// The layers import downward only: no module of the tool imports one that imports
    /// it back, through any path (the NER core is a crate of its own below them).
    #[test]
    fn the_tools_modules_import_in_no_circle() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new("python3")
            .arg(root.join("scripts/module-cycles.py"))
            .arg("--check")
            .current_dir(root)
            .output()
            .expect("python3 runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "import circles:\n{text}");
        assert!(text.contains(" 0 import circle(s)"), "{text}");
    }

    #[test]
    fn a_methods_settings_and_stages_are_named_only_in_its_room_and_the_registries() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        rust_files(&root.join("stages"), &mut files);
        rust_files(&root.join("ner/src"), &mut files);
        let mut found = Vec::new();
        for file in &files {
            let rel = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            if REGISTRIES.contains(&rel.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for (room, sections, stages) in ROOMS {
                    if rel.starts_with(&format!("src/method/{room}/")) {
                        continue;
                    }
                    let named = sections.iter().map(|s| (s, false)).chain(stages.iter().map(|s| (s, true)));
                    for (name, stage) in named {
                        if mentions(line, name, stage) {
                            found.push(format!("{rel}:{}: names {room}'s `{name}`: {}", n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(found.is_empty(), "outside their rooms:\n{}", found.join("\n"));
    }
}
