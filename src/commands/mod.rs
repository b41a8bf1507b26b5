//! The commands: one file per subcommand (or group), each a short function from parsed
//! arguments to library calls and printing. `run` only dispatches.

mod check;
mod class;
mod hint;
mod history;
mod images;
mod keys;
mod labs;
mod lifecycle;
mod selftest;
mod shell;
mod start;
mod status;

use crate::backend::Engine;
use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::lab::Lab;
use crate::progress::Bars;
use crate::project::Project;
use crate::session::Session;

/// What every command gets: the project, the language, the progress display, JSON or text.
pub struct Ctx {
    pub project: Project,
    pub lang: String,
    pub bars: Bars,
    pub json: bool,
    /// The engine sessions run on, and its address (`--engine`, `--engine-host`).
    pub engine: crate::backend::EngineKind,
    pub engine_host: Option<String>,
}

impl Ctx {
    async fn engine(&self) -> Result<Engine> {
        Ok(Engine::connect_kind(self.engine, self.engine_host.as_deref()).await?)
    }

    /// A lab of labs/ by name.
    fn load(&self, lab: &str) -> Result<Lab> {
        let path = self.project.lab_path(lab);
        if !path.exists() {
            let known: Vec<String> = crate::lab::discover(&self.project.labs_dir())
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
                .collect();
            return Err(Error::Input(format!(
                "no lab `{lab}` (labs: {})",
                known.join(", ")
            )));
        }
        Ok(Lab::load(&path, &self.project)?)
    }

    /// A running session (the only one when `session` is not given) and its lab.
    async fn session(&self, engine: &Engine, session: Option<&str>) -> Result<(Session, Lab)> {
        let s = Session::find(engine, session).await?;
        let lab = Lab::load(std::path::Path::new(&s.lab_dir), &self.project)?;
        Ok((s, lab))
    }

    /// A session's grading lock (one grading or hint at a time per session).
    async fn lock(&self, s: &Session) -> Result<crate::lock::Held> {
        crate::lock::session(&s.id, || {
            crate::progress::Progress::note(
                &self.bars,
                &format!("waiting: another grading of {} is under way", s.id),
            )
        })
        .await
        .map_err(Error::file(format!("grading lock of {}", s.id)))
    }

    fn runner<'a>(&'a self, engine: &'a Engine) -> crate::session::Runner<'a> {
        crate::session::Runner {
            engine,
            project: &self.project,
            progress: &self.bars,
        }
    }
}

/// The language of briefs, hints and reports: --lang, else the locale, else English.
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

pub async fn run(cli: Cli) -> Result<i32> {
    let ctx = Ctx {
        project: Project::discover(),
        lang: lang(&cli),
        bars: Bars::new(cli.json),
        json: cli.json,
        engine: cli.engine,
        engine_host: cli.engine_host.clone(),
    };
    let ctx = &ctx;
    match cli.command {
        Command::List => labs::list(ctx),
        Command::Validate { paths } => labs::validate(ctx, &paths),
        Command::Images { command } => images::run(ctx, command).await,
        Command::Start { lab, trainee, seed } => start::start(ctx, &lab, trainee, seed).await,
        Command::Status { session } => status::status(ctx, session.as_deref()).await,
        Command::Shell {
            service,
            session,
            command,
        } => shell::shell(ctx, service, session.as_deref(), command).await,
        Command::Check {
            session,
            junit,
            html,
            only,
            observe,
            deadline,
        } => {
            let reports = check::Reports { junit, html };
            check::check(ctx, session.as_deref(), reports, only, observe, &deadline).await
        }
        Command::Hint {
            check,
            session,
            yes,
        } => hint::hint(ctx, check.as_deref(), session.as_deref(), yes).await,
        Command::Suspend { session } => lifecycle::suspend(ctx, session.as_deref()).await,
        Command::Resume { session } => lifecycle::resume(ctx, session.as_deref()).await,
        Command::Reset { session } => start::reset(ctx, session.as_deref()).await,
        Command::Stop { session, all } => lifecycle::stop(ctx, session.as_deref(), all).await,
        Command::Gc { all } => lifecycle::gc(ctx, all).await,
        Command::Selftest {
            lab,
            runs,
            attempt,
            junit,
        } => selftest::selftest(ctx, &lab, runs, attempt.as_deref(), junit.as_deref()).await,
        Command::Solve { session, with } => check::solve(ctx, session.as_deref(), with).await,
        Command::Class { command } => class::run(ctx, command).await,
        Command::Keys { command } => keys::keys(command),
        Command::Verify { files, key, class } => keys::verify(&files, key, class.as_deref()),
        Command::History { limit } => history::history(ctx, limit),
    }
}
