//! `weights` (methods that learn from pairs): joins each target pair with both words'
//! recognizer distributions and computes MTMT's confidence weights (their formulas live
//! with the method, in `method::mtmt`), writing `pseudo_labels`, the table users inspect
//! (one row per pair).

use polars::prelude::*;
use serde::Deserialize;

use super::calibration::Calibration;
use super::WeightsConfig;
use crate::mtmt::{sigmoid_cos, weight_exprs, WEIGHT_COLUMNS};
use crate::Method;
use mtmt_ner::table;
use mtmt_stage::files;
use mtmt_stage::stage::{Stage, StageContext, StageSpec};
use mtmt_stage::stage_name::StageName;

pub struct Weights;

#[derive(Deserialize)]
pub struct Params {
    weights: WeightsConfig,
}

impl StageSpec for Weights {
    fn name(&self) -> StageName {
        StageName::Weights
    }
    fn version(&self) -> u32 {
        2
    }
    fn description(&self) -> &'static str {
        "pairs joined with teacher distributions -> pseudo_labels with alpha1, alpha2, beta, gamma"
    }
    fn inputs(&self, _: Method) -> Vec<StageName> {
        vec![StageName::ScoreTokens, StageName::ScorePairs]
    }
    fn outputs(&self) -> &'static [&'static str] {
        &[files::PSEUDO_LABELS]
    }
}

impl Stage for Weights {
    type Params = Params;

    fn run(&self, p: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let tokens = table::read(&ctx.input(StageName::ScoreTokens, files::TOKEN_PROBS))?.lazy();
        let pairs_path = ctx.input(StageName::ScorePairs, super::PAIRS);
        let pairs = table::read(&pairs_path)?.lazy();
        // gamma compares t with the recognizer's similarity on t's scale.
        let calibration = Calibration::of_table(&pairs_path)?;
        let side = |suffix: &str| {
            tokens.clone().select([
                col("sentence_id").alias(format!("sentence_{suffix}")),
                col("word").alias(format!("word_{suffix}")),
                col("probs").alias(format!("probs_{suffix}")),
                col("label").alias(format!("label_{suffix}")),
                col("max_prob").alias(format!("max_prob_{suffix}")),
            ])
        };
        let joined = pairs
            .join(
                side("a"),
                [col("sentence_a"), col("word_a")],
                [col("sentence_a"), col("word_a")],
                JoinArgs::new(JoinType::Inner),
            )
            .join(
                side("b"),
                [col("sentence_b"), col("word_b")],
                [col("sentence_b"), col("word_b")],
                JoinArgs::new(JoinType::Inner),
            )
            .sort(["pair_id"], Default::default())
            .collect()?;
        let (pa, pb) = (table::read_f32_lists(&joined, "probs_a")?, table::read_f32_lists(&joined, "probs_b")?);
        let sim: Vec<f32> = pa.iter().zip(&pb).map(|(a, b)| sigmoid_cos(a, b, &calibration)).collect();
        let mut df = joined
            .lazy()
            .with_column(lit(Series::new("sim_probs".into(), sim)).alias("sim_probs"))
            .with_columns(weight_exprs(&p.weights))
            .collect()?;
        let means: Vec<String> = WEIGHT_COLUMNS
            .iter()
            .map(|c| {
                format!(
                    "{c} {:.3}",
                    df.column(c).ok().and_then(|s| s.as_materialized_series().mean()).unwrap_or(f64::NAN)
                )
            })
            .collect();
        ctx.log(format!("{} pseudo-labelled pairs; mean {}", df.height(), means.join(", ")));
        ctx.summary.insert(mtmt_stage::summary::PAIRS.into(), df.height().into());
        let mut meta = ctx.provenance();
        if calibration != Calibration::IDENTITY {
            meta.push(calibration.metadata());
        }
        table::write(&mut df, &ctx.output(files::PSEUDO_LABELS), meta)
    }
}
