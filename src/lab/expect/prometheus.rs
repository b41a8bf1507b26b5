//! `prometheus = "promql"`: a query to Prometheus's HTTP API from the grader container, its value
//! compared (`equals`, `above`, `below`) or its emptiness judged.

use std::time::Duration;

use serde_json::Value;

use super::port::api_port;
use super::Kind;
use crate::lab::model::ExpectDef;
use crate::lab::resolve::Resolver;
use crate::lab::rules::Port;
use crate::lab::sight::{seen, urlencode, ProbeEnv, Seen};

#[derive(Debug, Clone)]
pub struct Prometheus {
    pub query: String,
    pub service: String,
    pub port: Port,
    pub equals: Option<toml::Value>,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub empty: Option<bool>,
}

impl Kind for Prometheus {
    const NAME: &'static str = "prometheus";

    fn written(w: &ExpectDef) -> bool {
        w.prometheus.is_some()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        let query = r.text("prometheus", w.prometheus.as_deref()?);
        let service = r.opt("service", &w.service);
        let port = api_port(w, r, 9090);
        Some(Prometheus {
            query,
            service: service.unwrap_or_else(|| "prometheus".into()),
            port: port?,
            equals: w.equals.as_ref().map(|v| r.value("equals", v)),
            above: w.above,
            below: w.below,
            empty: w.empty,
        })
    }

    fn describe(&self) -> String {
        let mut s = format!("Prometheus `{}`", self.query);
        if let Some(eq) = &self.equals {
            s.push_str(&format!(" = {eq}"));
        }
        if let Some(a) = self.above {
            s.push_str(&format!(" > {a}"));
        }
        if let Some(b) = self.below {
            s.push_str(&format!(" < {b}"));
        }
        if let Some(em) = self.empty {
            s.push_str(if em {
                " returns nothing"
            } else {
                " returns series"
            });
        }
        s
    }

    async fn probe(&self, env: &ProbeEnv<'_>, _timeout: Duration) -> Seen {
        let q = &self.query;
        let url = format!(
            "http://{}:{}/api/v1/query?query={}",
            self.service,
            self.port,
            urlencode(q)
        );
        let v = match env.get_json(&url).await {
            Ok(v) => v,
            Err(s) => return s,
        };
        let result = v.pointer("/data/result").cloned().unwrap_or(Value::Null);
        let count = result.as_array().map(Vec::len).unwrap_or(0);
        if let Some(want_empty) = self.empty {
            return seen(
                (count == 0) == want_empty,
                format!("`{q}` returned {count} series"),
            );
        }
        let Some(x) = value_of(&v, &result) else {
            return seen(false, format!("`{q}` returned no value"));
        };
        let mut ok = true;
        if let Some(eq) = &self.equals {
            ok &= eq
                .as_float()
                .or(eq.as_integer().map(|i| i as f64))
                .is_some_and(|w| (w - x).abs() < 1e-9);
        }
        if let Some(a) = self.above {
            ok &= x > a;
        }
        if let Some(b) = self.below {
            ok &= x < b;
        }
        seen(ok, format!("`{q}` = {x}"))
    }
}

/// The value of a vector's first sample or of a scalar.
fn value_of(v: &Value, result: &Value) -> Option<f64> {
    match v.pointer("/data/resultType").and_then(Value::as_str) {
        Some("vector") => result
            .as_array()
            .and_then(|a| a.first())
            .and_then(|r| r.pointer("/value/1"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        Some("scalar") => result
            .pointer("/1")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        _ => None,
    }
}
