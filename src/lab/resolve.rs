//! Turning the wire form of an expectation or action (strings as written, maybe templates) into
//! its typed form: every string is rendered with the context grading uses, then parsed into the
//! type whose constructor holds its rule. The same resolution runs at validation (with a sample
//! context, every problem located and reported) and at each grading (with the real context).

use std::collections::BTreeMap;
use std::time::Duration;

use super::render;
use super::rules::{Delay, MAX_WAIT};

/// Who is told about problems, and what the names a check uses must be.
pub trait Judge {
    /// The context templates are rendered with.
    fn context(&self) -> &tera::Context;
    /// A problem with the value of `key` ("" for the whole expectation or action).
    fn problem(&mut self, key: &str, message: String, hint: Option<String>);
    /// `name` (rendered) names a service of the lab or the grader; `None` when it is required
    /// but missing. Reports it otherwise.
    fn service(&mut self, key: &str, name: Option<&str>);
    /// `name` (rendered) names a network of the lab.
    fn network(&mut self, key: &str, name: &str);
    /// `rel` is a template of the lab folder that renders.
    fn lab_file(&mut self, key: &str, rel: &str);
}

/// Resolution of one expectation or action: remembers whether anything was refused.
pub struct Resolver<'a> {
    judge: &'a mut dyn Judge,
    pub failed: bool,
}

const TEMPLATE_HINT: &str =
    "templates see the lab's params, `lab`, `session`, and in checks `with`, `run` and `ports`";

impl<'a> Resolver<'a> {
    pub fn new(judge: &'a mut dyn Judge) -> Self {
        Resolver {
            judge,
            failed: false,
        }
    }

    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.failed = true;
        self.judge.problem(key, message.into(), None);
    }

    pub fn problem_hint(&mut self, key: &str, message: impl Into<String>, hint: &str) {
        self.failed = true;
        self.judge.problem(key, message.into(), Some(hint.into()));
    }

    /// `s` rendered; on a template error, reported, and `None`.
    pub fn rendered(&mut self, key: &str, s: &str) -> Option<String> {
        match render::render(s, self.judge.context()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem_hint(key, format!("template error: {e}"), TEMPLATE_HINT);
                None
            }
        }
    }

    /// `s` rendered, or as written after reporting why not.
    pub fn text(&mut self, key: &str, s: &str) -> String {
        self.rendered(key, s).unwrap_or_else(|| s.to_string())
    }

    pub fn opt(&mut self, key: &str, s: &Option<String>) -> Option<String> {
        s.as_deref().map(|s| self.text(key, s))
    }

    /// A duration with its unit, at most an hour; `default` when not written.
    pub fn delay(&mut self, key: &str, s: &Option<String>, default: Delay) -> Delay {
        let Some(s) = s else { return default };
        let Some(v) = self.rendered(key, s) else {
            return default;
        };
        match Delay::parse(&v, MAX_WAIT) {
            Ok(d) => d,
            Err(e) => {
                let e = if v == *s {
                    e
                } else {
                    format!("`{s}` renders as {e}")
                };
                self.problem(key, e);
                default
            }
        }
    }

    /// A service named at `key` (rendered), known to the lab; `default` when not written, and
    /// required when there is no default.
    pub fn service(&mut self, key: &str, name: &Option<String>, default: Option<&str>) -> String {
        match (name, default) {
            (Some(n), _) => {
                let Some(n) = self.rendered(key, n) else {
                    return String::new();
                };
                self.judge.service(key, Some(&n));
                n
            }
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                self.failed = true;
                self.judge.service("", None);
                String::new()
            }
        }
    }

    /// The service an action acts on: a lab service, never the grader.
    pub fn target(&mut self, key: &str, name: &str) -> String {
        let Some(n) = self.rendered(key, name) else {
            return String::new();
        };
        if n == super::GRADER {
            self.problem(key, "the grader container cannot be acted on");
        }
        self.judge.service(key, Some(&n));
        n
    }

    pub fn network(&mut self, key: &str, name: &str) -> String {
        let Some(n) = self.rendered(key, name) else {
            return String::new();
        };
        self.judge.network(key, &n);
        n
    }

    pub fn lab_file(&mut self, key: &str, rel: &str) {
        self.judge.lab_file(key, rel);
    }

    /// A regular expression (rendered), compiled with a bounded size.
    pub fn regex(&mut self, key: &str, s: &Option<String>) -> Option<regex::Regex> {
        let r = self.rendered(key, s.as_deref()?)?;
        match regex::RegexBuilder::new(&r).size_limit(1 << 20).build() {
            Ok(re) => Some(re),
            Err(err) => {
                self.problem(key, format!("bad regex: {err}"));
                None
            }
        }
    }

    /// A value with every string inside it rendered.
    pub fn value(&mut self, key: &str, v: &toml::Value) -> toml::Value {
        match v {
            toml::Value::String(s) => toml::Value::String(self.text(key, s)),
            toml::Value::Array(a) => {
                toml::Value::Array(a.iter().map(|x| self.value(key, x)).collect())
            }
            toml::Value::Table(t) => toml::Value::Table(
                t.iter()
                    .map(|(k, x)| (self.text(key, k), self.value(key, x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A table of strings with its keys and values rendered (label names may be per-trainee).
    pub fn table(
        &mut self,
        key: &str,
        t: &Option<BTreeMap<String, String>>,
    ) -> BTreeMap<String, String> {
        t.iter()
            .flatten()
            .map(|(k, v)| (self.text(key, k), self.text(key, v)))
            .collect()
    }

    /// Reports a value refused by its type's constructor; `None` then.
    pub fn typed<T>(&mut self, key: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.problem(key, e)).ok()
    }
}

/// At grading: the names were checked by validation; problems are collected as text.
pub struct Grading<'a> {
    pub ctx: &'a tera::Context,
    pub problems: Vec<String>,
}

impl Judge for Grading<'_> {
    fn context(&self) -> &tera::Context {
        self.ctx
    }
    fn problem(&mut self, key: &str, message: String, _hint: Option<String>) {
        self.problems.push(if key.is_empty() {
            message
        } else {
            format!("{key}: {message}")
        });
    }
    fn service(&mut self, _key: &str, name: Option<&str>) {
        if name.is_none() {
            self.problems.push("this needs `service`".into());
        }
    }
    fn network(&mut self, _key: &str, _name: &str) {}
    fn lab_file(&mut self, _key: &str, _rel: &str) {}
}

/// Resolves with `judge` and gives the typed value when nothing was refused.
pub fn resolve<T>(judge: &mut dyn Judge, f: impl FnOnce(&mut Resolver) -> Option<T>) -> Option<T> {
    let mut r = Resolver::new(judge);
    let v = f(&mut r);
    if r.failed {
        None
    } else {
        v
    }
}

/// The default timeout of a probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
