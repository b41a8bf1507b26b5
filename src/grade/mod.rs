//! The check engine: runs a lab's checks against a session and turns what it sees into
//! outcomes. Observations run concurrently; checks that act on the system run one at a time and
//! put back what they disturbed. A check's failure is an `Outcome`, never an error.

pub mod probe;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::backend::Engine;
use crate::lab::{render, ActionDef, Check, ExpectDef, Lab};
use crate::progress::Progress;
use crate::session::{wait_healthy, Session, GRADER};
use probe::{excerpt, ProbeEnv};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub points: u32,
    pub earned: u32,
    pub competences: Vec<String>,
    pub expected: String,
    pub seen: String,
    pub message: String,
    pub hints: usize,
    pub seconds: f64,
    pub measures: BTreeMap<String, f64>,
    pub initially_passes: bool,
}

/// The result of one grading of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grade {
    pub schema: String,
    pub lab: String,
    pub lab_title: String,
    pub definition_hash: String,
    pub session: String,
    pub trainee: String,
    pub seed: u64,
    pub params: serde_json::Value,
    pub started_at: u64,
    pub seconds: f64,
    pub score: u32,
    pub total: u32,
    pub percent: f64,
    pub pass_mark: u32,
    pub passed: bool,
    pub checks: Vec<Outcome>,
    pub measures: BTreeMap<String, f64>,
    pub hints_used: u32,
    pub hint_penalty: u32,
}

pub const SCHEMA: &str = "opslab.grade/1";

pub struct Options {
    pub deadline: Duration,
    pub lang: String,
    pub only: Option<Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            deadline: Duration::from_secs(900),
            lang: "en".into(),
            only: None,
        }
    }
}

pub struct Grader<'a> {
    pub engine: &'a Engine,
    pub lab: &'a Lab,
    pub session: &'a Session,
    pub progress: &'a dyn Progress,
    pub options: Options,
}

/// Values drawn afresh at each grading, so that answers cannot be prepared in advance.
fn run_values() -> serde_json::Value {
    let mut rng = rand::thread_rng();
    let token: String = (0..12)
        .map(|_| (b'a' + rng.gen_range(0..26u8)) as char)
        .collect();
    serde_json::json!({
        "token": token,
        "version": format!("{}.{}.{}", rng.gen_range(2..9), rng.gen_range(0..20), rng.gen_range(1000..9999)),
        "number": rng.gen_range(1000..9999),
    })
}

/// Renders every string of a check's part with the context.
fn render_all<T: Serialize + serde::de::DeserializeOwned>(
    t: &T,
    ctx: &tera::Context,
) -> Result<T, String> {
    fn walk(v: &mut serde_json::Value, ctx: &tera::Context) -> Result<(), String> {
        match v {
            serde_json::Value::String(s) => *s = render::render(s, ctx)?,
            serde_json::Value::Array(a) => a.iter_mut().try_for_each(|x| walk(x, ctx))?,
            serde_json::Value::Object(o) => {
                // Keys too: label names may be per-trainee (`labels = { "{{ team_label }}" = ... }`).
                let mut rendered = serde_json::Map::new();
                for (k, mut x) in std::mem::take(o) {
                    walk(&mut x, ctx)?;
                    rendered.insert(render::render(&k, ctx)?, x);
                }
                *o = rendered;
            }
            _ => {}
        }
        Ok(())
    }
    let mut v = serde_json::to_value(t).map_err(|e| e.to_string())?;
    walk(&mut v, ctx)?;
    serde_json::from_value(v).map_err(|e| e.to_string())
}

fn dur(s: &Option<String>, default: Duration) -> Duration {
    s.as_deref()
        .and_then(|s| humantime::parse_duration(s.trim()).ok())
        .unwrap_or(default)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What an action disturbed, and how to put it back.
enum Undo {
    Start(String),
    Unpause(String),
    Connect(String, String),
}

/// A one-line statement of what an expectation wants.
pub fn describe(e: &ExpectDef) -> String {
    let mut s = if let Some(u) = &e.http {
        let mut s = format!(
            "{} {u} answers {}",
            e.method.as_deref().unwrap_or("GET"),
            e.status
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or("200".into())
        );
        if let Some(c) = &e.contains {
            s.push_str(&format!(" containing `{c}`"));
        }
        if let Some(r) = &e.regex {
            s.push_str(&format!(" matching /{r}/"));
        }
        if let Some(j) = &e.json {
            s.push_str(&format!(" with {} = {}", j.pointer, j.equals));
        }
        s
    } else if let Some(c) = &e.command {
        format!(
            "`{}` in {} exits {}",
            excerpt(c),
            e.service.as_deref().unwrap_or(GRADER),
            e.exit.unwrap_or(0)
        ) + &e
            .stdout_contains
            .as_ref()
            .map(|c| format!(" printing `{c}`"))
            .unwrap_or_default()
    } else if let Some(f) = &e.file {
        let mut s = format!("{f} in {}", e.service.as_deref().unwrap_or("?"));
        if e.exists == Some(false) {
            s.push_str(" does not exist");
        } else {
            s.push_str(" exists");
        }
        if let Some(c) = &e.contains {
            s.push_str(&format!(" containing `{c}`"));
        }
        if let Some(m) = &e.mode {
            s.push_str(&format!(" with mode {m}"));
        }
        if let Some(o) = &e.owner {
            s.push_str(&format!(" owned by {o}"));
        }
        s
    } else if let Some(c) = &e.container {
        let mut parts = vec![];
        if let Some(r) = e.running {
            parts.push(if r {
                "running".to_string()
            } else {
                "stopped".to_string()
            });
        }
        if e.healthy == Some(true) {
            parts.push("healthy".into());
        }
        if let Some(n) = e.restarts_min {
            parts.push(format!("restarted at least {n} times"));
        }
        format!("container {c} is {}", parts.join(", "))
    } else if let Some(p) = e.port {
        format!(
            "{}:{p} is {}",
            e.service.as_deref().unwrap_or("?"),
            if e.open.unwrap_or(true) {
                "open"
            } else {
                "closed"
            }
        )
    } else if let Some(l) = &e.log {
        format!(
            "{l} logs a line with `{}`",
            e.contains.as_deref().or(e.regex.as_deref()).unwrap_or("")
        )
    } else if let Some(q) = &e.prometheus {
        let mut s = format!("Prometheus `{q}`");
        if let Some(eq) = &e.equals {
            s.push_str(&format!(" = {eq}"));
        }
        if let Some(a) = e.above {
            s.push_str(&format!(" > {a}"));
        }
        if let Some(b) = e.below {
            s.push_str(&format!(" < {b}"));
        }
        if let Some(em) = e.empty {
            s.push_str(if em {
                " returns nothing"
            } else {
                " returns series"
            });
        }
        s
    } else if let Some(a) = &e.alertmanager {
        format!(
            "alert {a} is {} in Alertmanager",
            e.state.as_deref().unwrap_or("active")
        )
    } else if let Some(i) = &e.inbox {
        let mut s = format!(
            "{i} receives a {} notification",
            e.status.as_ref().and_then(|s| s.as_str()).unwrap_or("any")
        );
        if let Some(a) = &e.alertname {
            s.push_str(&format!(" for {a}"));
        }
        if let Some(l) = &e.labels {
            s.push_str(&format!(
                " with {}",
                l.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if let Some(f) = &e.from {
            s.push_str(&format!(" from {f}"));
        }
        s
    } else {
        "?".into()
    };
    if e.not {
        s = format!("NOT ({s})");
    }
    if let Some(h) = &e.holds {
        s.push_str(&format!(", for {h}"));
    } else {
        s.push_str(&format!(
            ", within {}",
            e.within.as_deref().unwrap_or("10s")
        ));
    }
    s
}

impl Grader<'_> {
    pub async fn run(&self) -> Grade {
        let started = Instant::now();
        let started_at = crate::session::now();
        let mut ctx = self.session.context();
        ctx.insert("run", &run_values());
        let mut ports: BTreeMap<String, BTreeMap<u16, u16>> = BTreeMap::new();
        let mut port_ctx = serde_json::Map::new();
        for (svc, cid) in &self.session.containers {
            if let Ok(st) = self.engine.inspect(cid).await {
                let m: BTreeMap<u16, u16> = st.ports.into_iter().collect();
                port_ctx.insert(
                    svc.clone(),
                    serde_json::json!(m
                        .iter()
                        .map(|(k, v)| (k.to_string(), *v))
                        .collect::<BTreeMap<_, _>>()),
                );
                ports.insert(svc.clone(), m);
            }
        }
        ctx.insert("ports", &port_ctx);
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default();
        let checks: Vec<&Check> = self
            .lab
            .checks
            .iter()
            .filter(|c| self.options.only.as_ref().is_none_or(|o| o.contains(&c.id)))
            .collect();
        self.progress.begin(
            &format!("grading {}", self.session.id),
            Some(checks.len() as u64),
        );
        let mut results: BTreeMap<String, Outcome> = BTreeMap::new();
        let deadline = started + self.options.deadline;
        let env = ProbeEnv {
            engine: self.engine,
            containers: &self.session.containers,
            ports: &ports,
            http: &http,
            check_started: 0.0,
        };
        // Observations first, concurrently, level by level of `needs`.
        loop {
            let ready: Vec<&Check> = checks
                .iter()
                .copied()
                .filter(|c| !c.perturbs() && !results.contains_key(&c.id))
                .filter(|c| {
                    c.needs
                        .iter()
                        .all(|n| results.contains_key(n) || !checks.iter().any(|x| &x.id == n))
                })
                .collect();
            if ready.is_empty() {
                break;
            }
            let runs = ready
                .iter()
                .map(|c| self.run_check(c, &ctx, &results, &env, deadline));
            for o in futures_util::future::join_all(runs).await {
                self.progress.advance();
                results.insert(o.id.clone(), o);
            }
        }
        // Then the checks that act, one at a time, in file order (needs first).
        let mut remaining: Vec<&Check> = checks
            .iter()
            .copied()
            .filter(|c| !results.contains_key(&c.id))
            .collect();
        while !remaining.is_empty() {
            let idx = remaining
                .iter()
                .position(|c| {
                    c.needs
                        .iter()
                        .all(|n| results.contains_key(n) || !checks.iter().any(|x| &x.id == n))
                })
                .unwrap_or(0);
            let c = remaining.remove(idx);
            self.progress.step(&c.title);
            let o = self.run_check(c, &ctx, &results, &env, deadline).await;
            self.progress.advance();
            results.insert(o.id.clone(), o);
        }
        let outcomes: Vec<Outcome> = checks
            .iter()
            .filter_map(|c| results.remove(&c.id))
            .collect();
        let score: u32 = outcomes.iter().map(|o| o.earned).sum();
        let total: u32 = outcomes.iter().map(|o| o.points).sum();
        let percent = if total == 0 {
            0.0
        } else {
            f64::from(score) * 100.0 / f64::from(total)
        };
        let measures = outcomes.iter().flat_map(|o| o.measures.clone()).collect();
        self.progress.finish(&format!("{score}/{total}"));
        Grade {
            schema: SCHEMA.into(),
            lab: self.lab.id().into(),
            lab_title: self.lab.title(&self.options.lang).into(),
            definition_hash: self.lab.definition_hash.clone(),
            session: self.session.id.clone(),
            trainee: self.session.trainee.clone(),
            seed: self.session.seed,
            params: serde_json::to_value(
                self.session
                    .params
                    .0
                    .iter()
                    .cloned()
                    .collect::<BTreeMap<_, _>>(),
            )
            .unwrap_or_default(),
            started_at,
            seconds: started.elapsed().as_secs_f64(),
            score,
            total,
            percent,
            pass_mark: self.lab.pass_mark(),
            passed: percent >= f64::from(self.lab.pass_mark()),
            checks: outcomes,
            measures,
            hints_used: 0,
            hint_penalty: 0,
        }
    }

    fn outcome(&self, c: &Check, status: Status) -> Outcome {
        let (title, hints) = match (self.options.lang.as_str(), &c.title_fr) {
            ("fr", Some(t)) => (
                t.clone(),
                if c.hints_fr.is_empty() {
                    c.hints.len()
                } else {
                    c.hints_fr.len()
                },
            ),
            _ => (c.title.clone(), c.hints.len()),
        };
        Outcome {
            id: c.id.clone(),
            title,
            status,
            points: c.points,
            earned: if status == Status::Passed {
                c.points
            } else {
                0
            },
            competences: c.competences.clone(),
            expected: String::new(),
            seen: String::new(),
            message: String::new(),
            hints,
            seconds: 0.0,
            measures: BTreeMap::new(),
            initially_passes: c.initially_passes,
        }
    }

    async fn run_check(
        &self,
        c: &Check,
        base_ctx: &tera::Context,
        results: &BTreeMap<String, Outcome>,
        env: &ProbeEnv<'_>,
        deadline: Instant,
    ) -> Outcome {
        if let Some(n) = c
            .needs
            .iter()
            .find(|n| results.get(*n).is_some_and(|o| o.status != Status::Passed))
        {
            let mut o = self.outcome(c, Status::Skipped);
            o.message = format!("skipped: it needs `{n}`, which did not pass");
            return o;
        }
        let now = Instant::now();
        if now >= deadline {
            let mut o = self.outcome(c, Status::Failed);
            o.message = "not run: the grading deadline was reached".into();
            return o;
        }
        let mut ctx = base_ctx.clone();
        // `with` values may use the lab's params (`repo_url = "git@git:{{ repo }}.git"`).
        let with: serde_json::Map<String, serde_json::Value> = c
            .with
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => serde_json::Value::String(
                        render::render(s, &ctx).unwrap_or_else(|_| s.clone()),
                    ),
                    other => other.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        ctx.insert("with", &with);
        let started = Instant::now();
        let check_started = unix_now();
        let probe_env = ProbeEnv {
            check_started,
            ..*env
        };
        let mut undo: Vec<Undo> = Vec::new();
        let body = self.run_body(c, &ctx, &probe_env, &mut undo, started);
        let result = match tokio::time::timeout(deadline.saturating_duration_since(now), body).await
        {
            Ok(r) => r,
            Err(_) => Err((
                "the check".into(),
                "the grading deadline was reached".into(),
                BTreeMap::new(),
            )),
        };
        // Put back what the check disturbed, whatever its outcome.
        let restore_errors = self.restore(c, &ctx, &probe_env, undo).await;
        let mut o = match result {
            Ok((expected, seen, measures)) => {
                let mut o = self.outcome(c, Status::Passed);
                o.expected = expected;
                o.seen = seen;
                o.measures = measures;
                o
            }
            Err((expected, seen, measures)) => {
                let mut o = self.outcome(c, Status::Failed);
                o.expected = expected;
                o.seen = seen;
                o.measures = measures;
                if let Some(f) = &c.feedback {
                    o.message = render::render(f, &ctx).unwrap_or_else(|_| f.clone());
                }
                o
            }
        };
        if !restore_errors.is_empty() {
            o.message = format!(
                "{} (while putting things back: {})",
                o.message,
                restore_errors.join("; ")
            )
            .trim()
            .to_string();
        }
        o.seconds = started.elapsed().as_secs_f64();
        o
    }

    /// Actions then expectations. Ok((expected, seen, measures)) or Err of the same.
    async fn run_body(
        &self,
        c: &Check,
        ctx: &tera::Context,
        env: &ProbeEnv<'_>,
        undo: &mut Vec<Undo>,
        started: Instant,
    ) -> Result<(String, String, BTreeMap<String, f64>), (String, String, BTreeMap<String, f64>)>
    {
        let mut measures = BTreeMap::new();
        let mut clock = started;
        for a in &c.actions {
            let a = render_all(a, ctx)
                .map_err(|e| ("the check's actions render".to_string(), e, BTreeMap::new()))?;
            if a.starts_measure == Some(true) {
                clock = Instant::now();
            }
            if let Err(e) = self.act(&a, env, undo).await {
                return Err((
                    format!(
                        "action {} succeeds",
                        a.kinds().first().copied().unwrap_or("?")
                    ),
                    e,
                    measures,
                ));
            }
        }
        let mut expected = Vec::new();
        let mut seen = Vec::new();
        for e in &c.expect {
            let e = match render_all(e, ctx) {
                Ok(e) => e,
                Err(err) => return Err(("the check's expectations render".into(), err, measures)),
            };
            let want = describe(&e);
            let (ok, s, took) = self.expect(&e, env).await;
            expected.push(want);
            seen.push(format!("{s} [{took:.1}s]"));
            if !ok {
                return Err((expected.join("; "), seen.join("; "), measures));
            }
        }
        if let Some(m) = &c.measure {
            measures.insert(
                m.clone(),
                (clock.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            );
        }
        Ok((expected.join("; "), seen.join("; "), measures))
    }

    /// Polls an expectation until its deadline (`within`) or over its window (`holds`).
    async fn expect(&self, e: &ExpectDef, env: &ProbeEnv<'_>) -> (bool, String, f64) {
        let every = dur(&e.every, Duration::from_secs(1));
        let start = Instant::now();
        if let Some(h) = &e.holds {
            let window = dur(&Some(h.clone()), Duration::from_secs(10));
            let mut last;
            loop {
                let s = env.probe(e).await;
                if s.ok == e.not {
                    return (
                        false,
                        format!("after {:.1}s: {}", start.elapsed().as_secs_f64(), s.seen),
                        start.elapsed().as_secs_f64(),
                    );
                }
                last = s.seen;
                if start.elapsed() >= window {
                    return (
                        true,
                        format!("held for {h}: {last}"),
                        start.elapsed().as_secs_f64(),
                    );
                }
                tokio::time::sleep(every.min(window.saturating_sub(start.elapsed()))).await;
            }
        }
        let within = dur(&e.within, Duration::from_secs(10));
        loop {
            let s = env.probe(e).await;
            if s.ok != e.not {
                return (true, s.seen, start.elapsed().as_secs_f64());
            }
            if start.elapsed() >= within {
                return (false, s.seen, start.elapsed().as_secs_f64());
            }
            tokio::time::sleep(
                every.min(
                    within
                        .saturating_sub(start.elapsed())
                        .max(Duration::from_millis(50)),
                ),
            )
            .await;
        }
    }

    async fn act(
        &self,
        a: &ActionDef,
        env: &ProbeEnv<'_>,
        undo: &mut Vec<Undo>,
    ) -> Result<(), String> {
        let cid = |svc: &str| -> Result<String, String> {
            self.session
                .containers
                .get(svc)
                .cloned()
                .ok_or_else(|| format!("no service `{svc}`"))
        };
        let e = |r: Result<(), crate::backend::EngineError>| r.map_err(|e| e.to_string());
        if let Some(cmd) = &a.exec {
            let svc = a.service.as_deref().unwrap_or(GRADER);
            let timeout = dur(&a.timeout, Duration::from_secs(60));
            let out = env.exec(svc, cmd, a.user.as_deref(), timeout, None).await?;
            let ok = a.ok_exit.clone().unwrap_or_else(|| vec![0]);
            if out.timed_out {
                return Err(format!(
                    "`{}` in {svc} did not finish within {}s",
                    excerpt(cmd),
                    timeout.as_secs()
                ));
            }
            if !ok.contains(&out.exit_code) {
                return Err(format!(
                    "`{}` in {svc} exited {}: {}",
                    excerpt(cmd),
                    out.exit_code,
                    excerpt(&format!("{}{}", out.stdout, out.stderr))
                ));
            }
            return Ok(());
        }
        if let Some(s) = &a.stop {
            e(self.engine.stop(&cid(s)?, 5).await)?;
            undo.push(Undo::Start(s.clone()));
            return Ok(());
        }
        if let Some(s) = &a.kill {
            let id = cid(s)?;
            let st = self.engine.inspect(&id).await.map_err(|e| e.to_string())?;
            if st.running {
                e(self
                    .engine
                    .kill(&id, a.signal.as_deref().unwrap_or("KILL"))
                    .await)?;
            }
            undo.push(Undo::Start(s.clone()));
            return Ok(());
        }
        if let Some(s) = &a.start {
            return e(self.engine.start(&cid(s)?).await);
        }
        if let Some(s) = &a.restart {
            return e(self.engine.restart(&cid(s)?).await);
        }
        if let Some(s) = &a.pause {
            e(self.engine.pause(&cid(s)?).await)?;
            undo.push(Undo::Unpause(s.clone()));
            return Ok(());
        }
        if let Some(s) = &a.unpause {
            return e(self.engine.unpause(&cid(s)?).await);
        }
        if let Some(s) = &a.disconnect {
            let net = format!(
                "opslab-{}-{}",
                self.session.id,
                a.network.as_deref().unwrap_or("lab")
            );
            e(self.engine.disconnect(&cid(s)?, &net).await)?;
            undo.push(Undo::Connect(s.clone(), net));
            return Ok(());
        }
        if let Some(s) = &a.connect {
            let net = format!(
                "opslab-{}-{}",
                self.session.id,
                a.network.as_deref().unwrap_or("lab")
            );
            return e(self
                .engine
                .connect_network(&cid(s)?, &net, vec![s.clone()])
                .await);
        }
        if let Some(file) = &a.copy {
            let svc = a.service.as_deref().unwrap_or(GRADER);
            let path = self.lab.dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|err| format!("{}: {err}", path.display()))?;
            let body = render::render(&text, &self.session.context())?;
            let mode = a
                .mode
                .as_deref()
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .unwrap_or(0o644);
            let to = a.to.clone().unwrap_or_default();
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(mode);
            h.set_cksum();
            b.append_data(&mut h, to.trim_start_matches('/'), body.as_bytes())
                .map_err(|e| e.to_string())?;
            let tar = b.into_inner().map_err(|e| e.to_string())?;
            self.engine
                .upload(&cid(svc)?, "/", tar)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(o) = &a.owner {
                env.exec(
                    svc,
                    &format!("chown {o} '{to}'"),
                    None,
                    Duration::from_secs(10),
                    None,
                )
                .await?;
            }
            return Ok(());
        }
        if let Some(w) = &a.wait {
            tokio::time::sleep(dur(&Some(w.clone()), Duration::from_secs(1))).await;
            return Ok(());
        }
        Err("the action names no kind".into())
    }

    async fn restore(
        &self,
        c: &Check,
        ctx: &tera::Context,
        env: &ProbeEnv<'_>,
        undo: Vec<Undo>,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let mut restarted = BTreeSet::new();
        for u in undo.into_iter().rev() {
            let r = match &u {
                Undo::Start(s) => {
                    restarted.insert(s.clone());
                    match self.session.containers.get(s) {
                        Some(id) => self.engine.start(id).await.map_err(|e| e.to_string()),
                        None => Ok(()),
                    }
                }
                Undo::Unpause(s) => match self.session.containers.get(s) {
                    Some(id) => self.engine.unpause(id).await.map_err(|e| e.to_string()),
                    None => Ok(()),
                },
                Undo::Connect(s, net) => match self.session.containers.get(s) {
                    Some(id) => self
                        .engine
                        .connect_network(id, net, vec![s.clone()])
                        .await
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                },
            };
            if let Err(e) = r {
                errors.push(e);
            }
        }
        for s in restarted {
            if let Some(id) = self.session.containers.get(&s) {
                if let Err(e) = wait_healthy(self.engine, id, &s, Duration::from_secs(90)).await {
                    errors.push(e.to_string());
                }
            }
        }
        for a in &c.restore {
            match render_all(a, ctx) {
                Ok(a) => {
                    let mut ignored = Vec::new();
                    if let Err(e) = self.act(&a, env, &mut ignored).await {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }
}
