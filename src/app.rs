//! The commands: each turns parsed arguments into library calls and prints the result.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::{Engine, EngineError, LABEL_SESSION};
use crate::cli::{ClassCommand, Cli, Command, ImagesCommand, KeysCommand};
use crate::grade::{Grade, Grader, Options, Status};
use crate::images::{Builder, ImageError};
use crate::lab::{Lab, LabErrors};
use crate::progress::{Progress, Silent};
use crate::project::Project;
use crate::session::{self, Runner, Session, SessionError, StartRequest};

/// Exit codes scripts can rely on.
pub mod exit {
    pub const OK: i32 = 0;
    /// The grading is below the pass mark, a selftest or a verification failed.
    pub const FAILED: i32 = 1;
    /// The user's input is wrong: a lab definition, an argument, a missing session.
    pub const INPUT: i32 = 2;
    /// The environment is wrong: no Docker engine, an image that does not build.
    pub const ENVIRONMENT: i32 = 3;
    /// A bug in opslab.
    pub const BUG: i32 = 4;
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Lab(#[from] LabErrors),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Environment(String),
    #[error("{0}")]
    Failed(String),
    #[error("interrupted; what was created has been removed")]
    Interrupted,
}

impl AppError {
    pub fn code(&self) -> i32 {
        match self {
            AppError::Lab(_) | AppError::Input(_) => exit::INPUT,
            AppError::Environment(_) => exit::ENVIRONMENT,
            AppError::Failed(_) => exit::FAILED,
            AppError::Interrupted => exit::INTERRUPTED,
        }
    }

    pub fn hint(&self) -> Option<&'static str> {
        match self {
            AppError::Environment(m) if m.contains("no Docker engine") => {
                Some("start the Docker engine (systemctl start docker) or set DOCKER_HOST")
            }
            AppError::Input(m) if m.contains("no running session") => {
                Some("start one with `opslab start LAB`; `opslab list` shows the labs")
            }
            _ => None,
        }
    }
}

impl From<EngineError> for AppError {
    fn from(e: EngineError) -> Self {
        AppError::Environment(e.to_string())
    }
}

impl From<ImageError> for AppError {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::Unknown(_) | ImageError::BadManifest(..) | ImageError::Cycle(_) => {
                AppError::Input(e.to_string())
            }
            _ => AppError::Environment(e.to_string()),
        }
    }
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Interrupted => AppError::Interrupted,
            SessionError::AlreadyRunning(_)
            | SessionError::NoSession(_)
            | SessionError::Ambiguous(_)
            | SessionError::NoService(_)
            | SessionError::Template(_) => AppError::Input(e.to_string()),
            SessionError::Images(i) => i.into(),
            other => AppError::Environment(other.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, AppError>;

/// Progress drawn with indicatif on a terminal; plain lines on stderr otherwise.
pub struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    draw: bool,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        Bars {
            bar: std::sync::Mutex::new(None),
            draw: !quiet
                && std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
            quiet,
        }
    }
}

impl Progress for Bars {
    fn begin(&self, task: &str, total: Option<u64>) {
        if self.quiet {
            return;
        }
        if !self.draw {
            eprintln!("{task}...");
            return;
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.cyan} {prefix} [{bar:24.cyan/blue}] {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(task.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }
    fn step(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(b) => b.set_message(message.to_string()),
            None if !self.draw => eprintln!("  {message}"),
            None => {}
        }
    }
    fn advance(&self) {
        if let Some(b) = self.bar.lock().ok().and_then(|b| b.clone()) {
            b.inc(1);
        }
    }
    fn finish(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().ok().and_then(|mut b| b.take()) {
            Some(b) => b.finish_and_clear(),
            None => eprintln!("  {message}"),
        }
    }
    fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(b) => b.println(message),
            None => eprintln!("{message}"),
        }
    }
}

pub fn lang(cli: &Cli) -> String {
    if let Some(l) = &cli.lang {
        return l.clone();
    }
    for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
        if let Ok(v) = std::env::var(var) {
            if v.starts_with("fr") {
                return "fr".into();
            }
            if !v.is_empty() {
                return "en".into();
            }
        }
    }
    "en".into()
}

async fn engine() -> Result<Engine> {
    Ok(Engine::connect().await?)
}

fn load(project: &Project, lab: &str) -> Result<Lab> {
    let path = project.lab_path(lab);
    if !path.exists() {
        let known: Vec<String> = crate::lab::discover(&project.labs_dir())
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        return Err(AppError::Input(format!(
            "no lab `{lab}` (labs: {})",
            known.join(", ")
        )));
    }
    Ok(Lab::load(&path, project)?)
}

fn trainee_default() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "trainee".into())
}

pub async fn run(cli: Cli) -> Result<i32> {
    let project = Project::discover();
    let lang = lang(&cli);
    let bars = Bars::new(cli.json);
    match &cli.command {
        Command::List => {
            for dir in crate::lab::discover(&project.labs_dir()) {
                match Lab::load(&dir, &project) {
                    Ok(l) => println!(
                        "{:<22} {}  [{}]",
                        l.id(),
                        l.title(&lang),
                        l.def
                            .lab
                            .competences
                            .iter()
                            .map(|c| c.get_ref().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Err(_) => println!(
                        "{:<22} (invalid: run `opslab validate {}`)",
                        dir.file_name().unwrap_or_default().to_string_lossy(),
                        dir.display()
                    ),
                }
            }
            Ok(exit::OK)
        }
        Command::Validate { paths } => validate(&project, paths, cli.json),
        Command::Images { command } => {
            let engine = engine().await?;
            let builder = Builder {
                engine: &engine,
                project: &project,
                progress: &bars,
            };
            match command {
                ImagesCommand::Build { names } => {
                    let names = if names.is_empty() {
                        project.image_names()
                    } else {
                        names.clone()
                    };
                    let built = builder.ensure(&names).await?;
                    for (name, tag, was_built) in &built {
                        println!(
                            "{:<16} {tag}  {}",
                            name,
                            if *was_built { "built" } else { "up to date" }
                        );
                    }
                    Ok(exit::OK)
                }
                ImagesCommand::List => {
                    let root = engine.image_id(&crate::images::root_name()).await?;
                    let plan =
                        builder.plan(&project.image_names(), root.as_deref().unwrap_or("none"))?;
                    for p in plan {
                        let present = engine.image_id(&p.tag).await?.is_some();
                        println!(
                            "{:<16} {}  {}",
                            p.name,
                            p.tag,
                            if present { "built" } else { "not built" }
                        );
                    }
                    Ok(exit::OK)
                }
            }
        }
        Command::Start { lab, trainee, seed } => {
            let lab = load(&project, lab)?;
            let engine = engine().await?;
            let runner = Runner {
                engine: &engine,
                project: &project,
                progress: &bars,
            };
            let trainee = trainee.clone().unwrap_or_else(trainee_default);
            let s = runner
                .start(StartRequest::practice(&lab, &trainee, *seed))
                .await?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({ "session": s.id, "lab": s.lab, "trainee": s.trainee, "seed": s.seed })
                );
            } else {
                let brief = lab.brief(&lang);
                let brief = crate::lab::render::render(&brief, &s.context()).unwrap_or(brief);
                println!("{}\n", brief.trim_end());
                println!("session {} is ready. Get in with:  opslab shell", s.id);
                println!("grade your work with:  opslab check    hints:  opslab hint    stop:  opslab stop");
            }
            Ok(exit::OK)
        }
        Command::Status { session } => {
            let engine = engine().await?;
            let s = Session::find(&engine, session.as_deref()).await?;
            let states = s.states(&engine).await?;
            let elapsed = session::now().saturating_sub(s.started);
            if cli.json {
                let services: Vec<_> = states
                    .iter()
                    .map(|(n, st)| serde_json::json!({ "service": n, "status": st.status, "health": st.health, "ports": st.ports }))
                    .collect();
                let params: serde_json::Map<String, serde_json::Value> =
                    s.params.0.iter().cloned().collect();
                println!(
                    "{}",
                    serde_json::json!({ "session": s.id, "lab": s.lab, "trainee": s.trainee, "seed": s.seed, "params": params, "elapsed": elapsed, "services": services })
                );
            } else {
                println!(
                    "session {} (lab {}, trainee {}), up {}m{:02}s",
                    s.id,
                    s.lab,
                    s.trainee,
                    elapsed / 60,
                    elapsed % 60
                );
                for (n, st) in states {
                    let ports: Vec<String> = st
                        .ports
                        .iter()
                        .map(|(c, h)| format!("127.0.0.1:{h}->{c}"))
                        .collect();
                    println!(
                        "  {:<14} {:<9} {:<10} {}",
                        n,
                        st.status,
                        st.health,
                        ports.join(" ")
                    );
                }
            }
            Ok(exit::OK)
        }
        Command::Shell {
            service,
            session,
            command,
        } => {
            let engine = engine().await?;
            let s = Session::find(&engine, session.as_deref()).await?;
            let lab = Lab::load(Path::new(&s.lab_dir), &project)?;
            let svc = match service {
                Some(x) => x.clone(),
                None => lab
                    .trainee_service()
                    .map(|t| t.name.get_ref().clone())
                    .unwrap_or_default(),
            };
            let user = lab.service(&svc).and_then(|d| d.user.clone());
            let cid = s.container(&svc)?.to_string();
            if !command.is_empty() {
                let out = engine
                    .exec(
                        &cid,
                        command.clone(),
                        user.as_deref(),
                        Duration::from_secs(3600),
                        None,
                    )
                    .await?;
                print!("{}", out.stdout);
                eprint!("{}", out.stderr);
                let _ = std::io::stdout().flush();
                return Ok(out.exit_code as i32);
            }
            let _raw = crate::terminal::is_tty().then(crate::terminal::RawMode::enter);
            let env = vec!["TERM=xterm-256color".to_string()];
            let code = engine
                .exec_interactive(
                    &cid,
                    vec!["bash".into(), "-l".into()],
                    user.as_deref(),
                    env,
                    None,
                )
                .await?;
            Ok(code as i32)
        }
        Command::Check {
            session,
            junit,
            html,
            only,
            deadline,
        } => {
            let deadline = crate::lab::parse_duration(deadline)
                .map_err(|e| AppError::Input(format!("--deadline: {e}")))?;
            let engine = engine().await?;
            let s = Session::find(&engine, session.as_deref()).await?;
            let lab = Lab::load(Path::new(&s.lab_dir), &project)?;
            let options = Options {
                lang: lang.clone(),
                only: (!only.is_empty()).then(|| only.clone()),
                deadline,
            };
            let mut g = Grader {
                engine: &engine,
                lab: &lab,
                session: &s,
                progress: &bars,
                options,
            }
            .run()
            .await;
            apply_hint_penalty(&lab, &s, &mut g);
            if let Ok(h) = crate::history::History::open() {
                let _ = h.record(&g);
            }
            write_reports(&g, junit.as_deref(), html.as_deref())?;
            if cli.json {
                println!("{}", crate::report::json(&g));
            } else {
                print!(
                    "{}",
                    crate::report::terminal(&g, crate::report::use_colour())
                );
            }
            Ok(if g.passed { exit::OK } else { exit::FAILED })
        }
        Command::Hint {
            check,
            session,
            yes,
        } => {
            let engine = engine().await?;
            let s = Session::find(&engine, session.as_deref()).await?;
            let lab = Lab::load(Path::new(&s.lab_dir), &project)?;
            let history = crate::history::History::open()
                .map_err(|e| AppError::Environment(format!("history database: {e}")))?;
            let target =
                match check {
                    Some(c) => lab.checks.iter().find(|x| &x.id == c).ok_or_else(|| {
                        AppError::Input(format!("no check `{c}` in {}", lab.id()))
                    })?,
                    None => {
                        // The first check that did not pass at the last grading and still has hints,
                        // else the first check with hints left.
                        let left = |c: &&crate::lab::Check| {
                            history.hints_taken(&s.id, s.started, &c.id).unwrap_or(0)
                                < c.hints.len() as u32
                        };
                        let failing: Vec<String> = history
                            .last_grade(&s.id, s.started)
                            .map(|g| {
                                g.checks
                                    .into_iter()
                                    .filter(|o| o.status != Status::Passed)
                                    .map(|o| o.id)
                                    .collect()
                            })
                            .unwrap_or_default();
                        lab.checks
                            .iter()
                            .filter(left)
                            .find(|c| failing.contains(&c.id))
                            .or_else(|| lab.checks.iter().find(left))
                            .ok_or_else(|| AppError::Input("every hint has been shown".into()))?
                    }
                };
            let taken = history
                .hints_taken(&s.id, s.started, &target.id)
                .unwrap_or(0) as usize;
            let hints = if lang == "fr" && !target.hints_fr.is_empty() {
                &target.hints_fr
            } else {
                &target.hints
            };
            if hints.is_empty() {
                return Err(AppError::Input(format!(
                    "check `{}` has no hint",
                    target.id
                )));
            }
            let assessed = s.extra_labels.contains_key(crate::class::LABEL_CLASS);
            if assessed && lab.def.lab.hint_cost > 0 && !*yes && taken < hints.len() {
                println!(
                    "this is an assessment: hint {} for `{}` costs {} points.\nrun `opslab hint {} --session {} --yes` to take it.",
                    taken + 1,
                    target.id,
                    lab.def.lab.hint_cost,
                    target.id,
                    s.id
                );
                return Ok(exit::OK);
            }
            let level = taken.min(hints.len() - 1);
            if taken < hints.len() {
                history
                    .take_hint(&s.id, s.started, &target.id, level as u32 + 1)
                    .map_err(|e| AppError::Environment(format!("history database: {e}")))?;
            }
            let text = crate::lab::render::render(&hints[level], &s.context())
                .unwrap_or_else(|_| hints[level].clone());
            println!(
                "hint {}/{} for `{}` ({}):\n{}",
                level + 1,
                hints.len(),
                target.id,
                target.title,
                text
            );
            Ok(exit::OK)
        }
        Command::Reset { session } => {
            let engine = engine().await?;
            let s = Session::find(&engine, session.as_deref()).await?;
            let lab = Lab::load(Path::new(&s.lab_dir), &project)?;
            let runner = Runner {
                engine: &engine,
                project: &project,
                progress: &bars,
            };
            runner.stop(&s).await?;
            let s2 = runner
                .start(StartRequest {
                    session_id: Some(s.id.clone()),
                    extra_labels: s.extra_labels.clone(),
                    ssh_bind: s.ssh_bind.clone(),
                    ..StartRequest::practice(&lab, &s.trainee, s.seed)
                })
                .await?;
            println!("session {} is back to its initial state", s2.id);
            Ok(exit::OK)
        }
        Command::Stop { session, all } => {
            let engine = engine().await?;
            let runner = Runner {
                engine: &engine,
                project: &project,
                progress: &Silent,
            };
            let sessions = if *all {
                Session::list(&engine).await?
            } else {
                vec![Session::find(&engine, session.as_deref()).await?]
            };
            for s in sessions {
                runner.stop(&s).await?;
                println!("stopped {}", s.id);
            }
            Ok(exit::OK)
        }
        Command::Gc { all } => {
            let engine = engine().await?;
            let r = session::gc(&engine, *all).await?;
            println!(
                "removed {} container(s), {} network(s), {} volume(s)",
                r.containers, r.networks, r.volumes
            );
            Ok(exit::OK)
        }
        Command::Selftest {
            lab,
            runs,
            attempt,
            junit,
        } => {
            let lab = load(&project, lab)?;
            let engine = engine().await?;
            selftest(
                &engine,
                &project,
                &lab,
                *runs,
                attempt.as_deref(),
                junit.as_deref(),
                &bars,
                cli.json,
            )
            .await
        }
        Command::Solve { session, with } => {
            let engine = engine().await?;
            let s = Session::find(&engine, session.as_deref()).await?;
            let lab = Lab::load(Path::new(&s.lab_dir), &project)?;
            let dir = with.clone().unwrap_or_else(|| lab.dir.join("solution"));
            apply_solution(&engine, &lab, &s, &dir).await?;
            println!("applied {} to {}", dir.display(), s.id);
            Ok(exit::OK)
        }
        Command::Class { command } => {
            class_command(&project, command, &lang, &bars, cli.json).await
        }
        Command::Keys { command } => {
            let dir = crate::signing::keys_dir();
            let key = match command {
                KeysCommand::Init => crate::signing::init(&dir),
                KeysCommand::Show => crate::signing::public_key(&dir),
            }
            .map_err(|e| AppError::Input(e.to_string()))?;
            println!("{key}");
            if matches!(command, KeysCommand::Init) {
                eprintln!("signing key written to {}", dir.display());
            }
            Ok(exit::OK)
        }
        Command::Verify { files, key } => {
            let trusted = match key {
                Some(k) => k.clone(),
                None => crate::signing::public_key(&crate::signing::keys_dir())
                    .map_err(|e| AppError::Input(e.to_string()))?,
            };
            let mut bad = 0;
            for f in files {
                match crate::signing::verify_file(f, &trusted) {
                    Ok(()) => println!("intact   {}", f.display()),
                    Err(e) => {
                        bad += 1;
                        println!("ALTERED  {}: {e}", f.display());
                    }
                }
            }
            Ok(if bad == 0 { exit::OK } else { exit::FAILED })
        }
        Command::History { limit } => {
            let h = crate::history::History::open()
                .map_err(|e| AppError::Environment(format!("history database: {e}")))?;
            let rows = h
                .recent(*limit)
                .map_err(|e| AppError::Environment(e.to_string()))?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                );
            } else {
                for r in rows {
                    println!(
                        "{}  {:<20} {:<16} {:>3}/{:<3} {}  ({:.0}s)",
                        crate::report::junit::timestamp(r.at),
                        r.lab,
                        r.trainee,
                        r.score,
                        r.total,
                        if r.passed { "passed" } else { "not passed" },
                        r.seconds
                    );
                }
            }
            Ok(exit::OK)
        }
    }
}

/// Hints cost points in an assessment (a class's session); in practice they are only counted.
fn apply_hint_penalty(lab: &Lab, s: &Session, g: &mut Grade) {
    let used = crate::history::History::open()
        .and_then(|h| h.total_hints(&s.id, s.started))
        .unwrap_or(0);
    if s.extra_labels.contains_key(crate::class::LABEL_CLASS) {
        crate::class::apply_penalty(g, used, lab.def.lab.hint_cost);
    } else {
        g.hints_used = used;
    }
}

fn write_reports(g: &Grade, junit: Option<&Path>, html: Option<&Path>) -> Result<()> {
    if let Some(p) = junit {
        crate::report::write_atomic(
            p,
            crate::report::junit::render(std::slice::from_ref(g)).as_bytes(),
        )
        .map_err(|e| AppError::Environment(format!("writing {}: {e}", p.display())))?;
    }
    if let Some(p) = html {
        let page = crate::report::html::render(g).map_err(AppError::Failed)?;
        crate::report::write_atomic(p, page.as_bytes())
            .map_err(|e| AppError::Environment(format!("writing {}: {e}", p.display())))?;
    }
    Ok(())
}

fn validate(project: &Project, paths: &[PathBuf], json: bool) -> Result<i32> {
    let roots = if paths.is_empty() {
        vec![project.labs_dir()]
    } else {
        paths.to_vec()
    };
    let mut labs = Vec::new();
    for r in &roots {
        if !r.exists() {
            return Err(AppError::Input(format!(
                "{}: no such file or folder",
                r.display()
            )));
        }
        let found = crate::lab::discover(r);
        if found.is_empty() {
            return Err(AppError::Input(format!(
                "{}: no lab.toml here or in its sub-folders",
                r.display()
            )));
        }
        labs.extend(found);
    }
    let mut all = Vec::new();
    for l in &labs {
        match Lab::load(l, project) {
            Ok(lab) => {
                if !json {
                    println!(
                        "ok  {} ({} checks, {} points)",
                        lab.id(),
                        lab.checks.len(),
                        lab.total_points()
                    );
                }
            }
            Err(e) => all.extend(e.0),
        }
    }
    if json {
        let items: Vec<_> = all
            .iter()
            .map(|d| serde_json::json!({ "file": d.file, "line": d.line, "column": d.column, "field": d.field, "message": d.message, "hint": d.hint }))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "labs": labs.len(), "errors": items })
        );
    }
    if all.is_empty() {
        Ok(exit::OK)
    } else {
        Err(AppError::Lab(LabErrors(all)))
    }
}

/// Copies a solution folder into the trainee's service and runs its solve.sh as the trainee.
async fn apply_solution(engine: &Engine, lab: &Lab, s: &Session, dir: &Path) -> Result<()> {
    let svc = lab
        .trainee_service()
        .ok_or_else(|| AppError::Input("the lab has no trainee service".into()))?;
    let cid = s.container(svc.name.get_ref())?.to_string();
    if !dir.join("solve.sh").is_file() {
        return Err(AppError::Input(format!("{}: no solve.sh", dir.display())));
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(true);
    b.append_dir_all("tmp/opslab-solution", dir)
        .map_err(|e| AppError::Input(format!("{}: {e}", dir.display())))?;
    let tar = b.into_inner().map_err(|e| AppError::Input(e.to_string()))?;
    engine
        .exec(
            &cid,
            vec!["rm".into(), "-rf".into(), "/tmp/opslab-solution".into()],
            None,
            Duration::from_secs(20),
            None,
        )
        .await?;
    engine.upload(&cid, "/", tar).await?;
    let user = svc.user.clone().unwrap_or_else(|| "root".into());
    engine
        .exec(
            &cid,
            vec![
                "chown".into(),
                "-R".into(),
                user.clone(),
                "/tmp/opslab-solution".into(),
            ],
            None,
            Duration::from_secs(20),
            None,
        )
        .await?;
    let out = engine
        .exec(
            &cid,
            vec![
                "sh".into(),
                "-c".into(),
                "cd /tmp/opslab-solution && bash ./solve.sh </dev/null".into(),
            ],
            Some(&user),
            Duration::from_secs(600),
            None,
        )
        .await?;
    if out.exit_code != 0 {
        let text = format!("{}{}", out.stdout, out.stderr);
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        return Err(AppError::Failed(format!(
            "{}/solve.sh exited {}:\n{}",
            dir.display(),
            out.exit_code,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(())
}

async fn leftovers(engine: &Engine, id: &str) -> Result<usize> {
    let label = format!("{LABEL_SESSION}={id}");
    Ok(engine.containers_with_label(&label).await?.len()
        + engine.networks_with_label(&label).await?.len()
        + engine.volumes_with_label(&label).await?.len())
}

#[allow(clippy::too_many_arguments)]
async fn selftest(
    engine: &Engine,
    project: &Project,
    lab: &Lab,
    runs: u32,
    attempt: Option<&Path>,
    junit: Option<&Path>,
    bars: &Bars,
    json: bool,
) -> Result<i32> {
    let runner = Runner {
        engine,
        project,
        progress: bars,
    };
    let mut problems: Vec<String> = Vec::new();
    let mut grades = Vec::new();
    let solution = attempt
        .map(Path::to_path_buf)
        .unwrap_or_else(|| lab.dir.join("solution"));
    for run in 1..=runs.max(1) {
        let trainee = format!("selftest-{}-{run}", std::process::id());
        let s = runner
            .start(StartRequest::practice(lab, &trainee, u64::from(run)))
            .await?;
        bars.note(&format!("run {run}: session {}", s.id));
        let result = async {
            let grader = |phase: &str| {
                bars.note(&format!("run {run}: grading the {phase} lab"));
                Grader { engine, lab, session: &s, progress: bars, options: Options::default() }
            };
            // A shortcut attempt starts from a lab whose untouched state the selftest proves.
            let before = if attempt.is_none() { Some(grader("untouched").run().await) } else { None };
            if let Some(before) = &before {
                if before.passed {
                    problems.push(format!("run {run}: the untouched lab passes ({}/{})", before.score, before.total));
                }
                for c in &before.checks {
                    if c.status == Status::Passed && !c.initially_passes {
                        problems.push(format!(
                            "run {run}: check `{}` passes on the untouched lab: its grader cannot fail (mark it initially_passes if that is meant)",
                            c.id
                        ));
                    }
                }
            }
            bars.note(&format!("run {run}: applying {}", solution.display()));
            apply_solution(engine, lab, &s, &solution).await?;
            let after = grader(if attempt.is_some() { "attempted" } else { "solved" }).run().await;
            if attempt.is_some() {
                if after.passed {
                    problems.push(format!("run {run}: the shortcut attempt passes ({}/{})", after.score, after.total));
                }
            } else if after.score != after.total {
                let failed: Vec<String> = after
                    .checks
                    .iter()
                    .filter(|c| c.status != Status::Passed)
                    .map(|c| format!("`{}` ({}; expected: {}; seen: {})", c.id, c.message, c.expected, c.seen))
                    .collect();
                problems.push(format!("run {run}: the solution scores {}/{}; not passing: {}", after.score, after.total, failed.join(" | ")));
            }
            bars.note(&format!("run {run}: after {}/{}", after.score, after.total));
            if !json {
                match &before {
                    Some(b) => println!(
                        "run {run}: untouched {}/{} ({:.0}%), solved {}/{} ({:.0}%)",
                        b.score, b.total, b.percent, after.score, after.total, after.percent
                    ),
                    None => println!("run {run}: attempt {}/{} ({:.0}%)", after.score, after.total, after.percent),
                }
                for (k, v) in &after.measures {
                    println!("        measured {k}: {v:.1}s");
                }
            }
            grades.extend(before);
            grades.push(after);
            Ok::<(), AppError>(())
        }
        .await;
        runner.stop(&s).await?;
        let left = leftovers(engine, &s.id).await?;
        if left > 0 {
            problems.push(format!(
                "run {run}: {left} object(s) left in the engine after stop"
            ));
        }
        if let Err(e) = result {
            problems.push(format!("run {run}: {e}"));
        }
    }
    if let Some(p) = junit {
        crate::report::write_atomic(p, crate::report::junit::render(&grades).as_bytes())
            .map_err(|e| AppError::Environment(format!("writing {}: {e}", p.display())))?;
    }
    if json {
        println!(
            "{}",
            serde_json::json!({ "lab": lab.id(), "runs": runs, "problems": problems, "grades": grades })
        );
    }
    if problems.is_empty() {
        if !json {
            println!("selftest {}: ok ({runs} run(s))", lab.id());
        }
        Ok(exit::OK)
    } else {
        Err(AppError::Failed(format!(
            "selftest {} failed:\n  {}",
            lab.id(),
            problems.join("\n  ")
        )))
    }
}

impl From<crate::class::ClassError> for AppError {
    fn from(e: crate::class::ClassError) -> Self {
        use crate::class::ClassError as C;
        match e {
            C::Roster { .. } | C::NoClass(_) | C::Exists(_) | C::Signing(_) => {
                AppError::Input(e.to_string())
            }
            C::Session(s) => s.into(),
            other => AppError::Environment(other.to_string()),
        }
    }
}

async fn class_command(
    project: &Project,
    command: &ClassCommand,
    lang: &str,
    bars: &Bars,
    json: bool,
) -> Result<i32> {
    use crate::class::{self, Class};
    let engine = engine().await?;
    let class = Class {
        engine: &engine,
        project,
        progress: bars,
    };
    match command {
        ClassCommand::Start {
            lab,
            roster,
            time,
            name,
            bind,
            seed,
            parallel,
        } => {
            // The signing key must exist before any result can be written.
            crate::signing::public_key(&crate::signing::keys_dir())
                .map_err(|e| AppError::Input(e.to_string()))?;
            let lab = load(project, lab)?;
            let trainees = class::read_roster(roster)?;
            let time = match time {
                Some(t) => Some(
                    crate::lab::parse_duration(t)
                        .map_err(|e| AppError::Input(format!("--time: {e}")))?,
                ),
                None => None,
            };
            let id = name.clone().unwrap_or_else(|| {
                roster
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "class".into())
            });
            let opts = class::StartOptions {
                id: id.clone(),
                time,
                bind: bind.clone(),
                seed: *seed,
                parallel: *parallel,
            };
            let access = class.start(&lab, trainees, &opts).await?;
            if time.is_some() {
                spawn_watcher(&id)?;
            }
            let dir = class::class_dir(&id);
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "class": id, "dir": dir, "access": access })
                );
            } else {
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
            }
            Ok(exit::OK)
        }
        ClassCommand::Status { name } => {
            let info = class::load_info(name)?;
            let sessions = class.sessions(name).await?;
            let results = class::read_results(name);
            let now = session::now();
            let history = crate::history::History::open().ok();
            let mut rows = Vec::new();
            for t in &info.trainees {
                let s = sessions.iter().find(|s| s.trainee == t.id);
                let r = results.iter().find(|r| r.trainee.id == t.id);
                let state = match (s, r) {
                    (_, Some(r)) if r.is_final => "frozen",
                    (Some(_), _) => "running",
                    (None, _) => "stopped",
                };
                let hints = s
                    .and_then(|s| {
                        history
                            .as_ref()
                            .and_then(|h| h.total_hints(&s.id, s.started).ok())
                    })
                    .unwrap_or(0);
                let left = info.deadline.map(|d| d.saturating_sub(now));
                rows.push(serde_json::json!({
                    "trainee": t.id, "state": state,
                    "score": r.map(|r| format!("{}/{}", r.grade.score, r.grade.total)),
                    "hints": hints, "seconds_left": left,
                }));
            }
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "class": name, "lab": info.lab, "trainees": rows })
                );
            } else {
                println!("class {name}, lab {}", info.lab);
                println!(
                    "  {:<16} {:<8} {:>9} {:>5} {:>9}",
                    "trainee", "state", "score", "hints", "time left"
                );
                for r in rows {
                    let left = r["seconds_left"]
                        .as_u64()
                        .map(|s| format!("{}m{:02}s", s / 60, s % 60))
                        .unwrap_or_else(|| "-".into());
                    println!(
                        "  {:<16} {:<8} {:>9} {:>5} {:>9}",
                        r["trainee"].as_str().unwrap_or(""),
                        r["state"].as_str().unwrap_or(""),
                        r["score"].as_str().unwrap_or("-"),
                        r["hints"],
                        left
                    );
                }
            }
            Ok(exit::OK)
        }
        ClassCommand::Grade { name } => {
            let results = class.grade(name, lang).await?;
            let info = class::load_info(name)?;
            let out = class::class_dir(name).join("report");
            crate::report::class::write_all(name, &info.lab, &results, &out)
                .map_err(AppError::Environment)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&results).unwrap_or_default()
                );
            } else {
                for r in &results {
                    println!(
                        "  {:<16} {:>3}/{:<3} {}{}",
                        r.trainee.id,
                        r.grade.score,
                        r.grade.total,
                        if r.grade.passed {
                            "passed"
                        } else {
                            "not passed"
                        },
                        if r.is_final { " (final)" } else { "" }
                    );
                }
                println!(
                    "signed results: {}",
                    class::class_dir(name).join("results").display()
                );
                println!("reports: {}", out.join("class.html").display());
            }
            Ok(exit::OK)
        }
        ClassCommand::Report { name, out } => {
            let info = class::load_info(name)?;
            let results = class::read_results(name);
            let out = out
                .clone()
                .unwrap_or_else(|| class::class_dir(name).join("report"));
            let files = crate::report::class::write_all(name, &info.lab, &results, &out)
                .map_err(AppError::Environment)?;
            println!("{} files written to {}", files.len(), out.display());
            Ok(exit::OK)
        }
        ClassCommand::Stop { name } => {
            let n = class.stop(name).await?;
            println!(
                "class {name}: {n} session(s) removed; results stay in {}",
                class::class_dir(name).display()
            );
            Ok(exit::OK)
        }
        ClassCommand::Watch { name } => {
            let info = class::load_info(name)?;
            let Some(deadline) = info.deadline else {
                return Err(AppError::Input(format!("class {name} has no time limit")));
            };
            let wait = deadline.saturating_sub(session::now());
            tokio::time::sleep(Duration::from_secs(wait)).await;
            if class.sessions(name).await?.is_empty() {
                return Ok(exit::OK);
            }
            let results = class.grade(name, lang).await?;
            crate::report::class::write_all(
                name,
                &info.lab,
                &results,
                &class::class_dir(name).join("report"),
            )
            .map_err(AppError::Environment)?;
            Ok(exit::OK)
        }
    }
}

/// Starts `opslab class watch` in its own process group, so that it outlives this command and
/// a Ctrl-C in the trainer's terminal.
fn spawn_watcher(id: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| AppError::Environment(e.to_string()))?;
    let log = crate::class::class_dir(id).join("watch.log");
    let file = std::fs::File::create(&log)
        .map_err(|e| AppError::Environment(format!("{}: {e}", log.display())))?;
    let err = file
        .try_clone()
        .map_err(|e| AppError::Environment(e.to_string()))?;
    std::process::Command::new(exe)
        .args(["class", "watch", id])
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| AppError::Environment(format!("cannot start the deadline watcher: {e}")))?;
    Ok(())
}
