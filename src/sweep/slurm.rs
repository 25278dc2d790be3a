//! `sweep submit` and `sweep status`: a sweep's cells as Slurm jobs on a cluster whose
//! nodes share the store's file system. A cell is one job running `sweep run FILE --cell K`
//! (this binary, store and overrides); a cell that needs what another cell builds depends
//! on that cell's job (`afterok`), so the teachers' jobs come first. The job ids are kept
//! in `<store>/.slurm/<sweep>.json`: submitting again skips finished cells and cells whose
//! job is queued or running, and resubmits the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::carried::{Carried, CARRIED};
use super::schedule::{cell_log, job_overrides, names, Worklist};
use super::Sweep;
use crate::stage::DynStage;
use crate::store::Store;

const SLURM: &str = ".slurm";

/// What every job asks Slurm for.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// Wall-time limit in Slurm's format (`2:00:00`).
    pub time: Option<String>,
    /// CPUs per job; libtorch gets as many threads (unless the configs set `runtime.threads`).
    pub cpus_per_task: Option<usize>,
    pub gpus_per_task: Option<usize>,
    /// More `#SBATCH` lines, verbatim (`--account=x`, `--mem=16G`).
    pub sbatch: Vec<String>,
}

/// What `sweep submit` is asked to do.
pub struct SubmitRequest<'a> {
    pub extra: &'a [String],
    pub seeds: &'a [u64],
    /// Write the job scripts and say what would be submitted, without submitting.
    pub dry_run: bool,
    pub slurm: &'a SlurmOptions,
    /// Earlier reports' cells (`--carry`): not submitted.
    pub carried: &'a Carried,
}

/// The job of each submitted cell (by its number).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    jobs: BTreeMap<usize, String>,
}

impl Record {
    fn path(store: &Store, sweep: &Sweep) -> PathBuf {
        store.root().join(SLURM).join(format!("{}.json", sweep.spec.name))
    }

    fn read(store: &Store, sweep: &Sweep) -> anyhow::Result<Self> {
        let path = Self::path(store, sweep);
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = fs_err::read_to_string(&path)?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a record of Slurm jobs", path.display()))
    }

    fn write(&self, store: &Store, sweep: &Sweep) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        Ok(crate::atomic::write_file(&Self::path(store, sweep), text.as_bytes())?)
    }
}

/// Runs a Slurm command, its stdout as text; an error names the command and says what it printed.
fn slurm(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running Slurm's `{program}` (is Slurm installed and on PATH?)"))?;
    anyhow::ensure!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The state (PENDING, RUNNING, ...) of every job Slurm's queue holds.
fn queue() -> anyhow::Result<BTreeMap<String, String>> {
    let text = slurm("squeue", &["-h", "-o", "%i %T"])?;
    Ok(text.lines().filter_map(|l| l.split_once(' ')).map(|(id, state)| (id.into(), state.into())).collect())
}

/// How a job that left the queue ended, where Slurm keeps accounting (`sacct`).
fn ended(id: &str) -> Option<String> {
    let text = slurm("sacct", &["-n", "-X", "-P", "-o", "State", "-j", id]).ok()?;
    text.lines().next().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `s` quoted for sh.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The job script of cell `k`.
fn script(
    k: usize,
    sweep: &Sweep,
    store_root: &Path,
    log: &Path,
    sets: &[String],
    o: &SlurmOptions,
) -> anyhow::Result<String> {
    let exe = std::env::current_exe()?;
    let cwd = std::env::current_dir()?;
    let mut lines = vec!["#!/bin/sh".to_string(), format!("#SBATCH --job-name=mtmt-{}-{k}", sweep.spec.name)];
    lines.push(format!("#SBATCH --output={}", log.display()));
    let option = |name: &str, value: Option<String>| value.map(|v| format!("#SBATCH --{name}={v}"));
    lines.extend(option("partition", o.partition.clone()));
    lines.extend(option("time", o.time.clone()));
    lines.extend(option("cpus-per-task", o.cpus_per_task.map(|c| c.to_string())));
    lines.extend(option("gpus-per-task", o.gpus_per_task.map(|g| g.to_string())));
    lines.extend(o.sbatch.iter().map(|l| format!("#SBATCH {l}")));
    let mut command =
        vec![quoted(&exe.display().to_string()), "--store".into(), quoted(&store_root.display().to_string())];
    for set in sets {
        command.extend(["--set".into(), quoted(set)]);
    }
    command.extend([
        "sweep".into(),
        "run".into(),
        quoted(&sweep.path.display().to_string()),
        "--cell".into(),
        k.to_string(),
    ]);
    lines.push(format!("cd {}", quoted(&cwd.display().to_string())));
    lines.push(format!("exec {}", command.join(" ")));
    Ok(lines.join("\n") + "\n")
}

/// Submits every cell with something left to do whose job is not queued or running.
pub fn submit(sweep: &Sweep, store: &Store, stages: &[Box<dyn DynStage>], req: &SubmitRequest) -> anyhow::Result<()> {
    let s = Worklist::new(sweep, store, stages, req.extra, req.seeds, None, req.carried)?;
    let mut record = Record::read(store, sweep)?;
    let queued = if record.jobs.is_empty() || req.dry_run { BTreeMap::new() } else { queue()? };
    // Jobs run elsewhere: the store's path as every node sees it.
    let store_root = std::path::absolute(store.root())?;
    let scripts = store_root.join(SLURM).join(&sweep.spec.name);
    fs_err::create_dir_all(&scripts)?;
    // libtorch on the job's CPUs.
    let sets = job_overrides(req.extra, &s.cells, req.slurm.cpus_per_task);
    let n = s.cells.len();
    let mut job_of: Vec<Option<String>> = vec![None; n];
    let (mut submitted, mut kept) = (0, 0);
    for (i, (k, cell)) in s.cells.iter().enumerate() {
        let head = format!("[{}/{n}] {}", i + 1, cell.label());
        if s.todos[i].is_empty() {
            let built = if s.after[i].is_empty() { "up to date" } else { "built by other cells' jobs" };
            println!("{head}: {built}");
            continue;
        }
        if let Some((id, state)) = record.jobs.get(k).and_then(|id| Some((id, queued.get(id)?))) {
            println!("{head}: job {id} is {}", state.to_lowercase());
            job_of[i] = Some(id.clone());
            kept += 1;
            continue;
        }
        let mut deps: Vec<String> = s.after[i].iter().filter_map(|(_, by)| job_of[*by].clone()).collect();
        deps.sort();
        deps.dedup();
        let log = cell_log(&store_root, sweep, *k, cell);
        fs_err::create_dir_all(log.parent().expect("a log has a folder"))?;
        let path = scripts.join(format!("{k:03}.sh"));
        crate::atomic::write_file(&path, script(*k, sweep, &store_root, &log, &sets, req.slurm)?.as_bytes())?;
        let after = if deps.is_empty() { String::new() } else { format!(" after job(s) {}", deps.join(", ")) };
        if req.dry_run {
            println!("{head}: would submit {} ({}){after}", path.display(), names(&s.todos[i]));
            job_of[i] = Some(format!("<cell {k}>"));
            submitted += 1;
            continue;
        }
        let mut args = vec!["--parsable".to_string()];
        if !deps.is_empty() {
            args.push(format!("--dependency=afterok:{}", deps.join(":")));
            args.push("--kill-on-invalid-dep=yes".into());
        }
        args.push(path.display().to_string());
        let out = slurm("sbatch", &args.iter().map(String::as_str).collect::<Vec<_>>())?;
        // `--parsable` prints `id` or `id;cluster`.
        let id = out.trim().split(';').next().unwrap_or_default().to_string();
        anyhow::ensure!(!id.is_empty(), "sbatch {} printed no job id", path.display());
        println!("{head}: submitted as job {id}{after} ({}; log {})", names(&s.todos[i]), log.display());
        record.jobs.insert(*k, id.clone());
        record.write(store, sweep)?;
        job_of[i] = Some(id);
        submitted += 1;
    }
    let verb = if req.dry_run { "would submit" } else { "submitted" };
    println!(
        "sweep `{}`: {n} cells, {} complete; {verb} {submitted} job(s), {kept} already queued or running",
        sweep.spec.name, s.complete
    );
    Ok(())
}

/// Where each cell stands: done, queued, running, failed (its job ended without
/// finishing it), or not submitted.
pub fn status(
    sweep: &Sweep,
    store: &Store,
    stages: &[Box<dyn DynStage>],
    extra: &[String],
    seeds: &[u64],
    carried: &Carried,
) -> anyhow::Result<()> {
    let s = Worklist::new(sweep, store, stages, extra, seeds, None, carried)?;
    let record = Record::read(store, sweep)?;
    let queued = if record.jobs.is_empty() { BTreeMap::new() } else { queue()? };
    let n = s.cells.len();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (k, cell)) in s.cells.iter().enumerate() {
        let job = record.jobs.get(k);
        let (kind, text) = match (s.todos[i].is_empty() && s.after[i].is_empty(), job) {
            _ if s.carried[i] => ("carried", CARRIED.to_string()),
            (true, _) => ("done", "done".to_string()),
            (false, Some(id)) => match queued.get(id).map(String::as_str) {
                Some("PENDING") => ("queued", format!("queued (job {id})")),
                Some("RUNNING") => ("running", format!("running (job {id})")),
                Some(other) => ("queued", format!("{} (job {id})", other.to_lowercase())),
                None => {
                    let how = ended(id).map_or("ended".to_string(), |state| state.to_lowercase());
                    let log = cell_log(store.root(), sweep, *k, cell);
                    ("failed", format!("failed: job {id} {how} before the cell was done; its log: {}", log.display()))
                }
            },
            (false, None) if s.todos[i].is_empty() => ("waiting", "waits for other cells' stage runs".to_string()),
            (false, None) => ("not submitted", format!("not submitted ({} to do)", names(&s.todos[i]))),
        };
        *counts.entry(kind).or_default() += 1;
        println!("[{}/{n}] {}: {text}", i + 1, cell.label());
    }
    let summary: Vec<String> = counts.iter().map(|(kind, count)| format!("{count} {kind}")).collect();
    println!("sweep `{}`: {n} cells: {}", sweep.spec.name, summary.join(", "));
    Ok(())
}
