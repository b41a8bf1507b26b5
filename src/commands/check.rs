//! `opslab check` (grade a session) and `opslab solve` (apply a solution to it).

use std::path::{Path, PathBuf};

use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::grade::{Grade, Grader, Options};

/// Where a grading's JUnit XML and HTML report go, when asked.
pub struct Reports {
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

pub async fn check(
    ctx: &Ctx,
    session: Option<&str>,
    reports: Reports,
    only: Vec<String>,
    observe: bool,
    deadline: &str,
) -> Result<i32> {
    let deadline = crate::lab::parse_duration(deadline)
        .map_err(|e| Error::Input(format!("--deadline: {e}")))?;
    let engine = ctx.engine().await?;
    let (s, lab) = ctx.session(&engine, session).await?;
    let _held = ctx.lock(&s).await?;
    if s.suspended(&engine).await? {
        return Err(Error::Input(format!(
            "session {} is suspended; resume it first: opslab resume --session {}",
            s.id, s.id
        )));
    }
    let only = if observe {
        Some(lab.observation_checks())
    } else {
        (!only.is_empty()).then_some(only)
    };
    let options = Options {
        lang: ctx.lang.clone(),
        only,
        deadline,
    };
    let mut g = Grader {
        engine: &engine,
        lab: &lab,
        session: &s,
        progress: &ctx.bars,
        options,
    }
    .run()
    .await;
    crate::hints::apply(&lab, &s, &mut g)?;
    if let Ok(h) = crate::history::History::open() {
        let _ = h.record(&g);
    }
    write_reports(&g, &reports)?;
    if ctx.json {
        println!("{}", crate::report::json(&g));
    } else {
        print!(
            "{}",
            crate::report::terminal(&g, crate::report::use_colour())
        );
    }
    Ok(if g.passed { exit::OK } else { exit::FAILED })
}

fn write_reports(g: &Grade, reports: &Reports) -> Result<()> {
    let write = |p: &Path, bytes: &[u8]| {
        crate::report::write_atomic(p, bytes)
            .map_err(Error::file(format!("writing {}", p.display())))
    };
    if let Some(p) = &reports.junit {
        write(
            p,
            crate::report::junit::render(std::slice::from_ref(g)).as_bytes(),
        )?;
    }
    if let Some(p) = &reports.html {
        let page = crate::report::html::render(g).map_err(Error::Failed)?;
        write(p, page.as_bytes())?;
    }
    Ok(())
}

pub async fn solve(ctx: &Ctx, session: Option<&str>, with: Option<PathBuf>) -> Result<i32> {
    let engine = ctx.engine().await?;
    let (s, lab) = ctx.session(&engine, session).await?;
    // Another folder than the lab's solution (an attempt) gets the reference beside it.
    let reference = with.is_some();
    let dir = with.unwrap_or_else(|| lab.dir.join("solution"));
    crate::solution::apply(&engine, &lab, &s, &dir, reference).await?;
    println!("applied {} to {}", dir.display(), s.id);
    Ok(exit::OK)
}
