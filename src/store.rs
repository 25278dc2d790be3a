//! The artifact store on disk: `<root>/<stage>/<key>/` directories, each with its
//! files and a manifest; a marker that says the folder is a store; a staging area for
//! artifacts being built, from which they are published with one rename; resume folders
//! for interrupted training; and the locks that let several runs share the store.
//!
//! Locks are advisory file locks (`flock`), released by the kernel when their process
//! dies, so a `kill -9` at any point leaves no lock behind:
//! - one per artifact (`.locks/<stage>-<key>`), held while a run builds it: two runs
//!   needing the same artifact build it once (the second waits, then reuses it), runs
//!   needing different ones build them at the same time;
//! - one per run (`.runs/<pid>-<n>.json`, the artifacts its plan reads or builds), held for
//!   the run's life: `gc` deletes nothing a running plan needs;
//! - the store's own (`.lock`): shared while a run registers, exclusive while `gc`
//!   decides what to delete, so that no run registers between its reading and deleting.

use std::collections::BTreeSet;
use std::fs::TryLockError;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::files::MANIFEST;
use crate::manifest::Manifest;
use crate::stage_name::StageName;

const LOCK: &str = ".lock";
/// Written when a run first uses a folder as its store: `gc` deletes only inside a
/// folder that has it, so a mistyped `--store` cannot empty a folder of other files.
const MARKER: &str = ".mtmt-store";
const STAGING: &str = ".tmp";
const TRASH: &str = ".trash";
const RESUME: &str = ".resume";
const LOCKS: &str = ".locks";
const RUNS: &str = ".runs";

pub struct Store {
    root: PathBuf,
}

/// What the store holds for one (stage, key).
#[derive(Debug)]
pub enum ArtifactState {
    /// Boxed: a manifest is large beside the other states.
    Valid(Box<Manifest>),
    Missing,
    Corrupt(String),
}

/// A scratch area of the store, whose folders belong to one artifact each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scratch {
    /// Checkpoints of interrupted training (`resume_dir`).
    Resume,
    /// Artifacts being built (`staging_dir`).
    Staging,
    /// Artifacts moved aside by a publication (`trash_dir`).
    Trash,
}

impl Scratch {
    pub fn folder(self) -> &'static str {
        match self {
            Scratch::Resume => RESUME,
            Scratch::Staging => STAGING,
            Scratch::Trash => TRASH,
        }
    }
}

/// The store's lock held exclusively (`gc`); released on drop (or when the process dies).
pub struct StoreLock {
    _file: fs_err::File,
}

/// A running plan's registration: the artifacts it needs, which `gc` leaves alone while
/// this is held (until drop, or the process's death).
pub struct RunLease {
    _file: fs_err::File,
}

/// Held while a run builds one artifact; released on drop (or when the process dies).
pub struct ArtifactLock {
    _file: fs_err::File,
}

/// The name an artifact's folders go by in the scratch areas, its lock and run
/// registrations: `<stage>-<key>`.
pub fn artifact_name(stage: StageName, key: &str) -> String {
    format!("{stage}-{key}")
}

/// An I/O error of locking `path`, naming it.
fn locking_error(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("locking {}: {e}", path.display()))
}

/// Whether a lock is taken shared or exclusive.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Shared,
    Exclusive,
}

/// Locks the file at `path` (created if missing) in `mode`, waiting while another process
/// holds it and saying so with `waiting(holder)`, the holder being what the file says
/// (an exclusive holder writes its pid there).
fn lock_file(path: &Path, mode: Mode, waiting: impl FnOnce(&str)) -> io::Result<fs_err::File> {
    let mut file = fs_err::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    let tried = match mode {
        Mode::Shared => file.file().try_lock_shared(),
        Mode::Exclusive => file.file().try_lock(),
    };
    match tried {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            waiting(fs_err::read_to_string(path).unwrap_or_default().trim());
            match mode {
                Mode::Shared => file.file().lock_shared(),
                Mode::Exclusive => file.file().lock(),
            }
            .map_err(|e| locking_error(path, e))?;
        }
        Err(TryLockError::Error(e)) => return Err(locking_error(path, e)),
    }
    if mode == Mode::Exclusive {
        file.set_len(0)?;
        write!(file, "pid {}", std::process::id())?;
    }
    Ok(file)
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn artifact_dir(&self, stage: StageName, key: &str) -> PathBuf {
        self.root.join(stage.as_str()).join(key)
    }

    /// Where a publication moves aside what was at (stage, key) before (`atomic::publish_dir`).
    pub fn trash_dir(&self, stage: StageName, key: &str) -> PathBuf {
        self.root.join(TRASH).join(artifact_name(stage, key))
    }

    /// Creates the store (with its marker) on first use.
    fn init(&self) -> io::Result<()> {
        // create_dir_all would say only "File exists".
        if let Some(file) = self.root.ancestors().find(|p| p.is_file()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "cannot make the store {}: {} is a file, not a folder (choose another --store or MTMT_STORE)",
                    self.root.display(),
                    file.display()
                ),
            ));
        }
        fs_err::create_dir_all(&self.root)?;
        let marker = self.root.join(MARKER);
        if !marker.exists() {
            crate::atomic::write_file(&marker, b"mtmt-pipe artifact store\n")?;
        }
        Ok(())
    }

    /// Takes the store's lock exclusively (`gc`), waiting while a run registers.
    pub fn lock(&self) -> io::Result<StoreLock> {
        self.init()?;
        let file = lock_file(&self.root.join(LOCK), Mode::Exclusive, |holder| {
            crate::info!("store {} is locked ({holder}); waiting", self.root.display())
        })?;
        Ok(StoreLock { _file: file })
    }

    /// Registers a run that needs the artifacts `needed` (its plan's, built or to build),
    /// for as long as the lease is held.
    pub fn register_run(&self, needed: &[(StageName, &str)]) -> io::Result<RunLease> {
        self.init()?;
        // Shared: runs register side by side, never while `gc` is deciding.
        let _store = lock_file(&self.root.join(LOCK), Mode::Shared, |holder| {
            crate::info!("store {} is locked by gc ({holder}); waiting for it to finish", self.root.display())
        })?;
        let dir = self.root.join(RUNS);
        fs_err::create_dir_all(&dir)?;
        let names: Vec<String> = needed.iter().map(|&(stage, key)| artifact_name(stage, key)).collect();
        let text = serde_json::to_string(&names).expect("names serialize");
        for n in 0.. {
            let path = dir.join(format!("{}-{n}.json", std::process::id()));
            let mut file = match fs_err::OpenOptions::new().write(true).create_new(true).open(&path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                opened => opened?,
            };
            file.file().lock().map_err(|e| locking_error(&path, e))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            return Ok(RunLease { _file: file });
        }
        unreachable!("some registration name is free")
    }

    /// The artifacts (`<stage>-<key>`) that running plans need; registrations left by dead
    /// processes are removed. Call with the store's lock held exclusively, so that no run
    /// registers meanwhile.
    pub fn live_artifacts(&self, _lock: &StoreLock) -> io::Result<BTreeSet<String>> {
        let mut live = BTreeSet::new();
        let Ok(entries) = fs_err::read_dir(self.root.join(RUNS)) else { return Ok(live) };
        for entry in entries {
            let path = entry?.path();
            let file = fs_err::File::open(&path)?;
            match file.file().try_lock_shared() {
                Err(TryLockError::WouldBlock) => {
                    let text = fs_err::read_to_string(&path)?;
                    let names: Vec<String> = serde_json::from_str(&text)
                        .map_err(|e| io::Error::other(format!("{}: not a run registration: {e}", path.display())))?;
                    live.extend(names);
                }
                Ok(()) => fs_err::remove_file(&path)?,
                Err(TryLockError::Error(e)) => return Err(locking_error(&path, e)),
            }
        }
        Ok(live)
    }

    /// Takes the lock of the artifact (stage, key), waiting while another run builds it
    /// (`waiting` is told which process).
    pub fn lock_artifact(&self, stage: StageName, key: &str, waiting: impl FnOnce(&str)) -> io::Result<ArtifactLock> {
        let dir = self.root.join(LOCKS);
        fs_err::create_dir_all(&dir)?;
        Ok(ArtifactLock { _file: lock_file(&dir.join(artifact_name(stage, key)), Mode::Exclusive, waiting)? })
    }

    /// Removes an artifact's lock file (`gc`, after deleting the artifact; no registered run
    /// needs it, and none registers while the store's lock is held).
    pub fn remove_artifact_lock(&self, stage: StageName, key: &str, _lock: &StoreLock) -> io::Result<()> {
        let path = self.root.join(LOCKS).join(artifact_name(stage, key));
        if path.exists() {
            fs_err::remove_file(path)?;
        }
        Ok(())
    }

    /// Refuses a folder that no run has used as a store: what `gc` checks before deleting.
    pub fn check_is_store(&self) -> Result<(), StoreError> {
        if self.root.join(MARKER).is_file() {
            Ok(())
        } else {
            Err(StoreError::NotAStore { path: self.root.clone() })
        }
    }

    /// Removes what interrupted builds of (stage, key) left in the staging and trash areas;
    /// returns the bytes freed. Only the holder of the artifact's lock builds it.
    pub fn clean_leftovers(&self, stage: StageName, key: &str, _lock: &ArtifactLock) -> io::Result<u64> {
        let owner = artifact_name(stage, key);
        let mut freed = 0;
        for (area, name, dir) in self.scratch_dirs()? {
            if area != Scratch::Resume && name == owner {
                freed += crate::atomic::dir_size(&dir)?;
                fs_err::remove_dir_all(&dir)?;
            }
        }
        Ok(freed)
    }

    /// A fresh directory in which a stage builds its artifact before publication.
    pub fn staging_dir(&self, stage: StageName, key: &str, _lock: &ArtifactLock) -> io::Result<PathBuf> {
        let dir = self.root.join(STAGING).join(format!("{}-{}", artifact_name(stage, key), std::process::id()));
        if dir.exists() {
            fs_err::remove_dir_all(&dir)?;
        }
        fs_err::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Where an interrupted (stage, key) keeps its checkpoints until it is published.
    pub fn resume_dir(&self, stage: StageName, key: &str) -> PathBuf {
        self.root.join(RESUME).join(artifact_name(stage, key))
    }

    /// The folders of the scratch areas, as (area, `<stage>-<key>` they belong to, path).
    pub fn scratch_dirs(&self) -> io::Result<Vec<(Scratch, String, PathBuf)>> {
        let mut out = Vec::new();
        for area in [Scratch::Resume, Scratch::Staging, Scratch::Trash] {
            let Ok(entries) = fs_err::read_dir(self.root.join(area.folder())) else { continue };
            for entry in entries {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                // A staging folder's name ends in the pid of the process that built it.
                let owner = match area {
                    Scratch::Staging => name.rsplit_once('-').map_or(name.clone(), |(owner, _)| owner.to_string()),
                    _ => name,
                };
                out.push((area, owner, entry.path()));
            }
        }
        Ok(out)
    }

    /// Checks the artifact for (stage, key): present, complete, and (with `rehash`) untampered.
    pub fn state(&self, stage: StageName, key: &str, rehash: bool) -> ArtifactState {
        let dir = self.artifact_dir(stage, key);
        if !dir.exists() {
            return ArtifactState::Missing;
        }
        if !dir.join(MANIFEST).exists() {
            return ArtifactState::Corrupt("manifest.json is missing".into());
        }
        match Manifest::read(&dir) {
            Err(e) => ArtifactState::Corrupt(e.to_string()),
            Ok(m) if m.key != key || m.stage != stage.as_str() => {
                ArtifactState::Corrupt(format!("manifest names {}/{}", m.stage, m.key))
            }
            Ok(m) => match m.check_files(&dir, rehash) {
                Some(problem) => ArtifactState::Corrupt(problem),
                None => ArtifactState::Valid(Box::new(m)),
            },
        }
    }

    /// Every artifact folder in the store, as (stage, key, path): the folders inside the
    /// folders named after stages. Anything else (a stray file, a user's folder) is not
    /// an artifact and is left alone, and so is a stage folder that is a symbolic link: what
    /// it points to is outside the store, and `gc` deletes what this lists.
    pub fn artifacts(&self) -> io::Result<Vec<(StageName, String, PathBuf)>> {
        let mut out = Vec::new();
        for stage in StageName::ALL {
            let dir = self.root.join(stage.as_str());
            if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            for art in fs_err::read_dir(&dir)? {
                let art = art?;
                if art.file_type()?.is_dir() {
                    out.push((stage, art.file_name().to_string_lossy().into_owned(), art.path()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The readable manifests of a stage's artifacts: what the current config is
    /// compared with to explain why a stage is stale.
    pub fn manifests(&self, stage: StageName) -> Vec<Manifest> {
        let Ok(entries) = fs_err::read_dir(self.root.join(stage.as_str())) else { return vec![] };
        entries.filter_map(|e| Manifest::read(&e.ok()?.path()).ok()).collect()
    }
}
