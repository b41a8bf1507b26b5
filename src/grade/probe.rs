//! Probes: one look at the system for one expectation. A probe never fails with an error: what
//! it could not see is what it saw ("connection refused", "container stopped").

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use crate::backend::Engine;
use crate::lab::ExpectDef;

/// What one probe saw, and whether the expectation holds (before `not`).
#[derive(Debug, Clone)]
pub struct Seen {
    pub ok: bool,
    pub seen: String,
}

fn seen(ok: bool, s: impl Into<String>) -> Seen {
    Seen { ok, seen: s.into() }
}

/// Splits `http://svc:port/path?x` into (svc, port, path).
pub fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hostport, 80),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port, path))
}

/// Where probes run: the engine, the session's containers and their published ports.
#[derive(Clone, Copy)]
pub struct ProbeEnv<'a> {
    pub engine: &'a Engine,
    /// service -> container id (with `grader`)
    pub containers: &'a BTreeMap<String, String>,
    /// service -> (container port -> host port on 127.0.0.1)
    pub ports: &'a BTreeMap<String, BTreeMap<u16, u16>>,
    pub http: &'a reqwest::Client,
    /// Unix time the check started.
    pub check_started: f64,
}

pub struct HttpAnswer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl ProbeEnv<'_> {
    fn container(&self, svc: &str) -> Result<&str, String> {
        self.containers
            .get(svc)
            .map(String::as_str)
            .ok_or_else(|| format!("no service `{svc}`"))
    }

    /// Runs a command in a container; Err(text) when it cannot even be run.
    pub async fn exec(
        &self,
        svc: &str,
        cmd: &str,
        user: Option<&str>,
        timeout: Duration,
        stdin: Option<Vec<u8>>,
    ) -> Result<crate::backend::ExecOutput, String> {
        let cid = self.container(svc)?;
        let st = self.engine.inspect(cid).await.map_err(|e| e.to_string())?;
        if !st.running || st.paused {
            return Err(format!("service `{svc}` is not running ({})", st.status));
        }
        self.engine
            .exec(
                cid,
                vec!["sh".into(), "-c".into(), cmd.into()],
                user,
                timeout,
                stdin,
            )
            .await
            .map_err(|e| e.to_string())
    }

    /// An HTTP request to a lab service: from the host over the published loopback port when
    /// there is one, else from the grader container.
    pub async fn http(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
        headers: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<HttpAnswer, String> {
        let (svc, port, path) = split_url(url)
            .ok_or_else(|| format!("`{url}` is not an http://service:port/path URL"))?;
        if let Some(hp) = self.ports.get(&svc).and_then(|m| m.get(&port)) {
            let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
            let mut req = self
                .http
                .request(m, format!("http://127.0.0.1:{hp}{path}"))
                .timeout(timeout);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            let r = req.send().await.map_err(|e| describe_reqwest(&e))?;
            let status = r.status().as_u16();
            let headers = r
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_lowercase(),
                        v.to_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            let body = r.text().await.map_err(|e| e.to_string())?;
            return Ok(HttpAnswer {
                status,
                headers,
                body,
            });
        }
        // curl in the grader container: it starts in milliseconds, so many probes can run at once.
        let mut argv: Vec<String> = vec![
            "curl".into(),
            "-sS".into(),
            "-i".into(),
            "-m".into(),
            format!("{:.1}", timeout.as_secs_f64()),
            "-X".into(),
            method.to_string(),
        ];
        for (k, v) in headers {
            argv.push("-H".into());
            argv.push(format!("{k}: {v}"));
        }
        if body.is_some() {
            argv.push("--data-binary".into());
            argv.push("@-".into());
        }
        argv.extend([
            "-w".to_string(),
            "\n%{http_code}".to_string(),
            url.to_string(),
        ]);
        let out = self
            .engine
            .exec(
                self.container(crate::session::GRADER)?,
                argv,
                None,
                timeout + Duration::from_secs(5),
                body.map(|b| b.as_bytes().to_vec()),
            )
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code != 0 {
            return Err(match out.exit_code {
                6 => format!("unknown host `{svc}`"),
                7 => "connection refused".into(),
                28 => "no answer before the timeout".into(),
                _ => excerpt(&out.stderr),
            });
        }
        parse_curl(&out.stdout)
            .ok_or_else(|| format!("unreadable answer: {}", excerpt(&out.stdout)))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let a = self
            .http("GET", url, None, &BTreeMap::new(), Duration::from_secs(10))
            .await?;
        if a.status != 200 {
            return Err(format!("{url} answered {}: {}", a.status, excerpt(&a.body)));
        }
        serde_json::from_str(&a.body).map_err(|e| format!("{url} did not answer JSON: {e}"))
    }

    /// One look for one (rendered) expectation.
    pub async fn probe(&self, e: &ExpectDef) -> Seen {
        let timeout = e
            .timeout
            .as_deref()
            .and_then(|t| humantime::parse_duration(t).ok())
            .unwrap_or(Duration::from_secs(10));
        if let Some(url) = &e.http {
            return self.probe_http(e, url, timeout).await;
        }
        if let Some(cmd) = &e.command {
            let svc = e.service.as_deref().unwrap_or(crate::session::GRADER);
            return match self.exec(svc, cmd, e.user.as_deref(), timeout, None).await {
                Err(s) => seen(false, s),
                Ok(out) => {
                    let mut problems = Vec::new();
                    let want = e.exit.unwrap_or(0);
                    if out.timed_out {
                        problems.push(format!("did not finish within {}s", timeout.as_secs()));
                    } else if out.exit_code != want {
                        problems.push(format!("exit code {}", out.exit_code));
                    }
                    if let Some(c) = &e.stdout_contains {
                        if !out.stdout.contains(c.as_str()) {
                            problems.push(format!("stdout lacks `{c}`"));
                        }
                    }
                    if let Some(r) = &e.stdout_regex {
                        if !regex::Regex::new(r)
                            .map(|re| re.is_match(&out.stdout))
                            .unwrap_or(false)
                        {
                            problems.push(format!("stdout does not match /{r}/"));
                        }
                    }
                    if let Some(c) = &e.stderr_contains {
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
            };
        }
        if let Some(path) = &e.file {
            return self.probe_file(e, path).await;
        }
        if let Some(svc) = &e.container {
            let cid = match self.container(svc) {
                Ok(c) => c,
                Err(s) => return seen(false, s),
            };
            return match self.engine.inspect(cid).await {
                Err(err) => seen(false, err.to_string()),
                Ok(st) => {
                    let mut problems = Vec::new();
                    if let Some(r) = e.running {
                        if st.running != r {
                            problems.push(format!("running is {}", st.running));
                        }
                    }
                    if let Some(h) = e.healthy {
                        if (st.health == "healthy") != h {
                            problems.push(format!("health is {}", st.health));
                        }
                    }
                    if let Some(n) = e.restarts_min {
                        if st.restart_count < n {
                            problems.push(format!("restarted {} times", st.restart_count));
                        }
                    }
                    if let Some(i) = &e.image {
                        if !st.image.contains(i.as_str()) {
                            problems.push(format!("image is {}", st.image));
                        }
                    }
                    let text = format!(
                        "{} ({}), health {}, {} restarts",
                        st.status, st.image, st.health, st.restart_count
                    );
                    seen(
                        problems.is_empty(),
                        if problems.is_empty() {
                            text
                        } else {
                            problems.join(", ")
                        },
                    )
                }
            };
        }
        if let Some(port) = e.port {
            let svc = e.service.clone().unwrap_or_default();
            // bash's /dev/tcp in the grader container: a TCP connection, nothing else.
            let argv = vec![
                "bash".to_string(),
                "-c".into(),
                "exec 3<>\"/dev/tcp/$0/$1\"".into(),
                svc.clone(),
                port.to_string(),
            ];
            let want = e.open.unwrap_or(true);
            let cid = match self.container(crate::session::GRADER) {
                Ok(c) => c,
                Err(s) => return seen(false, s),
            };
            return match self
                .engine
                .exec(cid, argv, None, Duration::from_secs(3), None)
                .await
            {
                Err(err) => seen(false, err.to_string()),
                Ok(out) => {
                    let open = out.exit_code == 0;
                    let text = if open {
                        format!("{svc}:{port} accepts connections")
                    } else if out.timed_out {
                        format!("{svc}:{port} does not answer")
                    } else {
                        format!("{svc}:{port} refuses connections")
                    };
                    seen(open == want, text)
                }
            };
        }
        if let Some(svc) = &e.log {
            let cid = match self.container(svc) {
                Ok(c) => c,
                Err(s) => return seen(false, s),
            };
            return match self.engine.logs_since(cid, self.check_started as i64).await {
                Err(err) => seen(false, err.to_string()),
                Ok(text) => {
                    let hit = text.lines().find(|l| {
                        e.contains.as_deref().is_some_and(|c| l.contains(c))
                            || e.regex.as_deref().is_some_and(|r| {
                                regex::Regex::new(r)
                                    .map(|re| re.is_match(l))
                                    .unwrap_or(false)
                            })
                    });
                    match hit {
                        Some(l) => seen(true, format!("log line: {}", excerpt(l))),
                        None => seen(
                            false,
                            format!("no such line among {} new log lines", text.lines().count()),
                        ),
                    }
                }
            };
        }
        if let Some(q) = &e.prometheus {
            return self.probe_prometheus(e, q).await;
        }
        if let Some(name) = &e.alertmanager {
            return self.probe_alertmanager(e, name).await;
        }
        if let Some(svc) = &e.inbox {
            return self.probe_inbox(e, svc).await;
        }
        seen(false, "the expectation names no probe")
    }

    async fn probe_http(&self, e: &ExpectDef, url: &str, timeout: Duration) -> Seen {
        let method = e.method.as_deref().unwrap_or("GET").to_uppercase();
        let headers = e.headers.clone().unwrap_or_default();
        let a = match self
            .http(&method, url, e.body.as_deref(), &headers, timeout)
            .await
        {
            Ok(a) => a,
            Err(s) => return seen(false, format!("{method} {url}: {s}")),
        };
        let mut problems = Vec::new();
        let want_status: Vec<u16> = match &e.status {
            None => vec![200],
            Some(toml::Value::Integer(i)) => vec![*i as u16],
            Some(toml::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_integer())
                .map(|i| i as u16)
                .collect(),
            Some(toml::Value::String(s)) => {
                s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
            }
            Some(_) => vec![200],
        };
        if !want_status.contains(&a.status) {
            problems.push(format!("status {}", a.status));
        }
        if let Some(c) = &e.contains {
            if !a.body.contains(c.as_str()) {
                problems.push(format!("body lacks `{c}`"));
            }
        }
        if let Some(r) = &e.regex {
            if !regex::Regex::new(r)
                .map(|re| re.is_match(&a.body))
                .unwrap_or(false)
            {
                problems.push(format!("body does not match /{r}/"));
            }
        }
        if let Some(j) = &e.json {
            let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
            let got = v.pointer(&j.pointer).cloned().unwrap_or(Value::Null);
            if !json_equals(&got, &j.equals) {
                problems.push(format!("{} is {got}", j.pointer));
            }
        }
        if let Some(h) = &e.header {
            let got = a
                .headers
                .get(&h.name.to_lowercase())
                .cloned()
                .unwrap_or_default();
            if !got.contains(h.contains.as_str()) {
                problems.push(format!("header {} is `{got}`", h.name));
            }
        }
        let text = format!("{method} {url} -> {} {}", a.status, excerpt(&a.body));
        if problems.is_empty() {
            seen(true, text)
        } else {
            seen(false, format!("{} ({text})", problems.join(", ")))
        }
    }

    async fn probe_file(&self, e: &ExpectDef, path: &str) -> Seen {
        let svc = e.service.as_deref().unwrap_or_default();
        let cid = match self.container(svc) {
            Ok(c) => c,
            Err(s) => return seen(false, s),
        };
        let want_exists = e.exists.unwrap_or(true);
        let tar = match self.engine.download(cid, path).await {
            Ok(t) => t,
            Err(err) if err.is_not_found() => {
                return seen(!want_exists, format!("{path} does not exist in {svc}"))
            }
            Err(err) => return seen(false, err.to_string()),
        };
        if !want_exists {
            return seen(false, format!("{path} exists in {svc}"));
        }
        let mut archive = tar::Archive::new(tar.as_slice());
        let Ok(mut entries) = archive.entries() else {
            return seen(false, "unreadable archive");
        };
        let Some(Ok(mut entry)) = entries.next() else {
            return seen(false, format!("{path} is empty"));
        };
        let header = entry.header().clone();
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let uid = header.uid().unwrap_or(0);
        let mut content = String::new();
        let _ = entry.read_to_string(&mut content);
        let mut problems = Vec::new();
        if let Some(c) = &e.contains {
            if !content.contains(c.as_str()) {
                problems.push(format!("content lacks `{c}`"));
            }
        }
        if let Some(r) = &e.regex {
            if !regex::Regex::new(r)
                .map(|re| re.is_match(&content))
                .unwrap_or(false)
            {
                problems.push(format!("content does not match /{r}/"));
            }
        }
        if let Some(m) = &e.mode {
            if u32::from_str_radix(m, 8).ok() != Some(mode) {
                problems.push(format!("mode is {mode:04o}"));
            }
        }
        if let Some(o) = &e.owner {
            let name = self.user_name(cid, uid).await;
            if name.as_deref() != Some(o.as_str()) && o != &uid.to_string() {
                problems.push(format!(
                    "owner is {}",
                    name.unwrap_or_else(|| uid.to_string())
                ));
            }
        }
        let text = format!(
            "{path}: mode {mode:04o}, uid {uid}, {} bytes: {}",
            content.len(),
            excerpt(&content)
        );
        if problems.is_empty() {
            seen(true, text)
        } else {
            seen(false, format!("{} ({text})", problems.join(", ")))
        }
    }

    /// The name of a uid, from the container's /etc/passwd read through the engine.
    async fn user_name(&self, cid: &str, uid: u64) -> Option<String> {
        let tar = self.engine.download(cid, "/etc/passwd").await.ok()?;
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut entry = archive.entries().ok()?.next()?.ok()?;
        let mut text = String::new();
        entry.read_to_string(&mut text).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
        })
    }

    async fn probe_prometheus(&self, e: &ExpectDef, q: &str) -> Seen {
        let svc = e.service.as_deref().unwrap_or("prometheus");
        let url = format!(
            "http://{svc}:{}/api/v1/query?query={}",
            e.port.unwrap_or(9090),
            urlencode(q)
        );
        let v = match self.get_json(&url).await {
            Ok(v) => v,
            Err(s) => return seen(false, s),
        };
        let result = v.pointer("/data/result").cloned().unwrap_or(Value::Null);
        let value: Option<f64> = match v.pointer("/data/resultType").and_then(Value::as_str) {
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
        };
        let count = result.as_array().map(Vec::len).unwrap_or(0);
        if let Some(want_empty) = e.empty {
            return seen(
                (count == 0) == want_empty,
                format!("`{q}` returned {count} series"),
            );
        }
        let Some(x) = value else {
            return seen(false, format!("`{q}` returned no value"));
        };
        let mut ok = true;
        if let Some(eq) = &e.equals {
            ok &= eq
                .as_float()
                .or(eq.as_integer().map(|i| i as f64))
                .is_some_and(|w| (w - x).abs() < 1e-9);
        }
        if let Some(a) = e.above {
            ok &= x > a;
        }
        if let Some(b) = e.below {
            ok &= x < b;
        }
        seen(ok, format!("`{q}` = {x}"))
    }

    async fn probe_alertmanager(&self, e: &ExpectDef, name: &str) -> Seen {
        let svc = e.service.as_deref().unwrap_or("alertmanager");
        let url = format!("http://{svc}:{}/api/v2/alerts", e.port.unwrap_or(9093));
        let v = match self.get_json(&url).await {
            Ok(v) => v,
            Err(s) => return seen(false, s),
        };
        let want_state = e.state.as_deref().unwrap_or("active");
        let labels = e.labels.clone().unwrap_or_default();
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
            a.pointer("/labels/alertname").and_then(Value::as_str) == Some(name)
                && a.pointer("/status/state").and_then(Value::as_str) == Some(want_state)
                && labels.iter().all(|(k, v)| {
                    a.pointer(&format!("/labels/{k}")).and_then(Value::as_str) == Some(v.as_str())
                })
        });
        seen(
            hit,
            format!("alerts in Alertmanager: [{}]", names.join(", ")),
        )
    }

    async fn probe_inbox(&self, e: &ExpectDef, svc: &str) -> Seen {
        let url = format!("http://{svc}:{}/api/notifications", e.port.unwrap_or(8080));
        let v = match self.get_json(&url).await {
            Ok(v) => v,
            Err(s) => return seen(false, s),
        };
        let senders: Option<Vec<String>> = match &e.from {
            None => None,
            Some(from) => match self.container(from) {
                Ok(cid) => Some(
                    self.engine
                        .inspect(cid)
                        .await
                        .map(|s| s.ips)
                        .unwrap_or_default(),
                ),
                Err(s) => return seen(false, s),
            },
        };
        let since = if e.since_check.unwrap_or(true) {
            self.check_started
        } else {
            0.0
        };
        let labels = e.labels.clone().unwrap_or_default();
        let all = v.as_array().cloned().unwrap_or_default();
        let mut considered = 0;
        let mut matching = 0;
        let mut foreign = 0;
        for n in &all {
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
            let p = n.get("payload").cloned().unwrap_or(Value::Null);
            if let Some(st) = &e.status {
                if p.get("status").and_then(Value::as_str) != st.as_str() {
                    continue;
                }
            }
            let alerts = p
                .get("alerts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let alert_ok = alerts.iter().any(|a| {
                e.alertname.as_deref().is_none_or(|name| {
                    a.pointer("/labels/alertname").and_then(Value::as_str) == Some(name)
                }) && labels.iter().all(|(k, v)| {
                    a.pointer(&format!("/labels/{k}")).and_then(Value::as_str) == Some(v.as_str())
                }) && e.status.as_ref().and_then(|s| s.as_str()).is_none_or(|s| {
                    a.get("status")
                        .and_then(Value::as_str)
                        .is_none_or(|x| x == s)
                })
            });
            if alert_ok {
                matching += 1;
            }
        }
        let want = e.count_min.unwrap_or(1).max(1) as usize;
        let mut text = format!(
            "{matching} matching of {considered} notification(s) received since the check began"
        );
        if foreign > 0 {
            text.push_str(&format!(
                ", {foreign} not sent by {}",
                e.from.as_deref().unwrap_or("?")
            ));
        }
        seen(matching >= want, text)
    }
}

/// Splits `curl -i -w '\n%{http_code}'` output into status, headers and body.
fn parse_curl(out: &str) -> Option<HttpAnswer> {
    let (mut rest, code) = out.rsplit_once('\n')?;
    let status: u16 = code.trim().parse().ok()?;
    // Interim answers (100 Continue) come first, each with its own header block.
    let (head, body) = loop {
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        let interim = head
            .split_whitespace()
            .nth(1)
            .is_some_and(|c| c.starts_with('1'));
        if interim && body.starts_with("HTTP/") {
            rest = body;
            continue;
        }
        break (head, body);
    };
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Some(HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    })
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

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn excerpt(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 160 {
        format!("{}…", one.chars().take(160).collect::<String>())
    } else if one.is_empty() {
        "(empty)".into()
    } else {
        one
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer before the timeout".into()
    } else if e.is_connect() {
        "connection refused".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_service_urls() {
        assert_eq!(
            split_url("http://app:8080/version"),
            Some(("app".into(), 8080, "/version".into()))
        );
        assert_eq!(
            split_url("http://web"),
            Some(("web".into(), 80, "/".into()))
        );
        assert_eq!(split_url("ftp://x"), None);
    }

    #[test]
    fn reads_curl_answers() {
        let a = parse_curl("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n\r\nhello\nworld\n201").expect("parses");
        assert_eq!(a.status, 201);
        assert_eq!(
            a.headers.get("content-type").map(String::as_str),
            Some("text/plain")
        );
        assert_eq!(a.body, "hello\nworld");
    }

    #[test]
    fn encodes_promql() {
        assert_eq!(urlencode("up{job=\"a\"}"), "up%7Bjob%3D%22a%22%7D");
    }
}
