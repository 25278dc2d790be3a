//! Analyses beside the results table, read from the cells' artifacts: the teachers'
//! source-dev figures (from their manifests), the recognizer teacher's accuracy by
//! confidence on target test (the paper's Fig. 6a), computed with polars from
//! `evaluate`'s predictions, how closely each student follows its teacher, which words
//! the pair losses reach (the last two need no labels), and what the baselines' own stages
//! record (sentences kept, words translated, teacher weights).

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::report::CellResult;
use crate::files;
use crate::stage_name::StageName;
use crate::summary::{Figure, TeacherFigure, Unit};

/// One source-dev figure of one teacher artifact.
pub struct TeacherCheck {
    pub seed: u64,
    pub teacher: &'static str,
    pub what: &'static str,
    pub value: f64,
    /// The methods whose cells use this artifact (a sweep may train several variants).
    pub used_by: Vec<String>,
}

/// The source-only teachers' source-dev figures (the recognizer's, MSD's and MTST's entity
/// F1, the similarity teacher's pair accuracy, F1 and calibration error), once per teacher
/// artifact (cells share them). Teachers that read target text are in `stage_figures`.
pub fn teacher_checks(cells: &[CellResult]) -> Vec<TeacherCheck> {
    let mut seen = BTreeMap::new();
    for cell in cells {
        for &TeacherFigure { stage: teacher, what, path } in crate::method::teacher_figures() {
            let Some((_, m)) = cell.stages.get(&teacher) else { continue };
            let value = path.iter().try_fold(&m.summary, |v, k| v.get(k)).and_then(serde_json::Value::as_f64);
            if let Some(value) = value {
                let (_, used_by) =
                    seen.entry((cell.seed, teacher.as_str(), what, m.key.clone())).or_insert((value, Vec::new()));
                if !used_by.contains(&cell.method) {
                    used_by.push(cell.method.clone());
                }
            }
        }
    }
    seen.into_iter()
        .map(|((seed, teacher, what, _), (value, used_by))| TeacherCheck { seed, teacher, what, value, used_by })
        .collect()
}

/// One figure that a method's own stage records in its manifest, for one cell.
#[derive(Clone, Debug, PartialEq)]
pub struct StageFigure {
    pub stage: StageName,
    /// The artifact's key: cells that share the artifact share the figure.
    pub key: String,
    pub what: String,
    pub value: f64,
    pub unit: Unit,
}

/// The figures the baselines' own stages (AdvPicker's, UniTrans's, multi-source TSL's)
/// recorded for one cell, in the order the methods declare them (`method::stage_figures`);
/// none for a stage the cell lacks.
pub fn stage_figures(cell: &CellResult) -> Vec<StageFigure> {
    let mut out = Vec::new();
    for &Figure { stage, what, path, unit } in crate::method::stage_figures() {
        let Some((_, m)) = cell.stages.get(&stage) else { continue };
        let Some(value) = path.iter().try_fold(&m.summary, |v, k| v.get(k)) else { continue };
        let figure = |what: String, value: f64| StageFigure { stage, key: m.key.clone(), what, value, unit };
        match value {
            serde_json::Value::Object(by_key) => {
                out.extend(by_key.iter().filter_map(|(key, v)| Some(figure(format!("{what}: {key}"), v.as_f64()?))))
            }
            v => out.extend(v.as_f64().map(|v| figure(what.to_string(), v))),
        }
    }
    out
}

/// Word-level scores of the recognizer teacher's predictions in one confidence bin.
pub struct ConfidenceBin {
    pub target: String,
    pub bin: String,
    pub words: u32,
    /// Percentage of the target's test words in this bin.
    pub share: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Lower edges of the confidence bins; the top probability of 9 labels is at least 1/9.
const EDGES: [f64; 5] = [0.5, 0.6, 0.7, 0.8, 0.9];

fn bin_expr() -> Expr {
    let c = col("confidence");
    let label = |i: usize| {
        if i == 0 {
            format!("0.0-{:.1}", EDGES[0])
        } else {
            format!("{:.1}-{:.1}", EDGES[i - 1], EDGES.get(i).copied().unwrap_or(1.0))
        }
    };
    (0..EDGES.len()).rev().fold(lit(label(EDGES.len())), |above, i| {
        when(c.clone().lt(lit(EDGES[i]))).then(lit(label(i))).otherwise(above)
    })
}

/// The recognizer teacher's word-level P/R/F1 per confidence bin on target test, from the
/// `direct` cells' predictions (seeds pooled), target by target.
pub fn confidence_bins(cells: &[CellResult]) -> anyhow::Result<Vec<ConfidenceBin>> {
    let mut frames: BTreeMap<&str, Vec<LazyFrame>> = BTreeMap::new();
    for cell in cells.iter().filter(|c| c.is_teacher_alone()) {
        let Some((dir, _)) = cell.stages.get(&StageName::Evaluate) else { continue };
        let path = dir.join(files::PREDICTIONS);
        if !crate::table::column_names(&path)?.iter().any(|c| c == "confidence") {
            continue; // written before evaluate kept confidences
        }
        let words = crate::table::read_columns(&path, &["model", "split", "gold", "predicted", "confidence"])?
            .lazy()
            .filter(col("model").eq(lit("teacher")).and(col("split").eq(lit("test"))))
            .select([col("gold"), col("predicted"), col("confidence")])
            .explode(
                by_name(["gold", "predicted", "confidence"], true, false),
                ExplodeOptions { empty_as_null: false, keep_nulls: false },
            )
            // Words lost to truncation have no confidence (0); conlleval counts them elsewhere.
            .filter(col("confidence").gt(lit(0.0)));
        frames.entry(cell.target.as_str()).or_default().push(words);
    }
    let mut out = Vec::new();
    for (target, parts) in frames {
        let count = |e: Expr| e.cast(DataType::UInt32).sum();
        let entity = |c: &str| col(c).neq(lit("O"));
        let binned = concat(parts, UnionArgs::default())?
            .with_column(bin_expr().alias("bin"))
            .group_by([col("bin")])
            .agg([
                len().alias("words"),
                count(entity("predicted")).alias("predicted"),
                count(entity("gold")).alias("gold"),
                count(entity("predicted").and(col("predicted").eq(col("gold")))).alias("correct"),
            ])
            .sort(["bin"], SortMultipleOptions::default())
            .collect()?;
        let u32s = |name: &str| -> anyhow::Result<Vec<u32>> {
            Ok(binned.column(name)?.cast(&DataType::UInt32)?.u32()?.into_no_null_iter().collect())
        };
        let bins: Vec<String> =
            binned.column("bin")?.str()?.iter().map(|b| b.unwrap_or_default().to_string()).collect();
        let (words, predicted, gold, correct) = (u32s("words")?, u32s("predicted")?, u32s("gold")?, u32s("correct")?);
        let total: u32 = words.iter().sum();
        for i in 0..bins.len() {
            let ratio = |a: u32, b: u32| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
            let (p, r) = (ratio(correct[i], predicted[i]), ratio(correct[i], gold[i]));
            out.push(ConfidenceBin {
                target: target.to_string(),
                bin: bins[i].clone(),
                words: words[i],
                share: ratio(words[i], total),
                precision: p,
                recall: r,
                f1: if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 },
            });
        }
    }
    Ok(out)
}

/// Predicted tags on target test by sentence, of `model` ("teacher" or "student").
fn test_predictions(evaluate_dir: &Path, model: &str) -> anyhow::Result<BTreeMap<u32, Vec<String>>> {
    let path = evaluate_dir.join(files::PREDICTIONS);
    let df = crate::table::read_columns(&path, &["model", "split", "sentence_id", "predicted"])?
        .lazy()
        .filter(col("model").eq(lit(model)).and(col("split").eq(lit("test"))))
        .select([col("sentence_id"), col("predicted")])
        .collect()?;
    let ids = df.column("sentence_id")?.u32()?.into_no_null_iter();
    Ok(ids.zip(crate::table::read_str_lists(&df, "predicted")?).collect())
}

/// How closely one student follows its recognizer teacher on target test text, with the
/// teacher's predicted entities in the place of gold ones.
#[derive(Clone, Copy, Debug)]
pub struct Agreement {
    /// Entity F1 of the student's entities against the teacher's.
    pub f1: f64,
    /// The student's entity count per 100 of the teacher's: above 100, the student finds
    /// entities its teacher did not (where its precision against gold falls first).
    /// `None` where the teacher marks none.
    pub entities: Option<f64>,
}

/// Each student cell's agreement with its recognizer teacher on target test text, read
/// from the `direct` cell of the same seed on the same encoded text (gold labels unused).
/// `None` for `direct` cells, unfinished cells and students without such a `direct` cell.
pub fn teacher_agreement(cells: &[CellResult]) -> anyhow::Result<Vec<Option<Agreement>>> {
    let same_text_and_teacher = |a: &CellResult, b: &CellResult| {
        [StageName::TeacherNer, StageName::TokenizeTarget].iter().all(|stage| {
            let (a, b) = (a.stages.get(stage), b.stages.get(stage));
            a.is_some() && a.map(|(_, m)| &m.key) == b.map(|(_, m)| &m.key)
        })
    };
    // One `direct` cell serves every student of its seed: read its predictions once.
    let mut references: BTreeMap<usize, BTreeMap<u32, Vec<String>>> = BTreeMap::new();
    let mut out = Vec::new();
    for student in cells {
        let Some((student_dir, _)) =
            student.stages.get(&StageName::Distill).and(student.stages.get(&StageName::Evaluate))
        else {
            out.push(None);
            continue;
        };
        let teacher = cells.iter().position(|c| {
            c.is_teacher_alone()
                && c.seed == student.seed
                && c.target == student.target
                && same_text_and_teacher(c, student)
        });
        let Some(teacher) = teacher else {
            out.push(None);
            continue;
        };
        if let std::collections::btree_map::Entry::Vacant(slot) = references.entry(teacher) {
            slot.insert(test_predictions(&cells[teacher].stages[&StageName::Evaluate].0, "teacher")?);
        }
        let reference = &references[&teacher];
        let mut scorer = crate::eval::conlleval::Scorer::default();
        for (id, tags) in test_predictions(student_dir, "student")? {
            let Some(reference) = reference.get(&id) else { continue };
            let (reference, tags): (Vec<&str>, Vec<&str>) =
                (reference.iter().map(String::as_str).collect(), tags.iter().map(String::as_str).collect());
            scorer.add(&reference, &tags);
        }
        let overall = scorer.report().overall;
        let entities =
            (overall.counts.gold > 0).then(|| 100.0 * overall.counts.predicted as f64 / overall.counts.gold as f64);
        out.push(Some(Agreement { f1: overall.f1, entities }));
    }
    Ok(out)
}

/// What one student's pair losses see: how the sampled pairs' words compare with the
/// target text as a whole, by the recognizer teacher's predicted labels (no gold read).
#[derive(Clone, Copy)]
pub struct PairMix {
    pub pairs: f64,
    /// Percentage of the target train words drawn into at least one pair.
    pub coverage: f64,
    /// Percentage of pair word slots the teacher labels as an entity.
    pub entity_share_pairs: f64,
    /// Percentage of all target train words the teacher labels as an entity.
    pub entity_share_words: f64,
}

impl PairMix {
    /// The field-wise mean over seeds (`None` when there are none).
    pub fn mean(seeds: &[PairMix]) -> Option<PairMix> {
        let n = seeds.len() as f64;
        let mean = |f: fn(&PairMix) -> f64| seeds.iter().map(f).sum::<f64>() / n;
        (!seeds.is_empty()).then(|| PairMix {
            pairs: mean(|m| m.pairs),
            coverage: mean(|m| m.coverage),
            entity_share_pairs: mean(|m| m.entity_share_pairs),
            entity_share_words: mean(|m| m.entity_share_words),
        })
    }
}

/// The teacher's labels over all target train words: (words, entity share in percent).
fn label_figures(token_probs: &Path) -> anyhow::Result<(f64, f64)> {
    let words = crate::table::read_columns(token_probs, &["label"])?;
    Ok((words.height() as f64, entity_share(words.lazy())?))
}

/// Percentage of a frame's `label` column that is not `O`.
fn entity_share(frame: LazyFrame) -> anyhow::Result<f64> {
    let df = frame.select([col("label").neq(lit("O")).cast(DataType::Float64).mean()]).collect()?;
    Ok(100.0 * df.column("label")?.f64()?.get(0).unwrap_or(0.0))
}

fn pair_figures(pseudo_labels: &Path, (words, entity_share_words): (f64, f64)) -> anyhow::Result<PairMix> {
    let sides = ["sentence_a", "word_a", "label_a", "sentence_b", "word_b", "label_b"];
    let slots = crate::table::read_columns(pseudo_labels, &sides)?;
    let pairs = slots.height() as f64;
    let slots = slots.lazy();
    let side = |s: &str, w: &str, l: &str| {
        slots.clone().select([col(s).alias("sentence_id"), col(w).alias("word"), col(l).alias("label")])
    };
    let drawn = concat(
        [side("sentence_a", "word_a", "label_a"), side("sentence_b", "word_b", "label_b")],
        UnionArgs::default(),
    )?
    .collect()?;
    let distinct = drawn
        .clone()
        .lazy()
        .select([col("sentence_id"), col("word")])
        .unique(None, UniqueKeepStrategy::Any)
        .collect()?
        .height();
    Ok(PairMix {
        pairs,
        coverage: if words > 0.0 { 100.0 * distinct as f64 / words } else { 0.0 },
        entity_share_pairs: entity_share(drawn.lazy())?,
        entity_share_words,
    })
}

/// Each cell's `PairMix`, `None` for cells that distil from no pairs; each pseudo-label
/// (`weights`) and `score_tokens` artifact is read once, however many cells share it.
pub fn pair_mix(cells: &[CellResult]) -> anyhow::Result<Vec<Option<PairMix>>> {
    let mut by_weights: BTreeMap<&str, PairMix> = BTreeMap::new();
    let mut by_tokens: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut out = Vec::new();
    let pseudo_labels = crate::stages::writer_of(files::PSEUDO_LABELS).expect("a stage writes the pseudo labels");
    for cell in cells {
        let stages = (
            cell.stages.get(&pseudo_labels),
            cell.stages.get(&StageName::ScoreTokens),
            cell.stages.get(&StageName::Distill),
        );
        let (Some((weights, w)), Some((tokens, t)), Some(_)) = stages else {
            out.push(None);
            continue;
        };
        if !by_weights.contains_key(w.key.as_str()) {
            if !by_tokens.contains_key(t.key.as_str()) {
                by_tokens.insert(&t.key, label_figures(&tokens.join(files::TOKEN_PROBS))?);
            }
            let figures = pair_figures(&weights.join(files::PSEUDO_LABELS), by_tokens[t.key.as_str()])?;
            by_weights.insert(&w.key, figures);
        }
        out.push(Some(by_weights[w.key.as_str()]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::sweep::report::test_cell;

    /// An `evaluate` folder `dir/name` whose test predictions of `model` are `sentences`.
    fn predictions(dir: &Path, name: &str, model: &str, sentences: &[&[&str]]) -> PathBuf {
        let rows: Vec<Vec<String>> = sentences.iter().map(|s| s.iter().map(|t| t.to_string()).collect()).collect();
        let n = rows.len();
        let mut df = DataFrame::new(
            n,
            vec![
                Column::new("model".into(), vec![model; n]),
                Column::new("split".into(), vec!["test"; n]),
                Column::new("sentence_id".into(), (0..n as u32).collect::<Vec<_>>()),
                crate::table::str_lists("predicted", rows.iter().map(Vec::as_slice)),
            ],
        )
        .unwrap();
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        crate::table::write(&mut df, &dir.join(files::PREDICTIONS), vec![]).unwrap();
        dir
    }

    #[test]
    fn students_are_measured_against_the_direct_cell_of_their_seed() {
        let tmp = tempfile::tempdir().unwrap();
        // The teacher marks 2 entities; the student finds one of them, splits the other
        // and adds one of its own: 4 entities, 1 shared.
        let teacher = predictions(tmp.path(), "direct", "teacher", &[&["B-PER", "I-PER", "O"], &["O", "B-LOC", "O"]]);
        let student = predictions(tmp.path(), "tsl", "student", &[&["B-PER", "B-PER", "O"], &["B-ORG", "B-LOC", "O"]]);
        let cell = |method: &str, seed: u64, evaluate: &Path, teacher_key: &'static str| {
            let stages = [
                (StageName::TeacherNer, PathBuf::new(), teacher_key, None),
                (StageName::TokenizeTarget, PathBuf::new(), "text", None),
                (StageName::Evaluate, evaluate.to_path_buf(), "eval", None),
            ];
            // A student is a cell with a distill stage, whatever its sweep calls it.
            let student = (method != "direct").then_some((StageName::Distill, PathBuf::new(), "student", None));
            test_cell(method, seed, stages.into_iter().chain(student))
        };
        let silent = predictions(tmp.path(), "silent", "teacher", &[&["O", "O", "O"], &["O", "O", "O"]]);
        let cells = [
            cell("direct", 13, &teacher, "t13"),
            cell("tsl", 13, &student, "t13"),
            // Seed 14's direct cell used another teacher artifact: no reference.
            cell("tsl", 14, &student, "t14"),
            cell("direct", 14, &silent, "t14-other"),
            // Seed 15's teacher marks nothing: agreement 0, no entity ratio.
            cell("direct", 15, &silent, "t15"),
            cell("tsl", 15, &student, "t15"),
        ];
        let agreements = teacher_agreement(&cells).unwrap();
        let direct = [0, 3, 4].map(|i| agreements[i].is_none());
        assert_eq!(direct, [true; 3], "direct cells are the references");
        assert!(agreements[2].is_none(), "a reference with another teacher does not count");
        let a = agreements[1].expect("measured");
        // P = 1/4, R = 1/2: F1 = 2 * 0.25 * 0.5 / 0.75.
        assert!((a.f1 - 100.0 / 3.0).abs() < 1e-9, "{a:?}");
        assert_eq!(a.entities, Some(200.0));
        let none = agreements[5].expect("measured");
        assert_eq!((none.f1, none.entities), (0.0, None));
    }
}
