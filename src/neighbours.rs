//! `mtmt-pipe neighbours`: the MTMT paper's case study (its Table 6: "Arévalo" pulled to
//! LOC by similar neighbours), checked on the current config's pseudo-label table without
//! labels. A disagreement is a target pair whose two words the recognizer teacher gives
//! different entity types while the similarity teacher says they are alike (t > 0.5).
//! For each word of such a pair, which type does the trained student give it (its
//! distribution's top label): its neighbour's (the recognizer's type of the other word),
//! its own recognizer type, or another? Gold target train tags enter only the last
//! columns: how often the neighbour's type, the recognizer's and the student's are right.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use polars::prelude::{Column, DataFrame};

use crate::artifacts::{load_tagger, EncoderFiles, INFERENCE};
use crate::config::{bio_labels, ResolvedConfig};
use crate::corpus::{self, Labels, Reading};
use crate::engine::Plan;
use crate::files;
use crate::method::Spec;
use crate::side::{Side, Split};
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::store::Store;
use crate::table;
use crate::train::data::EncodedSet;

/// A label's entity type: `B-LOC`, `I-LOC` -> `LOC`; `O` stays `O`.
fn entity_type(label: &str) -> &str {
    label.split_once('-').map_or(label, |(_, t)| t)
}

/// The path of a built artifact's file under the current config, or how to build it.
fn built(plan: &Plan, store: &Store, stage: StageName, file: &str) -> anyhow::Result<std::path::PathBuf> {
    let key = &plan.get(stage).key;
    crate::trained::built(stage, key, store)?;
    Ok(store.artifact_dir(stage, key).join(file))
}

/// One word of a disagreement pair, with its neighbour.
struct Case {
    sentence: u32,
    word: u32,
    own: String,
    neighbour: String,
    t: f32,
    gamma: f32,
}

/// Runs the analysis, prints its summary and, with `out`, writes one row per word.
pub fn neighbours(
    cfg: &ResolvedConfig,
    store: &Store,
    stages: &[Box<dyn DynStage>],
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let c = &cfg.config;
    anyhow::ensure!(
        c.method.spec().pair_scorer().is_some(),
        "method {} learns from no pairs: use `--set method=mtmt`",
        serde_json::to_string(&c.method)?
    );
    let plan = Plan::new(cfg, stages)?;
    let writer = crate::stages::writer_of(files::PSEUDO_LABELS).expect("a stage writes the pseudo labels");
    let labels_path = built(&plan, store, writer, files::PSEUDO_LABELS)?;
    let (pairs, cases, opposite) = disagreements(&labels_path)?;
    let student_type = student_types(cfg, &plan, store, &cases)?;
    // Each word the student labels (a word truncated away has no label), with its gold type.
    let gold = gold_types(cfg)?;
    let mut rows: Vec<(&Case, &str, String)> = Vec::new();
    for case in &cases {
        if let Some(student) = student_type.get(&(case.sentence, case.word)) {
            rows.push((case, student, gold(case)?));
        }
    }
    print_summary(pairs, &cases, opposite, &rows);
    if let Some(out) = out {
        write_rows(&rows, out, &labels_path)?;
    }
    Ok(())
}

/// The words of the pairs where the two teachers disagree (two types, t > 0.5), with the
/// count of all pairs and of those that disagree the other way (one type, t <= 0.5).
fn disagreements(labels_path: &Path) -> anyhow::Result<(usize, Vec<Case>, usize)> {
    let df = table::read_columns(
        labels_path,
        &["sentence_a", "word_a", "sentence_b", "word_b", "label_a", "label_b", "t", "gamma"],
    )?;
    let u32s = |name: &str| table::u32_column(&df, labels_path, name);
    let strs = |name: &str| -> anyhow::Result<Vec<String>> {
        Ok(df.column(name)?.str()?.iter().map(|s| s.unwrap_or_default().to_string()).collect())
    };
    let f32s = |name: &str| -> anyhow::Result<Vec<f32>> { Ok(df.column(name)?.f32()?.into_no_null_iter().collect()) };
    let (sa, wa, sb, wb) = (u32s("sentence_a")?, u32s("word_a")?, u32s("sentence_b")?, u32s("word_b")?);
    let (la, lb, t, gamma) = (strs("label_a")?, strs("label_b")?, f32s("t")?, f32s("gamma")?);
    let mut cases = Vec::new();
    let mut opposite = 0usize;
    for k in 0..df.height() {
        let (ta, tb) = (entity_type(&la[k]), entity_type(&lb[k]));
        match (ta != tb, t[k] > 0.5) {
            (true, true) => {
                cases.push(Case {
                    sentence: sa[k],
                    word: wa[k],
                    own: ta.into(),
                    neighbour: tb.into(),
                    t: t[k],
                    gamma: gamma[k],
                });
                cases.push(Case {
                    sentence: sb[k],
                    word: wb[k],
                    own: tb.into(),
                    neighbour: ta.into(),
                    t: t[k],
                    gamma: gamma[k],
                });
            }
            (false, false) => opposite += 1,
            _ => {}
        }
    }

    Ok((df.height(), cases, opposite))
}

/// The student's top entity type at each word of the cases, by (sentence, word).
fn student_types(
    cfg: &ResolvedConfig,
    plan: &Plan,
    store: &Store,
    cases: &[Case],
) -> anyhow::Result<BTreeMap<(u32, u32), String>> {
    let c = &cfg.config;
    let student = crate::trained::resolve(StageName::Distill.as_str(), plan, store)?;
    // The student's top label at each word of those pairs.
    let encoded =
        EncodedSet::read(&built(plan, store, StageName::TokenizeTarget, files::encoded(Side::Target, Split::Train))?)?;
    let wanted: BTreeSet<u32> = cases.iter().map(|c| c.sentence).collect();
    let index: Vec<usize> = (0..encoded.len()).filter(|&i| wanted.contains(&encoded.sentence_ids[i])).collect();
    let subset = encoded.select(&index);
    let labels = bio_labels(&c.labels);
    let tagger = load_tagger(&EncoderFiles::of(&c.encoder), labels.len(), &student.weights, c.runtime.device()?)?;
    let probs = tagger.predict_probs(&subset, &INFERENCE);
    let mut student_type: BTreeMap<(u32, u32), String> = BTreeMap::new();
    for (id, p) in subset.sentence_ids.iter().zip(&probs) {
        let top = Vec::<i64>::try_from(p.argmax(-1, false))?;
        for (w, &l) in top.iter().enumerate() {
            student_type.insert((*id, w as u32), entity_type(&labels[l as usize]).to_string());
        }
    }
    Ok(student_type)
}

/// The gold type of a case's word, from the target train file (read for this report only).
fn gold_types(cfg: &ResolvedConfig) -> anyhow::Result<impl Fn(&Case) -> anyhow::Result<String> + '_> {
    let c = &cfg.config;
    // Gold types, read from the target train file for this report only.
    let train = &c.target.train;
    let (sentences, _) = corpus::read_file(train, &Reading::of(&c.target, "target"), Labels::Types(&c.labels))?;
    let gold = move |case: &Case| -> anyhow::Result<String> {
        let tags = sentences.get(case.sentence as usize).and_then(|s| s.tags.as_ref());
        let tag = tags.and_then(|t| t.get(case.word as usize)).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no word {} in sentence {} (not the file the store read)",
                train.display(),
                case.word,
                case.sentence
            )
        })?;
        Ok(entity_type(tag).to_string())
    };
    Ok(gold)
}

/// The summary line and table on stdout.
fn print_summary(pairs: usize, cases: &[Case], opposite: usize, rows: &[(&Case, &str, String)]) {
    let share = |holds: fn(&(&Case, &str, String)) -> bool| {
        100.0 * rows.iter().filter(|r| holds(r)).count() as f64 / rows.len().max(1) as f64
    };
    let mean_gamma = cases.iter().map(|c| f64::from(c.gamma)).sum::<f64>() / cases.len().max(1) as f64;
    println!(
        "{} pairs; {} where the recognizer gives two types and the similarity teacher says alike (t > 0.5; mean gamma {mean_gamma:.3}), \
         {opposite} the other way (one type, t <= 0.5)",
        pairs,
        cases.len() / 2
    );
    println!("| words | student takes the neighbour's type | its own recognizer type | another | gold: neighbour right | recognizer right | student right |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% |",
        rows.len(),
        share(|(c, student, _)| *student == c.neighbour),
        share(|(c, student, _)| *student == c.own),
        share(|(c, student, _)| *student != c.neighbour && *student != c.own),
        share(|(c, _, gold)| *gold == c.neighbour),
        share(|(c, _, gold)| *gold == c.own),
        share(|(_, student, gold)| gold == student),
    );
}

/// One row per word, as Parquet.
fn write_rows(rows: &[(&Case, &str, String)], out: &Path, labels_path: &Path) -> anyhow::Result<()> {
    let mut df = DataFrame::new(
        rows.len(),
        vec![
            Column::new("sentence_id".into(), rows.iter().map(|(c, ..)| c.sentence).collect::<Vec<_>>()),
            Column::new("word".into(), rows.iter().map(|(c, ..)| c.word).collect::<Vec<_>>()),
            Column::new("recognizer_type".into(), rows.iter().map(|(c, ..)| c.own.as_str()).collect::<Vec<_>>()),
            Column::new("neighbour_type".into(), rows.iter().map(|(c, ..)| c.neighbour.as_str()).collect::<Vec<_>>()),
            Column::new("student_type".into(), rows.iter().map(|(_, student, _)| *student).collect::<Vec<_>>()),
            Column::new("t".into(), rows.iter().map(|(c, ..)| c.t).collect::<Vec<_>>()),
            Column::new("gamma".into(), rows.iter().map(|(c, ..)| c.gamma).collect::<Vec<_>>()),
            Column::new("gold_type".into(), rows.iter().map(|(.., gold)| gold.as_str()).collect::<Vec<_>>()),
        ],
    )?;
    table::write(&mut df, out, vec![("mtmt.pseudo_labels".into(), labels_path.display().to_string())])?;
    crate::info!("wrote {}", out.display());
    Ok(())
}
