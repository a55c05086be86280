//! A log file that stays small: appended to, and renamed to `<name>.1`
//! (replacing the older one) once it passes 1 MiB. For the Windows task,
//! whose stderr goes nowhere.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MAX_BYTES: u64 = 1 << 20;

pub struct LogFile {
    path: PathBuf,
    /// None only briefly while rotating (Windows cannot rename an open file).
    file: Option<File>,
    written: u64,
}

impl LogFile {
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_owned(),
            file: Some(file),
            written,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let old = self.path.with_extension(match self.path.extension() {
            Some(e) => format!("{}.1", e.to_string_lossy()),
            None => "1".to_owned(),
        });
        self.file = None;
        let _ = std::fs::remove_file(&old);
        let renamed = std::fs::rename(&self.path, &old);
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        self.written = 0;
        renamed
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written >= MAX_BYTES {
            // Logging must never stop the agent: keep writing where we can.
            let _ = self.rotate();
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(buf.len());
        };
        let n = file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.log");
        let mut log = LogFile::open(&path).unwrap();
        let line = vec![b'x'; 100 * 1024];
        for _ in 0..25 {
            log.write_all(&line).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= MAX_BYTES + line.len() as u64);
        assert!(dir.path().join("agent.log.1").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
