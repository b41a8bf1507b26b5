//! Applying a solution: a reference solution or a shortcut attempt's folder is copied into the
//! trainee's service and its `solve.sh` runs there as the trainee, as a trainee's own work would.
//! A shortcut attempt gets the lab's reference solution beside it, in `reference/`, so that an
//! attempt that is the solution with one part done wrong runs it rather than a copy of it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::{Engine, EngineError};
use crate::lab::Lab;
use crate::session::{Session, SessionError};

/// Where the folder lands in the trainee's service.
const INSIDE: &str = "/tmp/opslab-solution";

#[derive(Debug, thiserror::Error)]
pub enum SolutionError {
    #[error("the lab has no trainee service")]
    NoTraineeService,
    #[error("{0}: no solve.sh")]
    NoScript(PathBuf),
    #[error("{0}: {1}")]
    Folder(PathBuf, String),
    #[error("{script} exited {code}:\n{tail}")]
    Script {
        script: String,
        code: i64,
        tail: String,
    },
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Copies `dir` into the trainee's service and runs its solve.sh as the trainee; with
/// `reference`, the lab's reference solution goes beside it, in `reference/`.
pub async fn apply(
    engine: &Engine,
    lab: &Lab,
    s: &Session,
    dir: &Path,
    reference: bool,
) -> Result<(), SolutionError> {
    let svc = lab
        .trainee_service()
        .ok_or(SolutionError::NoTraineeService)?;
    let cid = s.container(svc.name.get_ref())?.to_string();
    if !dir.join("solve.sh").is_file() {
        return Err(SolutionError::NoScript(dir.to_path_buf()));
    }
    let tar = crate::lab::confine::tar_folder(dir, Path::new(INSIDE.trim_start_matches('/')))
        .map_err(|e| SolutionError::Folder(dir.to_path_buf(), e.to_string()))?;
    let short = Duration::from_secs(20);
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    engine
        .exec(&cid, argv(&["rm", "-rf", INSIDE]), None, short, None)
        .await?;
    engine.upload(&cid, "/", tar).await?;
    if reference {
        let solution = lab.dir.join("solution");
        let inside = format!("{INSIDE}/reference");
        let tar =
            crate::lab::confine::tar_folder(&solution, Path::new(inside.trim_start_matches('/')))
                .map_err(|e| SolutionError::Folder(solution.clone(), e.to_string()))?;
        engine.upload(&cid, "/", tar).await?;
    }
    let user = svc.user.clone().unwrap_or_else(|| "root".into());
    engine
        .exec(
            &cid,
            argv(&["chown", "-R", &user, INSIDE]),
            None,
            short,
            None,
        )
        .await?;
    let run = format!("cd {INSIDE} && bash ./solve.sh </dev/null");
    let out = engine
        .exec(
            &cid,
            argv(&["sh", "-c", &run]),
            Some(&user),
            Duration::from_secs(600),
            None,
        )
        .await?;
    if out.exit_code != 0 {
        return Err(SolutionError::Script {
            script: format!("{}/solve.sh", dir.display()),
            code: out.exit_code,
            tail: crate::text::last_lines(&format!("{}{}", out.stdout, out.stderr), 30),
        });
    }
    Ok(())
}

/// The checks a shortcut attempt targets: its `targets` file, one check id per line (`#`
/// comments); an attempt without one targets nothing in particular.
pub fn attempt_targets(dir: &Path) -> std::io::Result<Vec<String>> {
    match std::fs::read_to_string(dir.join("targets")) {
        Ok(text) => Ok(text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
