//! Writing files so that a crash leaves either the old or the new content,
//! never a mix: the one helper for key, certificate, baseline, state and
//! spool files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Who may read a file written by [`write_atomically`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perms {
    /// Owner only (0600) on Unix; on Windows the state directory's ACL
    /// (SYSTEM and Administrators, set by the installer) protects it.
    Private,
    /// The process's default (umask on Unix).
    Default,
}

/// Temp file beside `path`, write, fsync, rename over `path`, fsync the
/// directory (the rename is durable only once the directory entry is).
pub fn write_atomically(path: &Path, bytes: &[u8], perms: Perms) -> io::Result<()> {
    let tmp = tmp_path(path);
    let result = write_tmp(&tmp, bytes, perms).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        // Never leave a half temp file taking the space of a full disk.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path);
    Ok(())
}

/// `name.ext` → `name.ext.tmp` (not `name.tmp`: `client.key` and
/// `client.pem` must not share a temp file).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_tmp(tmp: &Path, bytes: &[u8], perms: Perms) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if perms == Perms::Private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = perms;
    let mut file = options.open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Removes a file durably; a file already gone is fine.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => {
            sync_dir(path);
            Ok(())
        }
    }
}

/// Makes a rename or removal durable. Windows cannot open a directory this
/// way and journals the change itself, so a failure is ignored.
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// Bytes available to this process on the file system holding `path`.
#[cfg(unix)]
pub fn free_space(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; all-zero is a valid value.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(s.f_bavail as u64 * s.f_frsize as u64)
}

/// Bytes available to this process on the volume holding `path`.
#[cfg(windows)]
pub fn free_space(path: &Path) -> Option<u64> {
    use std::os::windows::ffi::OsStrExt;
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
    let mut avail = 0u64;
    // SAFETY: `wide` is NUL-terminated; the out-parameters are valid or null.
    let ok = unsafe {
        windows_sys::Win32::Storage::FileSystem::GetDiskFreeSpaceExW(
            wide.as_ptr(),
            &mut avail,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    (ok != 0).then_some(avail)
}

#[cfg(not(any(unix, windows)))]
pub fn free_space(_path: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.key");
        write_atomically(&path, b"one", Perms::Private).unwrap();
        write_atomically(&path, b"two", Perms::Private).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"old", Perms::Default).unwrap();
        // A directory where the temp file would go makes the write fail.
        std::fs::create_dir(tmp_path(&path)).unwrap();
        assert!(write_atomically(&path, b"new", Perms::Default).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn free_space_is_known_here() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_space(dir.path()).is_some_and(|b| b > 0));
    }

    #[test]
    fn temp_names_do_not_collide() {
        assert_ne!(
            tmp_path(Path::new("/s/client.key")),
            tmp_path(Path::new("/s/client.pem"))
        );
    }
}
