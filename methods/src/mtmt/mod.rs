//! `mtmt` (and its one-teacher ablation `mtst`): the recognizer teacher and the siamese
//! similarity teacher read the target text; `score_pairs` samples word pairs inside
//! groups of sentences (one group = one student batch) and `weights` turns the two
//! teachers' outputs into confidence weights (the `pseudo_labels` table):
//!   alpha1 = max(p_a)^2, alpha2 = max(p_b)^2,
//!   beta   = (2t - 1)^2 (paper) or min((2t - 1)^2 + 0.5, 1) (released code),
//!   gamma  = 1 - |sigmoid(cos(p_a, p_b)) - t|,
//! all ones without weighting. The student's loss per pair is
//!   gamma * (alpha1 * NER(a) + alpha2 * NER(b) + beta * BCE(t_student, t)),
//! with t_student = sigmoid(cos) of the student's own word states, one forward per group
//! serving all its pairs, optionally plus the TSL term over every word of the group.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;
use tch::{Kind, Tensor};

use crate::student::{all_words_loss, ner_loss, teacher_batch, DynStudentLoss, NoSettings, StudentLoss, StudentRun};
use crate::MethodSpec;
use calibration::Calibration;
use mtmt_ner::model::heads::cosine;
use mtmt_ner::model::Pass;
use mtmt_ner::table;
use mtmt_ner::train::data::{prefix_offsets, Batch, EncodedSet};
use mtmt_ner::trainer::{group_batches, StepLoss, Steps};
use mtmt_stage::files;
use mtmt_stage::fit::fit;
use mtmt_stage::settings::AsBefore;
use mtmt_stage::stage_name::StageName;
use mtmt_stage::summary::{self, TeacherFigure};
use siamese::bce;

pub mod calibration;
mod config;
mod pairs;
mod score_pairs;
mod siamese;
mod teacher_mt;
mod teacher_sim;
mod weights;

pub use config::{
    range_errors, PairSampling, SameClass, ScoreConfig, SimPairsConfig, SimilarityConfig, WeightFormula, WeightsConfig,
};
pub use score_pairs::ScorePairs;
pub use teacher_mt::TeacherMt;
pub use teacher_sim::TeacherSim;
pub use weights::Weights;

/// The MTMT paper, section 4.2: "We do not freeze any layers [...] batch size 32, maximum
/// sequence length 128, dropout rate 0.2, and we use Adam [...] learning rate 1e-5 and 5e-6
/// [recognition and similarity teachers] [...] 1e-6 for the student models". Adam as
/// `torch.optim.Adam` with its default weight decay, 0. What the paper leaves open stays
/// ours: 3 epochs per model, linear warm-up over 10% of the steps then linear decay, the
/// gradient norm clipped at 1.0. "Dropout rate" is read as the dropout before the
/// classification head; the encoder's own dropout stays its config's (0.1). Only the
/// models of MTMT, MTST and TSL (the recognizer, the similarity teacher, the student)
/// take the recipe; the other methods' teachers keep their settings.
pub const PAPER_RECIPE: &[&str] = &[
    "tokenize.max_len=128",
    "teacher_ner.optimizer=adam",
    "teacher_ner.weight_decay=0",
    "teacher_ner.lr=1e-5",
    "teacher_ner.freeze_layers=0",
    "teacher_ner.freeze_embeddings=false",
    "teacher_ner.dropout=0.2",
    "teacher_ner.batch_size=32",
    "teacher_ner.epochs=3",
    "teacher_sim.optimizer=adam",
    "teacher_sim.weight_decay=0",
    "teacher_sim.lr=5e-6",
    "teacher_sim.freeze_layers=0",
    "teacher_sim.freeze_embeddings=false",
    "teacher_sim.dropout=0.2",
    "teacher_sim.batch_size=32",
    "teacher_sim.epochs=3",
    "distill.optimizer=adam",
    "distill.weight_decay=0",
    "distill.lr=1e-6",
    "distill.freeze_layers=0",
    "distill.freeze_embeddings=false",
    "distill.dropout=0.2",
    "distill.batch_size=32",
    "distill.epochs=3",
];

/// Its source-only teachers' figures that the sweep report's teacher checks show.
pub(crate) const TEACHER_FIGURES: &[TeacherFigure] = &[
    TeacherFigure {
        stage: StageName::TeacherSim,
        what: "pair accuracy",
        path: &[summary::SOURCE_DEV_PAIRS, summary::ACCURACY],
    },
    TeacherFigure {
        stage: StageName::TeacherSim,
        what: "pair F1 (same class)",
        path: &[summary::SOURCE_DEV_PAIRS, summary::F1_SAME],
    },
    // Recorded since the calibrated similarity (artifacts before it have none).
    TeacherFigure {
        stage: StageName::TeacherSim,
        what: "pair calibration error (ECE)",
        path: &[summary::SOURCE_DEV_PAIRS, summary::ECE],
    },
    TeacherFigure { stage: StageName::TeacherMt, what: "entity F1", path: &[summary::SOURCE_DEV, "overall", "f1"] },
];

/// Its settings added after artifacts existed (`config::ADDED_LATER`).
pub const ADDED_LATER: &[(&str, AsBefore)] = &[
    ("similarity.calibrated", AsBefore::Flag(false)),
    ("teacher_sim.attention_dropout", AsBefore::Flag(true)),
    ("teacher_sim.frozen_dropout", AsBefore::Flag(true)),
    ("teacher_sim.bf16", AsBefore::Flag(false)),
    ("teacher_sim.parallel_dropout", AsBefore::Flag(false)),
    ("teacher_sim.optimizer", AsBefore::Name("adamw")),
];

// The files its stages write into their artifacts (`mtmt_stage::files` has the shared ones).
/// `score_pairs`: target word pairs with the similarity teacher's t.
pub const PAIRS: &str = "pairs.parquet";
/// `score_pairs`: the sentence groups (one student batch each).
pub const GROUPS: &str = "groups.parquet";
/// `teacher_sim` with `similarity.calibrated`: t = sigmoid(scale * cos + bias) as JSON.
pub const CALIBRATION: &str = "calibration.json";

/// MTMT with its two teachers, or MTST with one multitask teacher in both roles.
pub struct Mtmt {
    recognizer: StageName,
    pair_scorer: StageName,
    defaults: &'static [&'static str],
}

/// MTMT's defaults where they leave the paper (issue 20, docs/sweeps.md, "MTMT's default"): pairs
/// drawn uniformly and the TSL term on every word beat the paper's balanced pairs alone on
/// es, de and nl at three seeds at the papers' budget (docs/papers-budget). The paper's
/// form: `score.sampling=balanced`, `distill_loss.all_words=false`. MTST, the paper's
/// ablation, keeps the paper's form: it was measured only so.
const MTMT_DEFAULTS: &[&str] = &["score.sampling=uniform", "distill_loss.all_words=true"];

impl Mtmt {
    pub(crate) const TWO_TEACHERS: Mtmt =
        Mtmt { recognizer: StageName::TeacherNer, pair_scorer: StageName::TeacherSim, defaults: MTMT_DEFAULTS };
    pub(crate) const ONE_TEACHER: Mtmt =
        Mtmt { recognizer: StageName::TeacherMt, pair_scorer: StageName::TeacherMt, defaults: &[] };
}

impl MethodSpec for Mtmt {
    fn recognizer(&self) -> StageName {
        self.recognizer
    }
    fn pair_scorer(&self) -> Option<StageName> {
        Some(self.pair_scorer)
    }
    fn student(&self) -> Option<&dyn DynStudentLoss> {
        Some(self)
    }
    fn defaults(&self) -> &'static [&'static str] {
        self.defaults
    }
}

/// The weight columns of `pseudo_labels`, in the order of `PairWeights`' fields.
pub(crate) const WEIGHT_COLUMNS: [&str; 4] = ["alpha1", "alpha2", "beta", "gamma"];

/// sigmoid(cos(p, q)) of two probability vectors, calibrated as t is: how alike the
/// recognizer thinks two words are, on the similarity teacher's scale.
pub(crate) fn sigmoid_cos(p: &[f32], q: &[f32], calibration: &Calibration) -> f32 {
    let dot: f32 = p.iter().zip(q).map(|(a, b)| a * b).sum();
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
    let cos = dot / (norm(p) * norm(q)).max(1e-8);
    if *calibration == Calibration::IDENTITY {
        // The paper's, in f32 as every artifact before calibration computed it.
        return 1.0 / (1.0 + (-cos).exp());
    }
    calibration.apply_one(f64::from(cos)) as f32
}

/// The weight columns as polars expressions over `max_prob_a`, `max_prob_b`, `t`, `sim_probs`.
pub(crate) fn weight_exprs(cfg: &WeightsConfig) -> Vec<Expr> {
    if !cfg.enabled {
        return WEIGHT_COLUMNS.map(|name| lit(1.0f32).cast(DataType::Float32).alias(name)).to_vec();
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

/// One pair's confidence weights.
#[derive(Debug, Clone, Copy)]
struct PairWeights {
    alpha1: f32,
    alpha2: f32,
    beta: f32,
    gamma: f32,
}

/// Each group's pairs.
type GroupPairs = Vec<Vec<PairRow>>;

/// One pair with its teacher targets and weights, in group-local word indices.
struct PairRow {
    a: usize,
    b: usize,
    t: f32,
    w: PairWeights,
}

impl StudentLoss for Mtmt {
    type Settings = NoSettings;

    fn inputs(&self) -> &'static [StageName] {
        &[StageName::ScorePairs, StageName::Weights]
    }

    fn train(&self, run: &mut StudentRun, _: NoSettings) -> anyhow::Result<()> {
        let StudentRun { ctx, student, opt, schedule, seed, device, set, teacher, loss, train, .. } = run;
        let (seed, device) = (*seed, *device);
        let groups_path = ctx.input(StageName::ScorePairs, GROUPS);
        let labels_path = ctx.input(StageName::Weights, files::PSEUDO_LABELS);
        let (groups, pairs) = read_groups(&groups_path, &labels_path, set)?;
        // The student's t on the teacher's scale.
        let calibration = Calibration::of_table(&labels_path)?;
        let plan = group_batches(&groups, train.epochs, seed);
        let n_pairs: usize = pairs.iter().map(Vec::len).sum();
        let per_forward = n_pairs as f64 / set.len() as f64;
        ctx.log(format!(
            "{}: {} groups, {n_pairs} pairs, {per_forward:.2} pairs per sentence forward",
            if self.recognizer == StageName::TeacherMt { "Mtst" } else { "Mtmt" },
            groups.len()
        ));
        ctx.summary.insert(mtmt_stage::summary::PAIRS_PER_SENTENCE_FORWARD.into(), per_forward.into());
        // Groups are disjoint, so a group's first sentence names it.
        let group_of: HashMap<usize, usize> = groups.iter().enumerate().map(|(g, m)| (m[0], g)).collect();
        fit(ctx, &student.vs, opt, Steps { batches: &plan, schedule, seed }, |_, idx| {
            let batch = Batch::new(set, idx, device);
            let (states, logits) = student.states_and_logits(&batch, Pass::Train);
            let rows = &pairs[group_of[&idx[0]]];
            let teacher_words = teacher_batch(teacher, idx, device);
            let pick = |f: fn(&PairRow) -> usize| {
                Tensor::from_slice(&rows.iter().map(|r| f(r) as i64).collect::<Vec<_>>()).to_device(device)
            };
            let column =
                |f: fn(&PairRow) -> f32| Tensor::from_slice(&rows.iter().map(f).collect::<Vec<_>>()).to_device(device);
            let (a, b) = (pick(|r| r.a), pick(|r| r.b));
            let ner_a = ner_loss(&logits.index_select(0, &a), &teacher_words.index_select(0, &a), loss.ner);
            let ner_b = ner_loss(&logits.index_select(0, &b), &teacher_words.index_select(0, &b), loss.ner);
            let sim = calibration.apply(&cosine(&states.index_select(0, &a), &states.index_select(0, &b)));
            let bce = bce(&sim, &column(|r| r.t));
            // Eq. 9 per pair, in its recognizer and similarity parts (the curve shows both).
            let gamma = column(|r| r.w.gamma);
            let ner = &gamma * (column(|r| r.w.alpha1) * ner_a + column(|r| r.w.alpha2) * ner_b);
            let sim = gamma * column(|r| r.w.beta) * bce;
            let mut total = (&ner + &sim).mean(Kind::Float);
            let mut terms = vec![("ner", ner.mean(Kind::Float)), ("similarity", sim.mean(Kind::Float))];
            if loss.all_words {
                let all = all_words_loss(&logits, teacher, idx, loss.ner) * loss.all_words_weight;
                total += &all;
                terms.push(("all_words", all));
            }
            Ok(StepLoss { total, terms, tokens: batch.tokens })
        })?;
        Ok(())
    }
}

/// The pair groups as set indices, and each group's pairs in group-local word indices;
/// a group without any pair is left out (it would give an empty loss). A table that does
/// not match the target text is an error naming the file and row.
fn read_groups(
    groups_path: &Path,
    labels_path: &Path,
    set: &EncodedSet,
) -> anyhow::Result<(Vec<Vec<usize>>, GroupPairs)> {
    let index: HashMap<u32, usize> = set.sentence_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let unknown = |path: &Path, row: usize, id: u32| {
        anyhow::anyhow!("{}: row {row}: sentence {id} is not in the target train text", path.display())
    };
    let groups: Vec<Vec<usize>> = table::read_u32_lists(&table::read(groups_path)?, "sentence_ids")?
        .into_iter()
        .enumerate()
        .map(|(row, ids)| {
            ids.iter().map(|id| index.get(id).copied().ok_or_else(|| unknown(groups_path, row, *id))).collect()
        })
        .collect::<anyhow::Result<_>>()?;
    // A word's position among its group's words (the order Batch lays them out in).
    let local: Vec<HashMap<u32, (usize, usize)>> = groups
        .iter()
        .map(|members| {
            let starts = prefix_offsets(members.iter().map(|&i| set.word_starts[i].len()));
            members
                .iter()
                .map(|&i| (set.sentence_ids[i], i))
                .zip(starts)
                .map(|((id, i), s)| (id, (s, set.word_starts[i].len())))
                .collect()
        })
        .collect();
    let df = table::read(labels_path)?;
    let u32s = |c: &str| -> anyhow::Result<Vec<u32>> { Ok(df.column(c)?.u32()?.into_no_null_iter().collect()) };
    let f32s = |c: &str| -> anyhow::Result<Vec<f32>> { Ok(df.column(c)?.f32()?.into_no_null_iter().collect()) };
    let (group, sa, wa, sb, wb) =
        (u32s("group")?, u32s("sentence_a")?, u32s("word_a")?, u32s("sentence_b")?, u32s("word_b")?);
    let (t, a1, a2, beta, gamma) = (f32s("t")?, f32s("alpha1")?, f32s("alpha2")?, f32s("beta")?, f32s("gamma")?);
    let mut pairs: Vec<Vec<PairRow>> = (0..groups.len()).map(|_| Vec::new()).collect();
    for k in 0..group.len() {
        let g = group[k] as usize;
        let word = |sentence: u32, word: u32| -> anyhow::Result<usize> {
            let members = local.get(g).ok_or_else(|| {
                anyhow::anyhow!("{}: row {k}: group {g} is not in {}", labels_path.display(), groups_path.display())
            })?;
            match members.get(&sentence) {
                Some(&(start, words)) if (word as usize) < words => Ok(start + word as usize),
                _ => anyhow::bail!(
                    "{}: row {k}: word {word} of sentence {sentence} is not a word of group {g}",
                    labels_path.display()
                ),
            }
        };
        pairs[g].push(PairRow {
            a: word(sa[k], wa[k])?,
            b: word(sb[k], wb[k])?,
            t: t[k],
            w: PairWeights { alpha1: a1[k], alpha2: a2[k], beta: beta[k], gamma: gamma[k] },
        });
    }
    let keep: Vec<usize> = (0..groups.len()).filter(|&g| !pairs[g].is_empty()).collect();
    let kept_groups = keep.iter().map(|&g| groups[g].clone()).collect();
    let kept_pairs = keep.iter().map(|&g| std::mem::take(&mut pairs[g])).collect();
    Ok((kept_groups, kept_pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights_for(cfg: &WeightsConfig, max_a: f32, max_b: f32, t: f32, sim: f32) -> Vec<f32> {
        let df = df!("max_prob_a" => [max_a], "max_prob_b" => [max_b], "t" => [t], "sim_probs" => [sim]).unwrap();
        let out = df.lazy().with_columns(weight_exprs(cfg)).collect().unwrap();
        WEIGHT_COLUMNS.iter().map(|c| out.column(c).unwrap().f32().unwrap().get(0).unwrap()).collect()
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
        assert!((sigmoid_cos(&[1.0, 0.0], &[1.0, 0.0], &Calibration::IDENTITY) - hi).abs() < 1e-6);
        assert!((sigmoid_cos(&[1.0, 0.0], &[0.0, 1.0], &Calibration::IDENTITY) - 0.5).abs() < 1e-6);
        let paper = WeightsConfig { enabled: true, formula: WeightFormula::Paper };
        for (t, sim) in [(lo, hi), (hi, 0.5), (0.5, 0.5)] {
            let w = weights_for(&paper, 0.5, 0.5, t, sim);
            assert!((0.0..=1.0).contains(&w[2]) && (0.0..=1.0).contains(&w[3]), "{w:?}");
        }
    }
}
