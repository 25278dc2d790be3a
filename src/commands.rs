//! Carries out each CLI command on top of the config, the engine and the store.

use std::process::ExitCode;

use crate::cli::{BenchWhat, Cli, Command, RunWhat, SweepWhat};
use crate::config::ResolvedConfig;
use crate::engine::{self, Plan, RunOptions};
use crate::stage::DynStage;
use crate::stage_name::StageName;
use crate::stages::registry;
use crate::store::Store;
use crate::sweep::carried::Carried;

pub fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::ui::set_verbosity(cli.global.verbose as i8 - cli.global.quiet as i8);
    let store = Store::new(&cli.global.store);
    let load = || ResolvedConfig::load(&cli.global.config, &cli.global.overrides);
    let stages = registry();
    match cli.command {
        Command::Run { what, verify } => run(&Plan::new(&load()?, &stages)?, &store, what, verify)?,
        Command::Status { json, verify } => status(&Plan::new(&load()?, &stages)?, &store, json, verify)?,
        Command::Dag => dag(&Plan::new(&load()?, &stages)?),
        Command::Inspect(args) => crate::inspect::inspect(&args, &store, &stages, load)?,
        Command::Gc { dry_run } => gc(&Plan::new(&load()?, &stages)?, &store, dry_run)?,
        Command::Config { json } => {
            let cfg = load()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&cfg.json)?);
            } else {
                print!("{}", cfg.to_toml());
            }
        }
        Command::Doctor => doctor()?,
        Command::Neighbours { out } => crate::neighbours::neighbours(&load()?, &store, &stages, out.as_deref())?,
        Command::Curves { stages: only, out } => crate::curves::curves(&load()?, &store, &stages, &only, &out)?,
        Command::Export { model, out } => crate::export::export(&model, &out, &load()?, &store, &stages)?,
        Command::Predict { inputs, model, input, output, probs, bf16 } => {
            let cfg = load()?;
            let opts = crate::predict::PredictOptions { inputs, model, input, output, probs, bf16 };
            crate::predict::predict(&opts, &cfg, &store, &stages)?
        }
        Command::Conlleval { file } => print!("{}", crate::eval::conlleval::score_file(&file)?.render()),
        Command::ConvertEncoder { src, out_dir } => {
            let h = crate::e5s1::convert(&src, &out_dir)?;
            println!(
                "converted {} -> {}/model.safetensors ({} layers, hidden {}, vocab {})",
                src.display(),
                out_dir.display(),
                h.layers,
                h.hidden,
                h.vocab
            );
        }
        Command::Sweep { what } => sweep(what, &cli.global.overrides, &store, &stages)?,
        Command::Bench { what: BenchWhat::Data } => crate::bench::data(&load()?)?,
        Command::Bench { what: BenchWhat::Train { steps, python, no_compare, perf_control } } => {
            let perf = match perf_control.as_deref() {
                Some([ctl, ack]) => Some(crate::bench::PerfControl::open(ctl, ack)?),
                _ => None,
            };
            crate::bench::train(&load()?, steps, (!no_compare).then_some(python.as_path()), perf)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `run all` / `run stage`: what is stale, built; then the evaluation table when evaluate ran.
fn run(plan: &Plan, store: &Store, what: RunWhat, verify: bool) -> anyhow::Result<()> {
    let opts = match what {
        RunWhat::All => RunOptions { target: None, force: false, verify },
        RunWhat::Stage { name, force } => RunOptions { target: Some(name), force, verify },
    };
    let report = engine::run(plan, store, &opts)?;
    if report.ran.is_empty() {
        println!("nothing to do: all {} stages are up to date", report.reused.len());
    } else {
        let ran: Vec<&str> = report.ran.iter().map(String::as_str).collect();
        println!("ran {} stage(s): {}; reused {} up-to-date stage(s)", ran.len(), ran.join(", "), report.reused.len());
    }
    let evaluated = opts.target.is_none_or(|t| t == StageName::Evaluate);
    if evaluated && plan.needed().iter().any(|p| p.name() == StageName::Evaluate) {
        print_evaluation(plan, store)?;
    }
    Ok(())
}

/// `status`: each stage fresh or stale, why, and its health warnings.
fn status(plan: &Plan, store: &Store, json: bool, verify: bool) -> anyhow::Result<()> {
    let statuses = engine::status(plan, store, verify);
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
    } else {
        for s in &statuses {
            let state = if s.fresh { "fresh" } else { "stale" };
            let name = s.variant.as_ref().map_or_else(|| s.stage.to_string(), |v| format!("{}@{v}", s.stage));
            println!("{name:<16} {state:<6} {}  {}", s.key, s.reasons.join("; "));
            for warning in &s.warnings {
                println!("    warning: {warning}");
            }
        }
    }
    Ok(())
}

/// Dotted keys with their sections gathered, in order: `seed, teacher_ner.{epochs, lr}`.
fn sections(keys: &[String]) -> Vec<String> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for key in keys {
        let (section, rest) = key.split_once('.').unwrap_or((key, ""));
        match out.last_mut() {
            Some((last, fields)) if *last == section && !rest.is_empty() => fields.push(rest),
            _ => out.push((section.to_string(), if rest.is_empty() { vec![] } else { vec![rest] })),
        }
    }
    out.into_iter()
        .map(|(section, fields)| match fields.as_slice() {
            [] => section,
            [one] => format!("{section}.{one}"),
            _ => format!("{section}.{{{}}}", fields.join(", ")),
        })
        .collect()
}

/// `dag`: the stages, their inputs, the config keys and files they read, their outputs.
fn dag(plan: &Plan) {
    let needed: Vec<_> = plan.needed().iter().map(|p| (p.name(), p.key.clone())).collect();
    let list = |items: &[&str]| if items.is_empty() { "(none)".to_string() } else { items.join(", ") };
    for p in &plan.stages {
        let stage = p.stage;
        let unused = if needed.contains(&(p.name(), p.key.clone())) { "" } else { " [not needed by this config]" };
        println!("{} (v{}): {}{unused}", p.label(), stage.version(), stage.description());
        let upstream: Vec<String> = p.upstream.iter().map(|u| u.name()).collect();
        println!("  inputs:  {}", list(&upstream.iter().map(String::as_str).collect::<Vec<_>>()));
        let reads = sections(&stage.reads_under(plan.method));
        println!("  reads:   {}", list(&reads.iter().map(String::as_str).collect::<Vec<_>>()));
        println!("  files:   {}", list(stage.files()));
        println!("  outputs: {}", list(stage.outputs()));
    }
}

/// `gc`: deletes what the current config cannot reach and no running run holds.
fn gc(plan: &Plan, store: &Store, dry_run: bool) -> anyhow::Result<()> {
    store.check_is_store()?;
    // Exclusive: no run registers while gc decides; running ones keep what they need.
    let lock = store.lock()?;
    let running = store.live_artifacts(&lock)?;
    let dead = engine::unreachable(plan, store, &running)?;
    let total: u64 = dead.iter().map(|d| d.3).sum();
    for (stage, key, path, bytes) in &dead {
        println!("{} {stage}/{key} ({bytes} bytes)", if dry_run { "would delete" } else { "deleting" });
        if !dry_run {
            fs_err::remove_dir_all(path)?;
            // An artifact's lock goes with it (scratch folders have none).
            if let Some(stage) = crate::stage_name::StageName::parse(stage) {
                store.remove_artifact_lock(stage, key, &lock)?;
            }
        }
    }
    let verb = if dry_run { "would free" } else { "freed" };
    println!("{verb} {total} bytes ({:.1} MiB) in {} artifact(s)", total as f64 / 1048576.0, dead.len());
    Ok(())
}

/// `sweep run|submit|status|report`.
fn sweep(what: SweepWhat, overrides: &[String], store: &Store, stages: &[Box<dyn DynStage>]) -> anyhow::Result<()> {
    match what {
        SweepWhat::Run { file, dry_run, seeds, jobs, gpus, cell, carry } => {
            let sweep = crate::sweep::Sweep::load(&file)?;
            let req = crate::sweep::run::RunRequest {
                extra: overrides,
                seeds: &seeds,
                dry_run,
                jobs,
                cell,
                gpus: &gpus,
                carried: &Carried::read(&carry.runs)?,
            };
            crate::sweep::run::run(&sweep, store, stages, &req)?
        }
        SweepWhat::Submit { file, seeds, dry_run, partition, time, cpus_per_task, gpus_per_task, sbatch, carry } => {
            let sweep = crate::sweep::Sweep::load(&file)?;
            let slurm = crate::sweep::slurm::SlurmOptions { partition, time, cpus_per_task, gpus_per_task, sbatch };
            let req = crate::sweep::slurm::SubmitRequest {
                extra: overrides,
                seeds: &seeds,
                dry_run,
                slurm: &slurm,
                carried: &Carried::read(&carry.runs)?,
            };
            crate::sweep::slurm::submit(&sweep, store, stages, &req)?
        }
        SweepWhat::Status { file, seeds, carry } => {
            let sweep = crate::sweep::Sweep::load(&file)?;
            let carried = Carried::read(&carry.runs)?;
            crate::sweep::slurm::status(&sweep, store, stages, overrides, &seeds, &carried)?
        }
        SweepWhat::Report { files, out, notes, carry } => {
            let sweeps = files.iter().map(|f| crate::sweep::Sweep::load(f)).collect::<Result<Vec<_>, _>>()?;
            let args = std::iter::once("mtmt-pipe".to_string()).chain(std::env::args().skip(1));
            let command = data_root_prefix().into_iter().chain(args).collect::<Vec<_>>().join(" ");
            let request = crate::sweep::report::ReportRequest {
                sweeps: &sweeps,
                out_dir: &out,
                notes: notes.as_deref(),
                command,
                // Read before the report is written: `--carry` may name the runs.parquet it replaces.
                carried: &Carried::read(&carry.runs)?,
            };
            crate::sweep::report::report(&request, store, stages, overrides)?
        }
    }
    Ok(())
}

/// `MTMT_DATA=...` as the report's reader should type it: relative to the working directory
/// (`$PWD/../shared/data`) when the data lies beside it, since an absolute path names only
/// this machine.
fn data_root_prefix() -> Option<String> {
    let root = std::path::PathBuf::from(std::env::var_os("MTMT_DATA")?);
    let cwd = std::env::current_dir().ok()?;
    let root = if root.is_relative() { cwd.join(root) } else { root };
    let shared: std::path::PathBuf =
        cwd.components().zip(root.components()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect();
    if shared.components().count() <= 1 {
        return Some(format!("MTMT_DATA={}", root.display()));
    }
    let ups = cwd.components().count() - shared.components().count();
    let rest = root.strip_prefix(&shared).ok()?;
    let relative =
        std::iter::repeat_n("..", ups).map(String::from).chain(rest.iter().map(|c| c.to_string_lossy().into_owned()));
    Some(format!("MTMT_DATA=$PWD/{}", relative.collect::<Vec<_>>().join("/")))
}

/// Proves libtorch loads and computes, and says what hardware it sees.
fn doctor() -> anyhow::Result<()> {
    use tch::{Device, Kind, Tensor};
    println!("mtmt-pipe {}", env!("CARGO_PKG_VERSION"));
    let product = |device: Device| -> anyhow::Result<()> {
        let a = Tensor::ones([2, 3], (Kind::Float, device));
        let sum = a.matmul(&a.transpose(0, 1)).sum(Kind::Float).double_value(&[]);
        anyhow::ensure!(sum == 12.0, "libtorch computed {sum} for a known product on {device:?} (expected 12)");
        Ok(())
    };
    product(Device::Cpu)?;
    println!("libtorch: ok (CPU threads {})", tch::get_num_threads());
    println!("cuda: {} ({} device(s))", tch::Cuda::is_available(), tch::Cuda::device_count());
    if tch::Cuda::is_available() {
        product(Device::Cuda(0))?;
        println!("cuda: the known product computes on device 0");
    }
    Ok(())
}

/// The end of a run that evaluated: the report's table, its warnings, and where it lies.
fn print_evaluation(plan: &Plan, store: &Store) -> anyhow::Result<()> {
    let dir = store.artifact_dir(StageName::Evaluate, &plan.get(StageName::Evaluate).key);
    let path = dir.join(crate::files::REPORT);
    let report = fs_err::read_to_string(&path)?;
    println!();
    // The heading names the run; the rest is the table, the tag map and the warnings.
    for line in report.lines().skip_while(|l| !l.starts_with('|')) {
        println!("{line}");
    }
    println!("\nreport: {}", path.display());
    Ok(())
}
