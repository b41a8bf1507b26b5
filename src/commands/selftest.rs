//! `opslab selftest LAB [--attempt DIR]`: the lab proves its grader (see `crate::selftest`).

use std::path::Path;

use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::selftest::{Report, Selftest};

pub async fn selftest(
    ctx: &Ctx,
    lab: &str,
    runs: u32,
    attempt: Option<&Path>,
    junit: Option<&Path>,
) -> Result<i32> {
    let lab = ctx.load(lab)?;
    let engine = ctx.engine().await?;
    let report = Selftest {
        engine: &engine,
        project: &ctx.project,
        progress: &ctx.bars,
        lab: &lab,
    }
    .run(runs, attempt)
    .await
    .map_err(|e| match e {
        crate::selftest::SelftestError::Session(s) => Error::Session(s),
        crate::selftest::SelftestError::Engine(s) => Error::Engine(s),
        other => Error::Input(other.to_string()),
    })?;
    let grades = report.grades();
    if let Some(p) = junit {
        crate::report::write_atomic(p, crate::report::junit::render(&grades).as_bytes())
            .map_err(Error::file(format!("writing {}", p.display())))?;
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "lab": lab.id(), "runs": runs, "problems": report.problems, "grades": grades })
        );
    } else {
        print_runs(&report);
    }
    if !report.problems.is_empty() {
        return Err(Error::Failed(format!(
            "selftest {} failed:\n  {}",
            lab.id(),
            report.problems.join("\n  ")
        )));
    }
    if !ctx.json {
        println!("selftest {}: ok ({runs} run(s))", lab.id());
    }
    Ok(exit::OK)
}

fn print_runs(report: &Report) {
    for run in &report.runs {
        let n = run.number;
        let Some(after) = &run.after else { continue };
        match &run.before {
            Some(b) => println!(
                "run {n}: untouched {}/{} ({:.0}%), solved {}/{} ({:.0}%)",
                b.score, b.total, b.percent, after.score, after.total, after.percent
            ),
            None => {
                println!(
                    "run {n}: attempt {}/{} ({:.0}%)",
                    after.score, after.total, after.percent
                );
                for c in &after.checks {
                    let targeted = report.targets.contains(&c.id);
                    println!(
                        "        {:<8} {}{}",
                        format!("{:?}", c.status).to_lowercase(),
                        c.id,
                        if targeted { "  (targeted)" } else { "" }
                    );
                }
            }
        }
        for (k, v) in &after.measures {
            println!("        measured {k}: {v:.1}s");
        }
    }
}
