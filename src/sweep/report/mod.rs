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

mod cells;
mod frames;
mod markdown;
mod stats;

pub use cells::*;
use frames::*;
use markdown::*;
pub use stats::*;

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
        let cells = collect_annotated(sweep, store, registry, extra, req)?;
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

    md.push_str(&preamble(&req.command, &encoder)?);
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

/// A sweep's cells read from the store, with the figures read from their artifacts
/// (teachers' agreement, pair mix) and the carried rows filled in; a store figure that
/// disagrees with a carried row under one key is warned about (the store's stands).
fn collect_annotated(
    sweep: &Sweep,
    store: &Store,
    registry: &[Box<dyn DynStage>],
    extra: &[String],
    req: &ReportRequest,
) -> anyhow::Result<Vec<CellResult>> {
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
    Ok(cells)
}

/// The head of `results.md`: how it was made, the encoder, model selection, metric and
/// machine.
fn preamble(command: &str, encoder: &str) -> anyhow::Result<String> {
    let mut md = String::new();
    writeln!(md, "# Results\n")?;
    writeln!(
        md,
        "Generated by `{}` from the artifact store (every number below is read from a stage \
         artifact; rerun the sweeps' commands to recompute them). Tables: `results.parquet` \
         (per suite, target and method), `runs.parquet` (per cell).\n",
        command
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
    Ok(md)
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
