//! `weights`: joins each target pair with both words' recognizer distributions and
//! computes the MTMT confidence weights, writing `pseudo_labels`, the table users
//! inspect (one row per pair):
//!   alpha1 = max(p_a)^2, alpha2 = max(p_b)^2,
//!   beta   = (2t - 1)^2 (paper) or min((2t - 1)^2 + 0.5, 1) (released code),
//!   gamma  = 1 - |sigmoid(cos(p_a, p_b)) - t|,
//! or all ones when weighting is off (the "w/o weighting" ablation).

use polars::prelude::*;
use serde::Deserialize;

use crate::config::{Config, WeightFormula, WeightsConfig};
use crate::stage::{Stage, StageContext};
use crate::table;

pub struct Weights;

#[derive(Deserialize)]
struct Params {
    weights: WeightsConfig,
}

/// sigmoid(cos(p, q)) of two probability vectors: how alike the recognizer thinks two words are.
pub fn sigmoid_cos(p: &[f32], q: &[f32]) -> f32 {
    let dot: f32 = p.iter().zip(q).map(|(a, b)| a * b).sum();
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
    let cos = dot / (norm(p) * norm(q)).max(1e-8);
    1.0 / (1.0 + (-cos).exp())
}

/// The weight columns as polars expressions over `max_prob_a`, `max_prob_b`, `t`, `sim_probs`.
pub fn weight_exprs(cfg: &WeightsConfig) -> Vec<Expr> {
    if !cfg.enabled {
        return ["alpha1", "alpha2", "beta", "gamma"]
            .map(|name| lit(1.0f32).cast(DataType::Float32).alias(name))
            .to_vec();
    }
    let spread = (lit(2.0f32) * col("t") - lit(1.0f32)).pow(2);
    let beta = match cfg.formula {
        WeightFormula::Paper => spread,
        WeightFormula::Code => (spread + lit(0.5f32)).clip_max(lit(1.0f32)),
    };
    vec![
        col("max_prob_a").pow(2).alias("alpha1"),
        col("max_prob_b").pow(2).alias("alpha2"),
        beta.alias("beta"),
        (lit(1.0f32) - (col("sim_probs") - col("t")).abs()).alias("gamma"),
    ]
}

impl Stage for Weights {
    fn name(&self) -> &'static str {
        "weights"
    }
    fn version(&self) -> u32 {
        2
    }
    fn description(&self) -> &'static str {
        "pairs joined with teacher distributions -> pseudo_labels with alpha1, alpha2, beta, gamma"
    }
    fn inputs(&self, _: &Config) -> Vec<&'static str> {
        vec!["score_tokens", "score_pairs"]
    }
    fn reads(&self) -> &'static [&'static str] {
        &["weights"]
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["pseudo_labels.parquet"]
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let p: Params = ctx.params()?;
        let tokens = table::read(&ctx.input("score_tokens", "token_probs.parquet"))?.lazy();
        let pairs = table::read(&ctx.input("score_pairs", "pairs.parquet"))?.lazy();
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
        let sim: Vec<f32> = pa.iter().zip(&pb).map(|(a, b)| sigmoid_cos(a, b)).collect();
        let mut df = joined
            .lazy()
            .with_column(lit(Series::new("sim_probs".into(), sim)).alias("sim_probs"))
            .with_columns(weight_exprs(&p.weights))
            .collect()?;
        let means: Vec<String> = ["alpha1", "alpha2", "beta", "gamma"]
            .iter()
            .map(|c| {
                format!(
                    "{c} {:.3}",
                    df.column(c).ok().and_then(|s| s.as_materialized_series().mean()).unwrap_or(f64::NAN)
                )
            })
            .collect();
        ctx.log(format!("{} pseudo-labelled pairs; mean {}", df.height(), means.join(", ")));
        ctx.summary.insert("pairs".into(), df.height().into());
        table::write(&mut df, &ctx.output("pseudo_labels.parquet"), ctx.provenance())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights_for(cfg: &WeightsConfig, max_a: f32, max_b: f32, t: f32, sim: f32) -> Vec<f32> {
        let df = df!("max_prob_a" => [max_a], "max_prob_b" => [max_b], "t" => [t], "sim_probs" => [sim]).unwrap();
        let out = df.lazy().with_columns(weight_exprs(cfg)).collect().unwrap();
        ["alpha1", "alpha2", "beta", "gamma"]
            .iter()
            .map(|c| out.column(c).unwrap().f32().unwrap().get(0).unwrap())
            .collect()
    }

    #[test]
    fn weights_at_known_inputs() {
        let paper = WeightsConfig { enabled: true, formula: WeightFormula::Paper };
        let w = weights_for(&paper, 0.9, 0.5, 0.731, 0.7);
        let want = [0.81, 0.25, (2.0f32 * 0.731 - 1.0).powi(2), 1.0 - (0.7f32 - 0.731).abs()];
        for (got, want) in w.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{w:?}");
        }
        // At t = 0.5 the paper's beta vanishes; the code's keeps 0.5; neither exceeds 1.
        assert_eq!(weights_for(&paper, 1.0, 1.0, 0.5, 0.5)[2], 0.0);
        let code = WeightsConfig { enabled: true, formula: WeightFormula::Code };
        assert!((weights_for(&code, 1.0, 1.0, 0.5, 0.5)[2] - 0.5).abs() < 1e-6);
        assert!((weights_for(&code, 1.0, 1.0, 0.731, 0.5)[2] - 0.713_444).abs() < 1e-4);
        let off = WeightsConfig { enabled: false, formula: WeightFormula::Paper };
        assert_eq!(weights_for(&off, 0.3, 0.2, 0.6, 0.1), vec![1.0; 4]); // also checks they stay f32
    }

    #[test]
    fn t_and_gamma_ranges() {
        // sigmoid(cos) lies in [sigmoid(-1), sigmoid(1)] = [0.269, 0.731]; for
        // probability vectors cos >= 0, so sim_probs >= 0.5.
        let lo = 1.0 / (1.0 + 1f32.exp());
        let hi = 1.0 / (1.0 + (-1f32).exp());
        assert!((lo - 0.269).abs() < 1e-3 && (hi - 0.731).abs() < 1e-3);
        assert!((sigmoid_cos(&[1.0, 0.0], &[1.0, 0.0]) - hi).abs() < 1e-6);
        assert!((sigmoid_cos(&[1.0, 0.0], &[0.0, 1.0]) - 0.5).abs() < 1e-6);
        let paper = WeightsConfig { enabled: true, formula: WeightFormula::Paper };
        for (t, sim) in [(lo, hi), (hi, 0.5), (0.5, 0.5)] {
            let w = weights_for(&paper, 0.5, 0.5, t, sim);
            assert!((0.0..=1.0).contains(&w[2]) && (0.0..=1.0).contains(&w[3]), "{w:?}");
        }
    }
}
