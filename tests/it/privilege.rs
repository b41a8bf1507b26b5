//! No path from a trainee account to root (issue 10, item 8). For every lab of labs/, a session
//! is started and every container of it is searched, as root, for the pattern "a file a non-root
//! account can write, run or read by root":
//! (a) what a non-root account can write: files and folders owned by another user, or writable by
//!     their group or by everyone (outside /proc, /sys, /dev, /tmp, /var/tmp, /run; no sockets);
//! (b) what root runs or reads: executables, command lines and path arguments of uid-0
//!     processes; the container's entrypoint, command and health check when it runs as root; the
//!     directories of root's PATH; scripts in /usr/local/{bin,sbin}, cron, profile scripts;
//!     runit and supervisor programs run as root; sudoers files and the commands they allow;
//!     sshd's and nginx's configuration files; what those scripts `source` or `.`-include and the
//!     programs they run by absolute path; and the lab's grader commands that run as root
//!     (actions, probes and restore steps of every check, modules folded in).
//! No path of (b), nor any folder above it, may be in (a). Setup steps are left out: they run
//! before anyone can log in. A lab whose containers have sudo rules of their own (/etc/sudoers.d)
//! must say so in a `## Privileges` paragraph of its README. Then the exploit of the issue is
//! tried on sprint-restore's prod: as `deploy`, plant a command in the shop's database settings
//! and make root use them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use regex::Regex;
use serde_json::Value;

use crate::support::{require_docker, root, run, text, SessionGuard};

/// A command cut after two minutes, so that a wedged container cannot hang the test.
fn bounded(program: &str) -> Command {
    let mut c = Command::new("timeout");
    c.args(["120", program]);
    c
}

fn docker(args: &[&str]) -> Output {
    bounded("docker").args(args).output().expect("docker runs")
}

/// Runs a POSIX shell script as root in a container, with arguments.
fn as_root(container: &str, script: &str, args: &[String]) -> String {
    as_user(container, "0", script, args)
}

fn as_user(container: &str, user: &str, script: &str, args: &[String]) -> String {
    let mut argv = vec!["exec", "-u", user, container, "sh", "-c", script, "sh"];
    argv.extend(args.iter().map(String::as_str));
    let out = docker(&argv);
    // 125-127: docker could not run the command at all (a script's own failures are its answer)
    assert!(
        !matches!(out.status.code(), Some(125..=127) | None),
        "docker exec -u {user} {container}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (a): path -> "owner:group mode".
const WRITABLE: &str = r#"find / \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /var/tmp -o -path /run \) -prune \
  -o ! -type l ! -type s \( ! -uid 0 -o -perm -g=w -o -perm -o=w \) -printf '%p\t%u:%g\t%m\n' 2>/dev/null; true"#;

/// uid-0 processes (P pid exe argv...), files root runs or reads by their role (F path), and
/// nginx's configuration files (N path).
const ROOT_USES: &str = r#"
me=$$
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [ "$pid" = "$me" ] && continue
  uid=; ppid=
  { while read -r k v _; do case $k in Uid:) uid=$v ;; PPid:) ppid=$v ;; esac; done; } < "$p/status" 2>/dev/null || continue
  [ "$uid" = 0 ] && [ "$ppid" != "$me" ] || continue
  exe=$(readlink "$p/exe" 2>/dev/null)
  args=$(tr '\0' '\t' < "$p/cmdline" 2>/dev/null)
  printf 'P\t%s\t%s\t%s\n' "$pid" "$exe" "$args"
done
for f in /usr/local/bin/* /usr/local/sbin/* /etc/profile /etc/profile.d/* /etc/bash.bashrc \
         /root/.bashrc /root/.profile /etc/environment /etc/ld.so.preload /etc/crontab \
         /etc/sudoers /etc/sudoers.d/* /etc/service/*/run /etc/service/*/log/run /etc/sv/*/run \
         /etc/sv/*/log/run /etc/supervisor/supervisord.conf /etc/supervisor/conf.d/* \
         /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*; do
  [ -f "$f" ] && printf 'F\t%s\n' "$f"
done
find /etc/cron.d /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly /var/spool/cron \
  -type f -printf 'F\t%p\n' 2>/dev/null
if command -v nginx >/dev/null 2>&1; then
  nginx -T 2>/dev/null | sed -n 's/^# configuration file \(.*\):$/N\t\1/p'
fi
true
"#;

/// Prints each readable text file given as argument after its name, between record separators
/// (binaries left out: they may hold the separator, and there is nothing in them to follow).
const CAT: &str = r#"for f; do [ -f "$f" ] && LC_ALL=C grep -Iq . "$f" 2>/dev/null && { printf '\036%s\036' "$f"; head -c 200000 "$f"; }; done; true"#;

/// Prints `word<TAB>path` for each command name found in root's PATH.
const RESOLVE: &str = r#"for w; do p=$(command -v -- "$w" 2>/dev/null) && case $p in /*) printf '%s\t%s\n' "$w" "$p" ;; esac; done; true"#;

/// Prints `path<TAB>canonical path` (symlinks resolved, missing parts allowed).
const CANON: &str = r#"for p; do printf '%s\t%s\n' "$p" "$(readlink -m -- "$p")"; done; true"#;

/// Something root runs or reads, and why the test thinks so.
#[derive(Debug, Clone)]
struct Use {
    path: String,
    why: String,
}

/// What text to look at for more uses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// a script or an included file: what it sources and what it runs by absolute path
    Script,
    Sudoers,
    Supervisor,
    /// a file only read (configuration): nothing more to follow
    Data,
}

struct Patterns {
    url: Regex,
    abs: Regex,
    source: Regex,
    assign: Regex,
    default: Regex,
    var: Regex,
    word: Regex,
}

impl Patterns {
    fn new() -> Self {
        let re = |s: &str| Regex::new(s).expect("a valid pattern");
        Patterns {
            url: re(r"[A-Za-z][A-Za-z0-9+.-]*://\S*"),
            abs: re(r#"(?:^|[\s"'=:<>(;|&`])(/[A-Za-z0-9._+@%,-][A-Za-z0-9._+@%,/-]*)"#),
            source: re(
                r#"(?:^|[;&|({`]|\bthen|\bdo|\belse)\s*(?:source|\.)\s+("[^"]+"|'[^']+'|[^\s;&|)]+)"#,
            ),
            assign: re(
                r#"(?m)^\s*(?:local\s+|export\s+|readonly\s+|declare\s+(?:-\w+\s+)?)?([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s;]*)"#,
            ),
            default: re(r"^\$\{[A-Za-z0-9_]+:?-([^}]*)\}$"),
            var: re(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"),
            word: re(r"^[A-Za-z0-9_.+-]+$"),
        }
    }

    /// Absolute paths in a command or a configuration line (URLs left out).
    fn paths(&self, s: &str) -> Vec<String> {
        let s = self.url.replace_all(s, " ");
        self.abs
            .captures_iter(&s)
            .map(|c| c[1].trim_end_matches(['/', ',', '.']).to_string())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// The words in command position of a shell command (after `;`, `&&`, `|`, `then`...).
    fn command_words(&self, s: &str) -> Vec<String> {
        const PREFIX: &[&str] = &[
            "exec", "then", "do", "else", "elif", "if", "while", "until", "!", "sudo", "setsid",
            "nohup", "command", "env", "time", "{", "}",
        ];
        let mut out = Vec::new();
        for seg in s.split([';', '&', '|', '\n', '(', ')', '`']) {
            let mut words = seg.split_whitespace().skip_while(|w| {
                PREFIX.contains(w) || (w.contains('=') && !w.starts_with(['=', '-', '/']))
            });
            if let Some(w) = words.next() {
                let w = w.trim_matches(['"', '\'']);
                if !w.is_empty() {
                    out.push(w.to_string());
                }
            }
        }
        out
    }

    /// Files a shell script sources, with its own simple assignments substituted
    /// (`CONF=/etc/x.conf ... . "$CONF"`, `seed="${1:-/dir}"`).
    fn sourced(&self, script: &str, dir: &str) -> (Vec<String>, Vec<String>) {
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        for c in self.assign.captures_iter(script) {
            let mut v = c[2].trim_matches(['"', '\'']).to_string();
            if let Some(d) = self.default.captures(&v) {
                v = d[1].to_string();
            }
            vars.entry(c[1].to_string()).or_insert(v);
        }
        let (mut found, mut unresolved) = (Vec::new(), Vec::new());
        for line in script.lines() {
            let line = line.trim_start();
            if line.starts_with('#') {
                continue;
            }
            for c in self.source.captures_iter(line) {
                let mut p = c[1].trim_matches(['"', '\'']).to_string();
                for _ in 0..3 {
                    p = self
                        .var
                        .replace_all(&p, |v: &regex::Captures| {
                            vars.get(&v[1]).cloned().unwrap_or_else(|| v[0].to_string())
                        })
                        .into_owned();
                }
                // `~` is root's home, `./x` the script's own folder (runit's convention)
                if let Some(rest) = p.strip_prefix("~/") {
                    p = format!("/root/{rest}");
                } else if let Some(rest) = p.strip_prefix("./") {
                    p = format!("{}/{rest}", dir.trim_end_matches('/'));
                }
                if p.starts_with('/') && !p.contains('$') {
                    found.push(p);
                } else {
                    unresolved.push(p);
                }
            }
        }
        (found, unresolved)
    }
}

/// One container of a session, searched as root.
struct Search<'a> {
    container: String,
    pat: &'a Patterns,
    uses: Vec<Use>,
    seen: BTreeSet<String>,
    /// files to read, with what to look for in them
    queue: Vec<(String, Kind, String)>,
    /// command names to find in root's PATH, with why
    words: Vec<(String, String)>,
    notes: Vec<String>,
    /// sudo rules a lab adds (/etc/sudoers.d): "user: file"
    grants: BTreeSet<String>,
}

impl<'a> Search<'a> {
    fn new(container: &str, pat: &'a Patterns) -> Self {
        Search {
            container: container.to_string(),
            pat,
            uses: Vec::new(),
            seen: BTreeSet::new(),
            queue: Vec::new(),
            words: Vec::new(),
            notes: Vec::new(),
            grants: BTreeSet::new(),
        }
    }

    fn add(&mut self, path: &str, why: &str, kind: Kind) {
        self.uses.push(Use {
            path: path.to_string(),
            why: why.to_string(),
        });
        if self.seen.insert(path.to_string()) {
            self.queue.push((path.to_string(), kind, why.to_string()));
        }
    }

    /// A command root runs: every absolute path in it, and its command words.
    fn command(&mut self, cmd: &str, why: &str) {
        for p in self.pat.paths(cmd) {
            self.add(&p, why, Kind::Script);
        }
        for w in self.pat.command_words(cmd) {
            if self.pat.word.is_match(&w) {
                self.words.push((w, why.to_string()));
            }
        }
    }

    fn follow(&mut self, path: &str, kind: Kind, why: &str, body: &str) {
        if body.contains('\0') {
            return; // a binary: nothing to follow
        }
        let by = format!("{path} ({why})");
        match kind {
            Kind::Data => {}
            Kind::Script => {
                if let Some(first) = body.lines().next() {
                    if let Some(interp) = first.strip_prefix("#!") {
                        if let Some(i) = interp.split_whitespace().next() {
                            self.add(i, &format!("interpreter of {by}"), Kind::Data);
                        }
                    }
                }
                let dir = Path::new(path)
                    .parent()
                    .map(|d| d.to_string_lossy().into_owned());
                let (found, unresolved) = self.pat.sourced(body, dir.as_deref().unwrap_or("/"));
                for p in found {
                    self.add(&p, &format!("sourced by {by}"), Kind::Script);
                }
                for p in unresolved {
                    self.notes.push(format!("`. {p}` in {path}"));
                }
                for line in body.lines() {
                    let line = line.trim_start();
                    if line.starts_with('#') {
                        continue;
                    }
                    for w in self.pat.command_words(line) {
                        if w.starts_with('/') && self.pat.paths(&w).len() == 1 {
                            self.add(&w, &format!("run by {by}"), Kind::Script);
                        }
                    }
                }
            }
            Kind::Sudoers => {
                for line in body.lines() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') || line.starts_with("Defaults") {
                        continue;
                    }
                    if let Some(dir) = line
                        .strip_prefix("@includedir")
                        .or_else(|| line.strip_prefix("#includedir"))
                    {
                        self.add(dir.trim(), &format!("included by {by}"), Kind::Data);
                        continue;
                    }
                    let Some((who, rest)) = line.split_once('=') else {
                        continue;
                    };
                    let user = who.split_whitespace().next().unwrap_or("?");
                    if path.starts_with("/etc/sudoers.d/") {
                        self.grants.insert(format!("{user} ({path})"));
                    }
                    let mut rest = rest.trim();
                    if let Some(r) = rest.strip_prefix('(') {
                        let (runas, after) = r.split_once(')').unwrap_or((r, ""));
                        if !(runas.contains("ALL") || runas.contains("root")) {
                            continue;
                        }
                        rest = after.trim();
                    }
                    for cmd in rest.split(',') {
                        let cmd = cmd
                            .trim()
                            .trim_start_matches(|c: char| {
                                c.is_ascii_uppercase() || c == '_' || c == ':'
                            })
                            .trim();
                        let cmd = cmd.rsplit_once(':').map_or(cmd, |(_, c)| c).trim();
                        if let Some(exe) = cmd.split_whitespace().next() {
                            if exe.starts_with('/') {
                                self.add(
                                    exe,
                                    &format!("allowed to {user} as root by sudo ({path})"),
                                    Kind::Script,
                                );
                            }
                        }
                    }
                }
            }
            Kind::Supervisor => {
                let mut program = String::new();
                let mut fields: BTreeMap<String, String> = BTreeMap::new();
                let flush = |program: &str, fields: &BTreeMap<String, String>, s: &mut Self| {
                    let Some(cmd) = fields.get("command") else {
                        return;
                    };
                    let user = fields.get("user").map(String::as_str).unwrap_or("root");
                    if user == "root" {
                        let why = format!("supervisor program {program} run as root ({path})");
                        s.command(cmd, &why);
                        if let Some(d) = fields.get("directory") {
                            s.add(d, &format!("working folder of {why}"), Kind::Data);
                        }
                    }
                };
                for line in body.lines() {
                    let line = line.trim();
                    if line.starts_with('[') {
                        flush(&program, &fields, self);
                        program = line.trim_matches(['[', ']']).to_string();
                        fields.clear();
                    } else if let Some((k, v)) = line.split_once('=') {
                        fields.insert(k.trim().to_string(), v.trim().to_string());
                    }
                }
                flush(&program, &fields, self);
            }
        }
    }

    /// Reads the queued files until nothing new turns up; finds command words in root's PATH.
    fn expand(&mut self) {
        loop {
            let words: Vec<(String, String)> = std::mem::take(&mut self.words);
            if !words.is_empty() {
                let names: Vec<String> = words
                    .iter()
                    .map(|(w, _)| w.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let found: BTreeMap<String, String> = as_root(&self.container, RESOLVE, &names)
                    .lines()
                    .filter_map(|l| l.split_once('\t'))
                    .map(|(w, p)| (w.to_string(), p.to_string()))
                    .collect();
                for (w, why) in words {
                    if let Some(p) = found.get(&w) {
                        self.add(p, &format!("`{w}` in {why}"), Kind::Script);
                    }
                }
            }
            let queue: Vec<(String, Kind, String)> = std::mem::take(&mut self.queue);
            if queue.is_empty() {
                break;
            }
            let paths: Vec<String> = queue.iter().map(|(p, _, _)| p.clone()).collect();
            let raw = as_root(&self.container, CAT, &paths);
            let mut bodies: BTreeMap<String, String> = BTreeMap::new();
            let mut parts = raw.split('\u{1e}').skip(1);
            while let (Some(p), Some(b)) = (parts.next(), parts.next()) {
                bodies.insert(p.to_string(), b.to_string());
            }
            for (path, kind, why) in queue {
                if let Some(body) = bodies.get(&path) {
                    self.follow(&path, kind, &why, body);
                }
            }
        }
    }
}

/// A command of a lab's checks: the service it runs in, the command, why it is listed, and the
/// user it runs as (`None`: the container's own user).
type LabCommand = (String, String, String, Option<String>);

/// The commands of a lab's checks (actions, probes, restore steps, modules folded in) that may
/// run as root, rendered with the session's parameters.
fn root_commands(lab_dir: &Path, params: &Value, session: &str, trainee: &str) -> Vec<LabCommand> {
    let project = opslab::project::Project::at(&root());
    let lab = opslab::lab::Lab::load(lab_dir, &project)
        .unwrap_or_else(|e| panic!("{} does not load: {e:?}", lab_dir.display()));
    let mut ctx = tera::Context::new();
    if let Some(map) = params.as_object() {
        for (k, v) in map {
            ctx.insert(k.as_str(), v);
        }
        ctx.insert("params", map);
    }
    ctx.insert("lab", &serde_json::json!({ "id": lab.id() }));
    ctx.insert(
        "session",
        &serde_json::json!({ "id": session, "trainee": trainee }),
    );
    ctx.insert(
        "run",
        &serde_json::json!({ "token": "privtoken", "version": "9.9.9999", "number": 4242 }),
    );
    ctx.insert("ports", &serde_json::json!({}));
    let render = |ctx: &tera::Context, s: &str| {
        opslab::lab::render::render(s, ctx).unwrap_or_else(|e| panic!("rendering `{s}`: {e}"))
    };
    let mut out = Vec::new();
    for c in &lab.checks {
        let mut cctx = ctx.clone();
        let with: serde_json::Map<String, Value> = c
            .with
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k.clone(), Value::String(render(&ctx, s))),
                other => (k.clone(), other.clone()),
            })
            .collect();
        cctx.insert("with", &with);
        let mut push =
            |cmd: &Option<String>, svc: &Option<String>, user: &Option<String>, role: &str| {
                let (Some(cmd), Some(svc)) = (cmd, svc) else {
                    return;
                };
                let user = user.as_deref().map(|u| render(&cctx, u));
                if !matches!(user.as_deref(), None | Some("root") | Some("0")) {
                    return;
                }
                out.push((
                    render(&cctx, svc),
                    render(&cctx, cmd),
                    format!("{role} of check `{}`, run as root", c.id),
                    user,
                ));
            };
        for a in &c.actions {
            push(&a.exec, &a.service, &a.user, "action");
        }
        for e in &c.expect {
            push(&e.command, &e.service, &e.user, "probe");
        }
        for a in &c.restore {
            push(&a.exec, &a.service, &a.user, "restore step");
        }
    }
    out
}

/// What the search of one container found.
struct Report {
    /// paths root uses that a non-root account can write, explained
    findings: Vec<String>,
    uses: usize,
    writable: usize,
    /// sudo rules added to the image or by the lab
    grants: BTreeSet<String>,
}

fn search_container(
    container: &str,
    service: &str,
    lab_commands: &[LabCommand],
    pat: &Patterns,
) -> Report {
    let writable: BTreeMap<String, String> = as_root(container, WRITABLE, &[])
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, rest)| (p.to_string(), rest.replace('\t', " mode ")))
        .collect();

    let mut s = Search::new(container, pat);
    let inspect: Value = serde_json::from_slice(&docker(&["inspect", container]).stdout)
        .expect("docker inspect answers JSON");
    let config = &inspect[0]["Config"];
    let user = config["User"].as_str().unwrap_or("");
    let root_container = matches!(user, "" | "root" | "0" | "0:0" | "root:root");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if root_container {
        let mut argv = strings(&config["Entrypoint"]);
        argv.extend(strings(&config["Cmd"]));
        s.command(
            &argv.join(" "),
            "the container's entrypoint and command, run as root",
        );
        let test = strings(&config["Healthcheck"]["Test"]);
        if test.len() > 1 {
            s.command(
                &test[1..].join(" "),
                "the container's health check, run as root",
            );
        }
    }
    for e in strings(&config["Env"]) {
        if let Some(path) = e.strip_prefix("PATH=") {
            for d in path.split(':') {
                s.add(
                    d,
                    "a folder of root's PATH (docker exec, grader commands)",
                    Kind::Data,
                );
            }
        }
    }
    let listed = as_root(container, ROOT_USES, &[]);
    assert!(
        !listed.trim().is_empty(),
        "{container}: the search for what root runs found nothing at all"
    );
    for line in listed.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["P", pid, exe, args @ ..] => {
                let cmdline = args.join(" ").trim().to_string();
                let why = format!("root process {pid} `{cmdline}`");
                if !exe.is_empty() {
                    s.add(exe, &format!("executable of {why}"), Kind::Script);
                }
                for a in args.iter().skip(1) {
                    for p in pat.paths(a) {
                        s.add(&p, &format!("argument of {why}"), Kind::Script);
                    }
                }
            }
            ["F", path] => {
                let kind = if path.starts_with("/etc/sudoers") {
                    Kind::Sudoers
                } else if path.starts_with("/etc/supervisor") {
                    Kind::Supervisor
                } else if path.starts_with("/etc/ssh") {
                    Kind::Data
                } else {
                    Kind::Script
                };
                let why = if path.starts_with("/etc/service") || path.starts_with("/etc/sv") {
                    "runit service run by runsv as root"
                } else if path.starts_with("/etc/sudoers") {
                    "sudo's rules, read by root"
                } else if path.starts_with("/etc/supervisor") {
                    "supervisord's configuration, read by root"
                } else if path.starts_with("/etc/ssh") {
                    "sshd's configuration, read by root"
                } else if path.contains("cron") {
                    "cron job, run as root"
                } else if path.starts_with("/usr/local") {
                    "a program in /usr/local, on root's PATH"
                } else {
                    "read by root's shells or the dynamic loader"
                };
                s.add(path, why, kind);
            }
            ["N", path] => s.add(
                path,
                "nginx configuration, read by nginx's master (root)",
                Kind::Data,
            ),
            _ => {}
        }
    }
    for (svc, cmd, why, user) in lab_commands {
        // without a user, an exec runs as the container's own user
        if svc == service && (user.is_some() || root_container) {
            s.command(cmd, why);
        }
    }
    s.expand();
    if !s.notes.is_empty() {
        eprintln!("  {container}: not followed: {}", s.notes.join("; "));
    }

    let paths: Vec<String> = s
        .uses
        .iter()
        .map(|u| u.path.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let canon: BTreeMap<String, String> = as_root(container, CANON, &paths)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut findings = BTreeSet::new();
    for u in &s.uses {
        let mut candidates = vec![u.path.clone()];
        if let Some(c) = canon.get(&u.path) {
            if c != &u.path {
                candidates.push(c.clone());
            }
        }
        for c in candidates {
            for dir in Path::new(&c).ancestors() {
                let d = dir.to_string_lossy();
                if let Some(owner) = writable.get(d.as_ref()) {
                    let via = if d == u.path {
                        String::new()
                    } else {
                        format!(" (on the way to {})", u.path)
                    };
                    findings.insert(format!(
                        "{container}: {d} ({owner}){via} is writable by a non-root account, and root uses it: {}",
                        u.why
                    ));
                }
            }
        }
    }
    Report {
        findings: findings.into_iter().collect(),
        uses: s.uses.len(),
        writable: writable.len(),
        grants: s.grants,
    }
}

/// The exploit of the issue on sprint-restore's prod: `deploy` plants a command in the shop's
/// database settings (or in anything of /etc/shop it can write), then makes root use them the
/// ways the lab does: the deploy tool through the sudo it is granted, a restart of the shop, and
/// the grader's state save. Root must never run the planted command.
fn deploy_cannot_make_root_run_its_settings(prod: &str, sprint: &str) -> Vec<String> {
    let proof = "/tmp/opslab-privesc-proof";
    as_root(prod, &format!("rm -f {proof}"), &[]);
    let plant = format!(
        r#"payload='id -u > {proof}'
for f in /etc/shop/db.env /etc/shop/shop.env; do
  if printf '%s\n' "$payload" >> "$f" 2>/dev/null; then echo "appended to $f"; fi
  if {{ cat "$f" 2>/dev/null; printf '%s\n' "$payload"; }} > "$f.new" 2>/dev/null && mv -f "$f.new" "$f" 2>/dev/null; then
    echo "replaced $f"
  fi
  rm -f "$f.new" 2>/dev/null
done
true"#
    );
    let planted = as_user(prod, "deploy", &plant, &[]);
    eprintln!(
        "  exploit: as deploy: {}",
        if planted.trim().is_empty() {
            "no write to /etc/shop was allowed"
        } else {
            planted.trim()
        }
    );
    let deployed = as_user(
        prod,
        "deploy",
        &format!("sudo -n /usr/local/sbin/shop-deploy {sprint} >/dev/null 2>&1; sudo -n /usr/bin/sv restart shop >/dev/null 2>&1; echo done"),
        &[],
    );
    assert_eq!(deployed.trim(), "done", "the exploit's triggers ran");
    as_root(
        prod,
        "/usr/local/lib/opslab-lab/grader-state save >/dev/null 2>&1; sleep 3",
        &[],
    );
    let seen = as_root(prod, &format!("cat {proof} 2>/dev/null"), &[]);
    if seen.trim().is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{prod}: the command deploy planted in /etc/shop ({}) ran as uid {} when root used the shop's settings (shop-deploy, the shop's run script or grader-state)",
            planted.trim().replace('\n', ", "),
            seen.trim()
        )]
    }
}

#[test]
fn no_file_a_trainee_account_can_write_is_run_or_read_by_root_docker() {
    require_docker();
    let pat = Patterns::new();
    let trainee = format!("priv{}", std::process::id());
    let mut findings: Vec<String> = Vec::new();
    let labs = opslab::lab::discover(&root().join("labs"));
    assert!(!labs.is_empty(), "no lab under labs/");
    for lab_dir in labs {
        let lab = lab_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .expect("a lab folder name");
        let session = format!("{lab}-{trainee}");
        eprintln!("== {lab}: starting {session}");
        let out = run(&[
            "start",
            lab_dir.to_str().expect("utf-8"),
            "--trainee",
            &trainee,
        ]);
        let _guard = SessionGuard(session.clone());
        assert!(out.status.success(), "start {lab}: {}", text(&out));
        let status: Value =
            serde_json::from_slice(&run(&["--json", "status", "--session", &session]).stdout)
                .expect("status --json answers JSON");
        let params = status["params"].clone();
        let commands = root_commands(&lab_dir, &params, &session, &trainee);
        let listing = docker(&[
            "ps",
            "--filter",
            &format!("label=opslab.session={session}"),
            "--format",
            "{{.Names}}\t{{.Label \"opslab.service\"}}",
        ]);
        let containers: Vec<(String, String)> = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        assert!(
            containers.len() >= 2,
            "{session} has containers: {containers:?}"
        );
        let mut grants = BTreeSet::new();
        for (container, service) in &containers {
            let r = search_container(container, service, &commands, &pat);
            eprintln!(
                "  {container}: {} uses by root checked against {} paths non-root accounts can write: {} finding(s)",
                r.uses,
                r.writable,
                r.findings.len()
            );
            findings.extend(r.findings);
            grants.extend(r.grants.into_iter().map(|g| format!("{service}: {g}")));
        }
        // sudo is allowed where a lab grants it on purpose and says so
        let readme = std::fs::read_to_string(lab_dir.join("README.md")).unwrap_or_default();
        if !grants.is_empty() && !readme.contains("## Privileges") {
            findings.push(format!(
                "{lab}: sudo is granted ({}) but README.md has no `## Privileges` paragraph saying so",
                grants.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if lab == "sprint-restore" {
            let prod = containers
                .iter()
                .find(|(_, s)| s == "prod")
                .map(|(n, _)| n.clone())
                .expect("sprint-restore has a prod container");
            let sprint = params["sprint"].to_string();
            findings.extend(deploy_cannot_make_root_run_its_settings(&prod, &sprint));
        }
    }
    assert!(
        findings.is_empty(),
        "{} path(s) from a non-root account to root:\n  {}",
        findings.len(),
        findings.join("\n  ")
    );
}
