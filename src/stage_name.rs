//! The names of the pipeline's stages, typed: a stage is referred to by a `StageName`
//! everywhere (inputs, the store's folders, `run stage NAME`), so a misspelt or renamed
//! stage is a compile error, and clap offers the names on the command line.

use std::fmt;

use serde::Serialize;

/// One pipeline stage. The string form (`as_str`) names its folder in the store and enters
/// every cache key, so it never changes for an existing stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum StageName {
    IngestSource,
    IngestTarget,
    TokenizeSource,
    TokenizeTarget,
    TeacherNer,
    TeacherSim,
    TeacherMt,
    TeacherAdv,
    TeacherMsd,
    PoolSource,
    PoolTarget,
    LangSim,
    Lexicon,
    Translate,
    TeacherTrans,
    TeacherFinetune,
    ScoreTokens,
    ScorePairs,
    Weights,
    Select,
    Distill,
    Evaluate,
}

impl StageName {
    pub const ALL: [StageName; 22] = [
        StageName::IngestSource,
        StageName::IngestTarget,
        StageName::TokenizeSource,
        StageName::TokenizeTarget,
        StageName::TeacherNer,
        StageName::TeacherSim,
        StageName::TeacherMt,
        StageName::TeacherAdv,
        StageName::TeacherMsd,
        StageName::PoolSource,
        StageName::PoolTarget,
        StageName::LangSim,
        StageName::Lexicon,
        StageName::Translate,
        StageName::TeacherTrans,
        StageName::TeacherFinetune,
        StageName::ScoreTokens,
        StageName::ScorePairs,
        StageName::Weights,
        StageName::Select,
        StageName::Distill,
        StageName::Evaluate,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            StageName::IngestSource => "ingest_source",
            StageName::IngestTarget => "ingest_target",
            StageName::TokenizeSource => "tokenize_source",
            StageName::TokenizeTarget => "tokenize_target",
            StageName::TeacherNer => "teacher_ner",
            StageName::TeacherSim => "teacher_sim",
            StageName::TeacherMt => "teacher_mt",
            StageName::TeacherAdv => "teacher_adv",
            StageName::TeacherMsd => "teacher_msd",
            StageName::PoolSource => "pool_source",
            StageName::PoolTarget => "pool_target",
            StageName::LangSim => "lang_sim",
            StageName::Lexicon => "lexicon",
            StageName::Translate => "translate",
            StageName::TeacherTrans => "teacher_trans",
            StageName::TeacherFinetune => "teacher_finetune",
            StageName::ScoreTokens => "score_tokens",
            StageName::ScorePairs => "score_pairs",
            StageName::Weights => "weights",
            StageName::Select => "select",
            StageName::Distill => "distill",
            StageName::Evaluate => "evaluate",
        }
    }

    /// The stage a store folder name stands for, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for StageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn clap_serde_and_store_names_agree() {
        for stage in StageName::ALL {
            let clap_name = stage.to_possible_value().expect("every stage is offered").get_name().to_string();
            assert_eq!(clap_name, stage.as_str());
            assert_eq!(serde_json::to_value(stage).unwrap(), stage.as_str());
            assert_eq!(StageName::parse(stage.as_str()), Some(stage));
        }
    }
}
