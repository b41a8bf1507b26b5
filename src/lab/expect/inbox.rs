//! `inbox = "svc"`: notifications received by a webhook inbox (`GET /api/notifications`, from
//! the grader container), by status, alert name, labels and sender.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::port::api_port;
use super::Kind;
use crate::lab::model::ExpectDef;
use crate::lab::resolve::Resolver;
use crate::lab::rules::Port;
use crate::lab::sight::{seen, ProbeEnv, Seen};

#[derive(Debug, Clone)]
pub struct Inbox {
    pub service: String,
    pub port: Port,
    /// firing or resolved; any when unset.
    pub status: Option<String>,
    pub alertname: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Only notifications sent from this service count.
    pub from: Option<String>,
    pub since_check: bool,
    pub count_min: usize,
}

impl Kind for Inbox {
    const NAME: &'static str = "inbox";

    fn written(w: &ExpectDef) -> bool {
        w.inbox.is_some()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        let service = r.service("inbox", &w.inbox, None);
        let from = w
            .from
            .as_ref()
            .map(|_| r.service("from", &w.from, None));
        let port = api_port(w, r, 8080);
        let status = w.status.as_ref().map(|s| r.value("status", s));
        Some(Inbox {
            service,
            port: port?,
            status: status.and_then(|s| s.as_str().map(str::to_string)),
            alertname: r.opt("alertname", &w.alertname),
            labels: r.table("labels", &w.labels),
            from,
            since_check: w.since_check.unwrap_or(true),
            count_min: w.count_min.unwrap_or(1).max(1) as usize,
        })
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "{} receives a {} notification",
            self.service,
            self.status.as_deref().unwrap_or("any")
        );
        if let Some(a) = &self.alertname {
            s.push_str(&format!(" for {a}"));
        }
        if !self.labels.is_empty() {
            s.push_str(&format!(
                " with {}",
                self.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if let Some(f) = &self.from {
            s.push_str(&format!(" from {f}"));
        }
        s
    }

    async fn probe(&self, env: &ProbeEnv<'_>, _timeout: Duration) -> Seen {
        let url = format!("http://{}:{}/api/notifications", self.service, self.port);
        let v = match env.get_json(&url).await {
            Ok(v) => v,
            Err(s) => return s,
        };
        let senders: Option<Vec<String>> = match &self.from {
            None => None,
            Some(from) => match env.container(from) {
                Ok(cid) => Some(
                    env.engine
                        .inspect(cid)
                        .await
                        .map(|s| s.ips)
                        .unwrap_or_default(),
                ),
                Err(s) => return seen(false, s),
            },
        };
        let since = if self.since_check {
            env.check_started
        } else {
            0.0
        };
        let (mut considered, mut matching, mut foreign) = (0, 0, 0);
        for n in v.as_array().into_iter().flatten() {
            if n.get("received_at").and_then(Value::as_f64).unwrap_or(0.0) < since {
                continue;
            }
            considered += 1;
            if let Some(ips) = &senders {
                let addr = n.get("remote_addr").and_then(Value::as_str).unwrap_or("");
                if !ips.iter().any(|ip| ip == addr) {
                    foreign += 1;
                    continue;
                }
            }
            if self.matches(n) {
                matching += 1;
            }
        }
        let mut text = format!(
            "{matching} matching of {considered} notification(s) received since the check began"
        );
        if foreign > 0 {
            text.push_str(&format!(
                ", {foreign} not sent by {}",
                self.from.as_deref().unwrap_or("?")
            ));
        }
        seen(matching >= self.count_min, text)
    }
}

impl Inbox {
    /// Whether a notification (sender aside) is one this expectation counts.
    fn matches(&self, n: &Value) -> bool {
        let p = n.get("payload").cloned().unwrap_or(Value::Null);
        let status = self.status.as_deref();
        if status.is_some() && p.get("status").and_then(Value::as_str) != status {
            return false;
        }
        let alerts = p
            .get("alerts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        alerts.iter().any(|a| {
            self.alertname.as_deref().is_none_or(|name| {
                a.pointer("/labels/alertname").and_then(Value::as_str) == Some(name)
            }) && self.labels.iter().all(|(k, v)| {
                a.pointer(&format!("/labels/{k}")).and_then(Value::as_str) == Some(v.as_str())
            }) && status.is_none_or(|s| {
                a.get("status")
                    .and_then(Value::as_str)
                    .is_none_or(|x| x == s)
            })
        })
    }
}
