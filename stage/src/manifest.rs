//! The manifest each artifact carries: what produced it (stage, version, the config
//! values read, input artifacts and files) and a digest of every file it holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::StoreError;
use crate::files::MANIFEST;

/// Size and blake3 of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub bytes: u64,
    pub blake3: String,
}

impl FileDigest {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let bytes = fs_err::metadata(path)?.len();
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_mmap_rayon(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("hashing {}: {e}", path.display())))?;
        Ok(Self { bytes, blake3: hasher.finalize().to_hex().to_string() })
    }
}

/// The device and libtorch CPU threads a stage ran with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputedOn {
    pub device: String,
    pub threads: i32,
}

impl ComputedOn {
    /// What the current process computes with on `device`.
    pub fn now(device: tch::Device) -> Self {
        let device = match device {
            tch::Device::Cpu => "cpu".to_string(),
            tch::Device::Cuda(i) => format!("cuda:{i}"),
            other => format!("{other:?}").to_lowercase(),
        };
        Self { device, threads: tch::get_num_threads() }
    }
}

/// An external file a stage reads (named by a config key), with its content digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub path: PathBuf,
    #[serde(flatten)]
    pub digest: FileDigest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub stage: String,
    pub stage_version: u32,
    pub key: String,
    /// The config values the stage read (its view), file paths included.
    pub config: Value,
    /// Config key -> the file it named, for stages reading data outside the store.
    pub input_files: BTreeMap<String, Option<InputFile>>,
    /// Upstream stage -> the key of the artifact used.
    pub inputs: BTreeMap<String, String>,
    /// File name -> digest, for every file in the artifact except this manifest.
    pub files: BTreeMap<String, FileDigest>,
    pub wall_time_s: f64,
    /// How it was computed (in no key). libtorch's kernels may round differently at another
    /// thread count or on another device, so a rerun matches it to the last digit only
    /// under the same ones. Absent in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_on: Option<ComputedOn>,
    pub tool_version: String,
    pub created_unix_ms: u128,
    /// Stage-specific figures (counts, metrics) worth keeping with the artifact.
    pub summary: Value,
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(MANIFEST);
        let text = fs_err::read_to_string(&path)?;
        serde_json::from_str(&text).map_err(|e| StoreError::BadManifest { path, message: e.to_string() })
    }

    /// Checks the artifact's files against this manifest: sizes always, content when `rehash`.
    /// Returns what is wrong, if anything.
    pub fn check_files(&self, dir: &Path, rehash: bool) -> Option<String> {
        for (name, want) in &self.files {
            let path = dir.join(name);
            let Ok(meta) = std::fs::metadata(&path) else {
                return Some(format!("file `{name}` is missing"));
            };
            if meta.len() != want.bytes {
                return Some(format!("file `{name}` has {} bytes, manifest says {}", meta.len(), want.bytes));
            }
            if rehash {
                match FileDigest::of(&path) {
                    Ok(got) if got.blake3 == want.blake3 => {}
                    Ok(_) => return Some(format!("file `{name}` content differs from its manifest digest")),
                    Err(e) => return Some(e.to_string()),
                }
            }
        }
        None
    }
}
