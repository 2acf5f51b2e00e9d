//! Fresh directories for one test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory path under the system temp dir, unique to this process, this `name` and
/// this call, removed (with its contents) when dropped. It is not created: the code under test
/// usually creates its own data directory; see [`TempDir::created`]. A test that panics keeps it,
/// and says where, for inspection.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A path for `name` (anything readable: it becomes part of the directory name).
    pub fn new(name: &str) -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "epoch-rfq-test-{name}-{}-{seq}",
            std::process::id()
        ));
        // A previous run of a process with the same id may have left it behind.
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    /// Like [`new`](Self::new), and creates the directory.
    pub fn created(name: &str) -> Self {
        let dir = Self::new(name);
        std::fs::create_dir_all(&dir.0)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.0.display()));
        dir
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path, no longer removed on drop (a long run's files, kept for inspection).
    pub fn keep(mut self) -> PathBuf {
        // An empty path tells `drop` there is nothing left to remove.
        std::mem::take(&mut self.0)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return;
        }
        if std::thread::panicking() {
            eprintln!("test failed: its files are kept in {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dir_is_fresh_and_removed_when_dropped() {
        let a = TempDir::created("fs-test");
        let b = TempDir::new("fs-test");
        assert_ne!(a.path(), b.path());
        assert!(a.is_dir());
        assert!(!b.exists(), "new() does not create");
        std::fs::write(a.join("file"), b"x").expect("write");
        let kept = a.to_path_buf();
        drop(a);
        assert!(!kept.exists());

        let kept = TempDir::created("fs-test-kept").keep();
        assert!(kept.is_dir(), "a kept dir outlives its guard");
        std::fs::remove_dir_all(kept).expect("clean up");
    }
}
