//! `tsl-multi` (TSL, multi-source): one recognizer teacher per labeled source language
//! (`source`, then `sources`: each the `teacher_ner` of a pipeline with that language as
//! its source, so shared with it), their distributions on each target sentence mixed with
//! the weights `lang_sim` wrote for it; the student learns the mix as TSL does.

use std::collections::HashMap;

use polars::prelude::Column;
use tch::{Kind, Tensor};

use mtmt_ner::table;
use mtmt_stage::settings::{ConfigValues, Corpus};
use mtmt_stage::stage::StageContext;
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary::{self, Figure, Unit};
use mtmt_stage::variant::Variant;

use crate::student::DynStudentLoss;
use crate::tsl::Tsl;
use crate::MethodSpec;

mod config;
mod lang_sim;
mod pool;
mod similarity_model;

pub use config::{MultiSourceConfig, Weighting};
pub use lang_sim::LangSim;
pub use pool::Pool;

/// The figures its stages record that the sweep report shows.
pub(crate) const FIGURES: &[Figure] = &[
    Figure {
        stage: StageName::LangSim,
        what: "source dev sentences given their language",
        path: &[summary::SOURCE_DEV],
        unit: Unit::Share,
    },
    Figure {
        stage: StageName::LangSim,
        what: "mean teacher weight on target train",
        path: &[summary::MEAN_TEACHER_WEIGHTS],
        unit: Unit::Weight,
    },
];

// The files its stages write into their artifacts (`mtmt_stage::files` has the shared ones).
/// `lang_sim`: multi-source TSL's weight of each source language's teacher per target
/// train sentence.
pub(crate) const TEACHER_WEIGHTS: &str = "teacher_weights.parquet";
/// `pool_source`, `pool_target`: each sentence's pooled pretrained-encoder vector, per split.
pub(crate) const VECTORS: &str = "vectors.safetensors";
/// `lang_sim`: the trained language-similarity model.
pub(crate) const LANG_SIM: &str = "lang_sim.safetensors";

pub struct TslMulti;

impl MethodSpec for TslMulti {
    fn recognizer(&self) -> StageName {
        StageName::TeacherNer
    }
    fn recognizer_variants(&self, cfg: ConfigValues) -> Vec<Variant> {
        cfg.get::<Vec<Corpus>>("sources").iter().map(Variant::source).collect()
    }
    fn merge_inputs(&self) -> &'static [StageName] {
        &[StageName::LangSim]
    }
    fn merge_recognizers(
        &self,
        per_teacher: Vec<Vec<Tensor>>,
        sentence_ids: &[u32],
        ctx: &mut StageContext,
    ) -> anyhow::Result<Vec<Tensor>> {
        let path = ctx.input(StageName::LangSim, TEACHER_WEIGHTS);
        let weights = read_weights(&path, per_teacher.len())?;
        sentence_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let w = weights
                    .get(id)
                    .ok_or_else(|| anyhow::anyhow!("{}: no weights for target sentence {id}", path.display()))?;
                Ok(mix(per_teacher.iter().map(|t| &t[i]), w))
            })
            .collect()
    }
    fn student(&self) -> Option<&dyn DynStudentLoss> {
        Some(&Tsl)
    }
}

/// `sum_k w_k p_k` of one sentence's distributions (words x labels), one per teacher.
fn mix<'a>(probs: impl Iterator<Item = &'a Tensor>, weights: &[f32]) -> Tensor {
    probs.zip(weights).map(|(p, &w)| p.to_kind(Kind::Float) * f64::from(w)).reduce(|a, b| a + b).expect("a teacher")
}

/// The teacher weights of every sentence: the `weight_*` columns in table order, which is
/// the teachers' order; `teachers` columns are expected.
fn read_weights(path: &std::path::Path, teachers: usize) -> anyhow::Result<HashMap<u32, Vec<f32>>> {
    let df = table::read(path)?;
    let ids = table::u32_column(&df, path, "sentence_id")?;
    let columns: Vec<&Column> = df.columns().iter().filter(|c| c.name().starts_with("weight_")).collect();
    anyhow::ensure!(
        columns.len() == teachers,
        "{}: {} weight columns for {teachers} teachers",
        path.display(),
        columns.len()
    );
    let columns: Vec<Vec<f32>> =
        columns.iter().map(|c| Ok(c.f32()?.into_no_null_iter().collect())).collect::<anyhow::Result<_>>()?;
    Ok(ids.iter().enumerate().map(|(row, &id)| (id, columns.iter().map(|c| c[row]).collect())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_the_weighted_sum_and_stays_a_distribution() {
        let a = Tensor::from_slice2(&[[1.0f32, 0.0], [0.5, 0.5]]);
        let b = Tensor::from_slice2(&[[0.0f32, 1.0], [0.1, 0.9]]);
        let m = mix([&a, &b].into_iter(), &[0.25, 0.75]);
        let got = Vec::<f32>::try_from(m.flatten(0, -1)).unwrap();
        let want = [0.25, 0.75, 0.2, 0.8];
        assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6), "{got:?}");
    }
}
