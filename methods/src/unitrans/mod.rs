//! `unitrans` (UniTrans, methods.md): the source train split translated word by word into
//! the target language (`lexicon`, `translate`); the recognizer teacher fine-tuned on the
//! translation (`teacher_finetune`, the paper's Theta_teach) gives the student its soft
//! labels on every target word; where its top label is also that of the source teacher
//! (`teacher_ner`) and of the teacher trained on the translation alone (`teacher_trans`),
//! the word also gets that label as a hard one (`score_tokens`' `agree`), weighted by
//! `unitrans.hard_weight` (eta): loss = soft + eta * (1/N) sum_i agree_i CE(label_i).

use std::collections::HashMap;

use serde::Deserialize;
use tch::{Kind, Tensor};

use mtmt_ner::table;
use mtmt_stage::files;
use mtmt_stage::settings::AsBefore;
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary::{self, Figure, Unit};

use crate::student::{teacher_batch, DynStudentLoss, StudentLoss, StudentRun};
use crate::tsl::train_on;
use crate::MethodSpec;

mod config;
mod lexicon;
mod teacher_trans;
mod translate;
pub mod word_translation;

pub use config::{UniTransConfig, WordVectors};
pub use lexicon::Lexicon;
pub use teacher_trans::TeacherTrans;
pub use translate::Translate;

/// The figures its stages record that the sweep report shows.
pub(crate) const FIGURES: &[Figure] = &[
    Figure {
        stage: StageName::Lexicon,
        what: "lexicon pairs that are mutual nearest neighbours",
        path: &[summary::LEXICON_MUTUAL],
        unit: Unit::Share,
    },
    Figure {
        stage: StageName::Translate,
        what: "source train words translated",
        path: &[summary::TRANSLATED_WORDS],
        unit: Unit::Share,
    },
    Figure {
        stage: StageName::TeacherTrans,
        what: "source dev entity F1",
        path: &[summary::SOURCE_DEV, "overall", "f1"],
        unit: Unit::Score,
    },
    Figure {
        stage: StageName::TeacherFinetune,
        what: "source dev entity F1",
        path: &[summary::SOURCE_DEV, "overall", "f1"],
        unit: Unit::Score,
    },
    Figure {
        stage: StageName::ScoreTokens,
        what: "target train words all three teachers agree on",
        path: &[summary::AGREEMENT],
        unit: Unit::Share,
    },
];

/// Its settings added after artifacts existed (`config::ADDED_LATER`).
pub const ADDED_LATER: &[(&str, AsBefore)] = &[
    ("unitrans.target_casing", AsBefore::Flag(false)),
    ("teacher_trans.optimizer", AsBefore::Name("adamw")),
    ("teacher_trans.parallel_dropout", AsBefore::Flag(false)),
];

// The files its stages write into their artifacts (`mtmt_stage::files` has the shared ones).
/// `lexicon`: UniTrans's source -> target word lexicon (source, target, score).
pub(crate) const LEXICON: &str = "lexicon.parquet";
/// `translate`: the source train split translated word by word (a sentence table).
pub(crate) const TRANSLATED: &str = "translated.parquet";
/// `translate`: the translated sentences encoded as a `tokenize` table (with labels).
pub(crate) const ENCODED_TRANSLATED: &str = "encoded_translated.parquet";

pub struct UniTrans;

/// The settings UniTrans's student reads: `unitrans.hard_weight`.
#[derive(Deserialize)]
pub struct StudentSettings {
    unitrans: Hard,
}

#[derive(Deserialize)]
struct Hard {
    hard_weight: f64,
}

impl MethodSpec for UniTrans {
    fn recognizer(&self) -> StageName {
        StageName::TeacherFinetune
    }
    fn voters(&self) -> &'static [StageName] {
        &[StageName::TeacherNer, StageName::TeacherTrans]
    }
    fn own_teacher(&self) -> Option<StageName> {
        Some(StageName::TeacherFinetune)
    }
    fn student(&self) -> Option<&dyn DynStudentLoss> {
        Some(self)
    }
}

impl StudentLoss for UniTrans {
    type Settings = StudentSettings;

    fn inputs(&self) -> &'static [StageName] {
        &[]
    }

    fn train(&self, run: &mut StudentRun, settings: StudentSettings) -> anyhow::Result<()> {
        let eta = settings.unitrans.hard_weight;
        let path = run.ctx.input(StageName::ScoreTokens, files::TOKEN_PROBS);
        let agreed = read_agreement(&path)?;
        // Per sentence of the student's set, 1.0 on the words all teachers agree on.
        let masks: Vec<Tensor> = run
            .set
            .sentence_ids
            .iter()
            .zip(&run.teacher)
            .map(|(id, probs)| {
                let words = probs.size()[0] as usize;
                let flags = agreed.get(id).map(Vec::as_slice).unwrap_or(&[]);
                anyhow::ensure!(
                    flags.len() == words,
                    "{}: sentence {id}: {} agreement flags for {words} words",
                    path.display(),
                    flags.len()
                );
                Ok(Tensor::from_slice(&flags.iter().map(|&a| f32::from(u8::from(a))).collect::<Vec<_>>()))
            })
            .collect::<anyhow::Result<_>>()?;
        let hard_labels: Vec<Tensor> = run.teacher.iter().map(|p| p.argmax(-1, false)).collect();
        let every: Vec<usize> = (0..run.set.len()).collect();
        let hard = |logits: &Tensor, idx: &[usize]| -> Tensor {
            let device = logits.device();
            let mask = teacher_batch(&masks, idx, device);
            let labels = teacher_batch(&hard_labels, idx, device);
            let nll = -logits.log_softmax(-1, Kind::Float).gather(-1, &labels.unsqueeze(-1), false).squeeze_dim(-1);
            (nll * mask).mean(Kind::Float) * eta
        };
        train_on(run, &every, "UniTrans", Some(("hard", &hard)))
    }
}

/// `score_tokens`' agreement flags per sentence, in word order.
fn read_agreement(path: &std::path::Path) -> anyhow::Result<HashMap<u32, Vec<bool>>> {
    let df = table::read_columns(path, &["sentence_id", "agree"])?;
    let ids = table::u32_column(&df, path, "sentence_id")?;
    let mut out: HashMap<u32, Vec<bool>> = HashMap::new();
    for (id, agree) in ids.into_iter().zip(df.column("agree")?.bool()?.iter()) {
        out.entry(id).or_default().push(agree == Some(true));
    }
    Ok(out)
}
