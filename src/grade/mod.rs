//! The check engine: runs a lab's checks against a session and turns what it sees into
//! outcomes. Observations run concurrently; checks that act on the system run one at a time and
//! put back what they disturbed. A check's failure is an `Outcome`, never an error.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::backend::Engine;
use crate::lab::action::{ActEnv, Action, Step, Undo};
use crate::lab::expect::{Expect, Window};
use crate::lab::model::{ActionDef, ExpectDef};
use crate::lab::resolve::Grading;
use crate::lab::rules;
use crate::lab::sight::ProbeEnv;
use crate::lab::{render, Check, Lab};
use crate::progress::Progress;
use crate::session::{wait_healthy, Session};

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

/// Work for the trainer to read (a `[[review]]` of the lab): not scored, shown with its rubric
/// and what the trainee wrote, as it was at this grading.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    pub id: String,
    pub title: String,
    pub competences: Vec<String>,
    pub rubric: String,
    /// What the review's command printed (at most `REVIEW_LIMIT` bytes of it).
    pub text: String,
    /// The text was longer and is cut.
    #[serde(default)]
    pub truncated: bool,
    /// Why there is nothing to read, when the command failed or could not run.
    #[serde(default)]
    pub error: String,
}

/// The most of a review's text a grade keeps.
pub const REVIEW_LIMIT: usize = 64 * 1024;

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
    /// For the trainer to read; no part of the score.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<Review>,
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

/// What a check's body gives: (expected, seen, measures), Ok when it passed.
type Body =
    Result<(String, String, BTreeMap<String, f64>), (String, String, BTreeMap<String, f64>)>;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Grader<'_> {
    pub async fn run(&self) -> Grade {
        let started = Instant::now();
        let started_at = crate::session::now();
        // Published directly, or through an assessment's gate.
        let ports = self.session.published_ports(self.engine).await;
        let ctx = self.grading_context(&ports);
        // A redirect is an answer to judge, never a place to go: a trainee's server could send
        // the grader anywhere.
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
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
        let env = ProbeEnv {
            engine: self.engine,
            containers: &self.session.containers,
            ports: &ports,
            http: &http,
            check_started: 0.0,
        };
        let deadline = started + self.options.deadline;
        let mut results = self.run_all(&checks, &ctx, &env, deadline).await;
        let outcomes: Vec<Outcome> = checks
            .iter()
            .filter_map(|c| results.remove(&c.id))
            .collect();
        let reviews = if self.options.only.is_none() {
            self.read_reviews(&ctx, &env).await
        } else {
            Vec::new()
        };
        let mut g = self.grade(outcomes, started, started_at);
        g.reviews = reviews;
        g
    }

    /// Each `[[review]]`'s text, as its command prints it now, side by side.
    async fn read_reviews(&self, ctx: &tera::Context, env: &ProbeEnv<'_>) -> Vec<Review> {
        let mut rctx = ctx.clone();
        rctx.insert("with", &serde_json::Map::new());
        let reads = self.lab.def.review.iter().map(|r| {
            let r = r.get_ref();
            let fr = self.options.lang == "fr";
            let pick = |en: &String, fr_text: &Option<String>| match (fr, fr_text) {
                (true, Some(t)) => t.clone(),
                _ => en.clone(),
            };
            let title = pick(&r.title, &r.title_fr);
            let rubric = render::render(&pick(&r.rubric, &r.rubric_fr), &rctx)
                .unwrap_or_else(|e| format!("(the rubric could not be rendered: {e})"));
            let timeout = r
                .timeout
                .as_ref()
                .and_then(|t| rules::Span::parse(t.get_ref(), rules::MAX_REVIEW_TIMEOUT).ok())
                .map_or(rules::REVIEW_TIMEOUT, |s| s.0);
            let rctx = &rctx;
            async move {
                let mut out = Review {
                    id: r.id.get_ref().clone(),
                    title,
                    competences: r.competences.iter().map(|c| c.get_ref().clone()).collect(),
                    rubric,
                    text: String::new(),
                    truncated: false,
                    error: String::new(),
                };
                let cmd = match render::render(r.command.get_ref(), rctx) {
                    Ok(c) => c,
                    Err(e) => {
                        out.error = format!("the command could not be rendered: {e}");
                        return out;
                    }
                };
                match env
                    .exec(r.service.get_ref(), &cmd, r.user.as_deref(), timeout, None)
                    .await
                {
                    Err(e) => out.error = e,
                    Ok(o) if o.timed_out => {
                        out.error = format!("no answer within {}s", timeout.as_secs())
                    }
                    Ok(o) if o.exit_code != 0 && !o.truncated => {
                        out.error = format!(
                            "exit {}: {}",
                            o.exit_code,
                            crate::lab::sight::excerpt(&o.stderr)
                        );
                    }
                    Ok(o) => {
                        out.truncated = o.truncated || o.stdout.len() > REVIEW_LIMIT;
                        let mut end = o.stdout.len().min(REVIEW_LIMIT);
                        while !o.stdout.is_char_boundary(end) {
                            end -= 1;
                        }
                        out.text = o.stdout[..end].to_string();
                    }
                }
                out
            }
        });
        futures_util::future::join_all(reads).await
    }

    /// The session's context with the values drawn for this grading (`run`) and the published
    /// ports (`ports`).
    fn grading_context(&self, ports: &BTreeMap<String, BTreeMap<u16, u16>>) -> tera::Context {
        let mut ctx = self.session.context();
        ctx.insert("run", &run_values());
        let mut port_ctx = serde_json::Map::new();
        for (svc, m) in ports {
            port_ctx.insert(
                svc.clone(),
                serde_json::json!(m
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect::<BTreeMap<_, _>>()),
            );
        }
        ctx.insert("ports", &port_ctx);
        ctx
    }

    /// Observations first, concurrently, level by level of `needs`; then the checks that act,
    /// one at a time, in file order (needs first).
    async fn run_all(
        &self,
        checks: &[&Check],
        ctx: &tera::Context,
        env: &ProbeEnv<'_>,
        deadline: Instant,
    ) -> BTreeMap<String, Outcome> {
        let mut results: BTreeMap<String, Outcome> = BTreeMap::new();
        let ready = |c: &Check, results: &BTreeMap<String, Outcome>| {
            c.needs
                .iter()
                .all(|n| results.contains_key(n) || !checks.iter().any(|x| &x.id == n))
        };
        loop {
            let level: Vec<&Check> = checks
                .iter()
                .copied()
                .filter(|c| !c.perturbs() && !results.contains_key(&c.id))
                .filter(|c| ready(c, &results))
                .collect();
            if level.is_empty() {
                break;
            }
            let runs = level
                .iter()
                .map(|c| self.run_check(c, ctx, &results, env, deadline));
            for o in futures_util::future::join_all(runs).await {
                self.progress.advance();
                results.insert(o.id.clone(), o);
            }
        }
        let mut remaining: Vec<&Check> = checks
            .iter()
            .copied()
            .filter(|c| !results.contains_key(&c.id))
            .collect();
        while !remaining.is_empty() {
            let idx = remaining
                .iter()
                .position(|c| ready(c, &results))
                .unwrap_or(0);
            let c = remaining.remove(idx);
            self.progress.step(&c.title);
            let o = self.run_check(c, ctx, &results, env, deadline).await;
            self.progress.advance();
            results.insert(o.id.clone(), o);
        }
        results
    }

    /// The grade of the outcomes: score, total, percent, pass.
    fn grade(&self, outcomes: Vec<Outcome>, started: Instant, started_at: u64) -> Grade {
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
            reviews: Vec::new(),
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
        let ctx = check_context(c, base_ctx);
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
        let mut o = self.judged(c, result, &ctx);
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

    /// The outcome of a check that ran: passed, or failed with its feedback.
    fn judged(&self, c: &Check, result: Body, ctx: &tera::Context) -> Outcome {
        let passed = result.is_ok();
        let (expected, seen, measures) = result.unwrap_or_else(|e| e);
        let mut o = self.outcome(
            c,
            if passed {
                Status::Passed
            } else {
                Status::Failed
            },
        );
        o.expected = expected;
        o.seen = seen;
        o.measures = measures;
        if !passed {
            if let Some(f) = &c.feedback {
                o.message = render::render(f, ctx).unwrap_or_else(|_| f.clone());
            }
        }
        o
    }

    /// Where this grading's actions act.
    fn act_env<'e>(&'e self, env: &ProbeEnv<'e>, session_ctx: &'e tera::Context) -> ActEnv<'e> {
        ActEnv {
            probe: *env,
            session: &self.session.id,
            lab_dir: &self.lab.dir,
            session_ctx,
        }
    }

    /// Actions then expectations. Ok((expected, seen, measures)) or Err of the same.
    async fn run_body(
        &self,
        c: &Check,
        ctx: &tera::Context,
        env: &ProbeEnv<'_>,
        undo: &mut Vec<Undo>,
        started: Instant,
    ) -> Body {
        let mut measures = BTreeMap::new();
        let mut clock = started;
        let session_ctx = self.session.context();
        let act_env = self.act_env(env, &session_ctx);
        for a in &c.actions {
            let step = resolve_action(a, ctx)
                .map_err(|e| ("the check's actions render".to_string(), e, BTreeMap::new()))?;
            if step.starts_measure {
                clock = Instant::now();
            }
            if let Err(e) = step.action.act(&act_env, undo).await {
                let expected = format!("action {} succeeds", step.action.name());
                return Err((expected, e, measures));
            }
        }
        let mut expected = Vec::new();
        let mut seen = Vec::new();
        for e in &c.expect {
            let e = match resolve_expect(e, ctx) {
                Ok(e) => e,
                Err(err) => return Err(("the check's expectations render".into(), err, measures)),
            };
            let (ok, s, took) = watch(&e, env).await;
            expected.push(e.describe());
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

    /// Puts back what the check disturbed (in reverse), waits restarted services healthy,
    /// then runs the check's `restore` actions.
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
            if let Undo::Start(s) = &u {
                restarted.insert(s.clone());
            }
            if let Err(e) = self.undo(&u).await {
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
        let session_ctx = self.session.context();
        let act_env = self.act_env(env, &session_ctx);
        for a in &c.restore {
            match resolve_action(a, ctx) {
                Ok(step) => {
                    let mut ignored = Vec::new();
                    if let Err(e) = step.action.act(&act_env, &mut ignored).await {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// Undoes one disturbance; a service gone is nothing to put back.
    async fn undo(&self, u: &Undo) -> Result<(), String> {
        let (Undo::Start(s) | Undo::Unpause(s) | Undo::Connect(s, _)) = u;
        let Some(id) = self.session.containers.get(s) else {
            return Ok(());
        };
        let r = match u {
            Undo::Start(_) => self.engine.start(id).await,
            Undo::Unpause(_) => self.engine.unpause(id).await,
            Undo::Connect(s, net) => self.engine.connect_network(id, net, vec![s.clone()]).await,
        };
        r.map_err(|e| e.to_string())
    }
}

/// The check's context: the grading's, with the check's `with` values rendered in it (they
/// may use the lab's params and `run`: `repo_url = "git@git:{{ repo }}.git"`).
fn check_context(c: &Check, base_ctx: &tera::Context) -> tera::Context {
    let mut ctx = base_ctx.clone();
    let with: serde_json::Map<String, serde_json::Value> = c
        .with
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => {
                    serde_json::Value::String(render::render(s, &ctx).unwrap_or_else(|_| s.clone()))
                }
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    ctx.insert("with", &with);
    ctx
}

/// An action of the check rendered with the check's context and resolved.
fn resolve_action(a: &ActionDef, ctx: &tera::Context) -> Result<Step, String> {
    let mut g = Grading {
        ctx,
        problems: Vec::new(),
    };
    Action::resolve(a, &mut g).ok_or_else(|| g.problems.join("; "))
}

/// An expectation of the check rendered with the check's context and resolved.
fn resolve_expect(e: &ExpectDef, ctx: &tera::Context) -> Result<Expect, String> {
    let mut g = Grading {
        ctx,
        problems: Vec::new(),
    };
    Expect::resolve(e, &mut g).ok_or_else(|| g.problems.join("; "))
}

/// Polls an expectation until its deadline (`within`) or over its window (`holds`).
async fn watch(e: &Expect, env: &ProbeEnv<'_>) -> (bool, String, f64) {
    let every = e.every.time;
    let start = Instant::now();
    let look = || e.probe.probe(env, e.timeout.time);
    let within = match &e.window {
        Window::Holds(h) => {
            let window = h.time;
            loop {
                let s = look().await;
                let took = start.elapsed().as_secs_f64();
                if s.ok == e.not || s.truncated {
                    return (false, format!("after {took:.1}s: {}", s.seen), took);
                }
                if start.elapsed() >= window {
                    return (true, format!("held for {h}: {}", s.seen), took);
                }
                tokio::time::sleep(every.min(window.saturating_sub(start.elapsed()))).await;
            }
        }
        Window::Within(w) => w.time,
    };
    loop {
        let s = look().await;
        if s.ok != e.not && !s.truncated {
            return (true, s.seen, start.elapsed().as_secs_f64());
        }
        // Output past the limit will not shrink by asking again.
        if s.truncated || start.elapsed() >= within {
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

#[cfg(test)]
mod tests;
