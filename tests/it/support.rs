//! Shared helpers: run the opslab binary against this repository, with its own data folder,
//! and make sure a Docker engine answers before a Docker test goes on.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// A data folder shared by the tests of this run (history, hints, keys, classes).
pub fn data_path() -> &'static Path {
    data_dir()
}

fn data_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
        .path()
}

/// The opslab binary, run from the repository root.
pub fn opslab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_opslab"));
    c.current_dir(root())
        .env("OPSLAB_ROOT", root())
        .env("OPSLAB_DATA", data_dir())
        .env("NO_COLOR", "1")
        .env_remove("OPSLAB_LANG");
    c
}

pub fn run(args: &[&str]) -> Output {
    opslab()
        .args(args)
        .output()
        .expect("the opslab binary runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fails the test, clearly, when no Docker engine answers: Docker tests never skip silently.
pub fn require_docker() {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test needs a running Docker engine and none answers: start it (systemctl start docker) \
         or run `bash .ci/run`, which installs and starts one"
    );
}

/// Count of engine objects carrying `label` (containers, networks, volumes).
pub fn objects_with_label(label: &str) -> usize {
    let mut n = 0;
    for kind in [
        &["ps", "-aq"][..],
        &["network", "ls", "-q"][..],
        &["volume", "ls", "-q"][..],
    ] {
        let out = Command::new("docker")
            .args(kind)
            .args(["--filter", &format!("label={label}")])
            .output()
            .expect("docker runs");
        n += String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
    }
    n
}

/// Stops a session when dropped, so that a failing test leaves nothing behind.
pub struct SessionGuard(pub String);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let _ = run(&["stop", "--session", &self.0]);
    }
}

/// Starts a fixture lab (`tests/fixtures/labs/NAME`) for `trainee`, after stopping any session of
/// the same id a failed run left; the guard stops it at the end of the test.
pub fn start_fixture(name: &str, trainee: &str) -> SessionGuard {
    let lab = fixture(&format!("labs/{name}"));
    let session = format!("{name}-{trainee}");
    let _ = run(&["stop", "--session", &session]);
    let out = run(&["start", lab.to_str().expect("utf-8"), "--trainee", trainee]);
    assert!(out.status.success(), "start {name}: {}", text(&out));
    SessionGuard(session)
}
