//! The stages every method shares, one file each, and the registry of all stages in
//! dependency order (a method's own stages live in its room under `src/method/`). Stages
//! depend on the library in `src/` only, never on one another.

mod distill;
mod evaluate;
mod ingest;
mod score_tokens;
mod teacher_ner;
mod tokenize;

use crate::side::Side;
use crate::stage::DynStage;

/// Every stage, upstream first; the last is what `run all` builds.
pub fn registry() -> Vec<Box<dyn DynStage>> {
    vec![
        Box::new(ingest::Ingest(Side::Source)),
        Box::new(ingest::Ingest(Side::Target)),
        Box::new(tokenize::Tokenize(Side::Source)),
        Box::new(tokenize::Tokenize(Side::Target)),
        Box::new(teacher_ner::TeacherNer),
        Box::new(crate::method::mtmt::TeacherSim),
        Box::new(crate::method::mtmt::TeacherMt),
        Box::new(crate::method::advpicker::TeacherAdv),
        Box::new(crate::method::msd::TeacherMsd),
        Box::new(crate::method::tsl_multi::Pool(Side::Source)),
        Box::new(crate::method::tsl_multi::Pool(Side::Target)),
        Box::new(crate::method::tsl_multi::LangSim),
        Box::new(crate::method::unitrans::Lexicon),
        Box::new(crate::method::unitrans::Translate),
        Box::new(crate::method::unitrans::TeacherTrans { finetune: false }),
        Box::new(crate::method::unitrans::TeacherTrans { finetune: true }),
        Box::new(score_tokens::ScoreTokens),
        Box::new(crate::method::mtmt::ScorePairs),
        Box::new(crate::method::mtmt::Weights),
        Box::new(crate::method::advpicker::Select),
        Box::new(distill::Distill),
        Box::new(evaluate::Evaluate),
    ]
}

/// The stage that writes `file` into its artifacts, for readers that know a table by its
/// file name rather than by the method that makes it (the sweep report, `neighbours`).
pub fn writer_of(file: &str) -> Option<crate::stage_name::StageName> {
    registry().into_iter().find(|s| s.outputs().contains(&file)).map(|s| s.name())
}
