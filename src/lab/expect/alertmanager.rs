//! `alertmanager = "AlertName"`: an alert in Alertmanager's HTTP API (from the grader
//! container), in a state and with labels.

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
pub struct Alertmanager {
    pub alert: String,
    pub service: String,
    pub port: Port,
    pub state: String,
    pub labels: BTreeMap<String, String>,
}

impl Kind for Alertmanager {
    const NAME: &'static str = "alertmanager";

    fn written(w: &ExpectDef) -> bool {
        w.alertmanager.is_some()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        let alert = r.text("alertmanager", w.alertmanager.as_deref()?);
        let service = r.opt("service", &w.service);
        let port = api_port(w, r, 9093);
        let state = r.opt("state", &w.state);
        Some(Alertmanager {
            alert,
            service: service.unwrap_or_else(|| "alertmanager".into()),
            port: port?,
            state: state.unwrap_or_else(|| "active".into()),
            labels: r.table("labels", &w.labels),
        })
    }

    fn describe(&self) -> String {
        format!("alert {} is {} in Alertmanager", self.alert, self.state)
    }

    async fn probe(&self, env: &ProbeEnv<'_>, _timeout: Duration) -> Seen {
        let url = format!("http://{}:{}/api/v2/alerts", self.service, self.port);
        let v = match env.get_json(&url).await {
            Ok(v) => v,
            Err(s) => return s,
        };
        let alerts = v.as_array().cloned().unwrap_or_default();
        let names: Vec<String> = alerts
            .iter()
            .map(|a| {
                format!(
                    "{}({})",
                    a.pointer("/labels/alertname")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    a.pointer("/status/state")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                )
            })
            .collect();
        let hit = alerts.iter().any(|a| {
            a.pointer("/labels/alertname").and_then(Value::as_str) == Some(self.alert.as_str())
                && a.pointer("/status/state").and_then(Value::as_str) == Some(self.state.as_str())
                && self.labels.iter().all(|(k, v)| {
                    a.pointer(&format!("/labels/{k}")).and_then(Value::as_str) == Some(v.as_str())
                })
        });
        seen(
            hit,
            format!("alerts in Alertmanager: [{}]", names.join(", ")),
        )
    }
}
