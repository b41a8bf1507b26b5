//! Everything about a lab that can be checked before anything starts. Expectations and actions
//! are resolved into their typed form (`expect`, `action`) with the context grading will use;
//! what they find wrong is located here, at the key it was written at.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::action::Action;
use super::diagnostic::{closest, Diagnostic, SourceMap, WithHint};
use super::expect::Expect;
use super::model::{CheckDef, FileDef, LabFile, ModuleFile, ReviewDef, ServiceDef};
use super::resolve::Judge;
use super::rules::{self, Span, MAX_WAIT};
use super::{competences, confine, params, render};
use crate::project::Project;

struct Ctx<'a> {
    dir: &'a Path,
    map: &'a SourceMap,
    diags: Vec<Diagnostic>,
    services: BTreeSet<String>,
    networks: BTreeSet<String>,
    /// "Did you mean" suggestions left to make: each costs a pass over the candidates.
    suggestions: usize,
}

impl Ctx<'_> {
    fn err(
        &mut self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diags.push(self.map.at(span, field, msg));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    /// The closest of `candidates`, while suggestions are left (a file with ten thousand
    /// misspellings does not make validation quadratic).
    fn suggest<'a>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        if self.suggestions == 0 {
            return None;
        }
        self.suggestions -= 1;
        closest(word, candidates)
    }

    /// Where `key`'s value is written inside `within` (the table or inline table holding it).
    fn key(&self, within: std::ops::Range<usize>, key: &str) -> std::ops::Range<usize> {
        self.map.key_at(within, key)
    }
}

/// Checks a service or network name; `what` names it in messages.
fn check_name(
    cx: &mut Ctx,
    span: std::ops::Range<usize>,
    field: &str,
    name: &str,
    folded: &mut HashMap<String, String>,
    what: &str,
) {
    if let Err(e) = rules::dns_label(name) {
        let shown: String = name.chars().take(70).collect();
        cx.err(span, field, format!("`{shown}` cannot be a {what} name: {e}")).hint = Some(
            "services and networks are named like DNS hosts: lowercase letters, digits and dashes, at most 63".into(),
        );
        return;
    }
    let key = rules::folded(name);
    match folded.get(&key) {
        Some(other) if other != name => {
            cx.err(
                span,
                field,
                format!(
                    "{what} `{name}` collides with `{other}` once case and separators are ignored"
                ),
            );
        }
        _ => {
            folded.insert(key, name.to_string());
        }
    }
}

pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. \"30s\", \"2m\""))
}

/// The most ports a lab publishes (each is a forward of an assessment's gate).
const MAX_PUBLISHED: usize = 256;

/// Where in `text` a template error arises: tera's `--> line:column` for syntax errors, the
/// first use of the variable it names otherwise, else the start.
pub(crate) fn template_error_offset(text: &str, message: &str) -> usize {
    let starts = super::diagnostic::line_starts(text);
    if let Some(i) = message.find("--> ") {
        let pos: String = message[i + 4..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        if let Some((l, c)) = pos.split_once(':') {
            if let (Ok(l), Ok(c)) = (l.parse::<usize>(), c.parse::<usize>()) {
                if let Some(s) = starts.get(l.saturating_sub(1)) {
                    let off = s + c.saturating_sub(1);
                    if off <= text.len() && text.is_char_boundary(off) {
                        return off;
                    }
                }
            }
        }
    }
    for marker in ["Variable `", "function `", "filter `", "test `"] {
        if let Some(i) = message.find(marker) {
            let name: String = message[i + marker.len()..]
                .chars()
                .take_while(|c| *c != '`')
                .collect();
            let first = name.split('.').next().unwrap_or("");
            if !first.is_empty() {
                let mut from = 0;
                while let Some(t) = text[from..].find("{{").or_else(|| text[from..].find("{%")) {
                    let tag = from + t;
                    let end = text[tag..].find(['}', '%']).map(|e| tag + e + 1);
                    let close = text[tag + 2..]
                        .find("}}")
                        .or_else(|| text[tag + 2..].find("%}"))
                        .map(|e| tag + 2 + e)
                        .unwrap_or(text.len());
                    if let Some(k) = text[tag..close].find(first) {
                        return tag + k;
                    }
                    from = end.unwrap_or(text.len()).max(tag + 2).min(text.len());
                    if from >= text.len() {
                        break;
                    }
                }
            }
        }
    }
    0
}

pub fn validate(
    dir: &Path,
    def: &LabFile,
    map: &SourceMap,
    modules: &BTreeMap<String, (ModuleFile, PathBuf)>,
    project: &Project,
) -> Vec<Diagnostic> {
    let mut cx = Ctx {
        dir,
        map,
        diags: Vec::new(),
        services: def
            .service
            .iter()
            .map(|s| s.get_ref().name.get_ref().clone())
            .collect(),
        suggestions: 200,
        networks: if def.network.is_empty() {
            BTreeSet::from(["lab".to_string()])
        } else {
            def.network
                .iter()
                .map(|n| n.get_ref().name.get_ref().clone())
                .collect()
        },
    };
    check_lab_meta(&mut cx, def);
    check_folder(&mut cx);
    let ctx = sample_context(&mut cx, def);
    check_briefs(&mut cx, &ctx);
    check_networks(&mut cx, def);
    check_services(&mut cx, def, &ctx, project);
    if let Some(g) = &def.grader {
        check_files(&mut cx, &g.files, "grader.files", &ctx);
    }
    check_checks(&mut cx, def, &ctx, modules);
    check_reviews(&mut cx, def, &ctx);
    check_cycles(&mut cx, def);
    cx.diags
}

/// `[lab]`: the id names the folder; competences, pass mark, duration.
fn check_lab_meta(cx: &mut Ctx, def: &LabFile) {
    let lab = &def.lab;
    let folder = cx
        .dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_default();
    if lab.id.get_ref() != &folder {
        cx.err(
            lab.id.span(),
            "lab.id",
            format!(
                "the lab id `{}` differs from its folder `{folder}`",
                lab.id.get_ref()
            ),
        )
        .hint = Some(format!("set id = \"{folder}\" or rename the folder"));
    }
    if !lab
        .id
        .get_ref()
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        cx.err(
            lab.id.span(),
            "lab.id",
            "a lab id is lowercase letters, digits and dashes",
        );
    }
    check_competences(cx, "lab.competences", &lab.competences);
    if !(1..=100).contains(lab.pass.get_ref()) {
        cx.err(
            lab.pass.span(),
            "lab.pass",
            format!("the pass mark is a percentage, got {}", lab.pass.get_ref()),
        )
        .hint = Some("use a number from 1 to 100".into());
    }
    if let Some(d) = &lab.duration {
        if let Err(e) = Span::parse(d.get_ref(), rules::MAX_LAB_DURATION) {
            cx.err(d.span(), "lab.duration", e);
        }
    }
}

/// The folder itself: nothing special, no link out, bounded; a brief.
fn check_folder(cx: &mut Ctx) {
    let dir = cx.dir;
    if let Err((path, problem)) = confine::walk(dir, dir) {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        cx.diags.push(
            Diagnostic {
                file: path.clone(),
                line: 0,
                column: 0,
                field: "lab folder".into(),
                message: format!("`{rel}` {problem}"),
                hint: None,
            }
            .hint("a lab folder holds files and folders only, and its links stay inside it"),
        );
    }
    if !dir.join("brief.md").is_file() {
        cx.diags.push(
            Diagnostic {
                file: dir.join("brief.md"),
                line: 0,
                column: 0,
                field: "brief.md".into(),
                message: "the lab has no brief".into(),
                hint: None,
            }
            .hint("write brief.md: what the trainee must achieve (brief.fr.md for French)"),
        );
    }
}

/// The session's context for a sample trainee: params drawn, `lab`, `session`.
fn sample_context(cx: &mut Ctx, def: &LabFile) -> tera::Context {
    let id = def.lab.id.get_ref();
    let sample = match params::draw(&def.params, id, "validate", 0) {
        Ok(p) => p,
        Err(e) => {
            cx.err(e.span, format!("params.{}", e.name), e.message);
            super::Params::default()
        }
    };
    let mut ctx = sample.to_context();
    ctx.insert("lab", &serde_json::json!({ "id": id }));
    ctx.insert(
        "session",
        &serde_json::json!({ "id": "validate", "trainee": "validate" }),
    );
    ctx
}

/// Briefs are rendered for the trainee with the session's context.
fn check_briefs(cx: &mut Ctx, ctx: &tera::Context) {
    let dir = cx.dir;
    for brief in ["brief.md", "brief.fr.md"] {
        if !dir.join(brief).exists() {
            continue;
        }
        match super::read_text(dir, brief) {
            Ok(text) => {
                if let Err(e) = render::render(&text, ctx) {
                    let bmap = SourceMap::new(&dir.join(brief), &text);
                    let at = template_error_offset(&text, &e);
                    cx.diags.push(
                        bmap.at(at..at, brief, format!("template error: {e}"))
                            .hint("a brief may use the lab's params, `lab` and `session`"),
                    );
                }
            }
            Err(d) => cx.diags.push(d),
        }
    }
}

/// `[[network]]`: DNS names, declared once.
fn check_networks(cx: &mut Ctx, def: &LabFile) {
    let mut nets = BTreeSet::new();
    let mut folded_nets = HashMap::new();
    for n in &def.network {
        let name = n.get_ref().name.get_ref();
        let span = n.get_ref().name.span();
        check_name(
            cx,
            span.clone(),
            "network.name",
            name,
            &mut folded_nets,
            "network",
        );
        if !nets.insert(name.clone()) {
            cx.err(
                span,
                "network.name",
                format!("network `{name}` is declared twice"),
            );
        }
    }
}

/// What the services of a lab share: names seen, folded names, the images there are.
struct Services {
    images: Vec<String>,
    seen: BTreeSet<String>,
    folded: HashMap<String, String>,
}

/// `[[service]]`, each, then what they make together.
fn check_services(cx: &mut Ctx, def: &LabFile, ctx: &tera::Context, project: &Project) {
    let mut all = Services {
        images: project.image_names(),
        seen: BTreeSet::new(),
        folded: HashMap::new(),
    };
    let mut published = 0usize;
    for s in &def.service {
        check_service_name(cx, s, &mut all, project);
        check_service_limits(cx, s);
        check_service_strings(cx, s, ctx);
        published += s.get_ref().ports.len();
    }
    if published > MAX_PUBLISHED {
        cx.err(
            0..0,
            "service.ports",
            format!("the lab publishes {published} ports; at most {MAX_PUBLISHED}"),
        );
    }
    let trainees = def.service.iter().filter(|s| s.get_ref().trainee).count();
    if def.service.is_empty() {
        cx.err(0..0, "service", "the lab has no service").hint =
            Some("add a [[service]] table".into());
    } else if trainees != 1 {
        // At the second service marked trainee, or at the first service when none is.
        let span = match def.service.iter().filter(|s| s.get_ref().trainee).nth(1) {
            Some(s) => cx.key(s.span(), "trainee"),
            None => def.service[0].span(),
        };
        cx.err(
            span,
            "service.trainee",
            format!("exactly one service must have trainee = true, found {trainees}"),
        )
        .hint = Some("mark the workstation the trainee works in with trainee = true".into());
    }
}

/// A service's name (unique, a DNS label, not opslab's), image and networks.
fn check_service_name(
    cx: &mut Ctx,
    s: &Spanned<ServiceDef>,
    all: &mut Services,
    project: &Project,
) {
    let svc = s.get_ref();
    let name = svc.name.get_ref();
    let f = |k: &str| format!("service.{name}.{k}");
    if !all.seen.insert(name.clone()) {
        cx.err(
            svc.name.span(),
            f("name"),
            format!("service `{name}` is declared twice"),
        )
        .hint = Some("service names are unique in a lab".into());
    } else if name == "grader" || name == "gate" {
        cx.err(
            svc.name.span(),
            f("name"),
            format!("`{name}` cannot be a service name"),
        )
        .hint = Some("letters, digits and dashes; `grader` and `gate` are opslab's own".into());
    } else {
        check_name(
            cx,
            svc.name.span(),
            &f("name"),
            name,
            &mut all.folded,
            "service",
        );
    }
    let images = &all.images;
    if !images.iter().any(|i| i == svc.image.get_ref()) {
        let hint = match cx.suggest(svc.image.get_ref(), images.iter().map(String::as_str)) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("images: {}", images.join(", ")),
        };
        cx.err(
            svc.image.span(),
            f("image"),
            format!(
                "no image `{}` in {}",
                svc.image.get_ref(),
                project.images_dir().display()
            ),
        )
        .hint = Some(hint);
    }
    for n in svc.networks.iter().flatten() {
        if !cx.networks.contains(n.get_ref()) {
            let known = cx.networks.iter().cloned().collect::<Vec<_>>().join(", ");
            cx.err(
                n.span(),
                f("networks"),
                format!("no network `{}` in this lab", n.get_ref()),
            )
            .hint = Some(format!("declared networks: {known}"));
        }
    }
}

/// A service's ports, memory, pids, CPUs and health timeout, each held to its type.
fn check_service_limits(cx: &mut Ctx, s: &Spanned<ServiceDef>) {
    let svc = s.get_ref();
    let name = svc.name.get_ref();
    let f = |k: &str| format!("service.{name}.{k}");
    let mut ports = HashSet::new();
    for p in &svc.ports {
        let at = cx.key(s.span(), "ports");
        if let Err(e) = rules::Port::new(i64::from(*p)) {
            cx.err(at.clone(), f("ports"), e);
        }
        if !ports.insert(*p) {
            cx.err(at, f("ports"), format!("port {p} is listed twice"));
        }
    }
    if let Some(m) = &svc.memory {
        if let Err((e, read)) = rules::Memory::parse(m.get_ref()) {
            cx.err(m.span(), f("memory"), e).hint =
                read.then(|| "write e.g. memory = \"64m\"".into());
        }
    }
    if let Some(p) = &svc.pids {
        if *p.get_ref() <= 0 {
            cx.err(
                p.span(),
                f("pids"),
                format!("pids must be a positive limit, got {}", p.get_ref()),
            )
            .hint = Some("write e.g. pids = 256".into());
        }
    }
    if let Some(c) = &svc.cpus {
        if let Err(e) = rules::Cpus::parse(c.get_ref()) {
            cx.err(c.span(), f("cpus"), e).hint =
                Some("write e.g. cpus = \"0.5\" (half a CPU); one CPU when unset".into());
        }
    }
    if let Some(t) = &svc.health_timeout {
        if let Err(e) = Span::parse(t.get_ref(), MAX_WAIT) {
            cx.err(t.span(), f("health_timeout"), e);
        }
    }
}

/// A service's env, health, command, files and setup steps: they render with the session's
/// context, and name what exists.
fn check_service_strings(cx: &mut Ctx, s: &Spanned<ServiceDef>, ctx: &tera::Context) {
    let svc = s.get_ref();
    let name = svc.name.get_ref();
    let f = |k: &str| format!("service.{name}.{k}");
    let env_at = cx.key(s.span(), "env");
    for (k, v) in &svc.env {
        let at = cx.key(env_at.start..s.span().end, k);
        if let Err(e) = rules::env_var(k, v) {
            cx.err(at.clone(), f("env"), e);
        }
        if let Err(e) = render::render(v, ctx) {
            cx.err(at, f(&format!("env.{k}")), format!("template error: {e}"));
        }
    }
    if let Some(h) = &svc.health {
        if let Err(e) = render::render(h, ctx) {
            let at = cx.key(s.span(), "health");
            cx.err(at, f("health"), format!("template error: {e}"));
        }
    }
    for arg in svc.command.iter().flatten() {
        if let Err(e) = render::render(arg, ctx) {
            let at = cx.key(s.span(), "command");
            cx.err(at, f("command"), format!("template error: {e}"));
        }
    }
    check_files(cx, &svc.files, &f("files"), ctx);
    for step in &svc.setup {
        if let Err(e) = render::render(&step.get_ref().run, ctx) {
            cx.err(step.span(), f("setup.run"), format!("template error: {e}"));
        }
        if let Some(other) = &step.get_ref().service {
            if !cx.services.contains(other) {
                cx.err(
                    step.span(),
                    f("setup.service"),
                    format!("no service `{other}`"),
                );
            }
        }
    }
}

/// The context checks are rendered with at grading: the session's, with `run` and `ports`
/// holding values of the types grading gives them.
fn check_context(def: &LabFile, ctx: &tera::Context) -> tera::Context {
    let mut check_ctx = ctx.clone();
    check_ctx.insert(
        "run",
        &serde_json::json!({ "token": "abcdefghijkl", "version": "1.2.3", "number": 1234 }),
    );
    let ports: serde_json::Map<String, serde_json::Value> = def
        .service
        .iter()
        .map(|s| {
            let s = s.get_ref();
            let m: serde_json::Map<String, serde_json::Value> = s
                .ports
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        serde_json::Value::from(49152 + u32::from(*p) % 16384),
                    )
                })
                .collect();
            (s.name.get_ref().clone(), serde_json::Value::Object(m))
        })
        .collect();
    check_ctx.insert("ports", &ports);
    check_ctx
}

/// `[[check]]`, each, then their points together.
fn check_checks(
    cx: &mut Ctx,
    def: &LabFile,
    ctx: &tera::Context,
    modules: &BTreeMap<String, (ModuleFile, PathBuf)>,
) {
    let ids: HashSet<&str> = def
        .check
        .iter()
        .map(|c| c.get_ref().id.get_ref().as_str())
        .collect();
    let mut seen = HashSet::new();
    let check_ctx = check_context(def, ctx);
    let mut total: u32 = 0;
    for c in &def.check {
        let ch = c.get_ref();
        let id = ch.id.get_ref();
        match total.checked_add(ch.points) {
            Some(t) => total = t,
            None => {
                let at = cx.key(c.span(), "points");
                cx.err(
                    at,
                    format!("check.{id}.points"),
                    format!("the checks' points add up past {}", u32::MAX),
                )
                .hint = Some("points are a few per check; the pass mark is a percentage".into());
                total = u32::MAX;
            }
        }
        if !seen.insert(id.as_str()) {
            cx.err(
                ch.id.span(),
                format!("check.{id}.id"),
                format!("check `{id}` is declared twice"),
            );
        }
        check_check_meta(cx, c, &ids, def.lab.hint_cost, ctx);
        check_body(cx, c, &check_ctx, modules);
    }
    if def.check.is_empty() || total == 0 {
        cx.err(0..0, "check", "the lab has no points to earn").hint =
            Some("add [[check]] tables with points".into());
    }
}

/// `[[review]]`, each: an id no check or other review has, a rubric, the service its command
/// runs in, the command (a template, rendered with the grading's context), its timeout.
fn check_reviews(cx: &mut Ctx, def: &LabFile, ctx: &tera::Context) {
    let checks: HashSet<&str> = def
        .check
        .iter()
        .map(|c| c.get_ref().id.get_ref().as_str())
        .collect();
    let mut seen = HashSet::new();
    let mut rctx = check_context(def, ctx);
    rctx.insert("with", &serde_json::Map::new());
    for r in &def.review {
        check_review(cx, r, &rctx);
        let id = r.get_ref().id.get_ref();
        let f = format!("review.{id}.id");
        if checks.contains(id.as_str()) {
            cx.err(
                r.get_ref().id.span(),
                f,
                format!("a check is already named `{id}`"),
            )
            .hint = Some("reviews and checks share one list of ids".into());
        } else if !seen.insert(id.as_str()) {
            cx.err(
                r.get_ref().id.span(),
                f,
                format!("review `{id}` is declared twice"),
            );
        }
    }
}

fn check_review(cx: &mut Ctx, r: &Spanned<ReviewDef>, ctx: &tera::Context) {
    let rv = r.get_ref();
    let id = rv.id.get_ref();
    let f = |k: &str| format!("review.{id}.{k}");
    if let Err(e) = rules::dns_label(id) {
        cx.err(rv.id.span(), f("id"), e);
    }
    check_competences(cx, &f("competences"), &rv.competences);
    for (key, text) in [
        ("rubric", Some(&rv.rubric)),
        ("rubric_fr", rv.rubric_fr.as_ref()),
    ] {
        match text {
            Some(t) if t.trim().is_empty() => {
                let at = cx.key(r.span(), key);
                cx.err(at, f(key), "the rubric is empty").hint =
                    Some("say what the trainer judges, and what earns each level".into());
            }
            Some(t) => {
                if let Err(e) = render::render(t, ctx) {
                    let at = cx.key(r.span(), key);
                    cx.err(at, f(key), format!("template error: {e}"));
                }
            }
            None => {}
        }
    }
    check_service(
        cx,
        rv.service.span(),
        &f("service"),
        Some(rv.service.get_ref()),
        true,
    );
    let cmd = rv.command.get_ref();
    match render::render(cmd, ctx) {
        Ok(c) if c.trim().is_empty() => {
            cx.err(rv.command.span(), f("command"), "the command is empty");
        }
        Ok(_) => {}
        Err(e) => {
            cx.err(
                rv.command.span(),
                f("command"),
                format!("template error: {e}"),
            )
            .hint =
                Some("the command may use the params, `lab`, `session`, `run` and `ports`".into());
        }
    }
    if let Some(t) = &rv.timeout {
        if let Err(e) = rules::Span::parse(t.get_ref(), rules::MAX_REVIEW_TIMEOUT) {
            cx.err(t.span(), f("timeout"), e);
        }
    }
}

/// A check's hints (their cost, translations, templates), competences and needs.
fn check_check_meta(
    cx: &mut Ctx,
    c: &Spanned<CheckDef>,
    ids: &HashSet<&str>,
    hint_cost: u32,
    ctx: &tera::Context,
) {
    let ch = c.get_ref();
    let id = ch.id.get_ref();
    let f = |k: &str| format!("check.{id}.{k}");
    if u32::try_from(ch.hints.len())
        .ok()
        .and_then(|n| n.checked_mul(hint_cost))
        .is_none()
    {
        let at = cx.key(c.span(), "hints");
        cx.err(
            at,
            f("hints"),
            format!(
                "{} hints at a cost of {hint_cost} points each overflow",
                ch.hints.len(),
            ),
        );
    }
    check_competences(cx, &f("competences"), &ch.competences);
    for n in &ch.needs {
        if !ids.contains(n.get_ref().as_str()) {
            let hint = cx
                .suggest(n.get_ref(), ids.iter().copied())
                .map(|c| format!("did you mean `{c}`?"));
            cx.err(n.span(), f("needs"), format!("no check `{}`", n.get_ref()))
                .hint = hint;
        } else if n.get_ref() == id {
            cx.err(n.span(), f("needs"), "a check cannot need itself");
        }
    }
    if !ch.hints_fr.is_empty() && ch.hints_fr.len() != ch.hints.len() {
        cx.err(
            c.span(),
            f("hints_fr"),
            format!(
                "{} French hints for {} hints",
                ch.hints_fr.len(),
                ch.hints.len()
            ),
        )
        .hint = Some("give each hint its translation, in the same order".into());
    }
    // Hints are shown with the session's context.
    for (key, list) in [("hints", &ch.hints), ("hints_fr", &ch.hints_fr)] {
        for h in list {
            if let Err(e) = render::render(h, ctx) {
                let at = cx.key(c.span(), key);
                cx.err(at, f(key), format!("template error: {e}")).hint =
                    Some("a hint may use the lab's params, `lab` and `session`".into());
            }
        }
    }
}

/// A check's module and `with`, feedback, actions and expectations, with the check's context.
fn check_body(
    cx: &mut Ctx,
    c: &Spanned<CheckDef>,
    check_ctx: &tera::Context,
    modules: &BTreeMap<String, (ModuleFile, PathBuf)>,
) {
    let ch = c.get_ref();
    let id = ch.id.get_ref();
    let f = |k: &str| format!("check.{id}.{k}");
    let mut cctx = check_ctx.clone();
    match &ch.module {
        Some(m) => {
            if let Some((module, _)) = modules.get(m.get_ref()) {
                check_module_use(cx, c, m, module, &mut cctx);
            }
        }
        None => {
            if !ch.with.is_empty() {
                cx.err(
                    c.span(),
                    f("with"),
                    "`with` is only for checks that `use` a grader module",
                );
            }
            if ch.expect.is_empty() {
                cx.err(
                    c.span(),
                    f("expect"),
                    "a check needs at least one expectation",
                )
                .hint = Some(
                    "add expect = [{ http = \"...\", within = \"30s\" }] or use a grader module"
                        .into(),
                );
            }
            cctx.insert("with", &serde_json::Map::new());
        }
    }
    if let Some(fb) = &ch.feedback {
        if let Err(e) = render::render(fb, &cctx) {
            let at = cx.key(c.span(), "feedback");
            cx.err(at, f("feedback"), format!("template error: {e}"))
                .hint = Some(
                "feedback may use the params, `lab`, `session`, `with`, `run` and `ports`".into(),
            );
        }
    }
    for (key, list) in [("do", &ch.actions), ("restore", &ch.restore)] {
        for a in list {
            let mut at = Item::new(cx, &cctx, f(key), a.span(), Some(a.span()));
            Action::resolve(a.get_ref(), &mut at);
        }
    }
    for e in &ch.expect {
        let mut at = Item::new(cx, &cctx, f("expect"), e.span(), Some(e.span()));
        Expect::resolve(e.get_ref(), &mut at);
    }
}

/// A check that `use`s a module: its `with` (the module's params given, rendered with the
/// context grading uses: params, `run`, `ports`), and the module's body with that `with`.
fn check_module_use(
    cx: &mut Ctx,
    c: &Spanned<CheckDef>,
    m: &Spanned<String>,
    module: &ModuleFile,
    cctx: &mut tera::Context,
) {
    let ch = c.get_ref();
    let id = ch.id.get_ref();
    let mut with = serde_json::Map::new();
    for (k, v) in module.module.defaults.iter().chain(ch.with.iter()) {
        with.insert(k.clone(), serde_json::to_value(v).unwrap_or_default());
    }
    let mut complete = true;
    for p in &module.module.params {
        if !with.contains_key(p) {
            complete = false;
            cx.err(
                m.span(),
                format!("check.{id}.with"),
                format!("module `{}` needs `{p}` in `with`", m.get_ref()),
            )
            .hint = Some(format!("add with = {{ {p} = ... }}"));
        }
    }
    // `with` strings are rendered as grading renders them: with `run` and `ports` too.
    for (k, v) in with.iter_mut() {
        if let serde_json::Value::String(s) = v {
            match render::render(s, cctx) {
                Ok(r) => *s = r,
                Err(e) => {
                    complete = false;
                    let at = cx.key(c.span(), "with");
                    cx.err(
                        at,
                        format!("check.{id}.with.{k}"),
                        format!("template error: {e}"),
                    )
                    .hint = Some(
                        "`with` values may use the params, `lab`, `session`, `run` and `ports`"
                            .into(),
                    );
                }
            }
        }
    }
    if !complete {
        // The module's body would only repeat the missing or broken `with` values.
        return;
    }
    cctx.insert("with", &with);
    // Errors inside a module point at the lab's `use` line and name the module.
    let field = format!("check.{id}.use({})", m.get_ref());
    for a in module.all_actions().into_iter().chain(module.all_restore()) {
        let mut at = Item::new(cx, cctx, field.clone(), m.span(), None);
        Action::resolve(a.get_ref(), &mut at);
    }
    for e in module.all_expect() {
        let mut at = Item::new(cx, cctx, field.clone(), m.span(), None);
        Expect::resolve(e.get_ref(), &mut at);
    }
}

/// Where the problems of one expectation or action are reported: at the key written in the
/// lab, or at the lab's `use` line for one inside a module.
struct Item<'c, 'a> {
    cx: &'c mut Ctx<'a>,
    ctx: &'c tera::Context,
    field: String,
    /// The whole item, or the module's `use`.
    span: std::ops::Range<usize>,
    /// The item's own table in lab.toml (`None` inside a module).
    own: Option<std::ops::Range<usize>>,
}

impl<'c, 'a> Item<'c, 'a> {
    fn new(
        cx: &'c mut Ctx<'a>,
        ctx: &'c tera::Context,
        field: String,
        span: std::ops::Range<usize>,
        own: Option<std::ops::Range<usize>>,
    ) -> Self {
        Item {
            cx,
            ctx,
            field,
            span,
            own,
        }
    }

    fn loc(&self, key: &str) -> std::ops::Range<usize> {
        match &self.own {
            Some(own) if !key.is_empty() => self.cx.key(own.clone(), key),
            _ => self.span.clone(),
        }
    }
}

impl Judge for Item<'_, '_> {
    fn context(&self) -> &tera::Context {
        self.ctx
    }

    fn problem(&mut self, key: &str, message: String, hint: Option<String>) {
        let at = self.loc(key);
        self.cx.err(at, self.field.clone(), message).hint = hint;
    }

    fn service(&mut self, key: &str, name: Option<&str>) {
        let at = self.loc(key);
        check_service(self.cx, at, &self.field, name, true);
    }

    fn network(&mut self, key: &str, name: &str) {
        if !self.cx.networks.contains(name) {
            let at = self.loc(key);
            let known = self
                .cx
                .networks
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            self.cx
                .err(
                    at,
                    self.field.clone(),
                    format!("no network `{name}` in this lab"),
                )
                .hint = Some(format!("declared networks: {known}"));
        }
    }

    fn lab_file(&mut self, key: &str, rel: &str) {
        let at = self.loc(key);
        check_lab_file(self.cx, at, &self.field, rel, Some(self.ctx));
    }
}

fn check_competences(cx: &mut Ctx, field: &str, list: &[Spanned<String>]) {
    for c in list {
        if competences::find(c.get_ref()).is_none() {
            let d = cx.err(
                c.span(),
                field,
                format!("unknown competence `{}`", c.get_ref()),
            );
            d.hint = Some(
                match closest(c.get_ref(), competences::ALL.iter().map(|c| c.id)) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!(
                        "known: {}",
                        competences::ALL
                            .iter()
                            .map(|c| c.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            );
        }
    }
}

fn check_files(cx: &mut Ctx, files: &[Spanned<FileDef>], field: &str, ctx: &tera::Context) {
    for f in files {
        let def = f.get_ref();
        let (rel, is_template) = match (&def.template, &def.source) {
            (Some(t), None) => (t, true),
            (None, Some(s)) => (s, false),
            _ => {
                cx.err(
                    f.span(),
                    field,
                    "a file has exactly one of `template` or `source`",
                );
                continue;
            }
        };
        if !def.to.starts_with('/') {
            let at = cx.key(f.span(), "to");
            cx.err(
                at,
                format!("{field}.to"),
                format!("`{}` is not an absolute path in the container", def.to),
            );
        }
        if let Some(m) = &def.mode {
            if u32::from_str_radix(m, 8).map_or(true, |m| m > 0o7777) {
                let at = cx.key(f.span(), "mode");
                cx.err(
                    at,
                    format!("{field}.mode"),
                    format!("`{m}` is not an octal mode"),
                )
                .hint = Some("write e.g. \"0644\"".into());
            }
        }
        let key = if is_template { "template" } else { "source" };
        let at = cx.key(f.span(), key);
        check_lab_file(cx, at, field, rel, is_template.then_some(ctx));
    }
}

/// A file of the lab folder named in the definition: it resolves inside the folder (links
/// followed), is a file or folder (never a pipe or device), does not hold or lie in
/// `solution/`, and (for a template, when `ctx` is given) renders.
fn check_lab_file(
    cx: &mut Ctx,
    span: std::ops::Range<usize>,
    field: &str,
    rel: &str,
    ctx: Option<&tera::Context>,
) {
    let path = match confine::resolve(cx.dir, rel) {
        Ok(p) => p,
        Err(confine::Problem::Missing) => {
            cx.err(
                span,
                field,
                format!("file `{rel}` does not exist in {}", cx.dir.display()),
            )
            .hint = Some("paths are relative to the lab folder, e.g. files/app.conf".into());
            return;
        }
        Err(confine::Problem::Outside(_)) => {
            cx.err(span, field, format!("`{rel}` is outside the lab folder"))
                .hint = Some("a lab's files and their links stay inside its folder".into());
            return;
        }
        Err(p) => {
            cx.err(span, field, format!("`{rel}` {p}"));
            return;
        }
    };
    let root = confine::canonical_root(cx.dir);
    let solution = root.join("solution");
    if path.starts_with(&solution) || (path.is_dir() && solution.starts_with(&path)) {
        cx.err(
            span,
            field,
            format!("`{rel}` would give the trainee the lab's solution/"),
        )
        .hint = Some("name a sub-folder such as files/ instead".into());
        return;
    }
    if path.is_dir() {
        check_lab_dir(cx, span, field, rel, &solution);
        return;
    }
    let Some(ctx) = ctx else { return };
    match confine::read_regular(&path, confine::MAX_TEXT_BYTES)
        .map_err(|p| p.to_string())
        .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
    {
        Ok(text) => {
            if let Err(e) = render::render(&text, ctx) {
                cx.err(span, field, format!("template {rel} does not render: {e}"))
                    .hint =
                    Some("the template may use the lab's params, `lab` and `session`".into());
            }
        }
        Err(e) => {
            cx.err(
                span,
                field,
                format!("template {rel} is not readable text: {e}"),
            );
        }
    }
}

/// A folder a lab names: walked (bounded, loop-safe), nothing in it links into `solution/`.
fn check_lab_dir(
    cx: &mut Ctx,
    span: std::ops::Range<usize>,
    field: &str,
    rel: &str,
    solution: &Path,
) {
    match confine::walk(cx.dir, &cx.dir.join(rel)) {
        Ok(files) => {
            if let Some(w) = files.iter().find(|w| w.real.starts_with(solution)) {
                cx.err(
                    span,
                    field,
                    format!(
                        "`{}` links into the lab's solution/",
                        w.path.strip_prefix(cx.dir).unwrap_or(&w.path).display()
                    ),
                );
            }
        }
        Err((p, problem)) => {
            cx.err(
                span,
                field,
                format!(
                    "`{}` {problem}",
                    p.strip_prefix(cx.dir).unwrap_or(&p).display()
                ),
            );
        }
    }
}

fn known_service(cx: &Ctx, name: &str) -> bool {
    name == "grader" || cx.services.contains(name)
}

fn check_service(
    cx: &mut Ctx,
    span: std::ops::Range<usize>,
    field: &str,
    name: Option<&str>,
    required: bool,
) {
    match name {
        None if required => {
            cx.err(span, field, "this needs `service`");
        }
        Some(n) if !known_service(cx, n) => {
            let list: Vec<String> = cx.services.iter().cloned().collect();
            let hint = cx
                .suggest(n, list.iter().map(String::as_str))
                .map(|c| format!("did you mean `{c}`?"));
            cx.err(span, field, format!("no service `{n}` in this lab"))
                .hint = hint;
        }
        _ => {}
    }
}

/// A cycle in `needs`, found in time linear in the checks and their needs (an iterative
/// depth-first search: a 20,000-long chain neither recurses 20,000 deep nor scans a stack).
fn check_cycles(cx: &mut Ctx, def: &LabFile) {
    let index: HashMap<&str, usize> = def
        .check
        .iter()
        .enumerate()
        .map(|(i, c)| (c.get_ref().id.get_ref().as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = def
        .check
        .iter()
        .map(|c| {
            c.get_ref()
                .needs
                .iter()
                .filter_map(|n| index.get(n.get_ref().as_str()).copied())
                .collect()
        })
        .collect();
    // 0: not seen, 1: on the current path, 2: done.
    let mut state = vec![0u8; deps.len()];
    for startn in 0..deps.len() {
        if state[startn] != 0 {
            continue;
        }
        let mut path: Vec<(usize, usize)> = vec![(startn, 0)];
        state[startn] = 1;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&d) = deps[node].get(*next) {
                *next += 1;
                match state[d] {
                    0 => {
                        state[d] = 1;
                        path.push((d, 0));
                    }
                    1 => {
                        let from = path.iter().position(|(n, _)| *n == d).unwrap_or(0);
                        let mut names: Vec<&str> = path[from..]
                            .iter()
                            .map(|(n, _)| def.check[*n].get_ref().id.get_ref().as_str())
                            .collect();
                        let shown = names.len() > 12;
                        if shown {
                            names.truncate(12);
                            names.push("...");
                        }
                        let c = &def.check[d];
                        let id = c.get_ref().id.get_ref();
                        let at = cx.key(c.span(), "needs");
                        cx.err(
                            at,
                            format!("check.{id}.needs"),
                            format!("checks need each other in a cycle: {}", names.join(" -> ")),
                        );
                        return;
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                path.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_are_decimal_numbers_from_a_hundredth_to_sixty_four() {
        let nano = |s: &str| rules::Cpus::parse(s).map(|c| c.0);
        assert_eq!(nano("0.5"), Ok(500_000_000));
        assert_eq!(nano("2"), Ok(2_000_000_000));
        assert_eq!(nano(" 1.25 "), Ok(1_250_000_000));
        assert_eq!(nano(".1"), Ok(100_000_000));
        assert_eq!(nano("0.01"), Ok(10_000_000));
        assert_eq!(nano("64"), Ok(64_000_000_000));
        for bad in ["", ".", "abc", "-1", "1e3", "0.5.1", "1,5", "0.0000000001"] {
            assert!(
                nano(bad).is_err_and(|e| e.contains("not a number of CPUs")),
                "{bad:?}"
            );
        }
        for out in ["0", "0.009", "64.5", "100", "99999999999999999999"] {
            assert!(
                nano(out).is_err_and(|e| e.contains("from 0.01 to 64")),
                "{out:?}"
            );
        }
    }
}
