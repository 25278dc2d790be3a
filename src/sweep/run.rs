//! `sweep run`: executes a sweep's cells in order on the shared store, with progress and
//! an ETA from the stage runs still to do. Finished cells are cache hits, so a sweep
//! interrupted at any point resumes where it stopped (a half-trained stage from its
//! last checkpoint).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Instant;

use super::carried::{Carried, CARRIED};
use super::schedule::{cell_log, epochs, job_overrides, names, work, Pending, StageRun, Worklist};
use super::{Cell, Sweep};
use crate::engine::{self, RunOptions};
use crate::error::SweepError;
use crate::manifest::Manifest;
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::store::{ArtifactState, Store};
use crate::ui::duration;

/// Guesses how long a stage run takes from runs already measured: runs of the same work
/// under another seed first, then this sweep's runs of the stage for the same target,
/// then the stage's artifacts in the store; the last two per epoch, times the epochs of
/// the run to guess.
struct Estimator {
    same_work: BTreeMap<(StageName, String), Vec<f64>>,
    /// Seconds per epoch.
    measured: BTreeMap<(String, StageName), Vec<f64>>,
    /// Seconds per epoch.
    stored: BTreeMap<StageName, Vec<f64>>,
}

impl Estimator {
    fn new(store: &Store, stages: &[Box<dyn DynStage>]) -> Self {
        let mut estimator = Self { same_work: BTreeMap::new(), measured: BTreeMap::new(), stored: BTreeMap::new() };
        for stage in stages.iter().map(|s| s.name()) {
            for m in store.manifests(stage) {
                estimator.same_work.entry((stage, work(&m.config))).or_default().push(m.wall_time_s);
                estimator.stored.entry(stage).or_default().push(m.wall_time_s / epochs(&m.config));
            }
        }
        estimator
    }

    fn record(&mut self, target: &str, stage: StageName, manifest: Manifest) {
        let seconds = manifest.wall_time_s;
        self.measured.entry((target.into(), stage)).or_default().push(seconds / epochs(&manifest.config));
        self.same_work.entry((stage, work(&manifest.config))).or_default().push(seconds);
    }

    fn guess(&self, stage: StageName, pending: &Pending) -> Option<f64> {
        let mean = |v: &Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let epochs = serde_json::from_str(&pending.work).map_or(1.0, |view| epochs(&view));
        self.same_work.get(&(stage, pending.work.clone())).and_then(mean).or_else(|| {
            let per_epoch = self.measured.get(&(pending.target.clone(), stage)).and_then(mean);
            per_epoch.or_else(|| self.stored.get(&stage).and_then(mean)).map(|s| s * epochs)
        })
    }
}

/// What `sweep run` is asked to do.
pub struct RunRequest<'a> {
    /// The command line's `--set` overrides, applied to every cell.
    pub extra: &'a [String],
    /// Only the cells of these seeds (all when empty).
    pub seeds: &'a [u64],
    /// List what each cell would run, without running.
    pub dry_run: bool,
    /// Cells run at once, each in a process of its own (1: in this process).
    pub jobs: usize,
    /// Only this cell (1-based, among all the sweep's cells): what a job runs.
    pub cell: Option<usize>,
    /// GPUs the jobs split between them (job k sees `gpus[k % len]` alone); all share
    /// every device when empty.
    pub gpus: &'a [String],
    /// Earlier reports' cells: a cell with a row of its evaluate key is not run.
    pub carried: &'a Carried,
}

/// Runs (or with `dry_run`, lists) every cell of the sweep, or only those asked for.
pub fn run(sweep: &Sweep, store: &Store, stages: &[Box<dyn DynStage>], req: &RunRequest) -> anyhow::Result<()> {
    let mut w = Worklist::new(sweep, store, stages, req.extra, req.seeds, req.cell, req.carried)?;
    let mut progress = Progress {
        remaining: std::mem::take(&mut w.remaining),
        estimator: Estimator::new(store, stages),
        jobs: req.jobs.max(1),
        own_devices: !req.gpus.is_empty() && req.gpus.len() >= req.jobs,
    };
    let n_carried = w.carried.iter().filter(|&&c| c).count();
    println!(
        "sweep `{}`{}: {} cells, {} complete{}; {} stage run(s) to do, {}",
        sweep.spec.name,
        if req.seeds.is_empty() { String::new() } else { format!(" (seeds {:?})", req.seeds) },
        w.cells.len(),
        w.complete,
        if n_carried > 0 { format!(" ({n_carried} carried)") } else { String::new() },
        progress.remaining.len(),
        progress.eta()
    );
    if req.dry_run {
        for (i, todo) in w.todos.iter().enumerate() {
            match todo.is_empty() {
                true => println!("{}", w.settled(i)),
                false => println!("{}: would run {}", w.head(i), w.names(i)),
            }
        }
        if !progress.remaining.is_empty() {
            println!("by stage: {}", progress.by_stage());
        }
        return Ok(());
    }
    match progress.jobs {
        1 => run_serial(&w, store, &mut progress),
        _ => run_jobs(sweep, store, req, &w, &mut progress),
    }
}

impl Worklist<'_> {
    /// How cell `i` is named in the sweep's output: `[k/n] target / method / seed`.
    fn head(&self, i: usize) -> String {
        format!("[{}/{}] {}", i + 1, self.cells.len(), self.cells[i].1.label())
    }

    /// What a cell with nothing to run says.
    fn settled(&self, i: usize) -> String {
        match self.carried[i] {
            true => format!("{}: {CARRIED}, not run", self.head(i)),
            false => format!("{}: up to date", self.head(i)),
        }
    }

    fn names(&self, i: usize) -> String {
        names(&self.todos[i])
    }
}

/// One cell after another, in this process.
fn run_serial(w: &Worklist, store: &Store, progress: &mut Progress) -> anyhow::Result<()> {
    let started = Instant::now();
    for (i, ((_, cell), plan)) in w.cells.iter().zip(&w.plans).enumerate() {
        if w.todos[i].is_empty() {
            println!("{}", w.settled(i));
            continue;
        }
        println!("{}: running {}", w.head(i), w.names(i));
        let cell_started = Instant::now();
        engine::run(plan, store, &RunOptions::default())
            .map_err(|source| SweepError::Run { cell: cell.label(), source })?;
        let done = progress.done(store, &cell.target, &w.todos[i]);
        println!("{}: done in {}; {done} (elapsed {})", w.head(i), since(cell_started), since(started));
    }
    Ok(())
}

/// Several jobs: a cell starts once what other cells build for it is built (the text and
/// a teacher of its seed, say, while that cell goes on), in a process of its own (its own
/// libtorch threads and RNG), its output in a log file.
fn run_jobs(
    sweep: &Sweep,
    store: &Store,
    req: &RunRequest,
    w: &Worklist,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let (cells, n) = (&w.cells, w.cells.len());
    let started = Instant::now();
    let jobs = Jobs::new(sweep, store, req, cells)?;
    let mut slots: Vec<Option<(usize, Child, Instant)>> = (0..progress.jobs).map(|_| None).collect();
    let mut state = vec![CellState::Waiting; n];
    let mut built: BTreeSet<StageRun> = BTreeSet::new();
    let mut failed: Option<SweepError> = None;
    loop {
        for (slot, running) in slots.iter_mut().enumerate() {
            if let Some((i, child, cell_started)) = running {
                let Some(status) = child.try_wait()? else { continue };
                let i = *i;
                if status.success() {
                    state[i] = CellState::Done;
                    let done = progress.done(store, &cells[i].1.target, &w.todos[i]);
                    println!("{}: done in {}; {done} (elapsed {})", w.head(i), since(*cell_started), since(started));
                } else {
                    state[i] = CellState::Failed;
                    let log = cell_log(store.root(), sweep, cells[i].0, &cells[i].1);
                    println!("{}: failed ({status}); its log: {}", w.head(i), log.display());
                    failed.get_or_insert(SweepError::Job { cell: cells[i].1.label(), status: status.to_string(), log });
                }
                *running = None;
            }
            if running.is_some() || failed.is_some() {
                continue;
            }
            // The first waiting cell whose inputs from other cells are built.
            while let Some(i) =
                (0..n).find(|&i| state[i] == CellState::Waiting && inputs_built(&w.after[i], &state, &mut built, store))
            {
                if w.todos[i].is_empty() {
                    state[i] = CellState::Done;
                    println!("{}", w.settled(i));
                    continue;
                }
                let log = cell_log(store.root(), sweep, cells[i].0, &cells[i].1);
                println!("{}: running {} (job {}, log {})", w.head(i), w.names(i), slot + 1, log.display());
                *running = Some((i, jobs.spawn(cells[i].0, slot, &log)?, Instant::now()));
                state[i] = CellState::Running;
                break;
            }
        }
        if slots.iter().all(Option::is_none) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    let blocked: Vec<String> = (0..n).filter(|&i| state[i] != CellState::Done).map(|i| cells[i].1.label()).collect();
    anyhow::ensure!(blocked.is_empty(), "cells not run (a cell they need failed): {}", blocked.join(", "));
    Ok(())
}

/// Whether the stage runs `after` (each with the cell that builds it) are built: its cell
/// is done, or running and has published it (remembered in `built`).
fn inputs_built(
    after: &[(StageRun, usize)],
    state: &[CellState],
    built: &mut BTreeSet<StageRun>,
    store: &Store,
) -> bool {
    after.iter().all(|(run @ (stage, key), by)| {
        built.contains(run)
            || state[*by] == CellState::Done
            || (state[*by] == CellState::Running
                && matches!(store.state(*stage, key, false), ArtifactState::Valid(_))
                && built.insert(run.clone()))
    })
}

/// The wall time since `t`, for people.
fn since(t: Instant) -> String {
    duration(t.elapsed().as_secs_f64())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CellState {
    Waiting,
    Running,
    Done,
    Failed,
}

/// The stage runs left, what they are expected to take, and over how many jobs.
struct Progress {
    remaining: BTreeMap<StageRun, Pending>,
    estimator: Estimator,
    jobs: usize,
    /// Whether each job has a GPU of its own. Otherwise the jobs share the cores that the
    /// stored times were measured with, so they divide the wall time by anything from 1 to
    /// `jobs` (benches/parallel.sh: 1.16 for 2 jobs on 2 cores).
    own_devices: bool,
}

impl Progress {
    /// Records the finished stage runs `todo` of a cell of `target`; says what is left.
    fn done(&mut self, store: &Store, target: &str, todo: &[(StageRun, String)]) -> String {
        for (run @ (stage, key), _) in todo {
            self.remaining.remove(run);
            if let Ok(manifest) = Manifest::read(&store.artifact_dir(*stage, key)) {
                self.estimator.record(target, *stage, manifest);
            }
        }
        format!("{} stage run(s) left, {}", self.remaining.len(), self.eta())
    }

    /// Per stage, the runs left, the estimated seconds of those timed here, and how many
    /// were never timed.
    fn estimates(&self) -> BTreeMap<StageName, (usize, f64, usize)> {
        let mut stages: BTreeMap<StageName, (usize, f64, usize)> = BTreeMap::new();
        for ((stage, _), pending) in &self.remaining {
            let entry = stages.entry(*stage).or_default();
            entry.0 += 1;
            match self.estimator.guess(*stage, pending) {
                Some(s) => entry.1 += s,
                None => entry.2 += 1,
            }
        }
        stages
    }

    /// Where the work left goes, costliest stage first: its estimated time and runs, then
    /// the stages never timed here.
    fn by_stage(&self) -> String {
        let mut rows: Vec<(StageName, (usize, f64, usize))> = self.estimates().into_iter().collect();
        rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1).then(a.0.cmp(&b.0)));
        let parts: Vec<String> = rows
            .iter()
            .map(|(stage, (runs, secs, untimed))| match (untimed, runs) {
                (0, _) => format!("{stage} {} ({runs})", duration(*secs)),
                (u, r) if u == r => format!("{stage} untimed ({runs})"),
                (u, _) => format!("{stage} {} ({runs}, {u} untimed)", duration(*secs)),
            })
            .collect();
        parts.join(", ")
    }

    /// The estimated time of what is left: its work, spread over the jobs (a range where
    /// they share the cores).
    fn eta(&self) -> String {
        let (total, unknown) = self
            .estimates()
            .values()
            .fold((0.0, 0), |(total, unknown), (_, secs, untimed)| (total + secs, unknown + untimed));
        if total == 0.0 && unknown > 0 {
            // A new store: nothing to estimate from.
            return format!("no estimate ({unknown} stage run(s) never timed here)");
        }
        let extra = if unknown > 0 { format!(" + {unknown} stage run(s) never timed here") } else { String::new() };
        let (jobs, spread) = (self.jobs, duration(total / self.jobs as f64));
        match (jobs, self.own_devices) {
            (1, _) => format!("about {}{extra}", duration(total)),
            (_, true) => {
                format!("about {spread} with {jobs} jobs on their own GPUs ({} of work){extra}", duration(total))
            }
            (_, false) => {
                format!(
                    "about {spread} to {} with {jobs} jobs sharing the cores its stages were timed on{extra}",
                    duration(total)
                )
            }
        }
    }
}

/// How a job runs a cell: this binary on the same sweep, store and overrides, `--cell K`,
/// with the machine's cores shared between the jobs.
struct Jobs {
    exe: PathBuf,
    args: Vec<String>,
    gpus: Vec<String>,
}

impl Jobs {
    fn new(sweep: &Sweep, store: &Store, req: &RunRequest, cells: &[(usize, Cell)]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut args: Vec<String> = vec!["--store".into(), store.root().display().to_string()];
        // The cores split between the jobs.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for set in job_overrides(req.extra, cells, Some((cores / req.jobs).max(1))) {
            args.extend(["--set".into(), set]);
        }
        args.extend(["sweep".into(), "run".into(), sweep.path.display().to_string()]);
        Ok(Self { exe, args, gpus: req.gpus.to_vec() })
    }

    /// Starts the cell numbered `k` in job slot `slot`, its output into `log`.
    fn spawn(&self, k: usize, slot: usize, log: &Path) -> anyhow::Result<Child> {
        fs_err::create_dir_all(log.parent().expect("a log has a folder"))?;
        let out = fs_err::File::create(log)?;
        let mut command = std::process::Command::new(&self.exe);
        command.args(&self.args).args(["--cell", &k.to_string()]);
        command.stdin(Stdio::null()).stdout(out.file().try_clone()?).stderr(out.into_parts().0);
        if !self.gpus.is_empty() {
            command.env("CUDA_VISIBLE_DEVICES", &self.gpus[slot % self.gpus.len()]);
        }
        command.spawn().map_err(|e| anyhow::anyhow!("starting {}: {e}", self.exe.display()))
    }
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

        // Another epoch count: the per-epoch times, scaled.
        let three = json!({"seed": 13, "distill": {"max_sentences": 0, "epochs": 3}});
        assert_eq!(epochs(&three), 3.0);
        assert_eq!(epochs(&view(13, 0)), 1.0);
        let three_epochs = Pending { target: "es".into(), work: work(&three) };
        assert_eq!(estimator.guess(StageName::Distill, &three_epochs), Some(750.0));
    }
}
