//! `log = "svc"`: a line of the service's logs since the check started, through the engine.

use std::time::Duration;

use super::Kind;
use crate::lab::model::ExpectDef;
use crate::lab::resolve::Resolver;
use crate::lab::sight::{cut, excerpt, seen, ProbeEnv, Seen};

#[derive(Debug, Clone)]
pub struct Log {
    pub service: String,
    pub contains: Option<String>,
    pub regex: Option<regex::Regex>,
}

impl Kind for Log {
    const NAME: &'static str = "log";

    fn written(w: &ExpectDef) -> bool {
        w.log.is_some()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        Some(Log {
            service: r.service("log", &w.log, None),
            contains: r.opt("contains", &w.contains),
            regex: r.regex("regex", &w.regex),
        })
    }

    fn describe(&self) -> String {
        format!(
            "{} logs a line with `{}`",
            self.service,
            self.contains
                .as_deref()
                .or(self.regex.as_ref().map(regex::Regex::as_str))
                .unwrap_or("")
        )
    }

    async fn probe(&self, env: &ProbeEnv<'_>, _timeout: Duration) -> Seen {
        let svc = &self.service;
        let cid = match env.container(svc) {
            Ok(c) => c,
            Err(s) => return seen(false, s),
        };
        let logs = match env.engine.logs(cid, env.check_started as i64).await {
            Err(err) => return seen(false, err.to_string()),
            Ok(logs) if logs.truncated => return cut(format!("logs of {svc}")),
            Ok(logs) => logs,
        };
        let text = logs.text();
        let hit = text.lines().find(|l| {
            self.contains.as_deref().is_some_and(|c| l.contains(c))
                || self.regex.as_ref().is_some_and(|re| re.is_match(l))
        });
        match hit {
            Some(l) => seen(true, format!("log line: {}", excerpt(l))),
            None => seen(
                false,
                format!("no such line among {} new log lines", text.lines().count()),
            ),
        }
    }
}
