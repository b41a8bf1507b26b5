//! Everything about a lab that can be checked before anything starts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostic::{closest, Diagnostic, SourceMap, WithHint};
use super::model::{ActionDef, ExpectDef, FileDef, LabFile, ModuleFile};
use super::{competences, params, render};
use crate::project::Project;

struct Ctx<'a> {
    dir: &'a Path,
    map: &'a SourceMap,
    diags: Vec<Diagnostic>,
    services: BTreeSet<String>,
    networks: BTreeSet<String>,
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
}

pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. \"30s\", \"2m\""))
}

pub fn parse_memory(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t.as_str(), 1),
    };
    num.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("`{s}` is not a memory size; write e.g. \"256m\" or \"1g\""))
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
        networks: if def.network.is_empty() {
            BTreeSet::from(["lab".to_string()])
        } else {
            def.network
                .iter()
                .map(|n| n.get_ref().name.get_ref().clone())
                .collect()
        },
    };
    let lab = &def.lab;

    // [lab]
    let folder = dir
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
    check_competences(&mut cx, "lab.competences", &lab.competences);
    if !(1..=100).contains(lab.pass.get_ref()) {
        cx.err(
            lab.pass.span(),
            "lab.pass",
            format!("the pass mark is a percentage, got {}", lab.pass.get_ref()),
        )
        .hint = Some("use a number from 1 to 100".into());
    }
    if let Some(d) = &lab.duration {
        if let Err(e) = parse_duration(d.get_ref()) {
            cx.err(d.span(), "lab.duration", e);
        }
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

    // [params]
    let sample = match params::draw(&def.params, lab.id.get_ref(), "validate", 0) {
        Ok(p) => p,
        Err(e) => {
            cx.err(e.span, format!("params.{}", e.name), e.message);
            super::Params::default()
        }
    };
    let mut ctx = sample.to_context();
    ctx.insert("lab", &serde_json::json!({ "id": lab.id.get_ref() }));
    ctx.insert(
        "session",
        &serde_json::json!({ "id": "validate", "trainee": "validate" }),
    );

    // [[network]]
    let mut nets = BTreeSet::new();
    for n in &def.network {
        let name = n.get_ref().name.get_ref();
        if !nets.insert(name.clone()) {
            cx.err(
                n.get_ref().name.span(),
                "network.name",
                format!("network `{name}` is declared twice"),
            );
        }
    }
    if nets.is_empty() {
        nets.insert("lab".into());
    }

    // [[service]]
    let images = project.image_names();
    let mut seen = BTreeSet::new();
    let mut trainees = 0;
    for s in &def.service {
        let svc = s.get_ref();
        let name = svc.name.get_ref();
        let f = |k: &str| format!("service.{name}.{k}");
        if !seen.insert(name.clone()) {
            cx.err(
                svc.name.span(),
                f("name"),
                format!("service `{name}` is declared twice"),
            )
            .hint = Some("service names are unique in a lab".into());
        }
        if name == "grader"
            || name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            cx.err(
                svc.name.span(),
                f("name"),
                format!("`{name}` cannot be a service name"),
            )
            .hint = Some("letters, digits and dashes; `grader` is opslab's own".into());
        }
        if !images.iter().any(|i| i == svc.image.get_ref()) {
            let d = cx.err(
                svc.image.span(),
                f("image"),
                format!(
                    "no image `{}` in {}",
                    svc.image.get_ref(),
                    project.images_dir().display()
                ),
            );
            d.hint = Some(
                match closest(svc.image.get_ref(), images.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("images: {}", images.join(", ")),
                },
            );
        }
        if svc.trainee {
            trainees += 1;
        }
        if let Some(list) = &svc.networks {
            for n in list {
                if !nets.contains(n.get_ref()) {
                    cx.err(
                        n.span(),
                        f("networks"),
                        format!("no network `{}` in this lab", n.get_ref()),
                    )
                    .hint = Some(format!(
                        "declared networks: {}",
                        nets.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        if let Some(m) = &svc.memory {
            if let Err(e) = parse_memory(m.get_ref()) {
                cx.err(m.span(), f("memory"), e);
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
        if let Some(t) = &svc.health_timeout {
            if let Err(e) = parse_duration(t.get_ref()) {
                cx.err(t.span(), f("health_timeout"), e);
            }
        }
        for (k, v) in &svc.env {
            if let Err(e) = render::render(v, &ctx) {
                cx.err(
                    s.span(),
                    f(&format!("env.{k}")),
                    format!("template error: {e}"),
                );
            }
        }
        if let Some(h) = &svc.health {
            if let Err(e) = render::render(h, &ctx) {
                cx.err(s.span(), f("health"), format!("template error: {e}"));
            }
        }
        for arg in svc.command.iter().flatten() {
            if let Err(e) = render::render(arg, &ctx) {
                cx.err(s.span(), f("command"), format!("template error: {e}"));
            }
        }
        check_files(&mut cx, &svc.files, &f("files"), &ctx);
        for step in &svc.setup {
            if let Err(e) = render::render(&step.get_ref().run, &ctx) {
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
    if def.service.is_empty() {
        cx.err(0..0, "service", "the lab has no service").hint =
            Some("add a [[service]] table".into());
    } else if trainees != 1 {
        let span = def.service[0].span();
        cx.err(
            span,
            "service.trainee",
            format!("exactly one service must have trainee = true, found {trainees}"),
        )
        .hint = Some("mark the workstation the trainee works in with trainee = true".into());
    }
    if let Some(g) = &def.grader {
        check_files(&mut cx, &g.files, "grader.files", &ctx);
    }

    // [[check]]
    let ids: Vec<String> = def
        .check
        .iter()
        .map(|c| c.get_ref().id.get_ref().clone())
        .collect();
    let mut seen = BTreeSet::new();
    let mut check_ctx = ctx.clone();
    check_ctx.insert(
        "run",
        &serde_json::json!({ "token": "abcdefghijkl", "version": "1.2.3", "number": 1234 }),
    );
    let mut total = 0;
    for c in &def.check {
        let ch = c.get_ref();
        let id = ch.id.get_ref();
        let f = |k: &str| format!("check.{id}.{k}");
        total += ch.points;
        if !seen.insert(id.clone()) {
            cx.err(
                ch.id.span(),
                f("id"),
                format!("check `{id}` is declared twice"),
            );
        }
        check_competences(&mut cx, &f("competences"), &ch.competences);
        for n in &ch.needs {
            if !ids.contains(n.get_ref()) {
                let d = cx.err(n.span(), f("needs"), format!("no check `{}`", n.get_ref()));
                d.hint = closest(n.get_ref(), ids.iter().map(String::as_str))
                    .map(|c| format!("did you mean `{c}`?"));
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
        let mut cctx = check_ctx.clone();
        let mut with = serde_json::Map::new();
        if let Some(m) = &ch.module {
            if let Some((module, _)) = modules.get(m.get_ref()) {
                for (k, v) in module.module.defaults.iter().chain(ch.with.iter()) {
                    with.insert(k.clone(), serde_json::to_value(v).unwrap_or_default());
                }
                for p in &module.module.params {
                    if !with.contains_key(p) {
                        cx.err(
                            m.span(),
                            f("with"),
                            format!("module `{}` needs `{p}` in `with`", m.get_ref()),
                        )
                        .hint = Some(format!("add with = {{ {p} = ... }}"));
                    }
                }
                cctx.insert("with", &with);
                // Errors inside a module point at the lab's `use` line and name the module.
                let at = Some(m.span());
                let field = format!("check.{id}.use({})", m.get_ref());
                for a in module.all_actions().into_iter().chain(module.all_restore()) {
                    check_action(&mut cx, a, &field, &cctx, at.clone());
                }
                for e in module.all_expect() {
                    check_expect(&mut cx, e, &field, &cctx, at.clone());
                }
            }
        } else {
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
        }
        cctx.insert("with", &with);
        for a in &ch.actions {
            check_action(&mut cx, a, &f("do"), &cctx, None);
        }
        for a in &ch.restore {
            check_action(&mut cx, a, &f("restore"), &cctx, None);
        }
        for e in &ch.expect {
            check_expect(&mut cx, e, &f("expect"), &cctx, None);
        }
    }
    if def.check.is_empty() || total == 0 {
        cx.err(0..0, "check", "the lab has no points to earn").hint =
            Some("add [[check]] tables with points".into());
    }
    check_cycles(&mut cx, def);
    cx.diags
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
            cx.err(
                f.span(),
                format!("{field}.to"),
                format!("`{}` is not an absolute path in the container", def.to),
            );
        }
        if let Some(m) = &def.mode {
            if u32::from_str_radix(m, 8).is_err() {
                cx.err(
                    f.span(),
                    format!("{field}.mode"),
                    format!("`{m}` is not an octal mode"),
                )
                .hint = Some("write e.g. \"0644\"".into());
            }
        }
        check_lab_file(cx, f.span(), field, rel, is_template.then_some(ctx));
    }
}

/// A file of the lab folder named in the definition: it exists, stays inside the folder, and
/// (for a template, when `ctx` is given) renders.
fn check_lab_file(
    cx: &mut Ctx,
    span: std::ops::Range<usize>,
    field: &str,
    rel: &str,
    ctx: Option<&tera::Context>,
) {
    let path = cx.dir.join(rel);
    let inside = path
        .canonicalize()
        .ok()
        .zip(cx.dir.canonicalize().ok())
        .map(|(p, d)| p.starts_with(d));
    match inside {
        None => {
            cx.err(
                span,
                field,
                format!("file `{rel}` does not exist in {}", cx.dir.display()),
            )
            .hint = Some("paths are relative to the lab folder, e.g. files/app.conf".into());
        }
        Some(false) => {
            cx.err(span, field, format!("`{rel}` is outside the lab folder"));
        }
        Some(true) => {
            let Some(ctx) = ctx else { return };
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    if let Err(e) = render::render(&text, ctx) {
                        cx.err(span, field, format!("template {rel} does not render: {e}"))
                            .hint = Some(
                            "the template may use the lab's params, `lab` and `session`".into(),
                        );
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
    }
}

fn known_service(cx: &Ctx, name: &str) -> bool {
    name == "grader" || cx.services.contains(name) || name.contains("{{")
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
            let d = cx.err(span, field, format!("no service `{n}` in this lab"));
            d.hint =
                closest(n, list.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
        }
        _ => {}
    }
}

fn check_strings(
    cx: &mut Ctx,
    span: std::ops::Range<usize>,
    field: &str,
    ctx: &tera::Context,
    strings: &[&Option<String>],
) {
    for s in strings.iter().filter_map(|s| s.as_deref()) {
        if let Err(e) = render::render(s, ctx) {
            cx.err(span.clone(), field, format!("template error: {e}"));
        }
    }
}

/// Whether exactly one kind key is set; reports the error otherwise.
fn exactly_one(
    cx: &mut Ctx,
    span: std::ops::Range<usize>,
    field: &str,
    what: &str,
    kinds: &[&str],
    all: &[&str],
) -> bool {
    if kinds.len() == 1 {
        return true;
    }
    let found = if kinds.is_empty() {
        "none".to_string()
    } else {
        kinds.join(" and ")
    };
    cx.err(
        span,
        field,
        format!("{what} is exactly one of {}, found {found}", all.join(", ")),
    );
    false
}

fn check_action(
    cx: &mut Ctx,
    a: &Spanned<ActionDef>,
    field: &str,
    ctx: &tera::Context,
    at: Option<std::ops::Range<usize>>,
) {
    let span = at.unwrap_or_else(|| a.span());
    let def = a.get_ref();
    let kinds = def.kinds();
    if !exactly_one(
        cx,
        span.clone(),
        field,
        "an action",
        &kinds,
        super::model::ACTION_KINDS,
    ) {
        return;
    }
    for d in [&def.timeout, &def.wait].into_iter().flatten() {
        if !d.contains("{{") {
            if let Err(e) = parse_duration(d) {
                cx.err(span.clone(), field, e);
            }
        }
    }
    let target = def
        .stop
        .as_deref()
        .or(def.kill.as_deref())
        .or(def.start.as_deref())
        .or(def.restart.as_deref())
        .or(def.pause.as_deref())
        .or(def.unpause.as_deref())
        .or(def.disconnect.as_deref())
        .or(def.connect.as_deref());
    if let Some(t) = target {
        if t == "grader" {
            cx.err(
                span.clone(),
                field,
                "the grader container cannot be acted on",
            );
        }
        check_service(cx, span.clone(), field, Some(t), true);
    }
    if def.exec.is_some() || def.copy.is_some() {
        check_service(cx, span.clone(), field, def.service.as_deref(), true);
    }
    if (def.disconnect.is_some() || def.connect.is_some()) && def.network.is_none() {
        cx.err(span.clone(), field, "disconnect/connect need `network`");
    }
    if let Some(n) = &def.network {
        if !n.contains("{{") && !cx.networks.contains(n) {
            let known = cx.networks.iter().cloned().collect::<Vec<_>>().join(", ");
            cx.err(span.clone(), field, format!("no network `{n}` in this lab"))
                .hint = Some(format!("declared networks: {known}"));
        }
    }
    if let Some(c) = &def.copy {
        check_lab_file(cx, span.clone(), field, c, Some(ctx));
        if def.to.is_none() {
            cx.err(span.clone(), field, "copy needs `to`");
        }
    }
    check_strings(
        cx,
        span,
        field,
        ctx,
        &[&def.exec, &def.service, &def.to, &def.user],
    );
}

fn check_expect(
    cx: &mut Ctx,
    e: &Spanned<ExpectDef>,
    field: &str,
    ctx: &tera::Context,
    at: Option<std::ops::Range<usize>>,
) {
    let span = at.unwrap_or_else(|| e.span());
    let def = e.get_ref();
    let kinds = def.kinds();
    if !exactly_one(
        cx,
        span.clone(),
        field,
        "an expectation",
        &kinds,
        super::model::EXPECT_KINDS,
    ) {
        return;
    }
    if def.within.is_some() && def.holds.is_some() {
        cx.err(
            span.clone(),
            field,
            "an expectation has `within` or `holds`, not both",
        );
    }
    for d in [&def.within, &def.holds, &def.every, &def.timeout]
        .into_iter()
        .flatten()
    {
        if !d.contains("{{") {
            if let Err(err) = parse_duration(d) {
                cx.err(span.clone(), field, err);
            }
        }
    }
    for r in [&def.regex, &def.stdout_regex].into_iter().flatten() {
        if !r.contains("{{") {
            if let Err(err) = regex::Regex::new(r) {
                cx.err(span.clone(), field, format!("bad regex: {err}"));
            }
        }
    }
    match kinds[0] {
        "command" | "file" => check_service(cx, span.clone(), field, def.service.as_deref(), true),
        "port" => check_service(cx, span.clone(), field, def.service.as_deref(), true),
        "container" | "log" => check_service(
            cx,
            span.clone(),
            field,
            def.container.as_deref().or(def.log.as_deref()),
            true,
        ),
        "inbox" => {
            check_service(cx, span.clone(), field, def.inbox.as_deref(), true);
            if let Some(from) = &def.from {
                check_service(cx, span.clone(), field, Some(from), true);
            }
        }
        "http" => {
            if let Some(u) = &def.http {
                if !u.contains("{{") {
                    match crate::grade::probe::split_url(u) {
                        Some((host, _, _)) => {
                            check_service(cx, span.clone(), field, Some(&host), true)
                        }
                        None => {
                            cx.err(
                                span.clone(),
                                field,
                                format!("`{u}` is not an http://service:port/path URL"),
                            );
                        }
                    }
                }
            }
        }
        _ => {}
    }
    check_strings(
        cx,
        span,
        field,
        ctx,
        &[
            &def.http,
            &def.command,
            &def.file,
            &def.contains,
            &def.regex,
            &def.body,
            &def.stdout_contains,
            &def.stdout_regex,
            &def.prometheus,
            &def.alertmanager,
            &def.service,
        ],
    );
}

fn check_cycles(cx: &mut Ctx, def: &LabFile) {
    let deps: BTreeMap<&str, Vec<&str>> = def
        .check
        .iter()
        .map(|c| {
            let c = c.get_ref();
            (
                c.id.get_ref().as_str(),
                c.needs.iter().map(|n| n.get_ref().as_str()).collect(),
            )
        })
        .collect();
    fn visit<'a>(
        n: &'a str,
        deps: &BTreeMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if stack.contains(&n) {
            return Some(stack.clone());
        }
        if !done.insert(n) {
            return None;
        }
        stack.push(n);
        for d in deps.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, deps, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for c in &def.check {
        let id = c.get_ref().id.get_ref().as_str();
        if let Some(cycle) = visit(id, &deps, &mut Vec::new(), &mut done) {
            cx.err(
                c.span(),
                format!("check.{id}.needs"),
                format!("checks need each other in a cycle: {}", cycle.join(" -> ")),
            );
            return;
        }
    }
}
