//! Every durable write of the tool goes through here: files are written beside
//! their destination, fsynced, then renamed over it, so a crash leaves either the
//! old content or the new one, never a torn file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically (temporary sibling, fsync, rename, fsync dir).
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |tmp| File::create(tmp)?.write_all(bytes))
}

/// Has `write` produce the file at a temporary sibling of `path`, then fsyncs it and
/// renames it over `path`: for writers (Parquet) that want a path of their own.
pub fn write_with<E: From<io::Error>>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    if let Err(e) = write(&tmp) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(sync_dir(dir)?)
}

/// Flushes a directory's entries (renames, creations) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Fsyncs every regular file directly inside `dir`, then the directory itself.
pub fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// Publishes a fully written directory at `dest` with one rename. Whatever was at
/// `dest` before (a corrupt or partial artifact) is moved aside into `trash` first and
/// deleted after the new one is in place.
pub fn publish_dir(staged: &Path, dest: &Path, trash: &Path) -> io::Result<()> {
    sync_tree(staged)?;
    let parent = dest.parent().expect("artifact directories have a parent");
    fs::create_dir_all(parent)?;
    let mut displaced = None;
    if dest.exists() {
        fs::create_dir_all(trash)?;
        let aside = trash.join(format!(
            "{}-{}",
            dest.file_name().and_then(|n| n.to_str()).unwrap_or("old"),
            std::process::id()
        ));
        fs::rename(dest, &aside)?;
        displaced = Some(aside);
    }
    fs::rename(staged, dest)?;
    sync_dir(parent)?;
    if let Some(aside) = displaced {
        fs::remove_dir_all(aside)?;
    }
    Ok(())
}

/// Total size in bytes of the regular files under `dir`, recursively.
pub fn dir_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += dir_size(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}
