//! `sweep run`: executes a sweep's cells in order on the shared store, with progress and
//! an ETA from the stage runs still to do. Finished cells are cache hits, so a sweep
//! interrupted at any point resumes where it stopped (a half-trained stage from its
//! last checkpoint).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::{Cell, Sweep};
use crate::engine::{self, Digests, Plan, RunOptions};
use crate::error::SweepError;
use crate::manifest::Manifest;
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::store::{ArtifactState, Store};

/// A stage run still to do: (stage, key). Cells share many, teachers above all.
type StageRun = (StageName, String);

/// What a stage run's duration depends on: the config values it reads, less the seed
/// (a sentence budget or another method changes the work; another seed does not).
fn work(view: &Value) -> String {
    let mut view = view.clone();
    if let Some(map) = view.as_object_mut() {
        map.remove("seed");
    }
    view.to_string()
}

/// A stage run still to do, with the first cell's target that needs it and its work.
struct Pending {
    target: String,
    work: String,
}

/// Guesses how long a stage run takes from runs already measured: runs of the same work
/// under another seed first, then this sweep's runs of the stage for the same target,
/// then the stage's artifacts in the store.
struct Estimator {
    same_work: BTreeMap<(StageName, String), Vec<f64>>,
    measured: BTreeMap<(String, StageName), Vec<f64>>,
    stored: BTreeMap<StageName, Vec<f64>>,
}

impl Estimator {
    fn new(store: &Store, stages: &[Box<dyn DynStage>]) -> Self {
        let mut estimator = Self { same_work: BTreeMap::new(), measured: BTreeMap::new(), stored: BTreeMap::new() };
        for stage in stages.iter().map(|s| s.name()) {
            for m in store.manifests(stage) {
                estimator.same_work.entry((stage, work(&m.config))).or_default().push(m.wall_time_s);
                estimator.stored.entry(stage).or_default().push(m.wall_time_s);
            }
        }
        estimator
    }

    fn record(&mut self, target: &str, stage: StageName, manifest: Manifest) {
        let seconds = manifest.wall_time_s;
        self.measured.entry((target.into(), stage)).or_default().push(seconds);
        self.same_work.entry((stage, work(&manifest.config))).or_default().push(seconds);
    }

    fn guess(&self, stage: StageName, pending: &Pending) -> Option<f64> {
        let mean = |v: &Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        self.same_work
            .get(&(stage, pending.work.clone()))
            .and_then(mean)
            .or_else(|| self.measured.get(&(pending.target.clone(), stage)).and_then(mean))
            .or_else(|| self.stored.get(&stage).and_then(mean))
    }
}

/// The needed stages of `plan` without a valid artifact, with their work and label.
fn stale_runs(plan: &Plan, store: &Store) -> Vec<(StageRun, String, String)> {
    plan.needed()
        .into_iter()
        .filter(|p| !matches!(store.state(p.name(), &p.key, false), ArtifactState::Valid(_)))
        .map(|p| ((p.name(), p.key.clone()), work(&p.view), p.label()))
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

/// The estimated time of `remaining`.
fn eta(remaining: &BTreeMap<StageRun, Pending>, estimator: &Estimator) -> String {
    let mut total = 0.0;
    let mut unknown = 0;
    for ((stage, _), pending) in remaining {
        match estimator.guess(*stage, pending) {
            Some(s) => total += s,
            None => unknown += 1,
        }
    }
    let extra = if unknown > 0 { format!(" + {unknown} stage run(s) never timed here") } else { String::new() };
    format!("about {}{extra}", duration(total))
}

/// Runs (or with `dry_run`, lists) every cell of the sweep, or only those of `seeds`.
pub fn run(
    sweep: &Sweep,
    store: &Store,
    stages: &[Box<dyn DynStage>],
    extra: &[String],
    seeds: &[u64],
    dry_run: bool,
) -> anyhow::Result<()> {
    let mut cells: Vec<Cell> = sweep.cells(extra)?;
    if let Some(missing) = seeds.iter().find(|s| !sweep.spec.seeds.contains(s)) {
        anyhow::bail!(
            "{}: seed {missing} is not one of the sweep's seeds {:?}",
            sweep.path.display(),
            sweep.spec.seeds
        );
    }
    cells.retain(|c| seeds.is_empty() || seeds.contains(&c.seed));
    // Every key before anything runs, each input file hashed once for the whole sweep.
    let mut digests = Digests::new();
    let plans =
        cells.iter().map(|c| Plan::with_digests(&c.config, stages, &mut digests)).collect::<Result<Vec<_>, _>>()?;
    let stale: Vec<Vec<(StageRun, String, String)>> = plans.iter().map(|p| stale_runs(p, store)).collect();
    let complete = stale.iter().filter(|s| s.is_empty()).count();
    // Each stage run falls to the first cell that needs it; later cells reuse its artifact.
    let mut remaining: BTreeMap<StageRun, Pending> = BTreeMap::new();
    let mut todos: Vec<Vec<(StageRun, String)>> = Vec::new();
    for (cell, runs) in cells.iter().zip(stale) {
        let mut todo = Vec::new();
        for (run, work, label) in runs {
            if !remaining.contains_key(&run) {
                remaining.insert(run.clone(), Pending { target: cell.target.clone(), work });
                todo.push((run, label));
            }
        }
        todos.push(todo);
    }
    let mut estimator = Estimator::new(store, stages);
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
        let names: Vec<&str> = todo.iter().map(|(_, label)| label.as_str()).collect();
        if dry_run {
            println!("{head}: would run {}", names.join(", "));
            continue;
        }
        println!("{head}: running {}", names.join(", "));
        let cell_started = Instant::now();
        engine::run(plan, store, &RunOptions::default())
            .map_err(|source| SweepError::Run { cell: cell.label(), source })?;
        for (run @ (stage, key), _) in &todo {
            remaining.remove(run);
            if let Ok(manifest) = Manifest::read(&store.artifact_dir(*stage, key)) {
                estimator.record(&cell.target, *stage, manifest);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_run_of_the_same_work_under_another_seed_predicts_best() {
        let view = |seed: u64, sentences: u64| json!({"seed": seed, "distill": {"max_sentences": sentences}});
        assert_eq!(work(&view(13, 0)), work(&view(14, 0)));
        assert_ne!(work(&view(13, 0)), work(&view(13, 4000)));

        let mut estimator =
            Estimator { same_work: BTreeMap::new(), measured: BTreeMap::new(), stored: BTreeMap::new() };
        estimator.stored.insert(StageName::Distill, vec![100.0, 300.0]);
        let whole_split = Pending { target: "es".into(), work: work(&view(14, 0)) };
        assert_eq!(estimator.guess(StageName::Distill, &whole_split), Some(200.0));
        estimator.measured.insert(("es".into(), StageName::Distill), vec![250.0]);
        assert_eq!(estimator.guess(StageName::Distill, &whole_split), Some(250.0));
        estimator.same_work.insert((StageName::Distill, work(&view(13, 0))), vec![500.0]);
        assert_eq!(estimator.guess(StageName::Distill, &whole_split), Some(500.0));
        assert_eq!(estimator.guess(StageName::Evaluate, &whole_split), None);
    }
}
