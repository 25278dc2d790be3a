//! The names of the pipeline's stages, typed: a stage is referred to by a `StageName`
//! everywhere (inputs, the store's folders, `run stage NAME`), so a misspelt or renamed
//! stage is a compile error, and clap offers the names on the command line.

use std::fmt;

use serde::Serialize;

/// Declares `StageName` from one list of (variant, store name): the enum, `ALL` in
/// pipeline order and `as_str`, so a stage is named once.
macro_rules! stage_names {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// One pipeline stage. The string form (`as_str`) names its folder in the store and
        /// enters every cache key, so it never changes for an existing stage.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
        #[serde(rename_all = "snake_case")]
        #[value(rename_all = "snake_case")]
        pub enum StageName {
            $($variant),*
        }

        impl StageName {
            /// Every stage, in pipeline order.
            pub const ALL: [StageName; [$($name),*].len()] = [$(StageName::$variant),*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(StageName::$variant => $name),*
                }
            }
        }
    };
}

stage_names! {
    IngestSource => "ingest_source",
    IngestTarget => "ingest_target",
    TokenizeSource => "tokenize_source",
    TokenizeTarget => "tokenize_target",
    TeacherNer => "teacher_ner",
    TeacherSim => "teacher_sim",
    TeacherMt => "teacher_mt",
    TeacherAdv => "teacher_adv",
    TeacherMsd => "teacher_msd",
    PoolSource => "pool_source",
    PoolTarget => "pool_target",
    LangSim => "lang_sim",
    Lexicon => "lexicon",
    Translate => "translate",
    TeacherTrans => "teacher_trans",
    TeacherFinetune => "teacher_finetune",
    ScoreTokens => "score_tokens",
    ScorePairs => "score_pairs",
    Weights => "weights",
    Select => "select",
    Distill => "distill",
    Evaluate => "evaluate",
}

impl StageName {
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
