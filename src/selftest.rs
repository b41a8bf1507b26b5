//! A lab proves its grader: untouched, it must stay below the pass mark with no check passing
//! that could not fail; with its reference solution applied, it must score full marks; with a
//! shortcut attempt applied instead, it must stay below the pass mark and fail every check the
//! attempt targets. Every run starts a fresh session and must leave nothing in the engine.

use std::path::{Path, PathBuf};

use crate::backend::{Engine, EngineError, LABEL_SESSION};
use crate::grade::{Grade, Grader, Options, Status};
use crate::lab::Lab;
use crate::progress::Progress;
use crate::project::Project;
use crate::session::{Runner, Session, SessionError, StartRequest};

#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    #[error("{0}: {1}")]
    Targets(PathBuf, std::io::Error),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

pub struct Selftest<'a> {
    pub engine: &'a Engine,
    pub project: &'a Project,
    pub progress: &'a dyn Progress,
    pub lab: &'a Lab,
}

/// One run: the untouched grading (none for an attempt) and the grading after the solution.
pub struct Run {
    pub number: u32,
    pub before: Option<Grade>,
    pub after: Option<Grade>,
}

/// What a selftest found: its runs and every problem; it holds when there is no problem.
pub struct Report {
    pub runs: Vec<Run>,
    pub problems: Vec<String>,
    /// The checks the attempt targets (empty for the reference solution).
    pub targets: Vec<String>,
}

impl Report {
    pub fn grades(&self) -> Vec<Grade> {
        self.runs
            .iter()
            .flat_map(|r| r.before.iter().chain(r.after.iter()).cloned())
            .collect()
    }
}

impl Selftest<'_> {
    /// `runs` runs with the reference solution, or with `attempt`'s folder when given.
    pub async fn run(&self, runs: u32, attempt: Option<&Path>) -> Result<Report, SelftestError> {
        let targets = match attempt {
            Some(dir) => crate::solution::attempt_targets(dir)
                .map_err(|e| SelftestError::Targets(dir.join("targets"), e))?,
            None => Vec::new(),
        };
        let solution = attempt
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.lab.dir.join("solution"));
        let mut report = Report {
            runs: Vec::new(),
            problems: Vec::new(),
            targets,
        };
        for number in 1..=runs.max(1) {
            let run = self
                .one_run(number, &solution, attempt.is_some(), &mut report)
                .await?;
            report.runs.push(run);
        }
        Ok(report)
    }

    async fn one_run(
        &self,
        number: u32,
        solution: &Path,
        attempt: bool,
        report: &mut Report,
    ) -> Result<Run, SelftestError> {
        let runner = Runner {
            engine: self.engine,
            project: self.project,
            progress: self.progress,
        };
        let trainee = format!("selftest-{}-{number}", std::process::id());
        let mut req = StartRequest::practice(self.lab, &trainee, u64::from(number));
        req.extra_labels
            .insert(crate::backend::LABEL_EPHEMERAL.into(), "1".into());
        let s = runner.start(req).await?;
        self.progress
            .note(&format!("run {number}: session {}", s.id));
        let mut run = Run {
            number,
            before: None,
            after: None,
        };
        let applied = self.grade_both(&s, &mut run, solution, attempt).await;
        runner.stop(&s).await?;
        let left = self.leftovers(&s.id).await?;
        if left > 0 {
            report.problems.push(format!(
                "run {number}: {left} object(s) left in the engine after stop"
            ));
        }
        if let Err(e) = applied {
            report.problems.push(format!("run {number}: {e}"));
        }
        report
            .problems
            .extend(judge(&run, &report.targets, attempt));
        Ok(run)
    }

    /// Grades the untouched session (not for an attempt), applies the solution, grades again.
    async fn grade_both(
        &self,
        s: &Session,
        run: &mut Run,
        solution: &Path,
        attempt: bool,
    ) -> Result<(), crate::solution::SolutionError> {
        let n = run.number;
        if !attempt {
            run.before = Some(
                self.grade(s, &format!("run {n}: grading the untouched lab"))
                    .await,
            );
        }
        self.progress
            .note(&format!("run {n}: applying {}", solution.display()));
        crate::solution::apply(self.engine, self.lab, s, solution, attempt).await?;
        let phase = if attempt { "attempted" } else { "solved" };
        let after = self
            .grade(s, &format!("run {n}: grading the {phase} lab"))
            .await;
        self.progress
            .note(&format!("run {n}: after {}/{}", after.score, after.total));
        run.after = Some(after);
        Ok(())
    }

    async fn grade(&self, s: &Session, what: &str) -> Grade {
        self.progress.note(what);
        Grader {
            engine: self.engine,
            lab: self.lab,
            session: s,
            progress: self.progress,
            options: Options::default(),
        }
        .run()
        .await
    }

    async fn leftovers(&self, id: &str) -> Result<usize, EngineError> {
        let label = format!("{LABEL_SESSION}={id}");
        Ok(self.engine.containers_with_label(&label).await?.len()
            + self.engine.networks_with_label(&label).await?.len()
            + self.engine.volumes_with_label(&label).await?.len())
    }
}

/// The problems of one run, from its gradings.
fn judge(run: &Run, targets: &[String], attempt: bool) -> Vec<String> {
    let n = run.number;
    let mut problems = Vec::new();
    if let Some(b) = &run.before {
        if b.passed {
            problems.push(format!(
                "run {n}: the untouched lab passes ({}/{})",
                b.score, b.total
            ));
        }
        for c in b
            .checks
            .iter()
            .filter(|c| c.status == Status::Passed && !c.initially_passes)
        {
            problems.push(format!(
                "run {n}: check `{}` passes on the untouched lab: its grader cannot fail (mark it initially_passes if that is meant)",
                c.id
            ));
        }
    }
    let Some(after) = &run.after else {
        return problems;
    };
    if attempt {
        if after.passed {
            problems.push(format!(
                "run {n}: the shortcut attempt passes ({}/{})",
                after.score, after.total
            ));
        }
        for id in targets {
            match after.checks.iter().find(|c| &c.id == id) {
                Some(c) if c.status == Status::Passed => problems.push(format!(
                    "run {n}: the shortcut attempt passes `{id}`, a check it targets"
                )),
                Some(_) => {}
                None => problems.push(format!(
                    "run {n}: the attempt targets `{id}`, which the lab has no check of"
                )),
            }
        }
    } else if let Some(r) = after
        .reviews
        .iter()
        .find(|r| !r.error.is_empty() || r.text.trim().is_empty())
    {
        problems.push(format!(
            "run {n}: after the solution, review `{}` has nothing for the trainer to read ({})",
            r.id,
            if r.error.is_empty() {
                "empty"
            } else {
                &r.error
            }
        ));
    }
    if !attempt && after.score != after.total {
        let failed: Vec<String> = after
            .checks
            .iter()
            .filter(|c| c.status != Status::Passed)
            .map(|c| {
                format!(
                    "`{}` ({}; expected: {}; seen: {})",
                    c.id, c.message, c.expected, c.seen
                )
            })
            .collect();
        problems.push(format!(
            "run {n}: the solution scores {}/{}; not passing: {}",
            after.score,
            after.total,
            failed.join(" | ")
        ));
    }
    problems
}
