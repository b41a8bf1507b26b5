//! One grading at a time per session: an advisory file lock under the data folder that every
//! command touching a session's grade takes (`check`, `hint`, `class grade`, the class watcher).
//! The lock is the operating system's (flock): a process that dies releases it. A session's
//! `life` lock is held by `stop` while it removes the session, so that `gc` leaves it alone.

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

/// Held while it lives; dropping it releases the lock.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

fn path(base: &std::path::Path, kind: &str, id: &str) -> PathBuf {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.join("locks").join(format!("{kind}-{safe}.lock"))
}

/// The lock file of `kind`/`id`, made when missing.
fn open(base: &std::path::Path, kind: &str, id: &str) -> std::io::Result<File> {
    let p = path(base, kind, id);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
}

/// Takes the lock `kind`/`id`, waiting for whoever holds it; `waiting` is called once if it must.
pub async fn take(kind: &str, id: &str, waiting: impl FnOnce()) -> std::io::Result<Held> {
    take_in(&crate::project::data_dir(), kind, id, waiting).await
}

async fn take_in(
    base: &std::path::Path,
    kind: &str,
    id: &str,
    waiting: impl FnOnce(),
) -> std::io::Result<Held> {
    let file = open(base, kind, id)?;
    let mut waiting = Some(waiting);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Held { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                if let Some(w) = waiting.take() {
                    w();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// The grading lock of a session if nobody holds it now (an observer that must not queue).
pub fn try_session(id: &str) -> std::io::Result<Option<Held>> {
    try_take("session", id)
}

/// The lock `kind`/`id` if nobody holds it now.
pub fn try_take(kind: &str, id: &str) -> std::io::Result<Option<Held>> {
    let file = open(&crate::project::data_dir(), kind, id)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Held { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// One of `n` machine-wide slots named `kind` (under the data folder), waiting until one is
/// free; `waiting` is called once if it must.
pub async fn slot(kind: &str, n: usize, waiting: impl FnOnce()) -> std::io::Result<Held> {
    let base = crate::project::data_dir();
    let mut waiting = Some(waiting);
    loop {
        for i in 0..n.max(1) {
            let file = open(&base, kind, &i.to_string())?;
            match file.try_lock() {
                Ok(()) => return Ok(Held { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        if let Some(w) = waiting.take() {
            w();
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The grading lock of a session.
pub async fn session(id: &str, waiting: impl FnOnce()) -> std::io::Result<Held> {
    take("session", id, waiting).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().expect("tmp");
        let base = dir.path().to_path_buf();
        let first = take_in(&base, "test", "s1", || {}).await.expect("first");
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = waited.clone();
        let second = tokio::spawn(async move {
            take_in(&base, "test", "s1", move || {
                w.store(true, std::sync::atomic::Ordering::SeqCst)
            })
            .await
            .map(|_| ())
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!second.is_finished(), "the second holder waits");
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second holder gets the lock once the first lets go")
            .expect("join")
            .expect("lock");
    }
}
