//! The stage engine: computes every stage's cache key from the config before
//! anything runs, tells which artifacts are fresh and why the others are stale,
//! runs what is stale in dependency order, and publishes each artifact atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::config::{leaf_keys, lookup, ConfigValues, ResolvedConfig};
use crate::error::StoreError;
use crate::files::{MANIFEST, STAGE_LOG};
use crate::manifest::{ComputedOn, FileDigest, InputFile, Manifest};
use crate::method::Method;
use crate::stage::{DynStage, Params, StageContext, StageDirs, StageLog};
use crate::stage_name::StageName;
use crate::store::{artifact_name, ArtifactLock, ArtifactState, Scratch, Store};
use crate::trainer::checkpoint::CheckpointDir;

/// Environment variable `STAGE[:UNTIL]`: a run pauses in that stage, outputs written
/// but not yet published, for UNTIL seconds, or until the file UNTIL exists when it
/// is not a number (600 s at most). Lets tests interrupt a run mid-stage, or hold the
/// lock of the artifact it builds until a second run has said it is waiting, however
/// slow the machine.
pub const HOLD_ENV: &str = "MTMT_TEST_HOLD_STAGE";

fn hold_if_asked(stage: StageName) {
    let Ok(spec) = std::env::var(HOLD_ENV) else { return };
    let (name, until) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
    if name != stage.as_str() {
        return;
    }
    let (secs, release) = match until.parse::<u64>() {
        Ok(secs) => (secs, None),
        Err(_) => (600, (!until.is_empty()).then(|| PathBuf::from(until))),
    };
    let limit = std::time::Duration::from_secs(secs);
    crate::info!("{stage}: holding before publishing ({HOLD_ENV}={spec})");
    let start = std::time::Instant::now();
    while start.elapsed() < limit && !release.as_ref().is_some_and(|path| path.exists()) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An artifact a planned stage reads: of a stage of its config, or of a variant of it.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub stage: StageName,
    /// The variant's label; `None` for the config's own stage.
    pub variant: Option<String>,
    pub key: String,
}

impl Upstream {
    /// Its name in manifests and keys: the stage's, with `@variant` for a variant's.
    pub fn name(&self) -> String {
        label(self.stage, self.variant.as_deref())
    }
}

fn label(stage: StageName, variant: Option<&str>) -> String {
    match variant {
        None => stage.as_str().to_string(),
        Some(v) => format!("{stage}@{v}"),
    }
}

/// One stage with its key under the current config (or a variant of it).
pub struct Planned<'a> {
    pub stage: &'a dyn DynStage,
    /// The variant of the config this entry is planned under; `None` for the config's own.
    pub variant: Option<String>,
    /// The artifacts it reads.
    pub upstream: Vec<Upstream>,
    pub key: String,
    /// The declared config values (file paths included), as the stage sees them.
    pub view: Value,
    /// The view parsed into the stage's typed parameters.
    params: Params,
    pub input_files: BTreeMap<String, Option<InputFile>>,
    /// Upstream name (`Upstream::name`) -> the key of its artifact, as in manifests.
    pub inputs: BTreeMap<String, String>,
}

impl Planned<'_> {
    pub fn name(&self) -> StageName {
        self.stage.name()
    }

    /// The stage's name, with `@variant` for a variant's: what logs and `status` show.
    pub fn label(&self) -> String {
        label(self.name(), self.variant.as_deref())
    }

    fn id(&self) -> (StageName, &str) {
        (self.name(), self.key.as_str())
    }
}

/// Content digests of input files by path, hashed once per plan (or per sweep).
pub type Digests = BTreeMap<PathBuf, FileDigest>;

/// Exactly what a key is made of. Files enter by content, so moving the data
/// (or the checkout) does not invalidate anything.
#[derive(Serialize)]
struct KeyMaterial<'a> {
    stage: &'a str,
    version: u32,
    config: &'a Value,
    input_files: BTreeMap<&'a str, Option<&'a str>>,
    inputs: &'a BTreeMap<String, String>,
}

/// The stages of a config, keyed, in dependency order.
pub struct Plan<'a> {
    pub stages: Vec<Planned<'a>>,
    pub method: Method,
    pub runtime: crate::config::RuntimeConfig,
}

impl<'a> Plan<'a> {
    /// Computes every key. Input files are hashed here, before anything runs.
    pub fn new(cfg: &ResolvedConfig, registry: &'a [Box<dyn DynStage>]) -> Result<Self, StoreError> {
        Self::with_digests(cfg, registry, &mut Digests::new())
    }

    /// As `new`, taking file digests from (and adding them to) `digests`: several stages
    /// read the same large files (the encoder), and a sweep plans many configs at once.
    pub fn with_digests(
        cfg: &ResolvedConfig,
        registry: &'a [Box<dyn DynStage>],
        digests: &mut Digests,
    ) -> Result<Self, StoreError> {
        Self::build(cfg, registry, digests, true)
    }

    /// Plans every stage of `registry` under `cfg`; with `variants`, a stage's variant
    /// inputs are planned too (under the changed config, entries inserted before the
    /// stage). A variant's own plan reads no variants: one level, no recursion.
    fn build(
        cfg: &ResolvedConfig,
        registry: &'a [Box<dyn DynStage>],
        digests: &mut Digests,
        variants: bool,
    ) -> Result<Self, StoreError> {
        let method = cfg.config.method;
        let mut keys: BTreeMap<StageName, String> = BTreeMap::new();
        let mut stages: Vec<Planned<'a>> = Vec::new();
        for stage in registry {
            let input_files = input_files(cfg, stage.as_ref(), digests)?;
            let mut reads = stage.reads_under(method);
            let present: Vec<(&str, &Path)> =
                input_files.iter().filter_map(|(k, f)| Some((k.as_str(), f.as_ref()?.path.as_path()))).collect();
            let idle = stage.idle_reads(&cfg.view(&reads), &present);
            reads.retain(|key| !idle.contains(&key.as_str()));
            let reads_view = cfg.view(&reads);
            let mut upstream: Vec<Upstream> = stage
                .inputs(method)
                .into_iter()
                .map(|up| {
                    let key = keys.get(&up).unwrap_or_else(|| panic!("stage {} precedes its input {up}", stage.name()));
                    Upstream { stage: up, variant: None, key: key.clone() }
                })
                .collect();
            for (up, variant) in stage.variant_inputs(ConfigValues(&cfg.json)).into_iter().filter(|_| variants) {
                let derived = cfg
                    .derive(&variant)
                    .map_err(|e| StoreError::BadParams { stage: stage.name(), message: e.to_string() })?;
                let sub = Self::build(&derived, registry, digests, false)?;
                let key = sub.get(up).key.clone();
                let wanted: BTreeSet<(StageName, String)> =
                    sub.closure(up).iter().map(|p| (p.name(), p.key.clone())).collect();
                for mut p in sub.stages {
                    let id = (p.name(), p.key.clone());
                    if wanted.contains(&id) && !stages.iter().any(|q| q.id() == p.id()) {
                        p.variant = Some(variant.label.clone());
                        stages.push(p);
                    }
                }
                upstream.push(Upstream { stage: up, variant: Some(variant.label), key });
            }
            let inputs: BTreeMap<String, String> = upstream.iter().map(|u| (u.name(), u.key.clone())).collect();
            let material = KeyMaterial {
                stage: stage.name().as_str(),
                version: stage.version(),
                config: &reads_view,
                input_files: input_files
                    .iter()
                    .map(|(k, f)| (k.as_str(), f.as_ref().map(|f| f.digest.blake3.as_str())))
                    .collect(),
                inputs: &inputs,
            };
            let encoded = serde_json::to_vec(&material).expect("key material serializes");
            let key = blake3::hash(&encoded).to_hex()[..24].to_string();
            keys.insert(stage.name(), key.clone());
            let all_keys: Vec<&str> = reads.iter().map(String::as_str).chain(stage.files().iter().copied()).collect();
            let view = cfg.view(&all_keys);
            let params = stage
                .parse(&view)
                .map_err(|e| StoreError::BadParams { stage: stage.name(), message: e.to_string() })?;
            stages.push(Planned {
                stage: stage.as_ref(),
                variant: None,
                upstream,
                key,
                view,
                params,
                input_files,
                inputs,
            });
        }
        Ok(Self { stages, method, runtime: cfg.config.runtime.clone() })
    }

    /// The config's own entry of stage `name`.
    pub fn get(&self, name: StageName) -> &Planned<'a> {
        self.stages.iter().find(|p| p.name() == name && p.variant.is_none()).expect("the registry holds every stage")
    }

    /// The final stage: `run all` builds it and everything it needs under this config.
    pub fn last(&self) -> StageName {
        self.stages.last().expect("the registry is not empty").name()
    }

    /// The stages `run all` builds, in dependency order.
    pub fn needed(&self) -> Vec<&Planned<'a>> {
        self.closure(self.last())
    }

    /// `name` and every artifact upstream of it (variants' included), in dependency order,
    /// each once.
    pub fn closure(&self, name: StageName) -> Vec<&Planned<'a>> {
        let start = self.get(name);
        let mut wanted = BTreeSet::from([(name, start.key.as_str())]);
        for planned in self.stages.iter().rev() {
            if wanted.contains(&planned.id()) {
                wanted.extend(planned.upstream.iter().map(|u| (u.stage, u.key.as_str())));
            }
        }
        let mut seen = BTreeSet::new();
        self.stages.iter().filter(|p| wanted.contains(&p.id()) && seen.insert(p.id())).collect()
    }
}

/// The files a stage declares (`StageSpec::files`: config keys holding paths), each with
/// its content digest (hashed once per path across the plan, `digests`); `None` for a key
/// the config leaves unset.
fn input_files(
    cfg: &ResolvedConfig,
    stage: &dyn DynStage,
    digests: &mut Digests,
) -> Result<BTreeMap<String, Option<InputFile>>, StoreError> {
    let mut input_files = BTreeMap::new();
    for &key in stage.files() {
        let file = match lookup(&cfg.json, key).and_then(Value::as_str) {
            None => None,
            Some(path) => {
                let path = PathBuf::from(path);
                let digest = match digests.get(&path) {
                    Some(d) => d.clone(),
                    None => {
                        let d = FileDigest::of(&path).map_err(|source| StoreError::InputFile {
                            stage: stage.name(),
                            key: key.into(),
                            source,
                        })?;
                        digests.insert(path.clone(), d.clone());
                        d
                    }
                };
                Some(InputFile { path, digest })
            }
        };
        input_files.insert(key.to_string(), file);
    }
    Ok(input_files)
}

/// Whether a stage's artifact can be reused, and why not.
#[derive(Debug, Clone, Serialize)]
pub struct StageStatus {
    pub stage: StageName,
    /// The variant of the config the artifact belongs to (`Upstream::variant`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub key: String,
    pub fresh: bool,
    pub reasons: Vec<String>,
    /// The health warnings its run left in the manifest (`health`), for a fresh artifact.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Explains the state of each stage `run all` needs against the store.
pub fn status(plan: &Plan, store: &Store, rehash: bool) -> Vec<StageStatus> {
    plan.needed()
        .into_iter()
        .map(|p| {
            let name = p.name();
            let (fresh, mut reasons, warnings) = match store.state(name, &p.key, rehash) {
                ArtifactState::Valid(manifest) => (true, vec![], crate::summary::warnings(&manifest.summary)),
                ArtifactState::Corrupt(why) => (false, vec![format!("artifact corrupt: {why}")], vec![]),
                ArtifactState::Missing => (false, closest_reasons(p, store.manifests(name)), vec![]),
            };
            if let Some(step) =
                (!fresh).then(|| CheckpointDir::new(store.resume_dir(name, &p.key)).saved_step()).flatten()
            {
                reasons.push(format!("an interrupted run left a checkpoint: `run` resumes at step {step}"));
            }
            StageStatus { stage: name, variant: p.variant.clone(), key: p.key.clone(), fresh, reasons, warnings }
        })
        .collect()
}

/// Explains a missing artifact against the stage's closest existing one: the fewest
/// differences, the newest among equals (a shared store holds several configs' artifacts).
fn closest_reasons(p: &Planned, manifests: Vec<Manifest>) -> Vec<String> {
    manifests
        .into_iter()
        .map(|m| (stale_reasons(p, &m), m.created_unix_ms))
        .min_by(|a, b| a.0.len().cmp(&b.0.len()).then(b.1.cmp(&a.1)))
        .map_or_else(|| vec!["never run".into()], |(reasons, _)| reasons)
}

/// What differs between the current plan entry and an earlier artifact of the stage.
fn stale_reasons(p: &Planned, last: &Manifest) -> Vec<String> {
    let mut reasons = Vec::new();
    if last.stage_version != p.stage.version() {
        reasons.push(format!("stage version changed ({} -> {})", last.stage_version, p.stage.version()));
    }
    let mut keys: BTreeSet<String> = leaf_keys(&p.view).into_iter().collect();
    keys.extend(leaf_keys(&last.config));
    for key in keys.into_iter().filter(|k| !p.input_files.contains_key(k)) {
        let (old, new) = (lookup(&last.config, &key), lookup(&p.view, &key));
        if old != new {
            let show = |v: Option<&Value>| v.map_or("unset".to_string(), Value::to_string);
            reasons.push(format!("config `{key}` changed ({} -> {})", show(old), show(new)));
        }
    }
    for (key, file) in &p.input_files {
        let old = last.input_files.get(key).cloned().flatten().map(|f| f.digest.blake3);
        if old != file.as_ref().map(|f| f.digest.blake3.clone()) {
            reasons.push(format!("input file `{key}` changed"));
        }
    }
    for (up, key) in &p.inputs {
        if last.inputs.get(up) != Some(key) {
            reasons.push(format!("input artifact `{up}` changed"));
        }
    }
    if reasons.is_empty() {
        reasons.push("artifact missing".into());
    }
    reasons
}

/// Options of one `run`.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// Run only this stage and what it needs (`run stage NAME`); all stages otherwise.
    pub target: Option<StageName>,
    /// Rerun the target even if fresh.
    pub force: bool,
    /// Rehash files of reused artifacts instead of checking sizes only.
    pub verify: bool,
}

/// What a run did, stage by stage.
#[derive(Debug, Default)]
pub struct RunReport {
    /// The labels (`Planned::label`) of the stages that ran.
    pub ran: Vec<String>,
    pub reused: Vec<String>,
}

/// Runs every stale stage needed. Other runs may share the store: each artifact is built
/// under its own lock, so one that another run is building is waited for and reused.
pub fn run(plan: &Plan, store: &Store, opts: &RunOptions) -> Result<RunReport, StoreError> {
    let wanted: Vec<&Planned> = match opts.target {
        Some(name) => plan.closure(name),
        None => plan.needed(),
    };
    let needed: Vec<(StageName, &str)> = wanted.iter().map(|p| (p.name(), p.key.as_str())).collect();
    let _lease = store.register_run(&needed)?;
    let mut report = RunReport::default();
    for p in wanted {
        let (name, shown) = (p.name(), p.label());
        let forced = opts.force && opts.target == Some(name) && p.variant.is_none();
        if !forced && matches!(store.state(name, &p.key, opts.verify), ArtifactState::Valid(_)) {
            crate::debug!("{shown}: up to date ({})", p.key);
            report.reused.push(shown);
            continue;
        }
        let lock = store.lock_artifact(name, &p.key, |holder| {
            crate::info!("{shown}: another run is building it ({holder}); waiting for it");
        })?;
        // Checked again under the lock: another run may have built it meanwhile.
        match store.state(name, &p.key, opts.verify) {
            ArtifactState::Valid(_) if !forced => {
                crate::info!("{shown}: built by another run; reused");
                report.reused.push(shown);
                continue;
            }
            ArtifactState::Corrupt(why) => crate::warn!("{shown}: artifact {} is corrupt ({why}); recomputing", p.key),
            _ => {}
        }
        let freed = store.clean_leftovers(name, &p.key, &lock)?;
        if freed > 0 {
            crate::info!("{shown}: removed {freed} bytes left by an interrupted run");
        }
        execute(p, plan, store, &lock)?;
        report.ran.push(shown);
    }
    Ok(report)
}

/// Runs one stage into a staging directory, writes its manifest last, publishes.
fn execute(p: &Planned, plan: &Plan, store: &Store, lock: &ArtifactLock) -> Result<(), StoreError> {
    let name = p.name();
    let shown = p.label();
    crate::info!("{shown}: running ({})", p.key);
    let staging = store.staging_dir(name, &p.key, lock)?;
    let log = Arc::new(StageLog::create(name, &staging.join(STAGE_LOG))?);
    let inputs = p.upstream.iter().map(|up| (up.stage, up.variant.is_some(), store.artifact_dir(up.stage, &up.key)));
    let resume = store.resume_dir(name, &p.key);
    let dirs = StageDirs { out: staging.clone(), resume: resume.clone() };
    let mut ctx = StageContext::new(
        (name, p.key.clone()),
        plan.method,
        p.view.clone(),
        inputs,
        dirs,
        plan.runtime.clone(),
        log.clone(),
    );
    let started = Instant::now();
    let outcome = p.stage.run_parsed(&p.params, &mut ctx);
    let wall = started.elapsed().as_secs_f64();
    if let Err(source) = outcome {
        let _ = fs_err::remove_dir_all(&staging);
        return Err(StoreError::StageFailed { stage: name, source });
    }
    log.line(&format!("done in {wall:.2}s"));
    drop(log);

    hold_if_asked(name);

    let mut files = BTreeMap::new();
    for entry in fs_err::read_dir(&staging)? {
        let path = entry?.path();
        let file = path.file_name().expect("entries have names").to_string_lossy().into_owned();
        files.insert(file, FileDigest::of(&path)?);
    }
    let manifest = Manifest {
        stage: name.as_str().into(),
        stage_version: p.stage.version(),
        key: p.key.clone(),
        config: p.view.clone(),
        input_files: p.input_files.clone(),
        inputs: p.inputs.clone(),
        files,
        wall_time_s: wall,
        computed_on: plan.runtime.device.resolve().ok().map(ComputedOn::now),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis()),
        summary: Value::Object(ctx.summary),
    };
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
    crate::atomic::write_file(&staging.join(MANIFEST), text.as_bytes())?;
    let dest = store.artifact_dir(name, &p.key);
    crate::atomic::publish_dir(&staging, &dest, &store.trash_dir(name, &p.key))?;
    if resume.exists() {
        fs_err::remove_dir_all(&resume)?;
    }
    crate::info!("{shown}: published {} ({wall:.1}s)", dest.display());
    Ok(())
}

/// Artifacts and resume folders reachable neither from the plan nor from a running plan
/// (`running`, as `<stage>-<key>`), and what interrupted builds left that no run is
/// building: what `gc` deletes, as (what, key, folder, bytes).
pub fn unreachable(
    plan: &Plan,
    store: &Store,
    running: &BTreeSet<String>,
) -> Result<Vec<(String, String, PathBuf, u64)>, StoreError> {
    let mut live: BTreeSet<String> = plan.stages.iter().map(|p| artifact_name(p.name(), &p.key)).collect();
    live.extend(running.iter().cloned());
    let mut out = Vec::new();
    for (stage, key, path) in store.artifacts()? {
        if !live.contains(&artifact_name(stage, &key)) {
            let bytes = crate::atomic::dir_size(&path)?;
            out.push((stage.to_string(), key, path, bytes));
        }
    }
    for (area, name, path) in store.scratch_dirs()? {
        // Checkpoints are kept for the config's stages too; what interrupted builds left
        // in staging and trash only for the builds running now.
        let kept = if area == Scratch::Resume { &live } else { running };
        if !kept.contains(&name) {
            let bytes = crate::atomic::dir_size(&path)?;
            let (stage, key) = name.rsplit_once('-').unwrap_or((name.as_str(), ""));
            out.push((format!("{}/{stage}", area.folder()), key.to_string(), path, bytes));
        }
    }
    Ok(out)
}
