//! The artifact store on disk: `<root>/<stage>/<key>/` directories, each with its
//! files and a manifest; a marker that says the folder is a store; a lock so one run
//! writes at a time; a staging area for artifacts being built, from which they are
//! published with one rename; resume folders for interrupted training.

use std::fs::TryLockError;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::error::StoreError;
use crate::files::MANIFEST;
use crate::manifest::Manifest;
use crate::stage_name::StageName;
use crate::train::checkpoint::CheckpointDir;

const LOCK: &str = ".lock";
/// Written when a run first uses a folder as its store: `gc` deletes only inside a
/// folder that has it, so a mistyped `--store` cannot empty a folder of other files.
const MARKER: &str = ".mtmt-store";
const STAGING: &str = ".tmp";
const TRASH: &str = ".trash";
const RESUME: &str = ".resume";

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

/// Held while a run writes to the store; released on drop (or when the process dies).
pub struct StoreLock {
    _file: fs_err::File,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn artifact_dir(&self, stage: StageName, key: &str) -> PathBuf {
        self.root.join(stage.as_str()).join(key)
    }

    pub fn trash_dir(&self) -> PathBuf {
        self.root.join(TRASH)
    }

    /// Takes the store's write lock, waiting (and saying so) while another run holds it;
    /// creates the store (with its marker) on first use.
    pub fn lock(&self) -> io::Result<StoreLock> {
        fs_err::create_dir_all(&self.root)?;
        let marker = self.root.join(MARKER);
        if !marker.exists() {
            crate::atomic::write_file(&marker, b"mtmt-pipe artifact store\n")?;
        }
        let path = self.root.join(LOCK);
        let mut file = fs_err::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        match file.file().try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = fs_err::read_to_string(&path).unwrap_or_default();
                crate::info!(
                    "store {} is locked by another run ({}); waiting for it to finish",
                    self.root.display(),
                    holder.trim()
                );
                file.file().lock().map_err(|e| io::Error::new(e.kind(), format!("locking {}: {e}", path.display())))?;
                crate::info!("store lock acquired");
            }
            Err(TryLockError::Error(e)) => {
                return Err(io::Error::new(e.kind(), format!("locking {}: {e}", path.display())));
            }
        }
        file.set_len(0)?;
        write!(file, "pid {}", std::process::id())?;
        Ok(StoreLock { _file: file })
    }

    /// Refuses a folder that no run has used as a store: what `gc` checks before deleting.
    pub fn check_is_store(&self) -> Result<(), StoreError> {
        if self.root.join(MARKER).is_file() {
            Ok(())
        } else {
            Err(StoreError::NotAStore { path: self.root.clone() })
        }
    }

    /// Removes what interrupted runs left in the staging and trash areas. Call with the lock held.
    pub fn clean_staging(&self, _lock: &StoreLock) -> io::Result<u64> {
        let mut freed = 0;
        for dir in [self.root.join(STAGING), self.trash_dir()] {
            if dir.exists() {
                freed += crate::atomic::dir_size(&dir)?;
                fs_err::remove_dir_all(&dir)?;
            }
        }
        Ok(freed)
    }

    /// A fresh directory in which a stage builds its artifact before publication.
    pub fn staging_dir(&self, stage: StageName, key: &str, _lock: &StoreLock) -> io::Result<PathBuf> {
        let dir = self.root.join(STAGING).join(format!("{stage}-{key}-{}", std::process::id()));
        if dir.exists() {
            fs_err::remove_dir_all(&dir)?;
        }
        fs_err::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Where an interrupted (stage, key) keeps its checkpoints until it is published.
    pub fn resume_dir(&self, stage: StageName, key: &str) -> PathBuf {
        self.root.join(RESUME).join(format!("{stage}-{key}"))
    }

    /// The step an interrupted run of (stage, key) would resume from, if it left a checkpoint.
    pub fn resume_step(&self, stage: StageName, key: &str) -> Option<i64> {
        CheckpointDir::new(self.resume_dir(stage, key)).saved_step()
    }

    /// Resume folders, as (name, path); the name is `<stage>-<key>`.
    pub fn resume_dirs(&self) -> Vec<(String, PathBuf)> {
        let Ok(entries) = fs_err::read_dir(self.root.join(RESUME)) else { return vec![] };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect()
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
    /// an artifact and is left alone.
    pub fn artifacts(&self) -> io::Result<Vec<(StageName, String, PathBuf)>> {
        let mut out = Vec::new();
        for stage in StageName::ALL {
            let dir = self.root.join(stage.as_str());
            if !dir.is_dir() {
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
