//! The pipeline's stages, one file each, in dependency order. Stages depend on the
//! library in `src/` only, never on one another.

mod distill;
mod evaluate;
mod ingest;
mod lang_sim;
mod lexicon;
mod pool;
mod score_pairs;
mod score_tokens;
mod select;
mod teacher_adv;
mod teacher_msd;
mod teacher_ner;
mod teacher_sim;
mod teacher_trans;
mod tokenize;
mod translate;
mod weights;

use crate::side::Side;
use crate::stage::DynStage;

/// Every stage, upstream first; the last is what `run all` builds.
pub fn registry() -> Vec<Box<dyn DynStage>> {
    vec![
        Box::new(ingest::Ingest(Side::Source)),
        Box::new(ingest::Ingest(Side::Target)),
        Box::new(tokenize::Tokenize(Side::Source)),
        Box::new(tokenize::Tokenize(Side::Target)),
        Box::new(teacher_ner::TeacherNer { multitask: false }),
        Box::new(teacher_sim::TeacherSim),
        Box::new(teacher_ner::TeacherNer { multitask: true }),
        Box::new(teacher_adv::TeacherAdv),
        Box::new(teacher_msd::TeacherMsd),
        Box::new(pool::Pool(Side::Source)),
        Box::new(pool::Pool(Side::Target)),
        Box::new(lang_sim::LangSim),
        Box::new(lexicon::Lexicon),
        Box::new(translate::Translate),
        Box::new(teacher_trans::TeacherTrans { finetune: false }),
        Box::new(teacher_trans::TeacherTrans { finetune: true }),
        Box::new(score_tokens::ScoreTokens),
        Box::new(score_pairs::ScorePairs),
        Box::new(weights::Weights),
        Box::new(select::Select),
        Box::new(distill::Distill),
        Box::new(evaluate::Evaluate),
    ]
}
