//! The one error type of the commands: each kind keeps its cause, knows its exit code and its
//! hint, and prints as a chain (`error:`, `caused by:` for each cause that says more, the hint
//! last), the way cargo and uv print theirs.

use crate::backend::EngineError;
use crate::class::ClassError;
use crate::hints::HintError;
use crate::images::ImageError;
use crate::lab::LabErrors;
use crate::session::SessionError;
use crate::signing::SigningError;
use crate::solution::SolutionError;

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

/// Whose fault an error is, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Input,
    Environment,
    Failed,
    Interrupted,
}

impl Kind {
    pub fn code(self) -> i32 {
        match self {
            Kind::Input => exit::INPUT,
            Kind::Environment => exit::ENVIRONMENT,
            Kind::Failed => exit::FAILED,
            Kind::Interrupted => exit::INTERRUPTED,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lab(#[from] LabErrors),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Images(#[from] ImageError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Class(#[from] ClassError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Hint(#[from] HintError),
    #[error(transparent)]
    Solution(#[from] SolutionError),
    /// A file opslab reads or writes for the user (a report, a result, the history database).
    #[error("{what}")]
    File {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A wrong argument or value, found by the command itself.
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Environment(String),
    /// A verdict: a selftest, a solution or a verification that did not hold.
    #[error("{0}")]
    Failed(String),
    #[error("interrupted; what was created has been removed")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Lab(_) | Error::Input(_) => Kind::Input,
            Error::Engine(_) | Error::Environment(_) | Error::File { .. } => Kind::Environment,
            Error::Images(e) => images_kind(e),
            Error::Session(e) => session_kind(e),
            Error::Class(e) => class_kind(e),
            Error::Signing(_) => Kind::Input,
            Error::Hint(HintError::History(_)) => Kind::Environment,
            Error::Hint(_) => Kind::Input,
            Error::Solution(e) => solution_kind(e),
            Error::Failed(_) => Kind::Failed,
            Error::Interrupted => Kind::Interrupted,
        }
    }

    pub fn code(&self) -> i32 {
        self.kind().code()
    }

    /// What the user can do about it, when something helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Engine(e) => engine_hint(e),
            Error::Images(e) => images_hint(e),
            Error::Session(e) => session_hint(e),
            Error::Class(e) => class_hint(e),
            Error::Signing(e) => signing_hint(e),
            _ => None,
        }
    }

    /// A file operation's error, with what was being done.
    pub fn file(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::File { what, source }
    }

    /// The whole chain as the terminal shows it: the error, each cause that adds to what was
    /// already said, then the hint.
    pub fn render(&self) -> String {
        let mut out = format!("error: {self}");
        let mut said = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            if !said.contains(&text) {
                out.push_str(&format!("\n  caused by: {text}"));
                said.push_str(&text);
            }
            cause = c.source();
        }
        if let Some(h) = self.hint() {
            out.push_str(&format!("\n  hint: {h}"));
        }
        out
    }
}

fn images_kind(e: &ImageError) -> Kind {
    match e {
        ImageError::Unknown(_) | ImageError::BadManifest(..) | ImageError::Cycle(_) => Kind::Input,
        _ => Kind::Environment,
    }
}

fn session_kind(e: &SessionError) -> Kind {
    match e {
        SessionError::Interrupted => Kind::Interrupted,
        SessionError::AlreadyRunning(_)
        | SessionError::NoSession(_)
        | SessionError::Ambiguous(_)
        | SessionError::NoService(_)
        | SessionError::Template(_) => Kind::Input,
        SessionError::Images(i) => images_kind(i),
        _ => Kind::Environment,
    }
}

fn class_kind(e: &ClassError) -> Kind {
    match e {
        ClassError::Roster { .. }
        | ClassError::NoClass(_)
        | ClassError::Exists(_)
        | ClassError::Signing(_) => Kind::Input,
        ClassError::Session(s) => session_kind(s),
        _ => Kind::Environment,
    }
}

fn solution_kind(e: &SolutionError) -> Kind {
    match e {
        SolutionError::Script { .. } => Kind::Failed,
        SolutionError::Engine(_) => Kind::Environment,
        SolutionError::Session(s) => session_kind(s),
        _ => Kind::Input,
    }
}

fn engine_hint(e: &EngineError) -> Option<String> {
    matches!(e, EngineError::Unreachable(_))
        .then(|| "start the Docker engine (systemctl start docker) or set DOCKER_HOST".into())
}

fn images_hint(e: &ImageError) -> Option<String> {
    match e {
        ImageError::NoBase(_) => Some(
            "install debootstrap (apt-get install debootstrap) and run opslab as root, or load a \
             debian:bookworm image into the engine"
                .into(),
        ),
        ImageError::Engine(e) => engine_hint(e),
        ImageError::Missing(_) => Some(
            "`opslab images build` builds them here, or `opslab images import FILE` loads an \
             archive made by `opslab images export` on another machine"
                .into(),
        ),
        _ => None,
    }
}

fn session_hint(e: &SessionError) -> Option<String> {
    match e {
        SessionError::NoSession(_) => {
            Some("start one with `opslab start LAB`; `opslab list` shows the labs".into())
        }
        SessionError::Ambiguous(_) => Some("`opslab status --session ID` names one".into()),
        SessionError::Images(i) => images_hint(i),
        SessionError::Engine(e) => engine_hint(e),
        _ => None,
    }
}

fn class_hint(e: &ClassError) -> Option<String> {
    match e {
        ClassError::NoClass(_) => Some("`opslab class start LAB --roster FILE` creates one".into()),
        ClassError::Exists(name) => Some(format!(
            "start this class under another name with `--name NEW`, or put the earlier one away \
             first: `opslab class archive {name}` keeps it aside, `opslab class stop {name} \
             --purge` deletes it"
        )),
        ClassError::Signing(s) => signing_hint(s),
        ClassError::Session(s) => session_hint(s),
        _ => None,
    }
}

fn signing_hint(e: &SigningError) -> Option<String> {
    matches!(e, SigningError::NoKey(_)).then(|| "create one with `opslab keys init`".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_exit_code_and_hint() {
        let e = Error::from(SessionError::NoSession(String::new()));
        assert_eq!(e.code(), exit::INPUT);
        assert!(e.render().ends_with("`opslab list` shows the labs"));
        let e = Error::from(EngineError::Unreachable("socket".into()));
        assert_eq!(e.code(), exit::ENVIRONMENT);
        assert!(e.render().contains("hint: start the Docker engine"));
        let e = Error::from(ClassError::Exists("b1".into()));
        assert_eq!(e.code(), exit::INPUT);
        assert!(e.render().contains("opslab class archive b1"));
        assert_eq!(
            Error::from(SessionError::Interrupted).code(),
            exit::INTERRUPTED
        );
        assert_eq!(Error::Failed("x".into()).code(), exit::FAILED);
    }

    #[test]
    fn a_cause_prints_once_and_only_when_it_adds() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let e = Error::file("writing r.json")(io);
        assert_eq!(
            e.render(),
            "error: writing r.json\n  caused by: permission denied"
        );
        let e = Error::from(SessionError::NoService("db".into()));
        assert_eq!(e.render(), "error: no service `db` in this session");
    }
}
