//! `opslab class ...`: a trainer's graded, timed assessment of a roster.

use std::path::Path;
use std::time::Duration;

use super::Ctx;
use crate::class::{self, Class, ClassResult};
use crate::cli::ClassCommand;
use crate::error::{exit, Error, Result};
use crate::session;

pub async fn run(ctx: &Ctx, command: ClassCommand) -> Result<i32> {
    let engine = ctx.engine().await?;
    let class = Class {
        engine: &engine,
        project: &ctx.project,
        progress: &ctx.bars,
    };
    match command {
        ClassCommand::Start {
            lab,
            roster,
            time,
            name,
            bind,
            seed,
            internet,
            parallel,
        } => {
            let opts = StartArgs {
                time,
                name,
                bind,
                seed,
                internet,
                parallel,
            };
            start(ctx, &class, &lab, &roster, opts).await
        }
        ClassCommand::Status { name } => status(ctx, &class, &name).await,
        ClassCommand::Grade { name, end_now } => grade(ctx, &class, &name, end_now).await,
        ClassCommand::Report { name, out } => {
            let info = class::load_info(&name)?;
            let results = class::read_results(&name);
            let out = out.unwrap_or_else(|| class::class_dir(&name).join("report"));
            let files = crate::report::class::write_all(&name, &info.lab, &results, &out)
                .map_err(Error::Environment)?;
            println!("{} files written to {}", files.len(), out.display());
            Ok(exit::OK)
        }
        ClassCommand::Stop { name, purge } => {
            let n = class.stop(&name, purge).await?;
            if purge {
                println!("class {name}: {n} session(s) removed, its folder deleted");
            } else {
                let dir = class::class_dir(&name);
                println!(
                    "class {name}: {n} session(s) removed; results stay in {}",
                    dir.display()
                );
            }
            Ok(exit::OK)
        }
        ClassCommand::Serve {
            name,
            bind,
            port,
            interval,
        } => {
            let interval = crate::lab::parse_duration(&interval)
                .map_err(|e| Error::Input(format!("--interval: {e}")))?;
            let lang = ctx.lang.clone();
            let opts = crate::serve::ServeOptions {
                bind,
                port,
                interval,
                lang,
            };
            crate::serve::serve(&engine, &ctx.project, &name, opts).await?;
            Ok(exit::OK)
        }
        ClassCommand::Archive { name } => {
            let to = class.archive(&name).await?;
            println!("class {name} archived in {}", to.display());
            Ok(exit::OK)
        }
        ClassCommand::Watch { name, instance } => watch(ctx, &class, &name, &instance).await,
    }
}

struct StartArgs {
    time: Option<String>,
    name: Option<String>,
    bind: String,
    seed: Option<u64>,
    internet: bool,
    parallel: usize,
}

async fn start(
    ctx: &Ctx,
    class: &Class<'_>,
    lab: &str,
    roster: &Path,
    args: StartArgs,
) -> Result<i32> {
    // The signing key must exist before any result can be written.
    crate::signing::public_key(&crate::signing::keys_dir())?;
    let lab = ctx.load(lab)?;
    let trainees = class::read_roster(roster)?;
    let time = match &args.time {
        Some(t) => {
            Some(crate::lab::parse_duration(t).map_err(|e| Error::Input(format!("--time: {e}")))?)
        }
        None => None,
    };
    let id = args.name.unwrap_or_else(|| {
        roster
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "class".into())
    });
    let opts = class::StartOptions {
        id: id.clone(),
        time,
        bind: args.bind,
        seed: args.seed,
        parallel: args.parallel,
        internet: args.internet,
    };
    let access = class.start(&lab, trainees, &opts).await?;
    if time.is_some() {
        spawn_watcher(ctx, &id, &class::load_info(&id)?.instance)?;
    }
    let dir = class::class_dir(&id);
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "class": id, "dir": dir, "access": access })
        );
        return Ok(exit::OK);
    }
    println!(
        "class {id}: {} sessions of {} started",
        access.len(),
        lab.id()
    );
    println!("access sheet: {}", dir.join("access.md").display());
    for a in &access {
        println!(
            "  {:<16} ssh -i {} -p {} {}@{}",
            a.trainee.id,
            a.key_file.display(),
            a.port,
            a.user,
            a.host
        );
    }
    Ok(exit::OK)
}

async fn status(ctx: &Ctx, class: &Class<'_>, name: &str) -> Result<i32> {
    let info = class::load_info(name)?;
    let sessions = class.sessions(name).await?;
    let results = class::read_results(name);
    let now = session::now();
    let history = crate::history::History::open().ok();
    let mut rows = Vec::new();
    for t in &info.trainees {
        let s = sessions.iter().find(|s| s.trainee == t.id);
        let r = results.iter().find(|r| r.trainee.id == t.id);
        // On a swarm, the node of each session; a session whose node is gone is lost.
        let node = match s {
            Some(s) => Some(s.node(class.engine).await),
            None => None,
        };
        // A session whose node is gone is lost, final result or not (the result stays).
        let state = match (s, r, &node) {
            (Some(_), _, Some(Err(_))) => "lost",
            (_, Some(r), _) if r.is_final => "frozen",
            (Some(_), _, _) => "running",
            (None, _, _) => "stopped",
        };
        let (node, lost) = match node {
            Some(Ok(n)) => (n, None),
            Some(Err(why)) => (String::new(), Some(why)),
            None => (String::new(), None),
        };
        let hints = s
            .and_then(|s| {
                let h = history.as_ref()?;
                h.total_hints(&s.id, s.hint_scope()).ok()
            })
            .unwrap_or(0);
        let left = info.deadline.map(|d| d.saturating_sub(now));
        rows.push(serde_json::json!({
            "trainee": t.id, "state": state,
            "score": r.map(|r| format!("{}/{}", r.grade.score, r.grade.total)),
            "hints": hints, "seconds_left": left, "node": node, "lost": lost,
        }));
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "class": name, "lab": info.lab, "trainees": rows })
        );
        return Ok(exit::OK);
    }
    println!("class {name}, lab {}", info.lab);
    println!(
        "  {:<16} {:<8} {:>9} {:>5} {:>9} node",
        "trainee", "state", "score", "hints", "time left"
    );
    for r in rows {
        let left = r["seconds_left"]
            .as_u64()
            .map(|s| format!("{}m{:02}s", s / 60, s % 60))
            .unwrap_or_else(|| "-".into());
        println!(
            "  {:<16} {:<8} {:>9} {:>5} {:>9} {}",
            r["trainee"].as_str().unwrap_or(""),
            r["state"].as_str().unwrap_or(""),
            r["score"].as_str().unwrap_or("-"),
            r["hints"],
            left,
            r["node"].as_str().unwrap_or(""),
        );
        if let Some(why) = r["lost"].as_str() {
            println!("      lost: {why}");
        }
    }
    Ok(exit::OK)
}

async fn grade(ctx: &Ctx, class: &Class<'_>, name: &str, end_now: bool) -> Result<i32> {
    let results = if end_now {
        class.end_now(name, &ctx.lang).await?
    } else {
        class.grade(name, &ctx.lang).await?
    };
    let out = write_reports(name, &results)?;
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    for r in &results {
        println!(
            "  {:<16} {:>3}/{:<3} {}{}",
            r.trainee.id,
            r.grade.score,
            r.grade.total,
            crate::report::verdict(r.grade.passed),
            if r.is_final { " (final)" } else { "" }
        );
    }
    let dir = class::class_dir(name).join("results");
    println!("signed results: {}", dir.display());
    println!("reports: {}", out.join("class.html").display());
    Ok(exit::OK)
}

/// The class's reports, in its folder, from `results`; returns where.
fn write_reports(name: &str, results: &[ClassResult]) -> Result<std::path::PathBuf> {
    let info = class::load_info(name)?;
    let out = class::class_dir(name).join("report");
    crate::report::class::write_all(name, &info.lab, results, &out).map_err(Error::Environment)?;
    Ok(out)
}

/// Waits for the deadline, then ends access, grades a last time and freezes; does nothing if
/// the class was stopped, purged or started anew under the same name meanwhile.
async fn watch(ctx: &Ctx, class: &Class<'_>, name: &str, instance: &str) -> Result<i32> {
    let info = class::load_info(name)?;
    let Some(deadline) = info.deadline else {
        return Err(Error::Input(format!("class {name} has no time limit")));
    };
    let wait = deadline.saturating_sub(session::now());
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let now_info = match class::load_info(name) {
        Ok(i) => i,
        Err(_) => return Ok(exit::OK),
    };
    if now_info.instance != instance || class.sessions(name).await?.is_empty() {
        return Ok(exit::OK);
    }
    let results = class.finalize(name, &ctx.lang).await?;
    write_reports(name, &results)?;
    Ok(exit::OK)
}

/// Starts `opslab class watch` in its own process group, so that it outlives this command and
/// a Ctrl-C in the trainer's terminal.
fn spawn_watcher(ctx: &Ctx, id: &str, instance: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(Error::file("finding opslab's own program"))?;
    let log = class::class_dir(id).join("watch.log");
    let file = std::fs::File::create(&log).map_err(Error::file(log.display().to_string()))?;
    let err = file
        .try_clone()
        .map_err(Error::file(log.display().to_string()))?;
    std::process::Command::new(exe)
        .args(["class", "watch", id, "--instance", instance])
        // The watcher speaks to the same engine.
        .args(["--engine", ctx.engine.name()])
        .args(
            ctx.engine_host
                .iter()
                .flat_map(|h| ["--engine-host".to_string(), h.clone()]),
        )
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(Error::file("cannot start the deadline watcher"))?;
    Ok(())
}
