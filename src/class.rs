//! Trainer assessments: one isolated, seeded session per trainee of a roster, SSH access to each
//! workstation, a time limit after which results are final and sessions frozen, parallel grading
//! and signed results. The class's sessions carry `opslab.class` labels; its files (access sheet,
//! SSH keys, signed results, reports) live in the class folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::backend::Engine;
use crate::grade::{Grade, Grader, Options};
use crate::lab::Lab;
use crate::progress::Progress;
use crate::project::Project;
use crate::session::{self, Runner, Session, SessionError, StartRequest};

pub const LABEL_CLASS: &str = "opslab.class";

#[derive(Debug, thiserror::Error)]
pub enum ClassError {
    #[error("{file}:{line}: {message}")]
    Roster {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("no class `{0}`\n  hint: `opslab class start LAB --roster FILE` creates one")]
    NoClass(String),
    #[error("a class `{0}` already exists; stop it first with `opslab class stop {0}`")]
    Exists(String),
    #[error("{0}")]
    Session(#[from] SessionError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}")]
    Signing(#[from] crate::signing::SigningError),
    #[error("{0}")]
    Access(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trainee {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// Reads a roster: CSV lines `id,name,email`; a header line naming `id` is skipped.
pub fn read_roster(path: &Path) -> Result<Vec<Trainee>, ClassError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClassError::Io(path.to_path_buf(), e))?;
    let mut out: Vec<Trainee> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = split_csv(t);
        if out.is_empty() && fields.first().is_some_and(|f| f.eq_ignore_ascii_case("id")) {
            continue;
        }
        let err = |message: String| ClassError::Roster {
            file: path.to_path_buf(),
            line: line_no,
            message,
        };
        if fields.len() != 3 {
            return Err(err(format!(
                "expected 3 fields (id,name,email), found {}",
                fields.len()
            )));
        }
        let id = fields[0].trim().to_string();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(err(format!(
                "trainee id `{id}`: use letters, digits, '-', '_' or '.'"
            )));
        }
        if !fields[2].contains('@') {
            return Err(err(format!("`{}` is not an email address", fields[2])));
        }
        if out.iter().any(|t| t.id == id) {
            return Err(err(format!("trainee `{id}` is listed twice")));
        }
        out.push(Trainee {
            id,
            name: fields[1].trim().to_string(),
            email: fields[2].trim().to_string(),
        });
    }
    if out.is_empty() {
        return Err(ClassError::Roster {
            file: path.to_path_buf(),
            line: 1,
            message: "the roster lists no trainee".into(),
        });
    }
    Ok(out)
}

fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(f) = fields.last_mut() {
                    f.push('"');
                }
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            _ => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

/// What a class is, kept in its folder (`class.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassInfo {
    pub id: String,
    pub lab: String,
    pub lab_dir: String,
    pub trainees: Vec<Trainee>,
    pub created: u64,
    pub deadline: Option<u64>,
    pub bind: String,
    pub seed: u64,
}

/// One trainee's access.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub trainee: Trainee,
    pub session: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key_file: PathBuf,
}

pub fn classes_dir() -> PathBuf {
    crate::project::data_dir().join("classes")
}

pub fn class_dir(id: &str) -> PathBuf {
    classes_dir().join(id)
}

pub fn load_info(id: &str) -> Result<ClassInfo, ClassError> {
    let path = class_dir(id).join("class.json");
    let text = std::fs::read_to_string(&path).map_err(|_| ClassError::NoClass(id.into()))?;
    serde_json::from_str(&text).map_err(|e| ClassError::Io(path, std::io::Error::other(e)))
}

fn save_info(info: &ClassInfo) -> Result<(), ClassError> {
    write(
        &class_dir(&info.id).join("class.json"),
        &serde_json::to_vec_pretty(info).unwrap_or_default(),
    )
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ClassError> {
    crate::report::write_atomic(path, bytes).map_err(|e| ClassError::Io(path.to_path_buf(), e))
}

pub struct Class<'a> {
    pub engine: &'a Engine,
    pub project: &'a Project,
    pub progress: &'a dyn Progress,
}

pub struct StartOptions {
    pub id: String,
    pub time: Option<Duration>,
    pub bind: String,
    pub seed: u64,
    pub parallel: usize,
}

impl Class<'_> {
    /// Starts one session per trainee; returns each trainee's access.
    pub async fn start(
        &self,
        lab: &Lab,
        roster: Vec<Trainee>,
        opts: &StartOptions,
    ) -> Result<Vec<Access>, ClassError> {
        let dir = class_dir(&opts.id);
        if dir.join("class.json").exists() {
            return Err(ClassError::Exists(opts.id.clone()));
        }
        std::fs::create_dir_all(dir.join("keys")).map_err(|e| ClassError::Io(dir.clone(), e))?;
        // The clock starts once every trainee can log in (below), not while images build.
        let mut info = ClassInfo {
            id: opts.id.clone(),
            lab: lab.id().into(),
            lab_dir: lab.canonical_dir(),
            trainees: roster.clone(),
            created: session::now(),
            deadline: None,
            bind: opts.bind.clone(),
            seed: opts.seed,
        };
        save_info(&info)?;
        // Images once, before the sessions start side by side.
        let runner = Runner {
            engine: self.engine,
            project: self.project,
            progress: self.progress,
        };
        runner.images_for(lab).await?;
        let labels = HashMap::from([(LABEL_CLASS.to_string(), opts.id.clone())]);
        self.progress.begin(
            &format!("starting class {} ({} trainees)", opts.id, roster.len()),
            Some(roster.len() as u64),
        );
        let quiet = crate::progress::Silent;
        let roster_len = roster.len();
        let starts = futures_util::stream::iter(roster.iter().cloned())
            .map(|t| {
                let labels = labels.clone();
                let quiet = &quiet;
                let bind = opts.bind.clone();
                async move {
                    let runner = Runner {
                        engine: self.engine,
                        project: self.project,
                        progress: quiet,
                    };
                    let s = runner
                        .start(StartRequest {
                            lab,
                            trainee: &t.id,
                            seed: opts.seed,
                            session_id: None,
                            extra_labels: labels,
                            ssh_bind: Some(bind),
                            // Many sessions' health commands at once would load the machine
                            // more than the sessions themselves.
                            health_interval: Duration::from_secs(if roster_len > 8 {
                                5
                            } else {
                                2
                            }),
                            patience: 4,
                        })
                        .await;
                    self.progress.advance();
                    (t, s)
                }
            })
            .buffer_unordered(opts.parallel.max(1))
            .collect::<Vec<_>>()
            .await;
        self.progress.finish("sessions started");
        let mut access = Vec::new();
        let mut failures = Vec::new();
        for (t, s) in starts {
            match s {
                Ok(s) => match self.give_access(lab, &s, &t, &info, &dir).await {
                    Ok(a) => access.push(a),
                    Err(e) => failures.push(format!("{}: {e}", t.id)),
                },
                Err(e) => failures.push(format!("{}: {e}", t.id)),
            }
        }
        if !failures.is_empty() {
            // A class starts whole or not at all.
            let _ = self.stop(&opts.id).await;
            return Err(ClassError::Access(format!(
                "the class did not start:\n  {}",
                failures.join("\n  ")
            )));
        }
        access.sort_by(|a, b| a.trainee.id.cmp(&b.trainee.id));
        info.deadline = opts.time.map(|t| session::now() + t.as_secs());
        save_info(&info)?;
        write(
            &dir.join("access.md"),
            access_sheet(&info, lab, &access).as_bytes(),
        )?;
        let csv: String = std::iter::once("id,name,email,host,port,user,key_file\n".to_string())
            .chain(access.iter().map(|a| {
                format!(
                    "{},{},{},{},{},{},{}\n",
                    a.trainee.id,
                    csv_field(&a.trainee.name),
                    a.trainee.email,
                    a.host,
                    a.port,
                    a.user,
                    a.key_file.display()
                )
            }))
            .collect();
        write(&dir.join("access.csv"), csv.as_bytes())?;
        Ok(access)
    }

    /// A key pair made in the trainee's workstation: the public half authorises SSH logins, the
    /// private half goes to the trainer's access sheet and is removed from the container.
    async fn give_access(
        &self,
        lab: &Lab,
        s: &Session,
        t: &Trainee,
        info: &ClassInfo,
        dir: &Path,
    ) -> Result<Access, ClassError> {
        let svc = lab
            .trainee_service()
            .ok_or_else(|| ClassError::Access("the lab has no trainee service".into()))?;
        let user = svc.user.clone().unwrap_or_else(|| "root".into());
        let cid = s.container(svc.name.get_ref())?.to_string();
        let script = format!(
            "set -e; command -v ssh-keygen >/dev/null || {{ echo 'the trainee image has no OpenSSH' >&2; exit 3; }}; \
             k=$(mktemp -u /tmp/opslab-key.XXXXXX); ssh-keygen -q -t ed25519 -N '' -C 'opslab {sid}' -f \"$k\"; \
             h=$(getent passwd {user} | cut -d: -f6); install -d -m 0700 -o {user} \"$h/.ssh\"; \
             cat \"$k.pub\" >> \"$h/.ssh/authorized_keys\"; chown {user} \"$h/.ssh/authorized_keys\"; chmod 0600 \"$h/.ssh/authorized_keys\"; \
             echo {sid} > /etc/opslab-session; cat \"$k\"; rm -f \"$k\" \"$k.pub\"",
            sid = s.id
        );
        let out = self
            .engine
            .exec(
                &cid,
                vec!["sh".into(), "-c".into(), script],
                None,
                Duration::from_secs(30),
                None,
            )
            .await
            .map_err(|e| ClassError::Access(e.to_string()))?;
        if out.exit_code != 0 || !out.stdout.contains("PRIVATE KEY") {
            return Err(ClassError::Access(format!(
                "cannot set up SSH access: {}",
                out.stderr.trim()
            )));
        }
        let key_file = dir.join("keys").join(&t.id);
        write_private(&key_file, out.stdout.as_bytes())?;
        let st = self
            .engine
            .inspect(&cid)
            .await
            .map_err(|e| ClassError::Access(e.to_string()))?;
        let port = *st.ports.get(&22).ok_or_else(|| {
            ClassError::Access("the workstation's SSH port is not published".into())
        })?;
        Ok(Access {
            trainee: t.clone(),
            session: s.id.clone(),
            host: if info.bind == "0.0.0.0" {
                session::hostname()
            } else {
                info.bind.clone()
            },
            port,
            user,
            key_file,
        })
    }

    pub async fn sessions(&self, id: &str) -> Result<Vec<Session>, ClassError> {
        Ok(Session::list(self.engine)
            .await?
            .into_iter()
            .filter(|s| s.extra_labels.get(LABEL_CLASS).map(String::as_str) == Some(id))
            .collect())
    }

    /// Grades every session of the class in parallel; after the deadline the results are final
    /// and the sessions are frozen, and later gradings keep the final result.
    pub async fn grade(&self, id: &str, lang: &str) -> Result<Vec<ClassResult>, ClassError> {
        let info = load_info(id)?;
        let lab = Lab::load(Path::new(&info.lab_dir), self.project)
            .map_err(|e| ClassError::Access(e.to_string()))?;
        let key = crate::signing::load(&crate::signing::keys_dir())?;
        let sessions = self.sessions(id).await?;
        let now = session::now();
        let past_deadline = info.deadline.is_some_and(|d| now >= d);
        let dir = class_dir(id);
        self.progress
            .begin(&format!("grading class {id}"), Some(sessions.len() as u64));
        let quiet = crate::progress::Silent;
        let results = futures_util::stream::iter(sessions.iter())
            .map(|s| {
                let lab = &lab;
                let quiet = &quiet;
                let info = &info;
                let dir = &dir;
                let key = &key;
                async move {
                    let path = dir.join("results").join(format!("{}.json", s.trainee));
                    if let Some(r) = read_result(&path).filter(|r| r.is_final) {
                        self.progress.advance();
                        return Ok(r);
                    }
                    let options = Options {
                        lang: lang.into(),
                        ..Options::default()
                    };
                    let mut g = Grader {
                        engine: self.engine,
                        lab,
                        session: s,
                        progress: quiet,
                        options,
                    }
                    .run()
                    .await;
                    let hints = crate::history::History::open()
                        .and_then(|h| h.total_hints(&s.id, s.started))
                        .unwrap_or(0);
                    apply_penalty(&mut g, hints, lab.def.lab.hint_cost);
                    let trainee = info
                        .trainees
                        .iter()
                        .find(|t| t.id == s.trainee)
                        .cloned()
                        .unwrap_or(Trainee {
                            id: s.trainee.clone(),
                            name: String::new(),
                            email: String::new(),
                        });
                    let r = ClassResult {
                        class: info.id.clone(),
                        trainee,
                        is_final: past_deadline,
                        graded_at: session::now(),
                        deadline: info.deadline,
                        grade: g,
                    };
                    let signed =
                        crate::signing::sign(key, serde_json::to_value(&r).unwrap_or_default());
                    crate::signing::write_signed(&path, &signed)
                        .map_err(|e| ClassError::Io(path.clone(), e))?;
                    if past_deadline {
                        // Frozen: nothing the trainee does from now on can count.
                        for cid in s.containers.values() {
                            let _ = self.engine.pause(cid).await;
                        }
                    }
                    self.progress.advance();
                    Ok::<ClassResult, ClassError>(r)
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        self.progress.finish("graded");
        let mut out = Vec::new();
        for r in results {
            out.push(r?);
        }
        out.sort_by(|a, b| a.trainee.id.cmp(&b.trainee.id));
        Ok(out)
    }

    /// Removes every session of the class; the class folder (results, reports) stays.
    pub async fn stop(&self, id: &str) -> Result<usize, ClassError> {
        let sessions = self.sessions(id).await?;
        let runner = Runner {
            engine: self.engine,
            project: self.project,
            progress: self.progress,
        };
        for s in &sessions {
            runner.stop(s).await?;
        }
        // Sessions that never completed their start carry the class label too.
        for c in self
            .engine
            .containers_with_label(&format!("{LABEL_CLASS}={id}"))
            .await
            .map_err(SessionError::from)?
        {
            if let Some(sid) = c.labels.get(crate::backend::LABEL_SESSION) {
                session::remove_session_objects(self.engine, sid).await?;
            }
        }
        let info_path = class_dir(id).join("class.json");
        if let Ok(info) = load_info(id) {
            let _ = std::fs::rename(
                &info_path,
                class_dir(id).join(format!("class.{}.stopped.json", info.created)),
            );
        }
        Ok(sessions.len())
    }
}

pub fn apply_penalty(g: &mut Grade, hints: u32, cost: u32) {
    g.hints_used = hints;
    g.hint_penalty = (hints * cost).min(g.score);
    g.score -= g.hint_penalty;
    g.percent = if g.total == 0 {
        0.0
    } else {
        f64::from(g.score) * 100.0 / f64::from(g.total)
    };
    g.passed = g.percent >= f64::from(g.pass_mark);
}

/// An assessment result as signed: the grading, who, and whether it is final.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassResult {
    pub class: String,
    pub trainee: Trainee,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub graded_at: u64,
    pub deadline: Option<u64>,
    pub grade: Grade,
}

pub fn read_result(path: &Path) -> Option<ClassResult> {
    let text = std::fs::read_to_string(path).ok()?;
    let signed: crate::signing::SignedResult = serde_json::from_str(&text).ok()?;
    serde_json::from_value(signed.result).ok()
}

pub fn read_results(id: &str) -> Vec<ClassResult> {
    let mut files = Vec::new();
    crate::images::walk_files(&class_dir(id).join("results"), &mut files);
    let mut out: Vec<ClassResult> = files.iter().filter_map(|f| read_result(f)).collect();
    out.sort_by(|a, b| a.trainee.id.cmp(&b.trainee.id));
    out
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ClassError> {
    use std::os::unix::fs::PermissionsExt;
    write(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| ClassError::Io(path.to_path_buf(), e))
}

fn csv_field(s: &str) -> String {
    if s.contains(',') || s.contains('"') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn access_sheet(info: &ClassInfo, lab: &Lab, access: &[Access]) -> String {
    let mut s = format!(
        "# Access sheet: class {}, lab {} ({})\n\n",
        info.id,
        lab.id(),
        lab.title("en")
    );
    if let Some(d) = info.deadline {
        s.push_str(&format!(
            "Time limit: until {} UTC; work after it does not count.\n\n",
            crate::report::junit::timestamp(d)
        ));
    }
    s.push_str("Hand each trainee their line and their key file (keep the keys private).\n\n");
    s.push_str("| trainee | name | connect with |\n|---|---|---|\n");
    for a in access {
        s.push_str(&format!(
            "| {} | {} | `ssh -i {} -p {} {}@{}` |\n",
            a.trainee.id,
            a.trainee.name,
            a.key_file.display(),
            a.port,
            a.user,
            a.host
        ));
    }
    s
}
