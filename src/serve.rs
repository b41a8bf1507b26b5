//! `opslab class serve`: a trainer's live class page. A small HTTP server (loopback by default,
//! a token in every URL) that shows, per trainee, whether they are logged in and since when, their
//! last activity, the time left, the hints taken, the latest grading per check and a progress
//! timeline, updated by itself through server-sent events. Progress comes from observation-only
//! gradings run in the background (checks without actions: they disturb nothing and are never
//! final); perturbing checks stay for `class grade` and the deadline.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::backend::Engine;
use crate::class::{self, Class, ClassError};
use crate::grade::{Grader, Options, Status};
use crate::lab::Lab;
use crate::session::{self, Session};

/// How the page is served.
pub struct ServeOptions {
    pub bind: String,
    pub port: u16,
    /// How often observation-only gradings run.
    pub interval: Duration,
    pub lang: String,
}

/// One trainee's line on the page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub session: Option<String>,
    pub logged_in: bool,
    /// Since when the oldest open login lasts (unix time).
    pub since: Option<u64>,
    pub last_activity: Option<u64>,
    pub hints: u32,
    /// check id -> "passed", "failed" or "skipped", from the latest grading.
    pub checks: BTreeMap<String, String>,
    pub score: Option<u32>,
    pub total: Option<u32>,
    /// (unix time, score) of every observation grading.
    pub timeline: Vec<(u64, u32)>,
    pub graded_at: Option<u64>,
    pub is_final: bool,
}

/// What the page shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Board {
    pub class: String,
    pub lab: String,
    pub deadline: Option<u64>,
    pub access_ended: Option<u64>,
    pub now: u64,
    pub checks: Vec<(String, String)>,
    pub trainees: Vec<Row>,
}

type Shared = Arc<Mutex<Board>>;

/// A random token for the page's URLs.
fn token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Serves the class page until the process is stopped. Prints the page's URL first.
pub async fn serve(
    engine: &Engine,
    project: &crate::project::Project,
    name: &str,
    opts: ServeOptions,
) -> Result<(), ClassError> {
    let info = class::load_info(name)?;
    let lab = Lab::load(Path::new(&info.lab_dir), project)
        .map_err(|e| ClassError::Access(e.to_string()))?;
    let board: Shared = Arc::new(Mutex::new(Board {
        class: info.id.clone(),
        lab: info.lab.clone(),
        deadline: info.deadline,
        checks: lab
            .checks
            .iter()
            .map(|c| (c.id.clone(), c.title.clone()))
            .collect(),
        trainees: info
            .trainees
            .iter()
            .map(|t| Row {
                id: t.id.clone(),
                name: t.name.clone(),
                ..Row::default()
            })
            .collect(),
        ..Board::default()
    }));
    let listener = TcpListener::bind((opts.bind.as_str(), opts.port))
        .await
        .map_err(|e| ClassError::Access(format!("cannot listen on {}: {e}", opts.bind)))?;
    let port = listener
        .local_addr()
        .map_err(|e| ClassError::Access(e.to_string()))?
        .port();
    let secret = token();
    let host = if opts.bind == "0.0.0.0" {
        session::hostname()
    } else {
        opts.bind.clone()
    };
    println!("class {name}: live page at http://{host}:{port}/?token={secret}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let watch = watch(engine, project, name, &lab, board.clone(), opts.interval);
    let accept = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let board = board.clone();
            let secret = secret.clone();
            let lang = opts.lang.clone();
            let dir = class::class_dir(name);
            tokio::spawn(async move {
                let _ = handle(stream, board, &secret, &lang, &dir).await;
            });
        }
    };
    tokio::join!(watch, accept);
    Ok(())
}

/// Keeps the board up to date: who is logged in and active every few seconds, observation
/// gradings every `interval`, final results as they appear.
async fn watch(
    engine: &Engine,
    project: &crate::project::Project,
    name: &str,
    lab: &Lab,
    board: Shared,
    interval: Duration,
) {
    let class = Class {
        engine,
        project,
        progress: &crate::progress::Silent,
    };
    let mut last_grading: Option<tokio::time::Instant> = None;
    loop {
        let info = class::load_info(name).ok();
        let sessions = class.sessions(name).await.unwrap_or_default();
        let results = class::read_results(name);
        let history = crate::history::History::open().ok();
        let ended = info.as_ref().is_some_and(|i| {
            i.access_ended.is_some() || i.deadline.is_some_and(|d| session::now() >= d)
        });
        let grade_now = !ended && last_grading.is_none_or(|t| t.elapsed() >= interval);
        if grade_now {
            last_grading = Some(tokio::time::Instant::now());
        }
        let looks = futures_util::future::join_all(sessions.iter().map(|s| async {
            let presence = presence(engine, lab, s).await;
            let graded = if grade_now {
                observe(engine, lab, s).await
            } else {
                None
            };
            (s.trainee.clone(), s.id.clone(), presence, graded)
        }))
        .await;
        if !update(
            &board,
            info.as_ref(),
            looks,
            &sessions,
            &results,
            history.as_ref(),
        ) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// What one look at the sessions found: trainee, session, (logged in, since, last activity), and
/// the observation grading if one ran.
type Look = (
    String,
    String,
    (bool, Option<u64>, Option<u64>),
    Option<crate::grade::Grade>,
);

/// Writes one round of looks and the signed results onto the board; false if the board is lost.
fn update(
    board: &Shared,
    info: Option<&class::ClassInfo>,
    looks: Vec<Look>,
    sessions: &[Session],
    results: &[class::ClassResult],
    history: Option<&crate::history::History>,
) -> bool {
    let mut b = match board.lock() {
        Ok(b) => b,
        Err(_) => return false,
    };
    b.now = session::now();
    if let Some(i) = info {
        b.deadline = i.deadline;
        b.access_ended = i.access_ended;
    }
    for (trainee, sid, (logged_in, since, activity), graded) in looks {
        let Some(row) = b.trainees.iter_mut().find(|r| r.id == trainee) else {
            continue;
        };
        row.session = Some(sid.clone());
        row.logged_in = logged_in;
        row.since = since;
        row.last_activity = activity.or(row.last_activity);
        if let (Some(h), Some(s)) = (history, sessions.iter().find(|s| s.id == sid)) {
            row.hints = h.total_hints(&s.id, s.hint_scope()).unwrap_or(row.hints);
        }
        if let Some(g) = graded {
            apply_grade(row, &g, false);
            row.timeline.push((g.started_at, g.score));
        }
    }
    for r in results {
        if let Some(row) = b.trainees.iter_mut().find(|x| x.id == r.trainee.id) {
            if r.is_final || row.graded_at.is_none_or(|g| g < r.graded_at) {
                apply_grade(row, &r.grade, r.is_final);
                row.graded_at = Some(r.graded_at);
            }
        }
    }
    true
}

fn apply_grade(row: &mut Row, g: &crate::grade::Grade, is_final: bool) {
    if row.is_final && !is_final {
        return;
    }
    for c in &g.checks {
        let s = match c.status {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        };
        row.checks.insert(c.id.clone(), s.into());
    }
    row.score = Some(g.score);
    row.total = Some(g.total);
    row.is_final = is_final;
}

/// Whether the trainee is logged in (an SSH session of the trainee's account in the trainee
/// service) and since when, and the newest change in their home folder.
async fn presence(engine: &Engine, lab: &Lab, s: &Session) -> (bool, Option<u64>, Option<u64>) {
    let Some(svc) = lab.trainee_service() else {
        return (false, None, None);
    };
    let Ok(cid) = s.container(svc.name.get_ref()) else {
        return (false, None, None);
    };
    let user = svc.user.clone().unwrap_or_else(|| "root".into());
    let script = format!(
        "now=$(date +%s); for p in $(pgrep -f '^sshd: {user}[@ ]'); do echo login $((now - $(ps -o etimes= -p $p))); done; \
         h=$(getent passwd {user} | cut -d: -f6); find \"$h\" -xdev -maxdepth 3 -printf 'activity %T@\\n' 2>/dev/null | sort -k2 -n | tail -n 1"
    );
    let Ok(out) = engine
        .exec(
            cid,
            vec!["sh".into(), "-c".into(), script],
            None,
            Duration::from_secs(10),
            None,
        )
        .await
    else {
        return (false, None, None);
    };
    let mut since: Option<u64> = None;
    let mut activity = None;
    for line in out.stdout.lines() {
        match line.split_once(' ') {
            Some(("login", t)) => {
                if let Ok(t) = t.trim().parse::<u64>() {
                    since = Some(since.map_or(t, |s: u64| s.min(t)));
                }
            }
            Some(("activity", t)) => {
                activity = t
                    .trim()
                    .split('.')
                    .next()
                    .and_then(|x| x.parse::<u64>().ok());
            }
            _ => {}
        }
    }
    (since.is_some(), since, activity)
}

/// An observation-only grading: the checks that act on nothing, never while another grading of
/// the session runs.
async fn observe(engine: &Engine, lab: &Lab, s: &Session) -> Option<crate::grade::Grade> {
    let _held = crate::lock::try_session(&s.id).ok()??;
    if s.suspended(engine).await.unwrap_or(true) {
        return None;
    }
    let only = lab.observation_checks();
    if only.is_empty() {
        return None;
    }
    let g = Grader {
        engine,
        lab,
        session: s,
        progress: &crate::progress::Silent,
        options: Options {
            only: Some(only),
            deadline: Duration::from_secs(120),
            ..Options::default()
        },
    }
    .run()
    .await;
    Some(g)
}

/// One HTTP/1.1 request: the page, its events, the board as JSON, a trainee's page or report.
async fn handle(
    mut stream: TcpStream,
    board: Shared,
    secret: &str,
    lang: &str,
    dir: &Path,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let target = request.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: BTreeMap<&str, &str> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    if params.get("token") != Some(&secret) {
        return respond(
            &mut stream,
            "403 Forbidden",
            "text/plain",
            b"a token is needed\n",
        )
        .await;
    }
    let lang = match params.get("lang") {
        Some(&"fr") => "fr",
        Some(&"en") => "en",
        _ => lang,
    };
    let snapshot = || board.lock().map(|b| b.clone()).unwrap_or_default();
    match path {
        "/" => {
            let page = class_page(&snapshot(), secret, lang);
            html(&mut stream, &page).await
        }
        "/state" => {
            let json = serde_json::to_vec(&snapshot()).unwrap_or_default();
            respond(&mut stream, "200 OK", "application/json", &json).await
        }
        "/events" => events(&mut stream, snapshot).await,
        p if p.starts_with("/trainee/") => {
            let id = &p["/trainee/".len()..];
            let b = snapshot();
            match b.trainees.iter().find(|r| r.id == id) {
                Some(row) => {
                    let report = dir.join("report/trainees").join(format!("{id}.html"));
                    let page = trainee_page(&b, row, report.exists(), secret, lang);
                    html(&mut stream, &page).await
                }
                None => not_found(&mut stream, "no such trainee").await,
            }
        }
        // Only a trainee of the roster names a file: nothing else is read.
        p if p.starts_with("/report/") => {
            let id = &p["/report/".len()..];
            let known = snapshot().trainees.iter().any(|r| r.id == id);
            let page = known
                .then(|| {
                    std::fs::read_to_string(dir.join("report/trainees").join(format!("{id}.html")))
                        .ok()
                })
                .flatten();
            match page {
                Some(page) => html(&mut stream, &page).await,
                None => not_found(&mut stream, "not graded yet").await,
            }
        }
        _ => not_found(&mut stream, "not found").await,
    }
}

/// The request line of one HTTP request (its target is all this page needs); the headers are
/// read away. Every line is bounded in size and time. None when the client sent nothing.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    if read_line(&mut reader, &mut request).await? == 0 {
        return Ok(None);
    }
    let mut header = String::new();
    for _ in 0..100 {
        header.clear();
        if read_line(&mut reader, &mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
    }
    Ok(Some(request))
}

/// One line of at most 8 KiB, within 10 s.
async fn read_line(
    reader: &mut BufReader<&mut TcpStream>,
    buf: &mut String,
) -> std::io::Result<usize> {
    tokio::time::timeout(Duration::from_secs(10), reader.take(8192).read_line(buf))
        .await
        .map_err(|_| std::io::Error::other("slow request"))?
}

/// The board, every two seconds, as server-sent events, until the client goes.
async fn events(stream: &mut TcpStream, snapshot: impl Fn() -> Board) -> std::io::Result<()> {
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: keep-alive\r\n\r\n",
        )
        .await?;
    loop {
        let json = serde_json::to_string(&snapshot()).unwrap_or_default();
        stream
            .write_all(format!("data: {json}\n\n").as_bytes())
            .await?;
        stream.flush().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn not_found(stream: &mut TcpStream, why: &str) -> std::io::Result<()> {
    respond(
        stream,
        "404 Not Found",
        "text/plain",
        format!("{why}\n").as_bytes(),
    )
    .await
}

/// A page of HTML.
async fn html(stream: &mut TcpStream, page: &str) -> std::io::Result<()> {
    respond(
        stream,
        "200 OK",
        "text/html; charset=utf-8",
        page.as_bytes(),
    )
    .await
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

/// The page's words in English and French.
fn words(lang: &str) -> BTreeMap<&'static str, &'static str> {
    let fr = lang == "fr";
    let pairs: [(&str, &str, &str); 14] = [
        ("title", "Class", "Classe"),
        ("trainee", "Trainee", "Stagiaire"),
        ("login", "Logged in", "Connecté"),
        ("since", "since", "depuis"),
        ("no", "not logged in", "non connecté"),
        ("activity", "Last activity", "Dernière activité"),
        ("left", "Time left", "Temps restant"),
        ("hints", "Hints", "Indices"),
        ("score", "Score", "Score"),
        ("progress", "Progress", "Progression"),
        ("ended", "Access ended", "Accès terminé"),
        ("final", "final", "définitif"),
        ("report", "Full report", "Rapport complet"),
        ("live", "updates by itself", "se met à jour tout seul"),
    ];
    pairs
        .iter()
        .map(|(k, en, f)| (*k, if fr { *f } else { *en }))
        .collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;font-size:1.25rem;margin:1.5rem;color:#111;background:#fff}\
table{border-collapse:collapse;width:100%}th,td{border:1px solid #bbb;padding:.4rem .6rem;text-align:center}\
th.who,td.who{text-align:left}.passed{background:#bfe8c6}.failed{background:#f6c4be}.skipped{background:#eee}\
.on{color:#0a5c1a;font-weight:bold}.off{color:#8a1c12}svg{vertical-align:middle}a{color:#0b3d91}";

fn class_page(b: &Board, secret: &str, lang: &str) -> String {
    let w = words(lang);
    let head: String = b
        .checks
        .iter()
        .map(|(id, title)| format!("<th title=\"{}\">{}</th>", esc(title), esc(id)))
        .collect();
    let rows: String = b
        .trainees
        .iter()
        .map(|r| {
            let cells: String = b
                .checks
                .iter()
                // Filled by the page's script from /events, like every live cell.
                .map(|(id, _)| format!("<td id=\"c-{}-{}\"></td>", esc(&r.id), esc(id)))
                .collect();
            format!(
                "<tr><td class=\"who\"><a href=\"/trainee/{id}?token={secret}&amp;lang={lang}\">{id}</a> {name}</td>\
                 <td id=\"l-{id}\"></td><td id=\"a-{id}\"></td><td id=\"h-{id}\">{hints}</td>{cells}<td id=\"s-{id}\"></td><td id=\"p-{id}\"></td></tr>",
                id = esc(&r.id),
                name = esc(&r.name),
                hints = r.hints,
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title} {class}</title><style>{STYLE}</style></head><body>\
         <h1>{title} {class}: {lab}</h1><p><span id=\"left\"></span> <small>({live})</small></p>\
         <table id=\"live\"><tr><th class=\"who\">{trainee}</th><th>{login}</th><th>{activity}</th><th>{hints}</th>{head}<th>{score}</th><th>{progress}</th></tr>{rows}</table>\
         <script>\n{script}\n</script></body></html>",
        title = w["title"],
        class = esc(&b.class),
        lab = esc(&b.lab),
        live = w["live"],
        trainee = w["trainee"],
        login = w["login"],
        activity = w["activity"],
        hints = w["hints"],
        score = w["score"],
        progress = w["progress"],
        script = page_script(secret, lang),
    )
}

/// The page's only script: it listens to /events and fills the table (no framework).
fn page_script(secret: &str, lang: &str) -> String {
    let w = words(lang);
    format!(
        r##"const W = {{since: "{since}", no: "{no}", left: "{left}", ended: "{ended}", fin: "{fin}"}};
function ago(t, now) {{ if (!t) return "-"; const s = Math.max(0, now - t); return s < 60 ? s + " s" : Math.floor(s / 60) + " min"; }}
function set(id, text, cls) {{ const e = document.getElementById(id); if (e) {{ e.textContent = text; if (cls !== undefined) e.className = cls; }} }}
function spark(points) {{
  if (points.length < 2) return "";
  const max = Math.max(1, ...points.map(p => p[1])), w = 120, h = 24;
  const xs = points.map((p, i) => (i * w / (points.length - 1)).toFixed(1) + "," + (h - p[1] * h / max).toFixed(1));
  return '<svg width="' + w + '" height="' + h + '"><polyline fill="none" stroke="#0b3d91" stroke-width="2" points="' + xs.join(" ") + '"/></svg>';
}}
const source = new EventSource("/events?token={secret}");
source.onmessage = (e) => {{
  const b = JSON.parse(e.data);
  if (b.access_ended) set("left", W.ended); else if (b.deadline) set("left", W.left + ": " + ago(b.now, b.deadline));
  for (const r of b.trainees) {{
    set("l-" + r.id, r.logged_in ? W.since + " " + ago(r.since, b.now) : W.no, r.logged_in ? "on" : "off");
    set("a-" + r.id, ago(r.last_activity, b.now));
    set("h-" + r.id, String(r.hints));
    for (const [c, s] of Object.entries(r.checks)) set("c-" + r.id + "-" + c, s, s);
    set("s-" + r.id, r.score === null ? "-" : r.score + "/" + r.total + (r.is_final ? " (" + W.fin + ")" : ""));
    const p = document.getElementById("p-" + r.id); if (p) p.innerHTML = spark(r.timeline);
  }}
}};"##,
        since = w["since"],
        no = w["no"],
        left = w["left"],
        ended = w["ended"],
        fin = w["final"],
    )
}

fn trainee_page(b: &Board, r: &Row, report: bool, secret: &str, lang: &str) -> String {
    let w = words(lang);
    let checks: String = b
        .checks
        .iter()
        .map(|(id, title)| {
            let s = r.checks.get(id).map(String::as_str).unwrap_or("-");
            format!(
                "<tr><td class=\"who\">{}</td><td>{}</td><td class=\"{s}\">{s}</td></tr>",
                esc(id),
                esc(title)
            )
        })
        .collect();
    let timeline: String = r
        .timeline
        .iter()
        .map(|(t, s)| format!("<li>{} UTC: {s}</li>", crate::report::junit::timestamp(*t)))
        .collect();
    let link = if report {
        format!(
            "<p><a href=\"/report/{}?token={secret}\">{}</a></p>",
            esc(&r.id),
            w["report"]
        )
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{id}</title><style>{STYLE}</style></head><body>\
         <h1>{id} {name}</h1><p>{login}: {on}; {hints}: {h}; {score}: {sc}</p>{link}<table>{checks}</table><h2>{progress}</h2><ul>{timeline}</ul></body></html>",
        id = esc(&r.id),
        name = esc(&r.name),
        login = w["login"],
        on = if r.logged_in { w["since"] } else { w["no"] },
        hints = w["hints"],
        h = r.hints,
        score = w["score"],
        sc = r
            .score
            .map(|s| format!("{s}/{}", r.total.unwrap_or(0)))
            .unwrap_or_else(|| "-".into()),
        progress = w["progress"],
    )
}
