//! Every durable write of the tool goes through here: a file is written to a
//! temporary sibling (`tempfile`), fsynced, then renamed over its destination, so a
//! crash leaves either the old content or the new one, never a torn file; artifact
//! folders are published the same way, with one rename. Errors name their path.

use std::io::{self, Write};
use std::path::Path;

/// Creates `dir` and its missing parents. Where a part of the path is a file, the error
/// says which (`create_dir_all` alone says only "File exists").
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if let Some(file) = dir.ancestors().find(|p| p.is_file()) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("cannot create the folder {}: {} is a file", dir.display(), file.display()),
        ));
    }
    fs_err::create_dir_all(dir)
}

/// Writes `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |tmp| {
        let mut file = fs_err::File::create(tmp)?;
        file.write_all(bytes)
    })
}

/// Has `write` produce the file at a temporary path beside `path` (for writers that
/// want a path of their own: Parquet, safetensors), then fsyncs it and renames it over
/// `path`. The temporary file is removed if `write` fails.
pub fn write_with<E: From<io::Error>>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("creating a temporary file in {}: {e}", dir.display())))?;
    write(tmp.path())?;
    // tempfile creates files owner-only, and a writer may have replaced the file at the
    // path: artifacts are read by other users and jobs, and what is there now is synced.
    fs_err::set_permissions(tmp.path(), readable_by_all())?;
    fs_err::File::open(tmp.path())?.sync_all()?;
    tmp.persist(path)
        .map_err(|e| io::Error::new(e.error.kind(), format!("renaming onto {}: {}", path.display(), e.error)))?;
    Ok(sync_dir(dir)?)
}

#[cfg(unix)]
fn readable_by_all() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o644)
}

#[cfg(not(unix))]
fn readable_by_all() -> std::fs::Permissions {
    let mut permissions = std::fs::metadata(".").expect("the working directory exists").permissions();
    permissions.set_readonly(false);
    permissions
}

/// Flushes a directory's entries (renames, creations) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// Fsyncs every regular file directly inside `dir`, then the directory itself.
pub(crate) fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs_err::File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// Publishes a fully written directory at `dest` with one rename. Whatever was at
/// `dest` before (a corrupt or partial artifact) is moved aside to `aside` (a free path)
/// first and deleted after the new one is in place.
pub fn publish_dir(staged: &Path, dest: &Path, aside: &Path) -> io::Result<()> {
    sync_tree(staged)?;
    let parent = dest.parent().expect("artifact directories have a parent");
    create_dir_all(parent)?;
    let displaced = dest.exists();
    if displaced {
        fs_err::create_dir_all(aside.parent().expect("an aside path has a parent"))?;
        fs_err::rename(dest, aside)?;
    }
    fs_err::rename(staged, dest)?;
    sync_dir(parent)?;
    if displaced {
        fs_err::remove_dir_all(aside)?;
    }
    Ok(())
}

/// Total size in bytes of the regular files under `dir`, recursively.
pub fn dir_size(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in fs_err::read_dir(dir)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.txt");
        write_file(&path, b"old").unwrap();
        let failed: io::Result<()> = write_with(&path, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(io::Error::other("writer failed"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is removed");
        write_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let e = write_file(&path.join("out/x.txt"), b"x").unwrap_err().to_string();
        assert!(e.contains(&format!("{} is a file", path.display())), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644, "readable by all");
        }
    }
}
