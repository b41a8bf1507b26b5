//! `http = "http://service:port/path"`: a request from the host through the published loopback
//! port when there is one, else from the grader container; redirects are answers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::Kind;
use crate::lab::model::{ExpectDef, HeaderExpect, JsonExpect};
use crate::lab::resolve::Resolver;
use crate::lab::rules::{self, Method, ServiceUrl, Statuses};
use crate::lab::sight::{cut, excerpt, seen, ProbeEnv, Seen};

#[derive(Debug, Clone)]
pub struct Http {
    pub url: ServiceUrl,
    pub method: Method,
    pub body: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub status: Statuses,
    pub contains: Option<String>,
    pub regex: Option<regex::Regex>,
    pub json: Option<JsonExpect>,
    pub header: Option<HeaderExpect>,
}

impl Kind for Http {
    const NAME: &'static str = "http";

    fn written(w: &ExpectDef) -> bool {
        w.http.is_some()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        let url = url(w.http.as_deref()?, r);
        let status = match &w.status {
            None => Some(Statuses::ok()),
            Some(st) => {
                let st = r.value("status", st);
                Statuses::new(&st)
                    .map_err(|e| {
                        r.problem_hint(
                            "status",
                            e,
                            "write e.g. status = 200, [200, 204] or \"200, 204\"",
                        )
                    })
                    .ok()
            }
        };
        let method = match &w.method {
            None => Some(Method::get()),
            Some(m) => r.rendered("method", m).and_then(|m| r.typed("method", Method::new(&m))),
        };
        let headers = r.table("headers", &w.headers);
        for (k, v) in &headers {
            if let Err(e) = rules::http_header(k, v) {
                r.problem("headers", e);
            }
        }
        let json = w.json.as_ref().map(|j| JsonExpect {
            pointer: r.text("json", &j.pointer),
            equals: r.value("json", &j.equals),
        });
        let header = w.header.as_ref().map(|h| HeaderExpect {
            name: r.text("header", &h.name),
            contains: r.text("header", &h.contains),
        });
        let body = r.opt("body", &w.body);
        let contains = r.opt("contains", &w.contains);
        let regex = r.regex("regex", &w.regex);
        Some(Http {
            url: url?,
            method: method?,
            body,
            headers,
            status: status?,
            contains,
            regex,
            json,
            header,
        })
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "{} {} answers {}",
            self.method.0, self.url.written, self.status.written
        );
        if let Some(c) = &self.contains {
            s.push_str(&format!(" containing `{c}`"));
        }
        if let Some(r) = &self.regex {
            s.push_str(&format!(" matching /{}/", r.as_str()));
        }
        if let Some(j) = &self.json {
            s.push_str(&format!(" with {} = {}", j.pointer, j.equals));
        }
        s
    }

    async fn probe(&self, env: &ProbeEnv<'_>, timeout: Duration) -> Seen {
        let method = self.method.sent();
        let url = &self.url.written;
        let a = match env
            .http(&method, url, self.body.as_deref(), &self.headers, timeout)
            .await
        {
            Ok(a) => a,
            Err(s) => return seen(false, format!("{method} {url}: {s}")),
        };
        if a.truncated {
            return cut(format!("{method} {url}"));
        }
        let problems = self.judge(&a);
        let text = format!("{method} {url} -> {} {}", a.status, excerpt(&a.body));
        if problems.is_empty() {
            seen(true, text)
        } else {
            seen(false, format!("{} ({text})", problems.join(", ")))
        }
    }
}

/// The URL (rendered): readable, a real port, a path without spaces, a known service.
fn url(u: &str, r: &mut Resolver) -> Option<ServiceUrl> {
    let u = r.rendered("http", u)?;
    match ServiceUrl::parse(&u) {
        Ok(url) => {
            r.service("http", &Some(url.host.clone()), None);
            Some(url)
        }
        Err(problems) => {
            for p in problems {
                r.problem("http", p);
            }
            None
        }
    }
}

impl Http {
    /// What is wrong with an answer.
    fn judge(&self, a: &crate::lab::sight::HttpAnswer) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.status.codes.contains(&a.status) {
            problems.push(format!("status {}", a.status));
        }
        if let Some(c) = &self.contains {
            if !a.body.contains(c.as_str()) {
                problems.push(format!("body lacks `{c}`"));
            }
        }
        if let Some(r) = &self.regex {
            if !r.is_match(&a.body) {
                problems.push(format!("body does not match /{}/", r.as_str()));
            }
        }
        if let Some(j) = &self.json {
            let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
            let got = v.pointer(&j.pointer).cloned().unwrap_or(Value::Null);
            if !json_equals(&got, &j.equals) {
                problems.push(format!("{} is {got}", j.pointer));
            }
        }
        if let Some(h) = &self.header {
            let got = a
                .headers
                .get(&h.name.to_lowercase())
                .cloned()
                .unwrap_or_default();
            if !got.contains(h.contains.as_str()) {
                problems.push(format!("header {} is `{got}`", h.name));
            }
        }
        problems
    }
}

fn json_equals(got: &Value, want: &toml::Value) -> bool {
    match (got, want) {
        (Value::String(a), toml::Value::String(b)) => a == b,
        (Value::Number(a), toml::Value::Integer(b)) => a.as_f64() == Some(*b as f64),
        (Value::Number(a), toml::Value::Float(b)) => a.as_f64() == Some(*b),
        (Value::Bool(a), toml::Value::Boolean(b)) => a == b,
        (a, b) => *a.to_string() == b.to_string(),
    }
}
