//! `command = "shell command"`: run with `sh -c` in a service (or the grader), judged by its
//! exit code and output.

use std::time::Duration;

use super::Kind;
use crate::lab::model::ExpectDef;
use crate::lab::resolve::Resolver;
use crate::lab::sight::{cut, excerpt, seen, ProbeEnv, Seen};

#[derive(Debug, Clone)]
pub struct Command {
    pub command: String,
    pub service: String,
    pub user: Option<String>,
    pub exit: i64,
    pub stdout_contains: Option<String>,
    pub stdout_regex: Option<regex::Regex>,
    pub stderr_contains: Option<String>,
}

impl Kind for Command {
    const NAME: &'static str = "command";

    fn written(w: &ExpectDef) -> bool {
        w.command.is_some()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        Some(Command {
            command: r.text("command", w.command.as_deref()?),
            service: r.service("service", &w.service, None),
            user: r.opt("user", &w.user),
            exit: w.exit.unwrap_or(0),
            stdout_contains: r.opt("stdout_contains", &w.stdout_contains),
            stdout_regex: r.regex("stdout_regex", &w.stdout_regex),
            stderr_contains: r.opt("stderr_contains", &w.stderr_contains),
        })
    }

    fn describe(&self) -> String {
        format!(
            "`{}` in {} exits {}",
            excerpt(&self.command),
            self.service,
            self.exit
        ) + &self
            .stdout_contains
            .as_ref()
            .map(|c| format!(" printing `{c}`"))
            .unwrap_or_default()
    }

    async fn probe(&self, env: &ProbeEnv<'_>, timeout: Duration) -> Seen {
        let (cmd, svc) = (&self.command, &self.service);
        let out = match env
            .exec(svc, cmd, self.user.as_deref(), timeout, None)
            .await
        {
            Err(s) => return seen(false, s),
            Ok(out) if out.truncated => return cut(format!("`{}` in {svc}", excerpt(cmd))),
            Ok(out) => out,
        };
        let mut problems = Vec::new();
        if out.timed_out {
            problems.push(format!("did not finish within {}s", timeout.as_secs()));
        } else if out.exit_code != self.exit {
            problems.push(format!("exit code {}", out.exit_code));
        }
        if let Some(c) = &self.stdout_contains {
            if !out.stdout.contains(c.as_str()) {
                problems.push(format!("stdout lacks `{c}`"));
            }
        }
        if let Some(r) = &self.stdout_regex {
            if !r.is_match(&out.stdout) {
                problems.push(format!("stdout does not match /{}/", r.as_str()));
            }
        }
        if let Some(c) = &self.stderr_contains {
            if !out.stderr.contains(c.as_str()) {
                problems.push(format!("stderr lacks `{c}`"));
            }
        }
        let text = format!(
            "exit {}; output: {}",
            out.exit_code,
            excerpt(&format!("{}{}", out.stdout, out.stderr))
        );
        if problems.is_empty() {
            seen(true, text)
        } else {
            seen(false, format!("{} ({text})", problems.join(", ")))
        }
    }
}
