//! The artifact store on disk: `<root>/<stage>/<key>/` directories, each with its
//! files and a manifest; a lock so one run writes at a time; a staging area for
//! artifacts being built, from which they are published with one rename.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, IoError};
use crate::manifest::{Manifest, MANIFEST};

const LOCK: &str = ".lock";
const STAGING: &str = ".tmp";
const TRASH: &str = ".trash";
const RESUME: &str = ".resume";

pub struct Store {
    root: PathBuf,
}

/// What the store holds for one (stage, key).
#[derive(Debug)]
pub enum ArtifactState {
    Valid(Manifest),
    Missing,
    Corrupt(String),
}

/// Held while a run writes to the store; released on drop (or when the process dies).
pub struct StoreLock {
    _file: File,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn artifact_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(stage).join(key)
    }

    pub fn trash_dir(&self) -> PathBuf {
        self.root.join(TRASH)
    }

    /// Takes the store's write lock, waiting (and saying so) while another run holds it.
    pub fn lock(&self) -> Result<StoreLock, IoError> {
        fs::create_dir_all(&self.root).at(&self.root)?;
        let path = self.root.join(LOCK);
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).at(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                crate::info!(
                    "store {} is locked by another run ({}); waiting for it to finish",
                    self.root.display(),
                    holder.trim()
                );
                file.lock().at(&path)?;
                crate::info!("store lock acquired");
            }
            Err(fs::TryLockError::Error(e)) => return Err(e).at(&path),
        }
        file.set_len(0).at(&path)?;
        write!(file, "pid {}", std::process::id()).at(&path)?;
        Ok(StoreLock { _file: file })
    }

    /// Removes what interrupted runs left in the staging and trash areas. Call with the lock held.
    pub fn clean_staging(&self, _lock: &StoreLock) -> Result<u64, IoError> {
        let mut freed = 0;
        for dir in [self.root.join(STAGING), self.trash_dir()] {
            if dir.exists() {
                freed += crate::atomic::dir_size(&dir).at(&dir)?;
                fs::remove_dir_all(&dir).at(&dir)?;
            }
        }
        Ok(freed)
    }

    /// A fresh directory in which a stage builds its artifact before publication.
    pub fn staging_dir(&self, stage: &str, key: &str, _lock: &StoreLock) -> Result<PathBuf, IoError> {
        let dir = self.root.join(STAGING).join(format!("{stage}-{key}-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).at(&dir)?;
        }
        fs::create_dir_all(&dir).at(&dir)?;
        Ok(dir)
    }

    /// Where an interrupted (stage, key) keeps its checkpoints until it is published.
    pub fn resume_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(RESUME).join(format!("{stage}-{key}"))
    }

    /// Resume folders, as (name, path); the name is `<stage>-<key>`.
    pub fn resume_dirs(&self) -> Vec<(String, PathBuf)> {
        let Ok(entries) = fs::read_dir(self.root.join(RESUME)) else { return vec![] };
        entries.filter_map(|e| e.ok()).map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())).collect()
    }

    /// Checks the artifact for (stage, key): present, complete, and (with `rehash`) untampered.
    pub fn state(&self, stage: &str, key: &str, rehash: bool) -> ArtifactState {
        let dir = self.artifact_dir(stage, key);
        if !dir.exists() {
            return ArtifactState::Missing;
        }
        if !dir.join(MANIFEST).exists() {
            return ArtifactState::Corrupt("manifest.json is missing".into());
        }
        match Manifest::read(&dir) {
            Err(e) => ArtifactState::Corrupt(e.to_string()),
            Ok(m) if m.key != key || m.stage != stage => {
                ArtifactState::Corrupt(format!("manifest names {}/{}", m.stage, m.key))
            }
            Ok(m) => match m.check_files(&dir, rehash) {
                Some(problem) => ArtifactState::Corrupt(problem),
                None => ArtifactState::Valid(m),
            },
        }
    }

    /// Every artifact directory in the store, as (stage, key, path).
    pub fn artifacts(&self) -> Result<Vec<(String, String, PathBuf)>, IoError> {
        let mut out = Vec::new();
        if !self.root.exists() {
            return Ok(out);
        }
        for stage in fs::read_dir(&self.root).at(&self.root)? {
            let stage = stage.at(&self.root)?;
            let name = stage.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !stage.path().is_dir() {
                continue;
            }
            for art in fs::read_dir(stage.path()).at(stage.path())? {
                let art = art.at(stage.path())?;
                out.push((name.clone(), art.file_name().to_string_lossy().into_owned(), art.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The readable manifests of a stage's artifacts: what the current config is
    /// compared with to explain why a stage is stale.
    pub fn manifests(&self, stage: &str) -> Vec<Manifest> {
        let Ok(entries) = fs::read_dir(self.root.join(stage)) else { return vec![] };
        entries.filter_map(|e| Manifest::read(&e.ok()?.path()).ok()).collect()
    }
}
