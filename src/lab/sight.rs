//! What probes and actions look through: the engine, the session's containers and their
//! published ports, HTTP from the host or from the grader container. A probe never fails with an error: what
//! it could not see is what it saw ("connection refused", "container stopped"). A probe reads at
//! most `OUTPUT_LIMIT` bytes of anything the trainee controls; past it the probe says "output
//! truncated" and the expectation fails, `not` or not. HTTP redirects are never followed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::backend::{Captured, Engine, OUTPUT_LIMIT};

/// What one probe saw, and whether the expectation holds (before `not`).
#[derive(Debug, Clone)]
pub struct Seen {
    pub ok: bool,
    pub seen: String,
    /// What the probe had to read passed `OUTPUT_LIMIT`: nothing can be judged, the
    /// expectation fails whatever its `not`.
    pub truncated: bool,
}

pub fn seen(ok: bool, s: impl Into<String>) -> Seen {
    Seen {
        ok,
        seen: s.into(),
        truncated: false,
    }
}

/// What a probe saw when the output it read was cut at `OUTPUT_LIMIT`.
pub fn cut(what: impl std::fmt::Display) -> Seen {
    Seen {
        ok: false,
        seen: format!("{what}: {}", truncated_text()),
        truncated: true,
    }
}

pub fn truncated_text() -> String {
    format!(
        "output truncated (more than {} MiB; the rest was not read)",
        OUTPUT_LIMIT >> 20
    )
}

use super::rules::split_url;

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
    /// The answer was longer than `OUTPUT_LIMIT`; status and headers may be missing.
    pub truncated: bool,
}

impl ProbeEnv<'_> {
    pub fn container(&self, svc: &str) -> Result<&str, String> {
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
        let argv = vec!["sh".into(), "-c".into(), cmd.into()];
        self.exec_argv(svc, argv, user, timeout, stdin).await
    }

    /// Runs a program with its arguments as they are (no shell: a value holding a quote or a
    /// space stays one argument).
    pub async fn exec_argv(
        &self,
        svc: &str,
        argv: Vec<String>,
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
            .exec(cid, argv, user, timeout, stdin)
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
            return self
                .http_from_host(method, *hp, &path, body, headers, timeout)
                .await;
        }
        self.http_from_grader(method, &svc, url, body, headers, timeout)
            .await
    }

    /// HTTP over a published loopback port (`hp`), chunk by chunk up to the limit.
    async fn http_from_host(
        &self,
        method: &str,
        hp: u16,
        path: &str,
        body: Option<&str>,
        headers: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<HttpAnswer, String> {
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
        let mut r = req.send().await.map_err(|e| describe_reqwest(&e))?;
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
        // Chunk by chunk, and no further than the limit.
        let mut body = Captured::default();
        while let Some(chunk) = r.chunk().await.map_err(|e| describe_reqwest(&e))? {
            if !body.push(&chunk, OUTPUT_LIMIT) {
                break;
            }
        }
        Ok(HttpAnswer {
            status,
            headers,
            body: body.text(),
            truncated: body.truncated,
        })
    }

    /// HTTP through curl in the grader container.
    async fn http_from_grader(
        &self,
        method: &str,
        svc: &str,
        url: &str,
        body: Option<&str>,
        headers: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<HttpAnswer, String> {
        // curl in the grader container: it starts in milliseconds, so many probes can run at once.
        // It follows no redirect (no -L); what it prints is cut at the limit by `head`, and
        // curl then stops with a write error (23); a body announced larger stops it at once (63).
        let mut argv: Vec<String> = vec![
            "bash".into(),
            "-c".into(),
            format!("curl \"$@\" | head -c {OUTPUT_LIMIT}; exit \"${{PIPESTATUS[0]}}\""),
            "curl".into(),
            "-sS".into(),
            "-i".into(),
            "--max-filesize".into(),
            OUTPUT_LIMIT.to_string(),
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
                self.container(super::GRADER)?,
                argv,
                None,
                timeout + Duration::from_secs(5),
                body.map(|b| b.as_bytes().to_vec()),
            )
            .await
            .map_err(|e| e.to_string())?;
        if out.truncated || out.exit_code == 23 || out.exit_code == 63 {
            return Ok(HttpAnswer {
                status: 0,
                headers: BTreeMap::new(),
                body: String::new(),
                truncated: true,
            });
        }
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

    /// A JSON answer, or what was seen instead.
    pub async fn get_json(&self, url: &str) -> Result<Value, Seen> {
        let a = self
            .http("GET", url, None, &BTreeMap::new(), Duration::from_secs(10))
            .await
            .map_err(|s| seen(false, s))?;
        if a.truncated {
            return Err(cut(format!("GET {url}")));
        }
        if a.status != 200 {
            return Err(seen(
                false,
                format!("{url} answered {}: {}", a.status, excerpt(&a.body)),
            ));
        }
        serde_json::from_str(&a.body)
            .map_err(|e| seen(false, format!("{url} did not answer JSON: {e}")))
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
        truncated: false,
    })
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

/// The first 160 characters of `s` with its white space folded: it reads no further than that,
/// however long `s` is.
pub fn excerpt(s: &str) -> String {
    const MAX: usize = 160;
    let mut out = String::new();
    let mut n = 0;
    for word in s.split_whitespace() {
        for c in (n > 0).then_some(' ').into_iter().chain(word.chars()) {
            if n >= MAX {
                out.push('…');
                return out;
            }
            out.push(c);
            n += 1;
        }
    }
    if out.is_empty() {
        "(empty)".into()
    } else {
        out
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
    fn excerpts_fold_white_space_and_stop_at_160_characters() {
        assert_eq!(excerpt("  a\n b\t c "), "a b c");
        assert_eq!(excerpt(" \n "), "(empty)");
        let exact = "x".repeat(160);
        assert_eq!(excerpt(&exact), exact);
        assert_eq!(excerpt(&format!("{exact} more")), format!("{exact}…"));
        assert_eq!(
            excerpt(&format!("{} {}", "é".repeat(159), "z".repeat(5))),
            format!("{} …", "é".repeat(159))
        );
    }

    #[test]
    fn encodes_promql() {
        assert_eq!(urlencode("up{job=\"a\"}"), "up%7Bjob%3D%22a%22%7D");
    }
}
