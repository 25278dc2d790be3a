//! What a pipeline stage is: a name and version, the upstream stages and config
//! keys it reads (which make its cache key), the files it writes, and `run`.
//! A stage sees only the config values it declares, so an undeclared value can
//! neither change its output nor be missing from its key. It declares them once: the
//! keys are its `Params`' fields (`param_keys`).

mod param_keys;

pub use param_keys::param_keys;

use std::any::Any;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::method_name::Method;
use crate::settings::{ConfigValues, RuntimeConfig};
use crate::stage_name::StageName;
use crate::variant::Variant;

/// What a stage is, apart from running: its name and version, the upstream stages, the
/// files it writes, and, besides its parameters' keys (`Stage::Params`), which config
/// keys name input files and which others it reads under some methods only.
pub trait StageSpec: Sync {
    fn name(&self) -> StageName;
    /// Bumped whenever the stage's code changes what it writes; part of the key.
    fn version(&self) -> u32;
    fn description(&self) -> &'static str;
    /// Upstream stages whose artifacts this one reads. Only the method shapes the graph;
    /// it reaches the key through those inputs' keys.
    fn inputs(&self, method: Method) -> Vec<StageName>;
    /// Of its parameters' keys, whether the stage reads `key`: a stage planned once per
    /// side (ingest, tokenize) has both sides' fields and reads its own side's.
    fn reads_key(&self, _key: &str) -> bool {
        true
    }
    /// More config keys the stage reads under `method` only (a method's own settings), so
    /// that they key this stage for that method and no other.
    fn method_reads(&self, _method: Method) -> Vec<String> {
        Vec::new()
    }
    /// Keys of `reads_under` that change nothing for these input files (config key, path),
    /// given the view of every key read: left out of the view, and so of the key. A
    /// setting that matters only for some kinds of file (plain text) keys only the
    /// artifacts made from such files.
    fn idle_reads(&self, _view: &Value, _files: &[(&str, &Path)]) -> Vec<&'static str> {
        vec![]
    }
    /// Artifacts of stages planned under variants of the config (another seed, another
    /// source language) that the stage reads besides `inputs`, in the order it wants them.
    fn variant_inputs(&self, _cfg: ConfigValues) -> Vec<(StageName, Variant)> {
        vec![]
    }
    /// Config keys naming data files outside the store; their content, not their path, enters the key.
    fn files(&self) -> &'static [&'static str] {
        &[]
    }
    /// The files the stage may write (a stage may skip optional ones).
    fn outputs(&self) -> &'static [&'static str];
}

/// A stage with its typed parameters, deserialized from its config view (its `reads` and
/// `files`) when the plan is made, so a bad value stops every command before anything runs.
pub trait Stage: StageSpec {
    /// The config values the stage reads: each field is a config key (a struct field a
    /// section, read key by key), so these fields are the stage's key material.
    type Params: DeserializeOwned + Send + Sync + 'static;
    fn run(&self, params: &Self::Params, ctx: &mut StageContext) -> anyhow::Result<()>;
}

/// A stage's parameters, parsed at plan time, for the registry's type-erased stages.
pub struct Params(Box<dyn Any + Send + Sync>);

/// A `Stage` behind a pointer: the registry holds stages of different parameter types.
pub trait DynStage: StageSpec {
    /// Config keys (dotted) whose values the stage reads: its parameters' keys, but the
    /// input files' (`files`) and the other side's.
    fn reads(&self) -> Vec<String>;
    /// Every config key the stage reads under `method` (`reads`, then `method_reads`):
    /// what its view, and so its key, is made of.
    fn reads_under(&self, method: Method) -> Vec<String> {
        let mut reads = self.reads();
        reads.extend(self.method_reads(method));
        reads
    }
    fn parse(&self, view: &Value) -> Result<Params, serde_json::Error>;
    fn run_parsed(&self, params: &Params, ctx: &mut StageContext) -> anyhow::Result<()>;
}

impl<S: Stage> DynStage for S {
    fn reads(&self) -> Vec<String> {
        let mut keys = param_keys::<S::Params>();
        keys.retain(|key| !self.files().contains(&key.as_str()) && self.reads_key(key));
        keys
    }

    fn parse(&self, view: &Value) -> Result<Params, serde_json::Error> {
        Ok(Params(Box::new(S::Params::deserialize(view)?)))
    }

    fn run_parsed(&self, params: &Params, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params = params.0.downcast_ref::<S::Params>().expect("parsed by this stage's parse");
        self.run(params, ctx)
    }
}

/// The stage's log: a file kept beside the artifact, echoed to stderr.
pub struct StageLog {
    stage: StageName,
    file: Mutex<fs_err::File>,
}

impl StageLog {
    pub fn create(stage: StageName, path: &Path) -> std::io::Result<Self> {
        Ok(Self { stage, file: Mutex::new(fs_err::File::create(path)?) })
    }

    pub fn line(&self, msg: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{msg}");
        }
        crate::info!("  [{}] {msg}", self.stage);
    }
}

/// Everything a running stage may touch.
pub struct StageContext {
    pub stage: StageName,
    pub key: String,
    /// The pipeline's method: which teachers this run's inputs are (see `MethodSpec`).
    pub method: Method,
    /// The stage's config view: exactly its declared keys and files.
    pub view: Value,
    inputs: BTreeMap<StageName, PathBuf>,
    /// The artifacts of `StageSpec::variant_inputs`, per stage in declared order.
    variant_inputs: BTreeMap<StageName, Vec<PathBuf>>,
    out_dir: PathBuf,
    log: Arc<StageLog>,
    /// Device and threads: how to compute, not what (not in the key).
    pub runtime: RuntimeConfig,
    /// A folder that survives an interrupted run of this (stage, key), for checkpoints.
    resume_dir: PathBuf,
    /// Figures the stage reports; stored in the manifest.
    pub summary: Map<String, Value>,
}

/// Where a stage keeps what it needs to resume; the engine removes it once the artifact is published.
pub struct StageDirs {
    pub out: PathBuf,
    pub resume: PathBuf,
}

impl StageContext {
    pub fn new(
        (stage, key): (StageName, String),
        method: Method,
        view: Value,
        inputs: impl IntoIterator<Item = (StageName, bool, PathBuf)>,
        dirs: StageDirs,
        runtime: RuntimeConfig,
        log: Arc<StageLog>,
    ) -> Self {
        let StageDirs { out: out_dir, resume: resume_dir } = dirs;
        let (mut own, mut variant_inputs) = (BTreeMap::new(), BTreeMap::<_, Vec<_>>::new());
        for (stage, is_variant, dir) in inputs {
            if is_variant {
                variant_inputs.entry(stage).or_default().push(dir);
            } else {
                own.insert(stage, dir);
            }
        }
        Self {
            stage,
            key,
            method,
            view,
            inputs: own,
            variant_inputs,
            out_dir,
            log,
            runtime,
            resume_dir,
            summary: Map::new(),
        }
    }

    /// The stage's resume folder (created on first use).
    pub fn resume_dir(&self) -> std::io::Result<&Path> {
        fs_err::create_dir_all(&self.resume_dir)?;
        Ok(&self.resume_dir)
    }

    /// The resolved device, with the configured thread count applied.
    pub fn device(&self) -> anyhow::Result<tch::Device> {
        self.runtime.device()
    }

    /// A file of an upstream stage's artifact. Reading a stage not declared in `inputs`
    /// is a bug in the stage, not in the data, hence the panic.
    pub fn input(&self, stage: StageName, file: &str) -> PathBuf {
        self.inputs.get(&stage).unwrap_or_else(|| panic!("{} reads undeclared input {stage}", self.stage)).join(file)
    }

    /// A file of each of an upstream stage's variant artifacts (`StageSpec::variant_inputs`),
    /// in declared order; empty when the stage has none under this config.
    pub fn variant_inputs(&self, stage: StageName, file: &str) -> Vec<PathBuf> {
        self.variant_inputs.get(&stage).map_or_else(Vec::new, |dirs| dirs.iter().map(|d| d.join(file)).collect())
    }

    /// Where to write one of the stage's output files.
    pub fn output(&self, file: &str) -> PathBuf {
        self.out_dir.join(file)
    }

    pub fn log(&self, msg: impl AsRef<str>) {
        self.log.line(msg.as_ref());
    }

    /// A health warning (`health`): printed whatever the verbosity short of `-q`, logged,
    /// and kept in the manifest's `summary.warnings`.
    pub fn warn(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        if let Ok(mut f) = self.log.file.lock() {
            let _ = writeln!(f, "warning: {msg}");
        }
        crate::warn!("[{}] {msg}", self.stage);
        let list = self.summary.entry(crate::summary::WARNINGS).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(Value::String(msg));
        }
    }

    /// Key-value metadata stamped into every Parquet table the stage writes.
    pub fn provenance(&self) -> Vec<(String, String)> {
        vec![
            ("mtmt.stage".into(), self.stage.as_str().into()),
            ("mtmt.key".into(), self.key.clone()),
            ("mtmt.config".into(), self.view.to_string()),
            ("mtmt.tool_version".into(), env!("CARGO_PKG_VERSION").into()),
        ]
    }

    /// A progress display for `total` units of which `done` are already done (a resumed run).
    pub fn progress(&self, total: u64, done: u64, what: &'static str) -> StageProgress {
        StageProgress::new(total, done, what, self.log.clone())
    }
}

/// Progress of a long loop: an indicatif bar with throughput on a terminal, a log
/// line every few seconds otherwise. Safe to tick from rayon workers.
pub struct StageProgress {
    bar: Option<ProgressBar>,
    what: &'static str,
    total: u64,
    /// Units done before this process started (a resumed run): not in the rate.
    done_before: u64,
    started: Instant,
    state: Mutex<(u64, Instant)>,
    log: Arc<StageLog>,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl StageProgress {
    fn new(total: u64, done: u64, what: &'static str, log: Arc<StageLog>) -> Self {
        use std::io::IsTerminal;
        let bar = (std::io::stderr().is_terminal() && crate::ui::enabled(crate::ui::Level::Info)).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("  {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(what);
            bar.set_position(done);
            bar.reset_eta();
            bar
        });
        let now = Instant::now();
        Self { bar, what, total, done_before: done, started: now, state: Mutex::new((done, now)), log }
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        let mut state = self.state.lock().expect("progress lock");
        state.0 += n;
        if state.1.elapsed() >= LOG_EVERY {
            state.1 = Instant::now();
            let rate = (state.0 - self.done_before) as f64 / self.started.elapsed().as_secs_f64();
            let left = self.total.saturating_sub(state.0) as f64 / rate.max(1e-9);
            self.log.line(&format!(
                "{}: {}/{} ({}, about {} left)",
                self.what,
                state.0,
                self.total,
                crate::ui::rate(rate),
                crate::ui::duration(left)
            ));
        }
    }

    /// Closes the bar and logs the total throughput.
    pub fn finish(self) -> f64 {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let secs = self.started.elapsed().as_secs_f64();
        let done = self.total - self.done_before.min(self.total);
        let rate = done as f64 / secs.max(1e-9);
        self.log.line(&format!("{}: {done} in {secs:.2}s ({})", self.what, crate::ui::rate(rate)));
        rate
    }
}
