//! `sweep run`: executes a sweep's cells in order on the shared store, with progress and
//! an ETA from the stage runs still to do. Finished cells are cache hits, so a sweep
//! interrupted at any point resumes where it stopped (a half-trained stage from its
//! last checkpoint).

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Cell, Sweep};
use crate::engine::{self, Digests, Plan, RunOptions};
use crate::error::SweepError;
use crate::stage::Stage;
use crate::stages::registry;
use crate::store::{ArtifactState, Store};

/// A stage run still to do: (stage, key). Cells share many, teachers above all.
type StageRun = (String, String);

/// Guesses how long a stage run takes from runs already measured: this sweep's runs of
/// the stage for the same target first, then the stage's artifacts in the store.
struct Estimator {
    measured: BTreeMap<(String, String), Vec<f64>>,
    stored: BTreeMap<String, Vec<f64>>,
}

impl Estimator {
    fn new(store: &Store, stages: &[Box<dyn Stage>]) -> Self {
        let stored = stages
            .iter()
            .map(|s| (s.name().to_string(), store.manifests(s.name()).iter().map(|m| m.wall_time_s).collect()))
            .collect();
        Self { measured: BTreeMap::new(), stored }
    }

    fn record(&mut self, target: &str, stage: &str, seconds: f64) {
        self.measured.entry((target.into(), stage.into())).or_default().push(seconds);
    }

    fn guess(&self, target: &str, stage: &str) -> Option<f64> {
        let mean = |v: &Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        self.measured
            .get(&(target.into(), stage.into()))
            .and_then(mean)
            .or_else(|| self.stored.get(stage).and_then(mean))
    }
}

/// The needed stages of `plan` without a valid artifact.
fn stale_runs(plan: &Plan, store: &Store) -> Vec<StageRun> {
    plan.needed()
        .into_iter()
        .filter(|p| !matches!(store.state(p.stage.name(), &p.key, false), ArtifactState::Valid(_)))
        .map(|p| (p.stage.name().to_string(), p.key.clone()))
        .collect()
}

pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The estimated time of `remaining` (each stage run with the target that needs it first).
fn eta(remaining: &BTreeMap<StageRun, String>, estimator: &Estimator) -> String {
    let mut total = 0.0;
    let mut unknown = 0;
    for ((stage, _), target) in remaining {
        match estimator.guess(target, stage) {
            Some(s) => total += s,
            None => unknown += 1,
        }
    }
    let extra = if unknown > 0 { format!(" + {unknown} stage run(s) never timed here") } else { String::new() };
    format!("about {}{extra}", duration(total))
}

/// Runs (or with `dry_run`, lists) every cell of the sweep, or only those of `seeds`.
pub fn run(sweep: &Sweep, store: &Store, extra: &[String], seeds: &[u64], dry_run: bool) -> anyhow::Result<()> {
    let mut cells: Vec<Cell> = sweep.cells(extra)?;
    if let Some(missing) = seeds.iter().find(|s| !sweep.spec.seeds.contains(s)) {
        anyhow::bail!(
            "{}: seed {missing} is not one of the sweep's seeds {:?}",
            sweep.path.display(),
            sweep.spec.seeds
        );
    }
    cells.retain(|c| seeds.is_empty() || seeds.contains(&c.seed));
    let stages = registry();
    // Every key before anything runs, each input file hashed once for the whole sweep.
    let mut digests = Digests::new();
    let plans =
        cells.iter().map(|c| Plan::with_digests(&c.config, &stages, &mut digests)).collect::<Result<Vec<_>, _>>()?;
    let stale: Vec<Vec<StageRun>> = plans.iter().map(|p| stale_runs(p, store)).collect();
    let complete = stale.iter().filter(|s| s.is_empty()).count();
    // Each stage run falls to the first cell that needs it; later cells reuse its artifact.
    let mut remaining: BTreeMap<StageRun, String> = BTreeMap::new();
    let mut todos: Vec<Vec<StageRun>> = Vec::new();
    for (cell, runs) in cells.iter().zip(stale) {
        let todo: Vec<StageRun> = runs.into_iter().filter(|r| !remaining.contains_key(r)).collect();
        remaining.extend(todo.iter().map(|r| (r.clone(), cell.target.clone())));
        todos.push(todo);
    }
    let mut estimator = Estimator::new(store, &stages);
    println!(
        "sweep `{}`{}: {} cells, {complete} complete; {} stage run(s) to do, {}",
        sweep.spec.name,
        if seeds.is_empty() { String::new() } else { format!(" (seeds {seeds:?})") },
        cells.len(),
        remaining.len(),
        eta(&remaining, &estimator)
    );
    let n = cells.len();
    let started = Instant::now();
    for (i, ((cell, plan), todo)) in cells.iter().zip(&plans).zip(todos).enumerate() {
        let head = format!("[{}/{n}] {}", i + 1, cell.label());
        if todo.is_empty() {
            println!("{head}: up to date");
            continue;
        }
        let names: Vec<&str> = todo.iter().map(|(s, _)| s.as_str()).collect();
        if dry_run {
            println!("{head}: would run {}", names.join(", "));
            continue;
        }
        println!("{head}: running {}", names.join(", "));
        let cell_started = Instant::now();
        engine::run(plan, store, &RunOptions::default())
            .map_err(|source| SweepError::Run { cell: cell.label(), source })?;
        for run @ (stage, key) in &todo {
            remaining.remove(run);
            if let Ok(m) = crate::manifest::Manifest::read(&store.artifact_dir(stage, key)) {
                estimator.record(&cell.target, stage, m.wall_time_s);
            }
        }
        println!(
            "{head}: done in {}; {} stage run(s) left, {} (elapsed {})",
            duration(cell_started.elapsed().as_secs_f64()),
            remaining.len(),
            eta(&remaining, &estimator),
            duration(started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}
