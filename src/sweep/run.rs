//! `sweep run`: executes a sweep's cells in order on the shared store, with progress and
//! an ETA from the stage runs still to do. Finished cells are cache hits, so a sweep
//! interrupted at any point resumes where it stopped (a half-trained stage from its
//! last checkpoint).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::{Cell, Sweep};
use crate::engine::{self, Plan, RunOptions};
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

/// What is left: every stage run not yet done, with the target whose cell first needs it.
struct Remaining {
    runs: BTreeMap<StageRun, String>,
}

impl Remaining {
    fn eta(&self, estimator: &Estimator) -> String {
        let mut total = 0.0;
        let mut unknown = 0;
        for ((stage, _), target) in &self.runs {
            match estimator.guess(target, stage) {
                Some(s) => total += s,
                None => unknown += 1,
            }
        }
        let extra = if unknown > 0 { format!(" + {unknown} stage run(s) never timed here") } else { String::new() };
        format!("about {}{extra}", duration(total))
    }
}

/// Runs (or with `dry_run`, lists) every cell of the sweep.
pub fn run(sweep: &Sweep, store: &Store, extra: &[String], dry_run: bool) -> anyhow::Result<()> {
    let cells: Vec<Cell> = sweep.cells(extra)?;
    let stages = registry();
    // Every key before anything runs: inputs are hashed once, up front.
    let plans = cells.iter().map(|c| Plan::new(&c.config, &stages)).collect::<Result<Vec<_>, _>>()?;
    let mut remaining = Remaining { runs: BTreeMap::new() };
    for (cell, plan) in cells.iter().zip(&plans) {
        for run in stale_runs(plan, store) {
            remaining.runs.entry(run).or_insert_with(|| cell.target.clone());
        }
    }
    let mut estimator = Estimator::new(store, &stages);
    let complete = plans.iter().filter(|p| stale_runs(p, store).is_empty()).count();
    println!(
        "sweep `{}`: {} cells, {complete} complete; {} stage run(s) to do, {}",
        sweep.spec.name,
        cells.len(),
        remaining.runs.len(),
        remaining.eta(&estimator)
    );
    let n = cells.len();
    let started = Instant::now();
    // Stage runs an earlier cell has (or, dry, would have) done.
    let mut claimed: BTreeSet<StageRun> = BTreeSet::new();
    for (i, (cell, plan)) in cells.iter().zip(&plans).enumerate() {
        let todo: Vec<StageRun> = stale_runs(plan, store).into_iter().filter(|r| !claimed.contains(r)).collect();
        claimed.extend(todo.iter().cloned());
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
        for (stage, key) in &todo {
            remaining.runs.remove(&(stage.clone(), key.clone()));
            if let Ok(m) = crate::manifest::Manifest::read(&store.artifact_dir(stage, key)) {
                estimator.record(&cell.target, stage, m.wall_time_s);
            }
        }
        println!(
            "{head}: done in {}; {} stage run(s) left, {} (elapsed {})",
            duration(cell_started.elapsed().as_secs_f64()),
            remaining.runs.len(),
            remaining.eta(&estimator),
            duration(started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}
