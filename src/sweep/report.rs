//! `sweep report`: reads every cell's artifacts from the store (nothing is recomputed) and
//! writes `runs.parquet` (one row per finished cell), `results.parquet` (per suite, target
//! and method: mean and std over seeds), one PNG plot per sweep and `results.md`.
//! Cells not run yet are listed as pending, never guessed; with `--carry`, a cell the store
//! no longer holds is read from an earlier report's `runs.parquet` where its evaluate key
//! matches (`carried`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use polars::prelude::*;

use super::analysis::{self, Agreement, ConfidenceBin, PairMix, StageFigure, TeacherCheck};
use super::carried::Carried;
use super::{Sweep, TARGET_DEV_MARK};
use crate::artifacts::ENCODER_WEIGHTS;
use crate::config::Selection;
use crate::engine::{Digests, Plan};
use crate::eval::conlleval::Scores;
use crate::eval::MODEL_SELECTION;
use crate::files;
use crate::manifest::{InputFile, Manifest};
use crate::method::Method;
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::store::{ArtifactState, Store};
use crate::table;
use crate::ui::duration;

/// One cell as the store holds it.
pub struct CellResult {
    pub suite: String,
    pub target: String,
    pub method: String,
    pub seed: u64,
    /// The key the cell's `evaluate` artifact has (or would have) under the current code,
    /// config and data: what identifies the cell in `runs.parquet`.
    pub evaluate_key: String,
    /// `None` until the cell's `evaluate` artifact exists (or a carried row stands for it).
    pub scores: Option<CellScores>,
    /// All of the cell's stages as if run alone, shared teachers included.
    pub wall_s: f64,
    /// The libtorch thread counts its stages ran with, as recorded (`Manifest::computed_on`):
    /// `2`, or `1/2` where its stages differ; `None` where no manifest records it.
    pub threads: Option<String>,
    /// The manifests of the cell's stages the store holds, by stage.
    pub stages: BTreeMap<StageName, (PathBuf, Manifest)>,
    /// True where the figures come from an earlier report's row, not from the store.
    pub carried: bool,
    /// An earlier report's row with this cell's evaluate key whose test F1 is not the
    /// store's (`Carried::fill`): one key, two results.
    pub carried_disagrees: Option<CarriedDisagreement>,
    /// The encoder weights file the cell's plan reads, with its digest.
    pub encoder: Option<InputFile>,
    /// A student's label-free agreement with its recognizer teacher (`analysis::teacher_agreement`).
    pub teacher_agreement: Option<Agreement>,
    /// What a student's pair losses saw (`analysis::pair_mix`).
    pub pair_mix: Option<PairMix>,
    /// How the cell's model was chosen among its epochs (target dev: uses target labels).
    pub selection: Selection,
}

impl CellResult {
    fn label(&self) -> String {
        super::label(&self.target, &self.method, self.seed)
    }
}

/// What an earlier report's row says of a cell the store also holds, where the two differ.
#[derive(Clone, Debug, PartialEq)]
pub struct CarriedDisagreement {
    /// The carried row's test F1 (the store's stands in the report).
    pub f1: f64,
    /// The thread counts the carried row's stages ran with.
    pub threads: Option<String>,
}

/// A finished cell's scores, as the report uses them (entity-level, x100).
#[derive(Clone, Debug, PartialEq)]
pub struct CellScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// F1 per entity type on the test split.
    pub per_type: BTreeMap<String, f64>,
    pub dev_f1: Option<f64>,
}

impl CellScores {
    fn new(test: &Scores, dev: Option<&Scores>) -> Self {
        CellScores {
            precision: test.overall.precision,
            recall: test.overall.recall,
            f1: test.overall.f1,
            per_type: test.per_type.iter().map(|(t, s)| (t.clone(), s.f1)).collect(),
            dev_f1: dev.map(|d| d.overall.f1),
        }
    }
}

/// The thread counts `stages` ran with (`CellResult::threads`).
fn threads_of(stages: &BTreeMap<StageName, (PathBuf, Manifest)>) -> Option<String> {
    let counts: BTreeSet<i32> =
        stages.values().filter_map(|(_, m)| m.computed_on.as_ref().map(|c| c.threads)).collect();
    (!counts.is_empty()).then(|| counts.iter().map(i32::to_string).collect::<Vec<_>>().join("/"))
}

/// Reads what the store holds for every cell of `sweep`.
pub fn collect(
    sweep: &Sweep,
    store: &Store,
    registry: &[Box<dyn DynStage>],
    extra: &[String],
) -> anyhow::Result<Vec<CellResult>> {
    let mut digests = Digests::new();
    let mut out = Vec::new();
    for cell in sweep.cells(extra)? {
        let plan = Plan::with_digests(&cell.config, registry, &mut digests)?;
        // The cell's own artifacts by stage; its wall time counts its variants' too.
        let (mut stages, mut wall_s, mut encoder) = (BTreeMap::new(), 0.0, None);
        for p in plan.needed() {
            let name = p.name();
            if encoder.is_none() {
                encoder = p.input_files.get(ENCODER_WEIGHTS).cloned().flatten();
            }
            if let ArtifactState::Valid(m) = store.state(name, &p.key, false) {
                wall_s += m.wall_time_s;
                if p.variant.is_none() {
                    stages.insert(name, (store.artifact_dir(name, &p.key), *m));
                }
            }
        }
        let model = if cell.config.config.method == Method::Direct { "teacher" } else { "student" };
        let mut scores = None;
        if let Some((dir, _)) = stages.get(&StageName::Evaluate) {
            let path = dir.join(files::METRICS);
            let text = fs_err::read_to_string(&path)?;
            let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| path.display().to_string())?;
            let split = |s: &str| -> anyhow::Result<Option<Scores>> {
                doc["metrics"][model].get(s).map(|v| serde_json::from_value(v.clone())).transpose().map_err(Into::into)
            };
            if let Some(test) = split("test")? {
                scores = Some(CellScores::new(&test, split("dev")?.as_ref()));
            }
        }
        out.push(CellResult {
            suite: sweep.spec.name.clone(),
            target: cell.target,
            method: cell.method,
            seed: cell.seed,
            evaluate_key: plan.get(StageName::Evaluate).key.clone(),
            scores,
            wall_s,
            threads: threads_of(&stages),
            stages,
            carried: false,
            carried_disagrees: None,
            encoder,
            teacher_agreement: None,
            pair_mix: None,
            selection: cell.config.config.eval.selection,
        });
    }
    Ok(out)
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// One (suite, target, method) over its finished seeds.
pub struct Aggregate {
    pub suite: String,
    pub target: String,
    pub method: String,
    pub seeds: Vec<u64>,
    pub f1: Vec<f64>,
    pub precision: f64,
    pub recall: f64,
    pub per_type: BTreeMap<String, f64>,
    pub dev_f1: Option<f64>,
    pub wall_s: f64,
    pub paper: Option<f64>,
    /// (seed, label-free agreement with the recognizer teacher) where measured.
    pub agreement: Vec<(u64, Agreement)>,
    /// What the pair losses saw, per seed where the method uses pairs.
    pub pair_mix: Vec<PairMix>,
    /// How its cells' models were chosen (one method, one policy).
    pub selection: Selection,
}

impl Aggregate {
    pub fn f1_mean_std(&self) -> (f64, f64) {
        mean_std(&self.f1)
    }

    /// One agreement figure of each seed where it was measured.
    pub fn agreements(&self, f: fn(&Agreement) -> Option<f64>) -> Vec<f64> {
        self.agreement.iter().filter_map(|(_, a)| f(a)).collect()
    }
}

/// Groups finished cells by (target, method) in the sweep's order.
pub fn aggregate(sweep: &Sweep, cells: &[CellResult]) -> Vec<Aggregate> {
    let mut out = Vec::new();
    for target in &sweep.spec.target {
        for method in &sweep.spec.method {
            let done: Vec<&CellResult> = cells
                .iter()
                .filter(|c| c.target == target.name && c.method == method.name && c.scores.is_some())
                .collect();
            if done.is_empty() {
                continue;
            }
            let scores: Vec<&CellScores> = done.iter().filter_map(|c| c.scores.as_ref()).collect();
            let mean = |f: &dyn Fn(&CellScores) -> f64| mean_std(&scores.iter().map(|s| f(s)).collect::<Vec<_>>()).0;
            let mut per_type = BTreeMap::new();
            for t in scores.iter().flat_map(|s| s.per_type.keys()).collect::<BTreeSet<_>>() {
                per_type.insert(t.clone(), mean(&|s| s.per_type.get(t).copied().unwrap_or(0.0)));
            }
            let dev: Vec<f64> = scores.iter().filter_map(|s| s.dev_f1).collect();
            out.push(Aggregate {
                suite: sweep.spec.name.clone(),
                target: target.name.clone(),
                method: method.name.clone(),
                seeds: done.iter().map(|c| c.seed).collect(),
                f1: scores.iter().map(|s| s.f1).collect(),
                precision: mean(&|s| s.precision),
                recall: mean(&|s| s.recall),
                per_type,
                dev_f1: (dev.len() == done.len()).then(|| mean_std(&dev).0),
                wall_s: mean_std(&done.iter().map(|c| c.wall_s).collect::<Vec<_>>()).0,
                paper: sweep.spec.paper.get(&method.name).and_then(|m| m.get(&target.name)).copied(),
                agreement: done.iter().filter_map(|c| Some((c.seed, c.teacher_agreement?))).collect(),
                pair_mix: done.iter().filter_map(|c| c.pair_mix).collect(),
                selection: done[0].selection,
            });
        }
    }
    out
}

/// Two-sided 5% critical values of Student's t for 1..=10 degrees of freedom.
const T_CRITICAL: [f64; 10] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

/// `a` against `b` on one target, paired by seed (the two share that seed's teachers).
pub struct Comparison {
    pub suite: String,
    pub target: String,
    pub a: String,
    pub b: String,
    pub diffs: Vec<f64>,
}

impl Comparison {
    /// A paired t-test at 5%, in words.
    pub fn verdict(&self) -> String {
        let n = self.diffs.len();
        let (mean, std) = mean_std(&self.diffs);
        if n < 2 {
            return "one seed: untested".into();
        }
        let t = if std > 0.0 { mean / (std / (n as f64).sqrt()) } else { f64::INFINITY * mean.signum() };
        let critical = T_CRITICAL[(n - 2).min(T_CRITICAL.len() - 1)];
        if t.abs() < critical || mean == 0.0 {
            "no significant difference".into()
        } else if mean > 0.0 {
            format!("{} better", self.a)
        } else {
            format!("{} better", self.b)
        }
    }
}

/// The paired comparisons a sweep asks for (`compare`), wherever both methods have seeds.
pub fn compare(sweep: &Sweep, cells: &[CellResult]) -> Vec<Comparison> {
    let f1 = |target: &str, method: &str, seed: u64| {
        cells
            .iter()
            .find(|c| c.target == target && c.method == method && c.seed == seed)
            .and_then(|c| c.scores.as_ref().map(|s| s.f1))
    };
    let mut out = Vec::new();
    for target in &sweep.spec.target {
        for [a, b] in &sweep.spec.compare {
            let diffs: Vec<f64> = sweep
                .spec
                .seeds
                .iter()
                .filter_map(|&s| Some(f1(&target.name, a, s)? - f1(&target.name, b, s)?))
                .collect();
            if !diffs.is_empty() {
                out.push(Comparison {
                    suite: sweep.spec.name.clone(),
                    target: target.name.clone(),
                    a: a.clone(),
                    b: b.clone(),
                    diffs,
                });
            }
        }
    }
    out
}

/// One row per finished cell; `carried::Carried` reads these columns back.
fn runs_frame(cells: &[CellResult]) -> PolarsResult<DataFrame> {
    let done: Vec<(&CellResult, &CellScores)> = cells.iter().filter_map(|c| Some((c, c.scores.as_ref()?))).collect();
    let types: BTreeSet<&String> = done.iter().flat_map(|(_, s)| s.per_type.keys()).collect();
    let text = |name: &str, f: fn(&CellResult) -> &str| {
        Column::new(name.into(), done.iter().map(|(c, _)| f(c)).collect::<Vec<_>>())
    };
    let nums = |name: &str, f: &dyn Fn(&CellResult, &CellScores) -> Option<f64>| {
        Column::new(name.into(), done.iter().map(|(c, s)| f(c, s)).collect::<Vec<_>>())
    };
    let mut columns = vec![
        text("suite", |c| &c.suite),
        text("target", |c| &c.target),
        text("method", |c| &c.method),
        Column::new("seed".into(), done.iter().map(|(c, _)| c.seed).collect::<Vec<_>>()),
        Column::new("test_precision".into(), done.iter().map(|(_, s)| s.precision).collect::<Vec<_>>()),
        Column::new("test_recall".into(), done.iter().map(|(_, s)| s.recall).collect::<Vec<_>>()),
        Column::new("test_f1".into(), done.iter().map(|(_, s)| s.f1).collect::<Vec<_>>()),
    ];
    for t in types {
        columns.push(nums(&format!("{}{t}", super::carried::TYPE_F1_PREFIX), &|_, s| s.per_type.get(t).copied()));
    }
    columns.extend([
        nums("dev_f1", &|_, s| s.dev_f1),
        nums("teacher_agreement_f1", &|c, _| c.teacher_agreement.map(|a| a.f1)),
        nums("teacher_entity_ratio", &|c, _| c.teacher_agreement.and_then(|a| a.entities)),
        nums("pairs", &|c, _| c.pair_mix.map(|m| m.pairs)),
        nums("pair_words_drawn", &|c, _| c.pair_mix.map(|m| m.coverage)),
        nums("pair_entity_share", &|c, _| c.pair_mix.map(|m| m.entity_share_pairs)),
        nums("text_entity_share", &|c, _| c.pair_mix.map(|m| m.entity_share_words)),
        Column::new("wall_s".into(), done.iter().map(|(c, _)| c.wall_s).collect::<Vec<_>>()),
        Column::new("threads".into(), done.iter().map(|(c, _)| c.threads.clone()).collect::<Vec<_>>()),
        text("evaluate_key", |c| &c.evaluate_key),
        Column::new(
            "selection".into(),
            done.iter()
                .map(|(c, _)| serde_json::to_value(c.selection).ok()?.as_str().map(String::from))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "source".into(),
            done.iter().map(|(c, _)| if c.carried { "carried" } else { "store" }).collect::<Vec<_>>(),
        ),
    ]);
    DataFrame::new(done.len(), columns)
}

fn results_frame(rows: &[Aggregate], encoder: &str) -> PolarsResult<DataFrame> {
    let types: BTreeSet<&String> = rows.iter().flat_map(|r| r.per_type.keys()).collect();
    let strs = |name: &str, f: &dyn Fn(&Aggregate) -> String| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<String>>())
    };
    let nums = |name: &str, f: &dyn Fn(&Aggregate) -> Option<f64>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<Option<f64>>>())
    };
    let mut columns = vec![
        strs("suite", &|r| r.suite.clone()),
        strs("target", &|r| r.target.clone()),
        strs("method", &|r| r.method.clone()),
        Column::new("seeds".into(), rows.iter().map(|r| r.seeds.len() as u32).collect::<Vec<_>>()),
        nums("f1_mean", &|r| Some(r.f1_mean_std().0)),
        nums("f1_std", &|r| Some(r.f1_mean_std().1)),
        nums("precision_mean", &|r| Some(r.precision)),
        nums("recall_mean", &|r| Some(r.recall)),
    ];
    for t in types {
        columns.push(nums(&format!("f1_{t}_mean"), &|r| r.per_type.get(t).copied()));
    }
    columns.extend([
        nums("dev_f1_mean", &|r| r.dev_f1),
        table::f64_lists("f1_by_seed", rows.iter().map(|r| r.f1.as_slice())),
        nums("cell_wall_s_mean", &|r| Some(r.wall_s)),
        nums("paper_f1", &|r| r.paper),
        nums("teacher_agreement_f1_mean", &|r| mean(&r.agreements(|a| Some(a.f1)))),
        nums("teacher_entity_ratio_mean", &|r| mean(&r.agreements(|a| a.entities))),
        strs("encoder", &|_| encoder.to_string()),
        strs("model_selection", &|r| r.selection.describe().to_string()),
        Column::new(
            "uses_target_labels".into(),
            rows.iter().map(|r| r.selection.uses_target_labels()).collect::<Vec<_>>(),
        ),
    ]);
    DataFrame::new(rows.len(), columns)
}

/// The encoder the cells read, as `folder/file (blake3 prefix)`, from their plans (carried
/// cells have no artifacts here, and the plan names the same file a manifest would).
fn encoder_caption(cells: &[CellResult]) -> String {
    cells.iter().find_map(|c| c.encoder.as_ref()).map_or_else(
        || "(no cell reads an encoder file)".into(),
        |f| {
            let parent = f.path.parent().and_then(Path::file_name).map(|p| p.to_string_lossy().into_owned());
            let name = f.path.file_name().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            format!("{}/{name} (blake3 {})", parent.unwrap_or_default(), &f.digest.blake3[..12])
        },
    )
}

/// What `sweep report` needs: the sweeps and where to write.
pub struct ReportRequest<'a> {
    pub sweeps: &'a [Sweep],
    pub out_dir: &'a Path,
    /// Hand-written markdown appended to `results.md` (the discussion).
    pub notes: Option<&'a Path>,
    /// The command line that made this report, for its reproduction section.
    pub command: String,
    /// Earlier reports' cells: one the store lacks is read from the row of its evaluate key
    /// (the store was lost, or the cell ran on another machine).
    pub carried: &'a Carried,
}

pub fn report(
    req: &ReportRequest,
    store: &Store,
    registry: &[Box<dyn DynStage>],
    extra: &[String],
) -> anyhow::Result<()> {
    crate::atomic::create_dir_all(req.out_dir)?;
    let mut all_cells = Vec::new();
    let mut md = String::new();
    let mut body = String::new();
    let mut rows_all = Vec::new();
    let mut plots = Vec::new();
    let mut comparisons_all = Vec::new();
    for sweep in req.sweeps {
        let mut cells = collect(sweep, store, registry, extra)?;
        let agreements = analysis::teacher_agreement(&cells)?;
        let mixes = analysis::pair_mix(&cells)?;
        for ((cell, agreement), mix) in cells.iter_mut().zip(agreements).zip(mixes) {
            cell.teacher_agreement = agreement;
            cell.pair_mix = mix;
            req.carried.fill(cell);
            if let Some(d) = &cell.carried_disagrees {
                crate::warn!(
                    "{}: the store's test F1 is not the carried row's ({:.4}) under one evaluate key {}; the store's \
                     stands",
                    cell.label(),
                    d.f1,
                    cell.evaluate_key
                );
            }
        }
        let rows = aggregate(sweep, &cells);
        let comparisons = compare(sweep, &cells);
        let encoder = encoder_caption(&cells);
        let plot_name = format!("results-{}.png", sweep.spec.name);
        if !rows.is_empty() {
            super::plot::grouped_bars(sweep, &rows, &req.out_dir.join(&plot_name))?;
            plots.push(plot_name.clone());
        }
        write_sweep_section(&mut body, sweep, &cells, &rows, &comparisons, &encoder, &plot_name)?;
        comparisons_all.extend(comparisons);
        rows_all.extend(rows);
        all_cells.extend(cells);
    }
    remove_stale_plots(req.out_dir, &plots)?;
    let encoder = encoder_caption(&all_cells);
    let mut runs = runs_frame(&all_cells)?;
    let mut results = results_frame(&rows_all, &encoder)?;
    let meta = vec![("mtmt.command".to_string(), req.command.clone())];
    table::write(&mut runs, &req.out_dir.join("runs.parquet"), meta.clone())?;
    table::write(&mut results, &req.out_dir.join("results.parquet"), meta)?;

    writeln!(md, "# Results\n")?;
    writeln!(
        md,
        "Generated by `{}` from the artifact store (every number below is read from a stage \
         artifact; rerun the sweeps' commands to recompute them). Tables: `results.parquet` \
         (per suite, target and method), `runs.parquet` (per cell).\n",
        req.command
    )?;
    writeln!(md, "- Encoder: {encoder}.")?;
    writeln!(
        md,
        "- Model selection: {MODEL_SELECTION}, except where a method's name says `{TARGET_DEV_MARK}`: {}.",
        Selection::TargetDev.describe()
    )?;
    writeln!(
        md,
        "- Metric: entity-level micro F1 (conlleval semantics) on the target test split, x100, \
         mean ± sample std over seeds; P and R are means.\n- Report machine: {}.\n",
        machine()
    )?;
    md.push_str(&body);
    let suites: Vec<String> = req.sweeps.iter().map(|s| s.spec.name.clone()).collect();
    md.push_str(&across_sweeps(&comparisons_all, &suites));
    if let Some(notes) = req.notes {
        let text = fs_err::read_to_string(notes)?;
        md.push('\n');
        md.push_str(&text);
    }
    crate::atomic::write_file(&req.out_dir.join("results.md"), md.as_bytes())?;
    println!(
        "wrote {} ({} finished cells of {})",
        req.out_dir.join("results.md").display(),
        runs.height(),
        all_cells.len()
    );
    Ok(())
}

/// The baselines' own stages' figures (`analysis::stage_figures`) by target and method,
/// over the seeds whose stage exists; empty when no cell has such a stage.
fn stage_figures_section(sweep: &Sweep, cells: &[CellResult]) -> anyhow::Result<String> {
    let mut md = String::new();
    for target in &sweep.spec.target {
        for method in &sweep.spec.method {
            // Each figure with its artifacts, once each (a seed-free lexicon serves every seed)
            // with the seeds it serves, in the order the stages record them.
            let mut figures: Vec<Vec<(StageFigure, Vec<u64>)>> = Vec::new();
            for cell in cells.iter().filter(|c| c.target == target.name && c.method == method.name) {
                for figure in analysis::stage_figures(cell) {
                    let same = |f: &StageFigure| f.stage == figure.stage && f.what == figure.what;
                    let Some(artifacts) = figures.iter_mut().find(|artifacts| same(&artifacts[0].0)) else {
                        figures.push(vec![(figure, vec![cell.seed])]);
                        continue;
                    };
                    match artifacts.iter_mut().find(|(f, _)| f.key == figure.key) {
                        Some((_, seeds)) => seeds.push(cell.seed),
                        None => artifacts.push((figure, vec![cell.seed])),
                    }
                }
            }
            for artifacts in figures {
                let figure = &artifacts[0].0;
                let values: Vec<f64> = artifacts.iter().map(|(f, _)| f.value).collect();
                let per_artifact: Vec<String> = artifacts
                    .iter()
                    .map(|(f, seeds)| {
                        let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
                        format!("{}: {}", seeds.join(", "), f.unit.show(f.value))
                    })
                    .collect();
                writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} |",
                    target.name,
                    method.name,
                    figure.stage.as_str(),
                    figure.what,
                    figure.unit.show(mean_std(&values).0),
                    per_artifact.join("; ")
                )?;
            }
        }
    }
    if md.is_empty() {
        return Ok(md);
    }
    Ok(format!(
        "### The baselines' own stages (from their artifacts' manifests)\n\nWhat AdvPicker's, UniTrans's and \
         multi-source TSL's stages record: the adversarial and translation teachers' entity F1 on source dev, the \
         sentences AdvPicker keeps, the lexicon and the translated share of the source words, the share of target \
         words on which UniTrans's three teachers vote alike (its student's cross-entropy reaches those), and the \
         language model's accuracy on the sources' dev sentences with each source's mean weight. Mean over the \
         artifacts, each listed with the seeds it serves (a seed-free lexicon serves all); none reads a target \
         label.\n\n| target | method | stage | figure | mean | seeds: value |\n\
         |---|---|---|---|---|---|\n{md}\n"
    ))
}

/// The comparisons that several of the reported sweeps make on the same target (the same
/// methods under two recipes, say one epoch and three), side by side; empty when none is.
fn across_sweeps(comparisons: &[Comparison], suites: &[String]) -> String {
    let mut groups: BTreeMap<(&str, &str, &str), BTreeMap<&str, &Comparison>> = BTreeMap::new();
    for c in comparisons {
        groups.entry((&c.target, &c.a, &c.b)).or_default().insert(&c.suite, c);
    }
    groups.retain(|_, by_suite| by_suite.len() > 1);
    if groups.is_empty() {
        return String::new();
    }
    let mut md = String::from("## Across sweeps (each sweep's recipe; paired by seed within a sweep)\n\n");
    md.push_str(&format!("| target | a - b | {} |\n", suites.join(" | ")));
    md.push_str(&format!("|---|---|{}\n", "---|".repeat(suites.len())));
    for ((target, a, b), by_suite) in groups {
        let cells: Vec<String> = suites
            .iter()
            .map(|suite| match by_suite.get(suite.as_str()) {
                Some(c) => {
                    let (n, (m, s)) = (c.diffs.len(), mean_std(&c.diffs));
                    // One seed has no spread to show.
                    let (spread, seeds) =
                        if n == 1 { (String::new(), "seed") } else { (format!(" ± {s:.2}"), "seeds") };
                    format!("{m:+.2}{spread} ({n} {seeds}; {})", c.verdict())
                }
                None => "-".into(),
            })
            .collect();
        md.push_str(&format!("| {target} | {a} - {b} | {} |\n", cells.join(" | ")));
    }
    md.push('\n');
    md
}

/// Plots this report did not write (a sweep renamed, dropped or not finished) would sit
/// next to `results.md` as if they were current, so they go.
fn remove_stale_plots(out_dir: &Path, written: &[String]) -> anyhow::Result<()> {
    for entry in fs_err::read_dir(out_dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("results-") && name.ends_with(".png") && !written.contains(&name) {
            let path = out_dir.join(&name);
            fs_err::remove_file(&path)?;
            println!("removed {} (no sweep in this report writes it)", path.display());
        }
    }
    Ok(())
}

/// The mean of some seeds' values; `None` without any.
fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| mean_std(values).0)
}

/// The mean ± sample std over seeds at `decimals`; one seed has no spread to show, none
/// is "-".
fn mean_spread(values: &[f64], decimals: usize) -> String {
    match (values.len(), mean_std(values)) {
        (0, _) => "-".into(),
        (1, (m, _)) => format!("{m:.decimals$}"),
        (_, (m, s)) => format!("{m:.decimals$} ± {s:.decimals$}"),
    }
}

fn write_sweep_section(
    md: &mut String,
    sweep: &Sweep,
    cells: &[CellResult],
    rows: &[Aggregate],
    comparisons: &[Comparison],
    encoder: &str,
    plot: &str,
) -> anyhow::Result<()> {
    let spec = &sweep.spec;
    writeln!(md, "## {}: {}\n", spec.name, spec.title)?;
    writeln!(
        md,
        "Sweep file `{}`; seeds {:?}. Run with `mtmt-pipe sweep run {}`.",
        sweep.path.display(),
        spec.seeds,
        sweep.path.display()
    )?;
    writeln!(md, "Recipe (every cell): `{}`.\n", spec.set.join("` `"))?;
    let methods: Vec<String> = spec.method.iter().map(|m| format!("`{}` = `{}`", m.name, m.set.join(" "))).collect();
    writeln!(md, "Methods: {}.\n", methods.join("; "))?;
    let finished = cells.iter().filter(|c| c.scores.is_some()).count();
    if finished < cells.len() {
        writeln!(
            md,
            "**In progress**: {finished} of {} cells finished; each row averages the seeds it names, \
             and a comparison is tested only on the seeds both of its methods finished.\n",
            cells.len()
        )?;
    }
    let mut carried: BTreeMap<u64, usize> = BTreeMap::new();
    for cell in cells.iter().filter(|c| c.carried) {
        *carried.entry(cell.seed).or_default() += 1;
    }
    if !carried.is_empty() {
        let by_seed: Vec<String> = carried.iter().map(|(seed, n)| format!("seed {seed}: {n}")).collect();
        writeln!(
            md,
            "**Carried** ({}): cells whose artifacts this store does not hold, read from an earlier \
             report's `runs.parquet` (`sweep report --carry`) where its row has the evaluate key the cell \
             has now (same code, config, data and inputs). Their F1, agreement and pair figures are that \
             report's; they are absent from the teacher, confidence and stage sections and from the \
             compute total below (runs.parquet `source`).\n",
            by_seed.join(", ")
        )?;
    }
    let disagreements: Vec<String> = cells
        .iter()
        .filter_map(|c| {
            let d = c.carried_disagrees.as_ref()?;
            let store = c.scores.as_ref()?;
            Some(format!(
                "{}: store {:.2} (threads {}), carried {:.2} (threads {})",
                c.label(),
                store.f1,
                threads_label(&c.threads),
                d.f1,
                threads_label(&d.threads)
            ))
        })
        .collect();
    if !disagreements.is_empty() {
        writeln!(
            md,
            "**Store and carried rows disagree** ({}): one evaluate key, two test F1. The key does not \
             cover the libtorch thread count a model trained with, which changes its floats; the store's \
             figures stand here, and cells that share the cell's teachers may have been measured on either.\n",
            disagreements.join("; ")
        )?;
    }
    if rows.is_empty() {
        writeln!(md, "No cell has finished yet.\n")?;
    } else {
        let types: BTreeSet<&String> = rows.iter().flat_map(|r| r.per_type.keys()).collect();
        writeln!(
            md,
            "Test F1 on {encoder}; model selection: {MODEL_SELECTION} (`{TARGET_DEV_MARK}` in a method's name: target dev F1, \
             uses target labels). Paper: {}, mBERT encoder \
             (not comparable in level: a different, smaller encoder here, trained at this sweep's recipe above).\n",
            if spec.paper_source.is_empty() { "-" } else { &spec.paper_source }
        )?;
        write!(md, "| target | method | seeds | F1 | P | R |")?;
        for t in &types {
            write!(md, " F1 {t} |")?;
        }
        writeln!(md, " dev F1 | cell time | paper F1 (mBERT) |")?;
        writeln!(md, "|{}", "---|".repeat(9 + types.len()))?;
        for r in rows {
            write!(
                md,
                "| {} | {} | {} | {} | {:.2} | {:.2} |",
                r.target,
                r.method,
                r.seeds.len(),
                mean_spread(&r.f1, 2),
                r.precision,
                r.recall
            )?;
            for t in &types {
                write!(md, " {} |", r.per_type.get(*t).map_or("-".into(), |v| format!("{v:.2}")))?;
            }
            writeln!(
                md,
                " {} | {} | {} |",
                r.dev_f1.map_or("-".into(), |v| format!("{v:.2}")),
                duration(r.wall_s),
                r.paper.map_or("-".into(), |v| format!("{v:.2}"))
            )?;
        }
        writeln!(md, "\n![{} test F1]({plot})\n", spec.name)?;
        writeln!(
            md,
            "Cell time: every stage of one cell as if run alone, shared teachers included (mean over seeds). \
             Compute actually spent on the artifacts this store holds: {}.\n",
            duration(unique_wall_s(cells))
        )?;
        md.push_str(&threads_caption(cells));
    }
    if !comparisons.is_empty() {
        writeln!(md, "### Paired comparisons (same seed, same teachers; paired t-test at 5%)\n")?;
        writeln!(md, "| target | a - b | seeds | mean | std | verdict |\n|---|---|---|---|---|---|")?;
        for c in comparisons {
            let (m, s) = mean_std(&c.diffs);
            let s = if c.diffs.len() > 1 { format!("{s:.2}") } else { "-".into() };
            writeln!(md, "| {} | {} - {} | {} | {m:+.2} | {s} | {} |", c.target, c.a, c.b, c.diffs.len(), c.verdict())?;
        }
        writeln!(md)?;
    }
    let checks = analysis::teacher_checks(cells);
    if !checks.is_empty() {
        writeln!(md, "### Teachers (source side, from their artifacts' manifests)\n")?;
        writeln!(md, "| seed | teacher | source dev | value | used by |\n|---|---|---|---|---|")?;
        for TeacherCheck { seed, teacher, what, value, used_by } in checks {
            writeln!(md, "| {seed} | {teacher} | {what} | {value:.2} | {} |", used_by.join(", "))?;
        }
        writeln!(md)?;
    }
    let bins = analysis::confidence_bins(cells)?;
    if !bins.is_empty() {
        writeln!(
            md,
            "### Recognizer teacher by confidence (the paper's Fig. 6a)\n\nTarget test words of the `direct` \
             cells (all seeds pooled), binned by the teacher's top probability; word-level P/R/F1 over entity \
             tags (a word is correct when its predicted BIO tag equals the gold one). Computed with polars \
             from `evaluate/predictions.parquet`.\n"
        )?;
        writeln!(md, "| target | confidence | words | share | P | R | F1 |\n|---|---|---|---|---|---|---|")?;
        for ConfidenceBin { target, bin, words, share, precision, recall, f1 } in bins {
            writeln!(md, "| {target} | {bin} | {words} | {share:.1}% | {precision:.2} | {recall:.2} | {f1:.2} |")?;
        }
        writeln!(md)?;
    }
    let mixes: Vec<(&Aggregate, PairMix)> =
        rows.iter().filter_map(|r| Some((r, PairMix::mean(&r.pair_mix)?))).collect();
    if !mixes.is_empty() {
        writeln!(
            md,
            "### What the pair losses see (label-free)\n\nMTMT's recognizer loss reaches the words drawn \
             into pairs (all words too with `distill_loss.all_words`). Per student: pairs per seed, the share \
             of target train words drawn at least once, and the share of entities by the recognizer teacher's \
             predicted labels among pair words and among all target train words (means over seeds; from \
             `weights/pseudo_labels.parquet` and `score_tokens/token_probs.parquet`, no gold read).\n"
        )?;
        writeln!(md, "| target | method | seeds | pairs | words drawn | entities in pairs | entities in text |")?;
        writeln!(md, "|---|---|---|---|---|---|---|")?;
        for (r, m) in mixes {
            writeln!(
                md,
                "| {} | {} | {} | {:.0} | {:.1}% | {:.1}% | {:.1}% |",
                r.target,
                r.method,
                r.pair_mix.len(),
                m.pairs,
                m.coverage,
                m.entity_share_pairs,
                m.entity_share_words
            )?;
        }
        writeln!(md)?;
    }
    md.push_str(&stage_figures_section(sweep, cells)?);
    let measured: Vec<&Aggregate> = rows.iter().filter(|r| !r.agreement.is_empty()).collect();
    if !measured.is_empty() {
        writeln!(
            md,
            "### Students against their recognizer teacher (label-free)\n\nEntity-level F1 of each \
             student's predicted entities on target test text against the recognizer teacher's (the \
             `direct` cell of the same seed and encoding); no gold labels are read, so this check is \
             open to a language without any. 100 = the student copies its teacher. Entities per 100 \
             of the teacher's: above 100, the student marks spans its teacher left out, which is \
             where its precision against gold falls first.\n"
        )?;
        writeln!(
            md,
            "| target | method | seeds | agreement F1 | per seed | entities per 100 of the teacher's |\n|---|---|---|---|---|---|"
        )?;
        for r in measured {
            let f1 = mean_spread(&r.agreements(|a| Some(a.f1)), 2);
            let entities = mean_spread(&r.agreements(|a| a.entities), 1);
            let per_seed: Vec<String> = r.agreement.iter().map(|(seed, a)| format!("{seed}: {:.2}", a.f1)).collect();
            writeln!(
                md,
                "| {} | {} | {} | {f1} | {} | {entities} |",
                r.target,
                r.method,
                r.agreement.len(),
                per_seed.join(", ")
            )?;
        }
        writeln!(md)?;
    }
    write_health(md, cells)?;
    let pending: Vec<String> = cells.iter().filter(|c| c.scores.is_none()).map(CellResult::label).collect();
    if !pending.is_empty() {
        writeln!(md, "Pending cells (not run yet; `sweep run` resumes them): {}.\n", pending.join(", "))?;
    }
    Ok(())
}

/// The health warnings the cells' stages recorded (`health`; no target label used), each
/// artifact once, with the cells that share it.
fn write_health(md: &mut String, cells: &[CellResult]) -> std::fmt::Result {
    let mut found: BTreeMap<(StageName, &Path, String), Vec<String>> = BTreeMap::new();
    for cell in cells {
        for (stage, (dir, manifest)) in &cell.stages {
            for warning in crate::summary::warnings(&manifest.summary) {
                found.entry((*stage, dir.as_path(), warning)).or_default().push(cell.label());
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    writeln!(md, "### Health warnings (label-free checks of the runs)\n")?;
    writeln!(md, "| stage | warning | cells |\n|---|---|---|")?;
    for ((stage, _, warning), labels) in found {
        writeln!(md, "| {stage} | {warning} | {} |", labels.join(", "))?;
    }
    writeln!(md)
}

/// Wall time of the distinct artifacts behind `cells`: what the sweep really cost.
fn unique_wall_s(cells: &[CellResult]) -> f64 {
    let unique: BTreeMap<(&str, &str), f64> = cells
        .iter()
        .flat_map(|c| c.stages.values())
        .map(|(_, m)| ((m.stage.as_str(), m.key.as_str()), m.wall_time_s))
        .collect();
    unique.values().sum()
}

/// How the report writes a cell's thread counts (`CellResult::threads`): `unrecorded` for
/// stages built before manifests recorded them.
fn threads_label(threads: &Option<String>) -> String {
    threads.clone().unwrap_or_else(|| "unrecorded".into())
}

/// How many finished cells ran at each libtorch thread count, where they differ (cells of
/// `sweep run --jobs` get a share of the cores): kernels round differently under another
/// count, so a rerun matches a cell to the last digit only under its own (runs.parquet
/// `threads`). Empty where all cells are alike.
fn threads_caption(cells: &[CellResult]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for cell in cells.iter().filter(|c| c.scores.is_some()) {
        *counts.entry(threads_label(&cell.threads)).or_default() += 1;
    }
    if counts.len() < 2 {
        return String::new();
    }
    let parts: Vec<String> = counts.iter().map(|(t, n)| format!("{t}: {n} cell(s)")).collect();
    format!(
        "libtorch threads per cell ({}; `unrecorded`: built before manifests recorded it). Kernels round \
         differently under another thread count, so a rerun matches a cell to the last digit only under \
         its own (runs.parquet `threads`).\n\n",
        parts.join(", ")
    )
}

/// This machine in a few words: CPU model, cores, memory.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb / 1048576.0));
    format!("{cpu}, {cores} cores, {mem} RAM, torch threads {}", tch::get_num_threads())
}

/// A finished cell of target `es` whose stages are (stage, artifact folder, key, threads).
#[cfg(test)]
pub(super) fn test_cell(
    method: &str,
    seed: u64,
    stages: impl Iterator<Item = (StageName, PathBuf, &'static str, Option<i32>)>,
) -> CellResult {
    let stages = stages
        .map(|(stage, dir, key, threads)| {
            let manifest = Manifest {
                stage: stage.as_str().into(),
                stage_version: 1,
                key: key.into(),
                config: serde_json::Value::Null,
                input_files: BTreeMap::new(),
                inputs: BTreeMap::new(),
                files: BTreeMap::new(),
                wall_time_s: 1.0,
                computed_on: threads.map(|threads| crate::manifest::ComputedOn { device: "cpu".into(), threads }),
                tool_version: "0".into(),
                created_unix_ms: 0,
                summary: serde_json::Value::Null,
            };
            (stage, (dir, manifest))
        })
        .collect();
    CellResult {
        suite: "s".into(),
        target: "es".into(),
        method: method.into(),
        seed,
        evaluate_key: format!("{method}-{seed}"),
        scores: Some(CellScores::new(&crate::eval::conlleval::Scorer::default().report(), None)),
        wall_s: 0.0,
        threads: threads_of(&stages),
        stages,
        carried: false,
        carried_disagrees: None,
        encoder: None,
        teacher_agreement: None,
        pair_mix: None,
        selection: Selection::Last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(diffs: &[f64]) -> Comparison {
        Comparison { suite: "s".into(), target: "es".into(), a: "mtmt".into(), b: "tsl".into(), diffs: diffs.to_vec() }
    }

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-12 && (s - 1.2909944487358056).abs() < 1e-12);
        assert_eq!(mean_std(&[7.0]), (7.0, 0.0));
        assert_eq!(mean_spread(&[1.0, 2.0, 3.0, 4.0], 1), "2.5 ± 1.3");
        assert_eq!(mean_spread(&[7.0], 2), "7.00", "one seed has no spread");
        assert_eq!(mean_spread(&[], 2), "-");
    }

    #[test]
    fn comparisons_made_by_two_sweeps_stand_side_by_side() {
        let mut one = comparison(&[-2.0, -3.0]);
        one.suite = "conll".into();
        let mut three = comparison(&[1.0, 1.5, 2.0]);
        three.suite = "papers-budget".into();
        let mut alone = comparison(&[1.0]);
        alone.b = "direct".into();
        let mut first = comparison(&[0.5]);
        first.suite = "papers-budget".into();
        first.b = "mtst".into();
        let mut before = comparison(&[-1.0, -2.0]);
        before.suite = "conll".into();
        before.b = "mtst".into();
        let suites = ["conll".to_string(), "papers-budget".to_string()];
        let md = across_sweeps(&[one, three, alone, first, before], &suites);
        assert!(md.contains("| target | a - b | conll | papers-budget |"), "{md}");
        assert!(
            md.contains("| es | mtmt - tsl | -2.50 ± 0.71 (2 seeds; no significant difference) | +1.50 ± 0.50 (3 seeds; mtmt better) |"),
            "{md}"
        );
        assert!(
            md.contains("| es | mtmt - mtst | -1.50 ± 0.71 (2 seeds; no significant difference) | +0.50 (1 seed; one seed: untested) |"),
            "one seed has no spread: {md}"
        );
        assert!(!md.contains("direct"), "a comparison one sweep makes stays in its section: {md}");
        assert_eq!(across_sweeps(&[comparison(&[1.0])], &suites), "");
    }

    #[test]
    fn cells_at_other_thread_counts_are_named() {
        let cell = |threads: &[Option<i32>]| {
            let stages = threads
                .iter()
                .zip([StageName::TeacherNer, StageName::Distill, StageName::Evaluate])
                .map(|(t, stage)| (stage, PathBuf::new(), "k", *t));
            test_cell("tsl", 13, stages)
        };
        let (serial, job, mixed, old) =
            (cell(&[Some(2), Some(2)]), cell(&[Some(1), Some(1)]), cell(&[None, Some(2), Some(1)]), cell(&[None]));
        assert_eq!(
            (serial.threads.clone(), mixed.threads.clone(), old.threads.clone()),
            (Some("2".into()), Some("1/2".into()), None)
        );
        assert_eq!(threads_caption(&[cell(&[Some(2)]), cell(&[Some(2), Some(2)])]), "");
        let caption = threads_caption(&[serial, job, mixed, old]);
        assert!(caption.contains("(1: 1 cell(s), 1/2: 1 cell(s), 2: 1 cell(s), unrecorded: 1 cell(s);"), "{caption}");
    }

    #[test]
    fn the_baselines_stage_figures_are_shown_once_per_artifact() {
        let spec = "name = \"b\"\nseeds = [13, 14]\n[[target]]\nname = \"es\"\nconfig = \"p.toml\"\n\
                    [[method]]\nname = \"tsl\"\nset = []\n[[method]]\nname = \"unitrans\"\nset = []\n\
                    [[method]]\nname = \"tsl-multi\"\nset = []\n";
        let sweep = Sweep { path: "s.toml".into(), spec: toml::from_str(spec).unwrap() };
        let cell = |method: &str, seed: u64, stage: StageName, key: &'static str, summary: serde_json::Value| {
            let mut cell = test_cell(method, seed, [(stage, PathBuf::new(), key, None)].into_iter());
            cell.stages.get_mut(&stage).unwrap().1.summary = summary;
            cell
        };
        let lexicon = serde_json::json!({ "mutual_nearest_neighbours": 0.4 });
        let cells = [
            // One seed-free lexicon serves both seeds.
            cell("unitrans", 13, StageName::Lexicon, "lex", lexicon.clone()),
            cell("unitrans", 14, StageName::Lexicon, "lex", lexicon),
            // A figure per source language, one artifact per seed.
            cell(
                "tsl-multi",
                13,
                StageName::LangSim,
                "l13",
                serde_json::json!({ "mean_teacher_weights": { "de": 0.25, "en": 0.75 } }),
            ),
            cell(
                "tsl-multi",
                14,
                StageName::LangSim,
                "l14",
                serde_json::json!({ "mean_teacher_weights": { "de": 0.5, "en": 0.5 } }),
            ),
            // The recognizer teacher is no baseline's own stage.
            cell(
                "tsl",
                13,
                StageName::TeacherNer,
                "t",
                serde_json::json!({ "source_dev": { "overall": { "f1": 90.0 } } }),
            ),
        ];
        let md = stage_figures_section(&sweep, &cells).unwrap();
        for row in [
            "| es | unitrans | lexicon | lexicon pairs that are mutual nearest neighbours | 40.0% | 13, 14: 40.0% |",
            "| es | tsl-multi | lang_sim | mean teacher weight on target train: de | 0.375 | 13: 0.250; 14: 0.500 |",
            "| es | tsl-multi | lang_sim | mean teacher weight on target train: en | 0.625 | 13: 0.750; 14: 0.500 |",
        ] {
            assert!(md.contains(row), "no `{row}`:\n{md}");
        }
        assert_eq!(md.lines().filter(|l| l.starts_with("| es |")).count(), 3, "{md}");
        assert_eq!(stage_figures_section(&sweep, &cells[4..]).unwrap(), "", "no section without a baseline");
    }

    #[test]
    fn paired_t_test_verdicts() {
        // t = 1.0 / (0.1 / sqrt 3) = 17.3 > 4.303: significant.
        assert_eq!(comparison(&[0.9, 1.0, 1.1]).verdict(), "mtmt better");
        assert_eq!(comparison(&[-0.9, -1.0, -1.1]).verdict(), "tsl better");
        // t = 0.33 / (1.53 / sqrt 3) = 0.38: noise.
        assert_eq!(comparison(&[1.0, -1.0, 1.0]).verdict(), "no significant difference");
        assert_eq!(comparison(&[2.0]).verdict(), "one seed: untested");
    }
}
