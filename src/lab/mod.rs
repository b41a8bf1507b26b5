//! Lab definitions: loading, validation, per-trainee parameters, rendering. No Docker here.

pub mod competences;
pub mod diagnostic;
pub mod model;
pub mod params;
pub mod render;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::project::Project;
pub use diagnostic::Diagnostic;
use diagnostic::SourceMap;
pub use model::{ActionDef, ExpectDef};
use model::{CheckDef, LabFile, ModuleFile};
pub use params::Params;

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
        let localized = self.dir.join(format!("brief.{lang}.md"));
        let path = if lang != "en" && localized.exists() {
            localized
        } else {
            self.dir.join("brief.md")
        };
        std::fs::read_to_string(path).unwrap_or_default()
    }

    pub fn draw_params(&self, trainee: &str, seed: u64) -> Result<Params, LabErrors> {
        params::draw(&self.def.params, self.id(), trainee, seed).map_err(|e| {
            let path = self.dir.join("lab.toml");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
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
        let text = std::fs::read_to_string(&file).map_err(|e| {
            LabErrors(vec![Diagnostic {
                file: file.clone(),
                line: 0,
                column: 0,
                field: "lab.toml".into(),
                message: format!("cannot read: {e}"),
                hint: Some(
                    "a lab is a folder holding lab.toml; `opslab list` shows the labs".into(),
                ),
            }])
        })?;
        let map = SourceMap::new(&file, &text);
        let def: LabFile = parse_toml(&text, &map)?;
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
                            match diagnostic::closest(m.get_ref(), known.iter().map(String::as_str))
                            {
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

pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    map: &SourceMap,
) -> Result<T, LabErrors> {
    toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().to_string();
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

/// The dotted name of the key at `offset`: the table header above it and the key on its line.
fn field_at(text: &str, offset: usize) -> String {
    let line_end = text[offset.min(text.len())..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(text.len());
    let before = &text[..line_end.min(text.len())];
    let table = before
        .lines()
        .rev()
        .find_map(|l| {
            let t = l.trim();
            t.starts_with('[')
                .then(|| t.trim_matches(|c| c == '[' || c == ']').to_string())
        })
        .unwrap_or_default();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.starts_with('['))
        .unwrap_or_default();
    match (table.is_empty(), key.is_empty()) {
        (true, true) => "(document)".into(),
        (true, false) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

fn load_module(project: &Project, name: &str) -> Result<Option<(ModuleFile, PathBuf)>, LabErrors> {
    if name.contains("..") {
        return Ok(None);
    }
    let path = project.graders_dir().join(format!("{name}.toml"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
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
    crate::images::walk_files(dir, &mut files);
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
    validate::parse_memory(s).ok()
}

/// A duration such as "30s".
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    validate::parse_duration(s)
}
