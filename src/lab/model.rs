//! The wire form of `lab.toml` and of grader modules: what serde reads, with the spans errors
//! point at. Parsing only: expectations and actions are resolved into their typed form by
//! `expect` and `action`, and what can be checked across fields lives in `validate`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole `lab.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabFile {
    pub lab: LabMeta,
    #[serde(default)]
    pub params: ParamList,
    #[serde(default)]
    pub network: Vec<Spanned<NetworkDef>>,
    #[serde(default)]
    pub service: Vec<Spanned<ServiceDef>>,
    #[serde(default)]
    pub grader: Option<GraderDef>,
    #[serde(default)]
    pub check: Vec<Spanned<CheckDef>>,
    #[serde(default)]
    pub review: Vec<Spanned<ReviewDef>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabMeta {
    pub id: Spanned<String>,
    pub title: String,
    #[serde(default)]
    pub title_fr: Option<String>,
    #[serde(default)]
    pub competences: Vec<Spanned<String>>,
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    #[serde(default = "default_pass")]
    pub pass: Spanned<u32>,
    #[serde(default)]
    pub hint_cost: u32,
    /// An assessment of this lab needs a route out of the session (off by default: assessment
    /// sessions run on internal networks).
    #[serde(default)]
    pub internet: bool,
}

fn default_pass() -> Spanned<u32> {
    Spanned::new(0..0, 70)
}

/// The `[params]` table in the order it was written (an `expr` may use the params above it).
#[derive(Debug, Clone, Default)]
pub struct ParamList(pub Vec<(Spanned<String>, Spanned<ParamSpec>)>);

impl<'de> Deserialize<'de> for ParamList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ParamList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of parameters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ParamList, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry()? {
                    out.push((k, v));
                }
                Ok(ParamList(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// How one per-trainee parameter is drawn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    #[serde(default)]
    pub int: Option<[i64; 2]>,
    #[serde(default)]
    pub pick: Option<Vec<toml::Value>>,
    #[serde(default)]
    pub word: Option<usize>,
    #[serde(default)]
    pub expr: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDef {
    pub name: Spanned<String>,
    #[serde(default)]
    pub internal: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub name: Spanned<String>,
    pub image: Spanned<String>,
    #[serde(default)]
    pub trainee: bool,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub networks: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub memory: Option<Spanned<String>>,
    #[serde(default)]
    pub pids: Option<Spanned<i64>>,
    /// CPU limit, a decimal number of CPUs ("0.5"); one CPU when unset.
    #[serde(default)]
    pub cpus: Option<Spanned<String>>,
    #[serde(default)]
    pub health: Option<String>,
    #[serde(default)]
    pub health_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub volumes: Vec<VolumeDef>,
    #[serde(default)]
    pub files: Vec<Spanned<FileDef>>,
    #[serde(default)]
    pub setup: Vec<Spanned<SetupStep>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDef {
    pub name: String,
    pub to: String,
}

/// A file put into a container: a tera template, or a file/folder copied as is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDef {
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    pub to: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupStep {
    pub run: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraderDef {
    #[serde(default)]
    pub files: Vec<Spanned<FileDef>>,
}

/// One graded check as written in a lab (directly, or through `use` of a module).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDef {
    pub id: Spanned<String>,
    pub title: String,
    #[serde(default)]
    pub title_fr: Option<String>,
    #[serde(default)]
    pub points: u32,
    #[serde(default)]
    pub competences: Vec<Spanned<String>>,
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    #[serde(default)]
    pub initially_passes: bool,
    #[serde(default)]
    pub hints: Vec<String>,
    #[serde(default)]
    pub hints_fr: Vec<String>,
    #[serde(default)]
    pub feedback: Option<String>,
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default, rename = "do")]
    pub actions: Vec<Spanned<ActionDef>>,
    #[serde(default)]
    pub expect: Vec<Spanned<ExpectDef>>,
    #[serde(default)]
    pub restore: Vec<Spanned<ActionDef>>,
    #[serde(default, rename = "use")]
    pub module: Option<Spanned<String>>,
    #[serde(default, rename = "with")]
    pub with: BTreeMap<String, toml::Value>,
}

/// Work the trainer reads and judges, never scored by opslab (a post-mortem's narrative, say):
/// at each grading, `command` runs in `service` and what it prints goes into the grade with
/// the rubric, for the trainer and the jury to read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDef {
    pub id: Spanned<String>,
    pub title: String,
    #[serde(default)]
    pub title_fr: Option<String>,
    #[serde(default)]
    pub competences: Vec<Spanned<String>>,
    /// What the trainer judges, and how.
    pub rubric: String,
    #[serde(default)]
    pub rubric_fr: Option<String>,
    pub service: Spanned<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// A shell command (a template, with the grading's context) whose output is what to read.
    pub command: Spanned<String>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

/// An action of a check as written (the wire form): every key any kind takes. Exactly one of
/// the kind keys is set; `action::Action::resolve` turns it into its kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDef {
    pub exec: Option<String>,
    pub stop: Option<String>,
    pub kill: Option<String>,
    pub start: Option<String>,
    pub restart: Option<String>,
    pub pause: Option<String>,
    pub unpause: Option<String>,
    pub disconnect: Option<String>,
    pub connect: Option<String>,
    pub copy: Option<String>,
    pub wait: Option<String>,
    pub service: Option<String>,
    pub user: Option<String>,
    pub timeout: Option<String>,
    pub ok_exit: Option<Vec<i64>>,
    pub signal: Option<String>,
    pub network: Option<String>,
    pub to: Option<String>,
    pub mode: Option<String>,
    pub owner: Option<String>,
    /// The check's `measure` clock starts when this action starts (default: the first action).
    pub starts_measure: Option<bool>,
}

/// An expectation of a check as written (the wire form): every key any probe kind takes.
/// `expect::Expect::resolve` turns it into its kind (`port` names a kind of its own only
/// beside no `prometheus`, `alertmanager` or `inbox`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    // kinds
    pub http: Option<String>,
    pub command: Option<String>,
    pub file: Option<String>,
    pub container: Option<String>,
    pub port: Option<u16>,
    pub log: Option<String>,
    pub prometheus: Option<String>,
    pub alertmanager: Option<String>,
    pub inbox: Option<String>,
    // deadline
    pub within: Option<String>,
    pub holds: Option<String>,
    pub every: Option<String>,
    #[serde(default)]
    pub not: bool,
    // qualifiers
    pub service: Option<String>,
    pub user: Option<String>,
    pub timeout: Option<String>,
    pub method: Option<String>,
    pub body: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub status: Option<toml::Value>,
    pub contains: Option<String>,
    pub regex: Option<String>,
    pub json: Option<JsonExpect>,
    pub header: Option<HeaderExpect>,
    pub exit: Option<i64>,
    pub stdout_contains: Option<String>,
    pub stdout_regex: Option<String>,
    pub stderr_contains: Option<String>,
    pub exists: Option<bool>,
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub running: Option<bool>,
    pub healthy: Option<bool>,
    pub restarts_min: Option<i64>,
    pub image: Option<String>,
    pub open: Option<bool>,
    pub equals: Option<toml::Value>,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub empty: Option<bool>,
    pub state: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub alertname: Option<String>,
    pub from: Option<String>,
    pub since_check: Option<bool>,
    pub count_min: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonExpect {
    pub pointer: String,
    pub equals: toml::Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderExpect {
    pub name: String,
    pub contains: String,
}

/// A grader module file (`graders/<group>/<name>.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleFile {
    pub module: ModuleMeta,
    #[serde(default, rename = "do")]
    pub actions: Vec<Spanned<ActionDef>>,
    #[serde(default)]
    pub expect: Vec<Spanned<ExpectDef>>,
    #[serde(default)]
    pub restore: Vec<Spanned<ActionDef>>,
    #[serde(default)]
    pub measure: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleMeta {
    pub name: Spanned<String>,
    pub description: String,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub defaults: BTreeMap<String, toml::Value>,
    // The check's body may also sit inside `[module]` (keys written after the header).
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default, rename = "do")]
    pub actions: Vec<Spanned<ActionDef>>,
    #[serde(default)]
    pub expect: Vec<Spanned<ExpectDef>>,
    #[serde(default)]
    pub restore: Vec<Spanned<ActionDef>>,
}

impl ModuleFile {
    pub fn all_actions(&self) -> Vec<&Spanned<ActionDef>> {
        self.actions
            .iter()
            .chain(self.module.actions.iter())
            .collect()
    }
    pub fn all_expect(&self) -> Vec<&Spanned<ExpectDef>> {
        self.expect
            .iter()
            .chain(self.module.expect.iter())
            .collect()
    }
    pub fn all_restore(&self) -> Vec<&Spanned<ActionDef>> {
        self.restore
            .iter()
            .chain(self.module.restore.iter())
            .collect()
    }
    pub fn measure(&self) -> Option<String> {
        self.measure.clone().or_else(|| self.module.measure.clone())
    }
}
