//! What a sweep has left to do, however it is carried out (`sweep run` here, in jobs, or
//! `sweep submit` on Slurm): the cells asked for, each one's plan, the stage runs each
//! builds (a stage run falls to the first cell that needs it) and those it takes from
//! earlier cells.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::carried::Carried;
use super::{Cell, Sweep};
use crate::engine::{Digests, Plan};
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::store::{ArtifactState, Store};

/// Where jobs (local or Slurm) write their output: `<store>/.logs/<sweep>/`.
const LOGS: &str = ".logs";

/// A stage run: (stage, key). Cells share many, teachers above all.
pub type StageRun = (StageName, String);

/// What a stage run's duration depends on: the config values it reads, less the seed
/// (a sentence budget or another method changes the work; another seed does not).
pub fn work(view: &Value) -> String {
    let mut view = view.clone();
    if let Some(map) = view.as_object_mut() {
        map.remove("seed");
    }
    view.to_string()
}

/// The epochs a stage run trains for: the `epochs` of its view's one training section
/// (1 for a stage that trains nothing), by which a run's time scales.
pub fn epochs(view: &Value) -> f64 {
    let found: Vec<f64> = view
        .as_object()
        .into_iter()
        .flat_map(|sections| sections.values())
        .filter_map(|section| section.get("epochs")?.as_f64())
        .collect();
    match found[..] {
        [one] if one > 0.0 => one,
        _ => 1.0,
    }
}

/// A stage run still to do, with the first cell's target that needs it and its work.
pub struct Pending {
    pub target: String,
    pub work: String,
}

/// The cells asked for and what each has left to do.
pub struct Worklist<'a> {
    /// (1-based number among all the sweep's cells, cell), in run order.
    pub cells: Vec<(usize, Cell)>,
    pub plans: Vec<Plan<'a>>,
    /// Per cell, the stage runs it builds, with their labels.
    pub todos: Vec<Vec<(StageRun, String)>>,
    /// Per cell, the stage runs it needs that an earlier cell builds, with that cell.
    pub after: Vec<Vec<(StageRun, usize)>>,
    /// Every stage run left.
    pub remaining: BTreeMap<StageRun, Pending>,
    /// Cells with nothing left (carried ones included).
    pub complete: usize,
    /// Per cell, whether an earlier report's row stands in for it (`Carried`): nothing
    /// of it is run.
    pub carried: Vec<bool>,
}

impl<'a> Worklist<'a> {
    /// The sweep's cells (only those of `seeds` when given, only cell number `cell` when
    /// given), planned with every key computed before anything runs; `carried` cells have
    /// nothing left.
    pub fn new(
        sweep: &Sweep,
        store: &Store,
        stages: &'a [Box<dyn DynStage>],
        extra: &[String],
        seeds: &[u64],
        cell: Option<usize>,
        carried: &Carried,
    ) -> anyhow::Result<Self> {
        let all: Vec<Cell> = sweep.cells(extra)?;
        if let Some(missing) = seeds.iter().find(|s| !sweep.spec.seeds.contains(s)) {
            anyhow::bail!(
                "{}: seed {missing} is not one of the sweep's seeds {:?}",
                sweep.path.display(),
                sweep.spec.seeds
            );
        }
        if let Some(k) = cell {
            anyhow::ensure!(
                (1..=all.len()).contains(&k),
                "{}: no cell {k} (it has {})",
                sweep.path.display(),
                all.len()
            );
        }
        let cells: Vec<(usize, Cell)> = all
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i + 1, c))
            .filter(|(i, c)| (seeds.is_empty() || seeds.contains(&c.seed)) && cell.is_none_or(|k| k == *i))
            .collect();
        // Each input file hashed once for the whole sweep.
        let mut digests = Digests::new();
        let plans = cells
            .iter()
            .map(|(_, c)| Plan::with_digests(&c.config, stages, &mut digests))
            .collect::<Result<Vec<_>, _>>()?;
        let carried: Vec<bool> = plans.iter().map(|p| carried.has(&p.get(StageName::Evaluate).key)).collect();
        let stale: Vec<Vec<(StageRun, String, String)>> = plans
            .iter()
            .zip(&carried)
            .map(|(p, &carried)| if carried { Vec::new() } else { stale_runs(p, store) })
            .collect();
        let complete = stale.iter().filter(|s| s.is_empty()).count();
        let mut remaining: BTreeMap<StageRun, Pending> = BTreeMap::new();
        let mut owner: BTreeMap<StageRun, usize> = BTreeMap::new();
        let (mut todos, mut after) = (Vec::new(), Vec::new());
        for (i, ((_, cell), runs)) in cells.iter().zip(stale).enumerate() {
            let (mut todo, mut deps) = (Vec::new(), Vec::new());
            for (run, work, label) in runs {
                match owner.get(&run) {
                    Some(&first) => deps.push((run, first)),
                    None => {
                        owner.insert(run.clone(), i);
                        remaining.insert(run.clone(), Pending { target: cell.target.clone(), work });
                        todo.push((run, label));
                    }
                }
            }
            todos.push(todo);
            after.push(deps);
        }
        Ok(Self { cells, plans, todos, after, remaining, complete, carried })
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

/// The labels of stage runs, for people.
pub fn names(todo: &[(StageRun, String)]) -> String {
    todo.iter().map(|(_, label)| label.as_str()).collect::<Vec<_>>().join(", ")
}

/// The log file of the cell numbered `k` when a job runs it, in the store at `root`.
pub fn cell_log(root: &Path, sweep: &Sweep, k: usize, cell: &Cell) -> PathBuf {
    let name = format!("{k:03}-{}-{}-seed{}.log", cell.target, cell.method, cell.seed);
    root.join(LOGS).join(&sweep.spec.name).join(name)
}

/// The `--set` overrides of a job's process (local or Slurm): the command line's, then
/// `threads` libtorch threads where given and the cells' configs leave `runtime.threads`
/// at 0 (runtime settings are in no key).
pub fn job_overrides(extra: &[String], cells: &[(usize, Cell)], threads: Option<usize>) -> Vec<String> {
    let mut sets = extra.to_vec();
    if let Some(threads) = threads.filter(|_| cells.iter().all(|(_, c)| c.config.config.runtime.threads == 0)) {
        sets.push(format!("runtime.threads={threads}"));
    }
    sets
}
