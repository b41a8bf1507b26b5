//! Expectations, typed. The wire form (`model::ExpectDef`, every key any kind may take) is
//! resolved into an `Expect`: the deadline shared by every kind, and a `Probe`, one variant per
//! kind. Each kind is one file of this folder that owns its fields, how they are read from the
//! wire form (rendered, then checked by their types), what it wants in words, and one look at
//! the system. A new kind is a file implementing `Kind` and one line in `probes!` below: the
//! enum, the list of kind names and every dispatch are generated from that line, so no `match`
//! can forget a kind.

use std::time::Duration;

use super::model::ExpectDef;
use super::resolve::{resolve, Judge, Resolver};
use super::rules::{Delay, MIN_EVERY};
use super::sight::{ProbeEnv, Seen};

/// One probe kind.
pub trait Kind: Sized {
    /// The key naming the kind in an expectation (`http = "..."`).
    const NAME: &'static str;
    /// Whether the wire form is written as this kind.
    fn written(w: &ExpectDef) -> bool;
    /// The typed probe; problems are reported to `r` (located by key).
    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self>;
    /// What the probe wants, in one line.
    fn describe(&self) -> String;
    /// One look; `timeout` bounds a request or command.
    fn probe(
        &self,
        env: &ProbeEnv<'_>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Seen> + Send;
}

macro_rules! probes {
    ($($variant:ident($module:ident::$ty:ident)),* $(,)?) => {
        $(pub mod $module;)*

        /// What an expectation looks at.
        #[derive(Debug, Clone)]
        pub enum Probe {
            $($variant($module::$ty),)*
        }

        /// The kind names, in the order the documentation gives them.
        pub const KINDS: &[&str] = &[$(<$module::$ty as Kind>::NAME,)*];

        impl Probe {
            /// The kinds the wire form is written as (exactly one when it is right).
            fn written(w: &ExpectDef) -> Vec<&'static str> {
                let mut kinds = Vec::new();
                $(if <$module::$ty as Kind>::written(w) {
                    kinds.push(<$module::$ty as Kind>::NAME);
                })*
                kinds
            }

            fn resolve(kind: &str, w: &ExpectDef, r: &mut Resolver) -> Option<Probe> {
                $(if kind == <$module::$ty as Kind>::NAME {
                    return <$module::$ty as Kind>::resolve(w, r).map(Probe::$variant);
                })*
                None
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $(Probe::$variant(_) => <$module::$ty as Kind>::NAME,)*
                }
            }

            pub fn describe(&self) -> String {
                match self {
                    $(Probe::$variant(k) => k.describe(),)*
                }
            }

            pub async fn probe(&self, env: &ProbeEnv<'_>, timeout: Duration) -> Seen {
                match self {
                    $(Probe::$variant(k) => k.probe(env, timeout).await,)*
                }
            }
        }
    };
}

probes! {
    Http(http::Http),
    Command(command::Command),
    File(file::File),
    Container(container::Container),
    Port(port::Port),
    Log(log::Log),
    Prometheus(prometheus::Prometheus),
    Alertmanager(alertmanager::Alertmanager),
    Inbox(inbox::Inbox),
}

/// How long an expectation is given: to become true, or to stay true.
#[derive(Debug, Clone)]
pub enum Window {
    Within(Delay),
    Holds(Delay),
}

/// A resolved expectation: a probe and its deadline.
#[derive(Debug, Clone)]
pub struct Expect {
    pub probe: Probe,
    pub window: Window,
    /// How often it is looked at again.
    pub every: Delay,
    /// The condition inverted.
    pub not: bool,
    /// What a single request or command may take.
    pub timeout: Delay,
}

impl Expect {
    /// The typed expectation, or `None` after telling `judge` every problem.
    pub fn resolve(w: &ExpectDef, judge: &mut dyn Judge) -> Option<Expect> {
        resolve(judge, |r| {
            let kinds = Probe::written(w);
            if !exactly_one(r, "an expectation", &kinds, KINDS) {
                return None;
            }
            let (window, every, timeout) = deadline(w, r);
            let probe = Probe::resolve(kinds[0], w, r)?;
            Some(Expect {
                probe,
                window,
                every,
                not: w.not,
                timeout,
            })
        })
    }

    /// A one-line statement of what the expectation wants.
    pub fn describe(&self) -> String {
        let mut s = self.probe.describe();
        if self.not {
            s = format!("NOT ({s})");
        }
        match &self.window {
            Window::Holds(h) => s.push_str(&format!(", for {h}")),
            Window::Within(w) => s.push_str(&format!(", within {w}")),
        }
        s
    }
}

/// `within` or `holds`, `every` and `timeout`.
fn deadline(w: &ExpectDef, r: &mut Resolver) -> (Window, Delay, Delay) {
    if w.within.is_some() && w.holds.is_some() {
        r.problem("", "an expectation has `within` or `holds`, not both");
    }
    let within = r.delay("within", &w.within, Delay::secs(10));
    let holds = w
        .holds
        .as_ref()
        .map(|_| r.delay("holds", &w.holds, Delay::secs(10)));
    let every = r.delay("every", &w.every, Delay::secs(1));
    let timeout = r.delay("timeout", &w.timeout, Delay::secs(10));
    if w.every.is_some() {
        if every.time < MIN_EVERY {
            r.problem_hint(
                "every",
                format!(
                    "`every` is at least {}, got `{}`",
                    humantime::format_duration(MIN_EVERY),
                    w.every.as_deref().unwrap_or_default()
                ),
                "holds checks again every `every`; write e.g. every = \"1s\"",
            );
        } else if holds.as_ref().is_some_and(|h| every.time > h.time) {
            r.problem("every", "`every` is longer than `holds`");
        }
    }
    let window = match holds {
        Some(h) => Window::Holds(h),
        None => Window::Within(within),
    };
    (window, every, timeout)
}

/// Whether exactly one kind key is written; reports the error otherwise.
pub(crate) fn exactly_one(r: &mut Resolver, what: &str, kinds: &[&str], all: &[&str]) -> bool {
    if kinds.len() == 1 {
        return true;
    }
    let found = if kinds.is_empty() {
        "none".to_string()
    } else {
        kinds.join(" and ")
    };
    r.problem(
        "",
        format!("{what} is exactly one of {}, found {found}", all.join(", ")),
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::resolve::Grading;

    fn context() -> tera::Context {
        let mut ctx = tera::Context::new();
        ctx.insert("secs", &20);
        ctx.insert("run", &serde_json::json!({ "token": "abcdefghijkl" }));
        ctx
    }

    fn resolved(w: &ExpectDef) -> Result<Expect, Vec<String>> {
        let ctx = context();
        let mut g = Grading {
            ctx: &ctx,
            problems: Vec::new(),
        };
        Expect::resolve(w, &mut g).ok_or(g.problems)
    }

    #[test]
    fn kinds_are_listed_in_the_documented_order() {
        assert_eq!(
            KINDS,
            [
                "http",
                "command",
                "file",
                "container",
                "port",
                "log",
                "prometheus",
                "alertmanager",
                "inbox"
            ]
        );
    }

    #[test]
    fn an_http_expectation_is_rendered_then_typed_and_described_as_written() {
        let w = ExpectDef {
            http: Some("http://app:8080/v?t={{ run.token }}".into()),
            status: Some(toml::Value::String("200, 204".into())),
            within: Some("{{ secs }}s".into()),
            contains: Some("{{ run.token }}".into()),
            ..ExpectDef::default()
        };
        let e = resolved(&w).expect("resolves");
        let Probe::Http(h) = &e.probe else {
            panic!("an http probe: {e:?}")
        };
        assert_eq!(h.url.host, "app");
        assert_eq!(h.url.port, 8080);
        assert_eq!(h.status.codes, [200, 204]);
        assert_eq!(
            e.describe(),
            "GET http://app:8080/v?t=abcdefghijkl answers \"200, 204\" containing `abcdefghijkl`, within 20s"
        );
    }

    #[test]
    fn port_beside_an_api_probe_is_where_it_listens() {
        let w = ExpectDef {
            prometheus: Some("up".into()),
            port: Some(9091),
            holds: Some("5s".into()),
            every: Some("1s".into()),
            ..ExpectDef::default()
        };
        let e = resolved(&w).expect("resolves");
        let Probe::Prometheus(p) = &e.probe else {
            panic!("a prometheus probe: {e:?}")
        };
        assert_eq!(p.port.0, 9091);
        assert!(matches!(e.window, Window::Holds(_)));
    }

    #[test]
    fn what_a_type_refuses_is_a_problem_even_once_rendered() {
        let w = ExpectDef {
            command: Some("true".into()),
            service: Some("ws".into()),
            within: Some("{{ secs }}".into()),
            ..ExpectDef::default()
        };
        let problems = resolved(&w).expect_err("no unit");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("renders as") && p.contains("no unit")),
            "{problems:?}"
        );
        let two = ExpectDef {
            command: Some("true".into()),
            file: Some("/x".into()),
            ..ExpectDef::default()
        };
        let problems = resolved(&two).expect_err("two kinds");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("found command and file")),
            "{problems:?}"
        );
    }
}
