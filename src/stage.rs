//! What a pipeline stage is: a name and version, the upstream stages and config
//! keys it reads (which make its cache key), the files it writes, and `run`.
//! A stage sees only the config values it declares, so an undeclared value can
//! neither change its output nor be missing from its key.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::{Config, RuntimeConfig};

pub trait Stage: Sync {
    fn name(&self) -> &'static str;
    /// Bumped whenever the stage's code changes what it writes; part of the key.
    fn version(&self) -> u32;
    fn description(&self) -> &'static str;
    /// Upstream stages whose artifacts this one reads (the method may decide which).
    fn inputs(&self, cfg: &Config) -> Vec<&'static str>;
    /// Config keys (dotted) whose values the stage reads.
    fn reads(&self) -> &'static [&'static str];
    /// Boolean config keys added after artifacts existed: they enter the key (and the
    /// stage's view) only when on, so artifacts made before them (flag off) stay valid.
    fn flags_added_later(&self) -> &'static [&'static str] {
        &[]
    }
    /// Config keys naming data files outside the store; their content, not their path, enters the key.
    fn files(&self) -> &'static [&'static str] {
        &[]
    }
    /// The files the stage may write (a stage may skip optional ones).
    fn outputs(&self) -> &'static [&'static str];
    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()>;
}

/// The stage's log: a file kept beside the artifact, echoed to stderr.
pub struct StageLog {
    stage: &'static str,
    file: Mutex<File>,
}

impl StageLog {
    pub fn create(stage: &'static str, path: &Path) -> std::io::Result<Self> {
        Ok(Self { stage, file: Mutex::new(File::create(path)?) })
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
    pub stage: &'static str,
    pub key: String,
    /// The stage's config view: exactly its declared keys and files.
    pub view: Value,
    inputs: BTreeMap<String, PathBuf>,
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
        stage: &'static str,
        key: String,
        view: Value,
        inputs: BTreeMap<String, PathBuf>,
        dirs: StageDirs,
        runtime: RuntimeConfig,
        log: Arc<StageLog>,
    ) -> Self {
        let StageDirs { out: out_dir, resume: resume_dir } = dirs;
        Self { stage, key, view, inputs, out_dir, log, runtime, resume_dir, summary: Map::new() }
    }

    /// The stage's resume folder (created on first use).
    pub fn resume_dir(&self) -> std::io::Result<&Path> {
        std::fs::create_dir_all(&self.resume_dir)?;
        Ok(&self.resume_dir)
    }

    /// The resolved device, with the configured thread count applied.
    pub fn device(&self) -> anyhow::Result<tch::Device> {
        crate::train::device::set_threads(self.runtime.threads);
        self.runtime.device.resolve()
    }

    /// The stage's parameters, deserialized from its view.
    pub fn params<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        Ok(serde_json::from_value(self.view.clone())?)
    }

    /// A file of an upstream stage's artifact.
    pub fn input(&self, stage: &str, file: &str) -> PathBuf {
        self.inputs.get(stage).unwrap_or_else(|| panic!("{} reads undeclared input {stage}", self.stage)).join(file)
    }

    /// Whether this run reads `stage`'s artifact (inputs may depend on the method).
    pub fn has_input(&self, stage: &str) -> bool {
        self.inputs.contains_key(stage)
    }

    /// Where to write one of the stage's output files.
    pub fn output(&self, file: &str) -> PathBuf {
        self.out_dir.join(file)
    }

    pub fn log(&self, msg: impl AsRef<str>) {
        self.log.line(msg.as_ref());
    }

    /// Key-value metadata stamped into every Parquet table the stage writes.
    pub fn provenance(&self) -> Vec<(String, String)> {
        vec![
            ("mtmt.stage".into(), self.stage.into()),
            ("mtmt.key".into(), self.key.clone()),
            ("mtmt.config".into(), self.view.to_string()),
            ("mtmt.tool_version".into(), env!("CARGO_PKG_VERSION").into()),
        ]
    }

    pub fn progress(&self, total: u64, what: &'static str) -> Progress {
        Progress::new(total, what, self.log.clone())
    }
}

/// Progress of a long loop: an indicatif bar with throughput on a terminal, a log
/// line every few seconds otherwise. Safe to tick from rayon workers.
pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    total: u64,
    started: Instant,
    state: Mutex<(u64, Instant)>,
    log: Arc<StageLog>,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl Progress {
    fn new(total: u64, what: &'static str, log: Arc<StageLog>) -> Self {
        use std::io::IsTerminal;
        let bar = (std::io::stderr().is_terminal() && crate::ui::enabled(crate::ui::Level::Info)).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("  {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(what);
            bar
        });
        let now = Instant::now();
        Self { bar, what, total, started: now, state: Mutex::new((0, now)), log }
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
            let rate = state.0 as f64 / self.started.elapsed().as_secs_f64();
            self.log.line(&format!("{}: {}/{} ({rate:.0}/s)", self.what, state.0, self.total));
        }
    }

    /// Closes the bar and logs the total throughput.
    pub fn finish(self) -> f64 {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let secs = self.started.elapsed().as_secs_f64();
        let rate = self.total as f64 / secs.max(1e-9);
        self.log.line(&format!("{}: {} in {secs:.2}s ({rate:.0}/s)", self.what, self.total));
        rate
    }
}
