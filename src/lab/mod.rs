//! Lab definitions: loading, validation, per-trainee parameters, rendering. No Docker here.

pub mod action;
pub mod competences;
/// The lab folder's confinement lives beside `lab` (images and graders walk with it too).
pub use crate::confine;
pub mod diagnostic;
pub mod expect;
pub mod model;
pub mod params;
pub mod render;
pub mod resolve;
pub mod rules;
pub mod sight;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::project::Project;
pub use diagnostic::Diagnostic;
use diagnostic::SourceMap;
pub use model::{ActionDef, ExpectDef};
use model::{CheckDef, LabFile, ModuleFile};
pub use params::Params;

/// The name of a session's grader container, which probes and actions may name as a service.
pub const GRADER: &str = "grader";

/// The grader modules a lab uses, by name, with their file.
type Modules = BTreeMap<String, (ModuleFile, PathBuf)>;

/// A loaded, validated lab.
#[derive(Debug, Clone)]
pub struct Lab {
    pub dir: PathBuf,
    pub def: LabFile,
    pub checks: Vec<Check>,
    /// sha256 of lab.toml, the briefs and every file of the lab folder, and of the modules used.
    pub definition_hash: String,
}

/// A check with its grader module (if any) folded in: what the grading engine runs.
#[derive(Debug, Clone)]
pub struct Check {
    pub id: String,
    pub title: String,
    pub title_fr: Option<String>,
    pub points: u32,
    pub competences: Vec<String>,
    pub needs: Vec<String>,
    pub initially_passes: bool,
    pub hints: Vec<String>,
    pub hints_fr: Vec<String>,
    pub feedback: Option<String>,
    pub measure: Option<String>,
    pub actions: Vec<ActionDef>,
    pub expect: Vec<ExpectDef>,
    pub restore: Vec<ActionDef>,
    pub module: Option<String>,
    pub with: serde_json::Map<String, serde_json::Value>,
}

impl Check {
    /// A check that acts on the system runs alone; one that only observes runs beside others.
    pub fn perturbs(&self) -> bool {
        !self.actions.is_empty()
    }
}

/// All the errors found in one or more lab definitions.
#[derive(Debug, Clone)]
pub struct LabErrors(pub Vec<Diagnostic>);

impl std::fmt::Display for LabErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LabErrors {}

impl Lab {
    pub fn id(&self) -> &str {
        self.def.lab.id.get_ref()
    }

    pub fn title(&self, lang: &str) -> &str {
        match (&self.def.lab.title_fr, lang) {
            (Some(t), "fr") => t,
            _ => &self.def.lab.title,
        }
    }

    /// The checks that act on nothing: an observation-only grading runs these and leaves the
    /// session as it was.
    pub fn observation_checks(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.perturbs())
            .map(|c| c.id.clone())
            .collect()
    }

    /// The lab's folder as an absolute path (kept in labels and class files).
    pub fn canonical_dir(&self) -> String {
        self.dir
            .canonicalize()
            .unwrap_or(self.dir.clone())
            .display()
            .to_string()
    }

    pub fn pass_mark(&self) -> u32 {
        *self.def.lab.pass.get_ref()
    }

    pub fn total_points(&self) -> u32 {
        self.checks.iter().map(|c| c.points).sum()
    }

    pub fn trainee_service(&self) -> Option<&model::ServiceDef> {
        self.def
            .service
            .iter()
            .map(|s| s.get_ref())
            .find(|s| s.trainee)
    }

    pub fn service(&self, name: &str) -> Option<&model::ServiceDef> {
        self.def
            .service
            .iter()
            .map(|s| s.get_ref())
            .find(|s| s.name.get_ref() == name)
    }

    /// The networks of the lab, `lab` when it declares none.
    pub fn networks(&self) -> Vec<String> {
        if self.def.network.is_empty() {
            vec!["lab".to_string()]
        } else {
            self.def
                .network
                .iter()
                .map(|n| n.get_ref().name.get_ref().clone())
                .collect()
        }
    }

    pub fn service_networks(&self, svc: &model::ServiceDef) -> Vec<String> {
        match &svc.networks {
            Some(list) => list.iter().map(|n| n.get_ref().clone()).collect(),
            None => self.networks(),
        }
    }

    pub fn brief(&self, lang: &str) -> String {
        let localized = format!("brief.{lang}.md");
        let rel = if lang != "en" && self.dir.join(&localized).exists() {
            localized
        } else {
            "brief.md".to_string()
        };
        read_text(&self.dir, &rel).unwrap_or_default()
    }

    pub fn draw_params(&self, trainee: &str, seed: u64) -> Result<Params, LabErrors> {
        params::draw(&self.def.params, self.id(), trainee, seed).map_err(|e| {
            let path = self.dir.join("lab.toml");
            let text = read_text(&self.dir, "lab.toml").unwrap_or_default();
            LabErrors(vec![SourceMap::new(&path, &text).at(
                e.span,
                format!("params.{}", e.name),
                e.message,
            )])
        })
    }

    /// Loads and validates the lab in `dir` (a folder holding lab.toml, or lab.toml itself).
    pub fn load(path: &Path, project: &Project) -> Result<Lab, LabErrors> {
        let dir = if path.is_file() {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            path.to_path_buf()
        };
        let file = dir.join("lab.toml");
        let text = read_text(&dir, "lab.toml").map_err(|mut d| {
            if d.hint.is_none() {
                d.hint =
                    Some("a lab is a folder holding lab.toml; `opslab list` shows the labs".into());
            }
            LabErrors(vec![d])
        })?;
        let map = SourceMap::new(&file, &text);
        let def: LabFile = parse_toml(&text, &map)?;
        let (modules, mut diags) = load_modules(&def, &map, project);
        diags.extend(validate::validate(&dir, &def, &map, &modules, project));
        if !diags.is_empty() {
            return Err(LabErrors(diags));
        }
        let checks = def
            .check
            .iter()
            .map(|c| resolve_check(c.get_ref(), &modules))
            .map(|mut c: Check| {
                // A check that names no competence demonstrates the lab's.
                if c.competences.is_empty() {
                    c.competences = def
                        .lab
                        .competences
                        .iter()
                        .map(|x| x.get_ref().clone())
                        .collect();
                }
                c
            })
            .collect();
        let definition_hash = hash_lab(&dir, &modules);
        Ok(Lab {
            dir,
            def,
            checks,
            definition_hash,
        })
    }
}

/// The grader modules the checks `use`, each loaded once; errors for the names that are not
/// modules.
fn load_modules(def: &LabFile, map: &SourceMap, project: &Project) -> (Modules, Vec<Diagnostic>) {
    let mut modules = BTreeMap::new();
    let mut diags = Vec::new();
    for c in &def.check {
        if let Some(m) = &c.get_ref().module {
            if modules.contains_key(m.get_ref()) {
                continue;
            }
            match load_module(project, m.get_ref()) {
                Ok(Some(module)) => {
                    modules.insert(m.get_ref().clone(), module);
                }
                Ok(None) if !module_name_ok(m.get_ref()) => {
                    let mut d = map.at(
                        m.span(),
                        format!("check.{}.use", c.get_ref().id.get_ref()),
                        format!(
                            "`{}` is not a grader module name",
                            m.get_ref().chars().take(80).collect::<String>()
                        ),
                    );
                    d.hint = Some(
                        "modules are named group/name and live in graders/, e.g. use = \"delivery/pipeline-green\"".into(),
                    );
                    diags.push(d);
                }
                Ok(None) => {
                    let known = project.module_names();
                    let mut d = map.at(
                        m.span(),
                        format!("check.{}.use", c.get_ref().id.get_ref()),
                        format!(
                            "no grader module `{}` in {}",
                            m.get_ref(),
                            project.graders_dir().display()
                        ),
                    );
                    d.hint = Some(
                        match diagnostic::closest(m.get_ref(), known.iter().map(String::as_str)) {
                            Some(k) => format!("did you mean `{k}`?"),
                            None => format!("known modules: {}", known.join(", ")),
                        },
                    );
                    diags.push(d);
                }
                Err(mut e) => diags.append(&mut e.0),
            }
        }
    }
    (modules, diags)
}

/// A text file of the lab folder (`rel`), confined to it and bounded; a byte that is not UTF-8
/// is located.
pub(crate) fn read_text(dir: &Path, rel: &str) -> Result<String, Diagnostic> {
    let file = dir.join(rel);
    let whole = |message: String| Diagnostic {
        file: file.clone(),
        line: 0,
        column: 0,
        field: rel.to_string(),
        message,
        hint: None,
    };
    let limit = if rel == "lab.toml" {
        confine::MAX_LAB_TOML_BYTES
    } else {
        confine::MAX_TEXT_BYTES
    };
    let bytes = confine::read_inside(dir, rel, limit).map_err(|p| whole(format!("`{rel}` {p}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        let valid = String::from_utf8_lossy(&bytes[..at]).into_owned();
        let map = SourceMap::new(&file, &valid);
        let mut d = map.at(
            at..at,
            rel,
            format!("byte 0x{:02x} is not UTF-8 text", bytes[at]),
        );
        d.hint = Some("save the file as UTF-8".into());
        d
    })
}

pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    map: &SourceMap,
) -> Result<T, LabErrors> {
    if let Some(at) = lone_cr(text) {
        let mut d = map.at(
            at..at,
            field_at(text, at),
            "this line ends with a carriage return alone (CR); TOML lines end with LF or CRLF",
        );
        d.hint = Some("convert the file's line endings to LF (e.g. `mac2unix lab.toml`)".into());
        return Err(LabErrors(vec![d]));
    }
    toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = match e.message().trim() {
            // toml gives no words for some syntax errors (a line break in an inline table).
            "" => "invalid TOML here: a value is missing or cut short (inline tables { ... } stay on one line)".to_string(),
            m => m.to_string(),
        };
        let field = field_at(text, span.start);
        let mut d = map.at(span, field, message.clone());
        if message.contains("unknown field") {
            d.hint = Some(
                "remove the key or fix its spelling; the expected keys are listed above".into(),
            );
        } else if message.contains("invalid type") {
            d.hint = Some("see docs/LAB_FORMAT.md for the type this key takes".into());
        } else if message.contains("missing field") {
            d.hint = Some("add the missing key to this table".into());
        }
        LabErrors(vec![d])
    })
}

/// The dotted name of the key whose value holds `offset`: the table header above it and the
/// key of the statement it belongs to. Multi-line strings, arrays and inline tables are
/// skipped over, so an error inside them names their key, never a line of their text.
fn field_at(text: &str, offset: usize) -> String {
    let bytes = text.as_bytes();
    let offset = offset.min(bytes.len());
    let mut table = String::new();
    let mut stmt = 0usize; // where the current top-level statement starts
    let mut depth = 0usize;
    let mut at_line_start = true;
    let mut i = 0usize;
    // The header on the offset's own line counts (a "missing field" points at its table).
    while i < offset || (i == offset && at_line_start && bytes.get(i) == Some(&b'[')) {
        let b = bytes[i];
        match b {
            b'\n' | b'\r' => {
                i += 1;
                if depth == 0 {
                    stmt = i;
                }
                at_line_start = true;
                continue;
            }
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'[' if depth == 0 && at_line_start => {
                let end = text[i..]
                    .find(['\n', '\r'])
                    .map(|e| i + e)
                    .unwrap_or(text.len());
                let line = &text[i..end];
                let head = line.split('#').next().unwrap_or("");
                table = head
                    .trim()
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_string();
                stmt = end;
                i = end;
                continue;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' | b'\'' => {
                i = skip_string(bytes, i);
                at_line_start = false;
                continue;
            }
            _ => {}
        }
        at_line_start = false;
        i += 1;
    }
    key_of_statement(text, stmt, &table)
}

/// `table.key` for the statement starting at `stmt` under the header `table`.
fn key_of_statement(text: &str, stmt: usize, table: &str) -> String {
    let stmt = stmt.min(text.len());
    let line_end = text[stmt..]
        .find(['\n', '\r'])
        .map(|e| stmt + e)
        .unwrap_or(text.len());
    let line = text.get(stmt..line_end).unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.starts_with('[') && !k.contains(['"', '{', ',']) && k.len() <= 128)
        .unwrap_or_default();
    let table: String = table.chars().take(128).collect();
    match (table.is_empty(), key.is_empty()) {
        (true, true) => "(document)".into(),
        (true, false) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

/// Where the string starting at `i` (a quote, maybe tripled) ends.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    let quote = bytes[i];
    let triple = bytes[i..].starts_with(&[quote, quote, quote]);
    i += if triple { 3 } else { 1 };
    while i < bytes.len() {
        if quote == b'"' && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if triple {
            if bytes[i..].starts_with(&[quote, quote, quote]) {
                return i + 3;
            }
        } else if bytes[i] == quote || bytes[i] == b'\n' {
            return i + 1;
        }
        i += 1;
    }
    i
}

/// The first CR that does not start a CRLF: TOML lines end with LF or CRLF.
fn lone_cr(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    (0..b.len()).find(|&i| b[i] == b'\r' && b.get(i + 1) != Some(&b'\n'))
}

/// Whether `name` can name a module: `group/name` segments of lowercase letters, digits,
/// `-` and `_` (no absolute path, no `..`), so that it resolves inside `graders/`.
fn module_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        })
}

fn load_module(project: &Project, name: &str) -> Result<Option<(ModuleFile, PathBuf)>, LabErrors> {
    if !module_name_ok(name) {
        return Ok(None);
    }
    let graders = project.graders_dir();
    let rel = format!("{name}.toml");
    let path = graders.join(&rel);
    if !path.exists() {
        return Ok(None);
    }
    let text = read_text(&graders, &rel).map_err(|d| LabErrors(vec![d]))?;
    let map = SourceMap::new(&path, &text);
    let m: ModuleFile = parse_toml(&text, &map)?;
    if m.module.name.get_ref() != name {
        return Err(LabErrors(vec![map.at(
            m.module.name.span(),
            "module.name",
            format!(
                "the module in {name}.toml is named `{}`",
                m.module.name.get_ref()
            ),
        )]));
    }
    Ok(Some((m, path)))
}

fn resolve_check(c: &CheckDef, modules: &BTreeMap<String, (ModuleFile, PathBuf)>) -> Check {
    let unspan =
        |v: &[toml::Spanned<ActionDef>]| v.iter().map(|a| a.get_ref().clone()).collect::<Vec<_>>();
    let unspan_refs = |v: Vec<&toml::Spanned<ActionDef>>| {
        v.into_iter()
            .map(|a| a.get_ref().clone())
            .collect::<Vec<_>>()
    };
    let mut check = Check {
        id: c.id.get_ref().clone(),
        title: c.title.clone(),
        title_fr: c.title_fr.clone(),
        points: c.points,
        competences: c.competences.iter().map(|s| s.get_ref().clone()).collect(),
        needs: c.needs.iter().map(|s| s.get_ref().clone()).collect(),
        initially_passes: c.initially_passes,
        hints: c.hints.clone(),
        hints_fr: c.hints_fr.clone(),
        feedback: c.feedback.clone(),
        measure: c.measure.clone(),
        actions: unspan(&c.actions),
        expect: c.expect.iter().map(|e| e.get_ref().clone()).collect(),
        restore: unspan(&c.restore),
        module: c.module.as_ref().map(|m| m.get_ref().clone()),
        with: serde_json::Map::new(),
    };
    if let Some(name) = &check.module {
        if let Some((m, _)) = modules.get(name) {
            for (k, v) in &m.module.defaults {
                check
                    .with
                    .insert(k.clone(), serde_json::to_value(v).unwrap_or_default());
            }
            check.actions = [unspan_refs(m.all_actions()), check.actions].concat();
            check.expect = [
                m.all_expect()
                    .into_iter()
                    .map(|e| e.get_ref().clone())
                    .collect(),
                check.expect,
            ]
            .concat();
            check.restore = [unspan_refs(m.all_restore()), check.restore].concat();
            if check.measure.is_none() {
                check.measure = m.measure();
            }
        }
    }
    for (k, v) in &c.with {
        check
            .with
            .insert(k.clone(), serde_json::to_value(v).unwrap_or_default());
    }
    check
}

fn hash_lab(dir: &Path, modules: &BTreeMap<String, (ModuleFile, PathBuf)>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut files = Vec::new();
    files.extend(crate::confine::walk_lenient(dir));
    files.extend(modules.values().map(|(_, p)| p.clone()));
    files.sort();
    for f in files {
        h.update(
            f.strip_prefix(dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .as_bytes(),
        );
        h.update([0]);
        h.update(std::fs::read(&f).unwrap_or_default());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// The lab folders found under `path`: itself when it holds lab.toml, else its sub-folders that do.
pub fn discover(path: &Path) -> Vec<PathBuf> {
    if path.join("lab.toml").exists() || path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("lab.toml").exists())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A memory size such as "256m" in bytes.
pub fn model_memory(s: &str) -> Option<i64> {
    rules::memory_size(s).ok()
}

/// A service's `cpus` in billionths of a CPU (what the engine takes), when it is valid.
pub fn model_nano_cpus(s: &str) -> Option<i64> {
    rules::Cpus::parse(s).ok().map(|c| c.0)
}

/// A duration such as "30s".
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    validate::parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_by_their_statement_not_by_text_inside_values() {
        let text = "[lab]\nid = \"x\"\n\n[[check]]\nhints = [\"\"\"\nuse = the text\n\"\"\"]\nexpect = [\n  { file = \"a\" },\n]\n";
        let inside_hint = text.find("use = the").expect("the hint");
        assert_eq!(field_at(text, inside_hint), "check.hints");
        let inside_expect = text.find("{ file").expect("the expect");
        assert_eq!(field_at(text, inside_expect), "check.expect");
        let header = text.find("[[check]]").expect("the header");
        assert_eq!(field_at(text, header), "check");
        assert_eq!(field_at(text, 0), "lab");
        let cr = "[lab]\rid = 1\r";
        assert_eq!(field_at(cr, 7), "lab.id");
    }

    #[test]
    fn module_names_stay_inside_graders() {
        assert!(module_name_ok("delivery/push-reaches-production"));
        for bad in [
            "/etc/passwd",
            "../labs/x",
            "a//b",
            "",
            "A/b",
            "a/./b",
            "a b",
        ] {
            assert!(!module_name_ok(bad), "{bad:?}");
        }
    }
}
