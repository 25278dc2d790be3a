//! The stages every method shares (crate `mtmt-stages`), one file each, and the registry
//! of all stages in dependency order (a method's own stages live in its room, crate
//! `mtmt-methods`). Stages build on the layers below (the NER core, the stage layer, the
//! methods), never on one another; the tool runs them.

mod distill;
mod evaluate;
mod ingest;
mod score_tokens;
mod teacher_ner;
mod tokenize;

use mtmt_stage::side::Side;
use mtmt_stage::stage::DynStage;

/// Every stage, upstream first; the last is what `run all` builds.
pub fn registry() -> Vec<Box<dyn DynStage>> {
    vec![
        Box::new(ingest::Ingest(Side::Source)),
        Box::new(ingest::Ingest(Side::Target)),
        Box::new(tokenize::Tokenize(Side::Source)),
        Box::new(tokenize::Tokenize(Side::Target)),
        Box::new(teacher_ner::TeacherNer),
        Box::new(mtmt_methods::mtmt::TeacherSim),
        Box::new(mtmt_methods::mtmt::TeacherMt),
        Box::new(mtmt_methods::advpicker::TeacherAdv),
        Box::new(mtmt_methods::msd::TeacherMsd),
        Box::new(mtmt_methods::tsl_multi::Pool(Side::Source)),
        Box::new(mtmt_methods::tsl_multi::Pool(Side::Target)),
        Box::new(mtmt_methods::tsl_multi::LangSim),
        Box::new(mtmt_methods::unitrans::Lexicon),
        Box::new(mtmt_methods::unitrans::Translate),
        Box::new(mtmt_methods::unitrans::TeacherTrans { finetune: false }),
        Box::new(mtmt_methods::unitrans::TeacherTrans { finetune: true }),
        Box::new(score_tokens::ScoreTokens),
        Box::new(mtmt_methods::mtmt::ScorePairs),
        Box::new(mtmt_methods::mtmt::Weights),
        Box::new(mtmt_methods::advpicker::Select),
        Box::new(distill::Distill),
        Box::new(evaluate::Evaluate),
    ]
}

/// The stage that writes `file` into its artifacts, for readers that know a table by its
/// file name rather than by the method that makes it (the sweep report, `neighbours`).
pub fn writer_of(file: &str) -> Option<mtmt_stage::stage_name::StageName> {
    registry().into_iter().find(|s| s.outputs().contains(&file)).map(|s| s.name())
}
