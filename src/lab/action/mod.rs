//! Actions, typed. The wire form (`model::ActionDef`) is resolved into an `Action`, one variant
//! per kind; each kind is one file of this folder that owns its fields, how they are read from
//! the wire form (rendered, then checked by their types) and what it does to the session. A new
//! kind is a file implementing `Kind` and one line in `actions!` below.

use std::path::Path;

use super::model::ActionDef;
use super::resolve::{resolve, Judge, Resolver};
use super::sight::ProbeEnv;

/// What an action disturbed, and how grading puts it back.
#[derive(Debug, Clone)]
pub enum Undo {
    Start(String),
    Unpause(String),
    Connect(String, String),
}

/// Where actions act: the probes' view of the session, and the session itself.
#[derive(Clone, Copy)]
pub struct ActEnv<'a> {
    pub probe: ProbeEnv<'a>,
    /// The session id (networks are `opslab-<session>-<network>`).
    pub session: &'a str,
    pub lab_dir: &'a Path,
    /// The session's context (what files copied into services are rendered with).
    pub session_ctx: &'a tera::Context,
}

impl ActEnv<'_> {
    pub fn container(&self, svc: &str) -> Result<String, String> {
        self.probe.container(svc).map(str::to_string)
    }

    pub fn network(&self, name: &str) -> String {
        format!("opslab-{}-{name}", self.session)
    }
}

/// An engine call's error in words.
pub fn engine<T>(r: Result<T, crate::backend::EngineError>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// One action kind.
pub trait Kind: Sized {
    /// The key naming the kind in an action (`exec = "..."`).
    const NAME: &'static str;
    fn written(w: &ActionDef) -> bool;
    /// The typed action; problems are reported to `r` (located by key).
    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self>;
    /// Acts; what it disturbed goes to `undo`.
    fn act(
        &self,
        env: &ActEnv<'_>,
        undo: &mut Vec<Undo>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

macro_rules! actions {
    ($($variant:ident($module:ident::$ty:ident)),* $(,)?) => {
        $(pub mod $module;)*

        #[derive(Debug, Clone)]
        pub enum Action {
            $($variant($module::$ty),)*
        }

        /// The kind names, in the order the documentation gives them.
        pub const KINDS: &[&str] = &[$(<$module::$ty as Kind>::NAME,)*];

        impl Action {
            fn written(w: &ActionDef) -> Vec<&'static str> {
                let mut kinds = Vec::new();
                $(if <$module::$ty as Kind>::written(w) {
                    kinds.push(<$module::$ty as Kind>::NAME);
                })*
                kinds
            }

            fn resolve_kind(kind: &str, w: &ActionDef, r: &mut Resolver) -> Option<Action> {
                $(if kind == <$module::$ty as Kind>::NAME {
                    return <$module::$ty as Kind>::resolve(w, r).map(Action::$variant);
                })*
                None
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $(Action::$variant(_) => <$module::$ty as Kind>::NAME,)*
                }
            }

            pub async fn act(&self, env: &ActEnv<'_>, undo: &mut Vec<Undo>) -> Result<(), String> {
                match self {
                    $(Action::$variant(k) => k.act(env, undo).await,)*
                }
            }
        }
    };
}

actions! {
    Exec(exec::Exec),
    Stop(stop::Stop),
    Kill(kill::Kill),
    Start(start::Start),
    Restart(restart::Restart),
    Pause(pause::Pause),
    Unpause(unpause::Unpause),
    Disconnect(disconnect::Disconnect),
    Connect(connect::Connect),
    Copy(copy::Copy),
    Wait(wait::Wait),
}

/// A resolved action, and whether the check's `measure` clock starts with it.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    pub starts_measure: bool,
}

impl Action {
    /// The typed action, or `None` after telling `judge` every problem.
    pub fn resolve(w: &ActionDef, judge: &mut dyn Judge) -> Option<Step> {
        resolve(judge, |r| {
            let kinds = Action::written(w);
            if !super::expect::exactly_one(r, "an action", &kinds, KINDS) {
                return None;
            }
            let action = Action::resolve_kind(kinds[0], w, r)?;
            Some(Step {
                action,
                starts_measure: w.starts_measure == Some(true),
            })
        })
    }
}

/// The network of a `disconnect` or `connect`.
fn network(w: &ActionDef, r: &mut Resolver) -> Option<String> {
    match &w.network {
        Some(n) => Some(r.network("network", n)),
        None => {
            r.problem("", "disconnect/connect need `network`");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::resolve::Grading;

    #[test]
    fn actions_resolve_into_their_kind_and_refuse_the_grader() {
        assert_eq!(KINDS.len(), 11);
        let ctx = tera::Context::new();
        let mut g = Grading {
            ctx: &ctx,
            problems: Vec::new(),
        };
        let kill = ActionDef {
            kill: Some("app".into()),
            starts_measure: Some(true),
            ..ActionDef::default()
        };
        let step = Action::resolve(&kill, &mut g).expect("resolves");
        assert_eq!(step.action.name(), "kill");
        assert!(step.starts_measure);
        let Action::Kill(k) = &step.action else {
            panic!("a kill: {step:?}")
        };
        assert_eq!(k.signal, "KILL");
        let grader = ActionDef {
            stop: Some("grader".into()),
            ..ActionDef::default()
        };
        assert!(Action::resolve(&grader, &mut g).is_none());
        assert!(g.problems.iter().any(|p| p.contains("cannot be acted on")));
    }
}
