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
use crate::grade::{Grader, Options};
use crate::lab::Lab;
use crate::progress::Progress;
use crate::project::Project;
pub use crate::record::{ClassResult, Trainee};
use crate::session::{self, Runner, Session, SessionError, StartRequest};

pub use crate::labels::LABEL_CLASS;

#[derive(Debug, thiserror::Error)]
pub enum ClassError {
    #[error("{file}:{line}: {message}")]
    Roster {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("no class `{0}`")]
    NoClass(String),
    #[error("the class name `{0}` is taken: its folder holds an earlier class (sessions, results or reports), which is never reused")]
    Exists(String),
    #[error("history database: {0}")]
    History(String),
    #[error("{0}")]
    Session(#[from] SessionError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}")]
    Signing(#[from] crate::signing::SigningError),
    #[error("{0}")]
    Access(String),
}

/// Reads a roster: CSV records `id,name,email` (quoted fields may hold commas, quotes and line
/// breaks); a header record naming `id` is skipped.
pub fn read_roster(path: &Path) -> Result<Vec<Trainee>, ClassError> {
    let rows = crate::csvfile::read_rows(path).map_err(|e| match e {
        crate::csvfile::CsvError::Io(p, e) => ClassError::Io(p, e),
        crate::csvfile::CsvError::Syntax { line, message } => ClassError::Roster {
            file: path.to_path_buf(),
            line,
            message,
        },
    })?;
    let mut out: Vec<Trainee> = Vec::new();
    for row in rows {
        let fields = &row.fields;
        if out.is_empty() && fields.first().is_some_and(|f| f.eq_ignore_ascii_case("id")) {
            continue;
        }
        let err = |message: String| ClassError::Roster {
            file: path.to_path_buf(),
            line: row.line,
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

/// What a class is, kept in its folder (`class.json`, readable by the trainer only: it holds
/// the secret seed the trainees' parameters are drawn from).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassInfo {
    pub id: String,
    /// This start of the class: results, reports and hints belong to one instance.
    pub instance: String,
    pub lab: String,
    pub lab_dir: String,
    /// The lab definition's hash when the class started.
    pub definition_hash: String,
    pub trainees: Vec<Trainee>,
    pub created: u64,
    pub deadline: Option<u64>,
    /// When trainee access ended (the freeze before the final grading).
    pub access_ended: Option<u64>,
    pub bind: String,
    pub seed: u64,
    /// The sessions have a route out (the lab or the trainer asked for it).
    pub internet: bool,
}

/// One trainee's access.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    write_private(
        &class_dir(&info.id).join("class.json"),
        &serde_json::to_vec_pretty(info).unwrap_or_default(),
    )
}

/// Whether a class folder holds anything (an earlier class's files).
fn holds_anything(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// A random 128-bit id, in hex.
fn random_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The key an assessment's parameters are drawn under: never a practice session's (a trainee
/// name given on the command line cannot hold a NUL).
fn assessment_key(trainee: &str) -> String {
    format!("assessment\u{0}{trainee}")
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
    /// Drawn from the operating system's random source when absent (`--seed` is for tests).
    pub seed: Option<u64>,
    pub parallel: usize,
    /// The trainer asks for a route out of the sessions.
    pub internet: bool,
}

impl Class<'_> {
    /// Starts one session per trainee; returns each trainee's access. A class starts whole or
    /// not at all: on any failure its sessions and its folder are removed.
    pub async fn start(
        &self,
        lab: &Lab,
        roster: Vec<Trainee>,
        opts: &StartOptions,
    ) -> Result<Vec<Access>, ClassError> {
        let dir = class_dir(&opts.id);
        if holds_anything(&dir) || !self.sessions(&opts.id).await?.is_empty() {
            return Err(ClassError::Exists(opts.id.clone()));
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir.join("keys"))
                .map_err(|e| ClassError::Io(dir.clone(), e))?;
        }
        let started = self.start_in(lab, roster, opts, &dir).await;
        if started.is_err() {
            let _ = self.stop(&opts.id, true).await;
        }
        started
    }

    async fn start_in(
        &self,
        lab: &Lab,
        roster: Vec<Trainee>,
        opts: &StartOptions,
        dir: &Path,
    ) -> Result<Vec<Access>, ClassError> {
        // The clock starts once every trainee can log in (below), not while images build.
        let mut info = ClassInfo {
            id: opts.id.clone(),
            instance: random_id(),
            lab: lab.id().into(),
            lab_dir: lab.canonical_dir(),
            definition_hash: lab.definition_hash.clone(),
            trainees: roster,
            created: session::now(),
            deadline: None,
            access_ended: None,
            bind: opts.bind.clone(),
            seed: opts.seed.unwrap_or_else(|| {
                use rand::RngCore;
                rand::rngs::OsRng.next_u64()
            }),
            internet: opts.internet || lab.def.lab.internet,
        };
        save_info(&info)?;
        // Images once, before the sessions start side by side.
        Runner {
            engine: self.engine,
            project: self.project,
            progress: self.progress,
        }
        .images_for(lab)
        .await?;
        let starts = self.start_sessions(lab, &info, opts.parallel).await?;
        let mut access = Vec::new();
        let mut failures = Vec::new();
        for (t, s) in starts {
            match s {
                Ok(s) => match self.give_access(lab, &s, &t, &info, dir).await {
                    Ok(a) => access.push(a),
                    Err(e) => failures.push(format!("{}: {e}", t.id)),
                },
                Err(e) => failures.push(format!("{}: {e}", t.id)),
            }
        }
        if !failures.is_empty() {
            return Err(ClassError::Access(format!(
                "the class did not start:\n  {}",
                failures.join("\n  ")
            )));
        }
        access.sort_by(|a, b| a.trainee.id.cmp(&b.trainee.id));
        info.deadline = opts.time.map(|t| session::now() + t.as_secs());
        save_info(&info)?;
        write_access(&info, lab, &access)?;
        Ok(access)
    }

    /// One session per trainee of the class, `parallel` at a time, with the values drawn from
    /// the class's secret seed and the class's labels.
    async fn start_sessions(
        &self,
        lab: &Lab,
        info: &ClassInfo,
        parallel: usize,
    ) -> Result<Vec<(Trainee, Result<Session, SessionError>)>, ClassError> {
        let mut drawn = HashMap::new();
        for t in &info.trainees {
            let p = lab
                .draw_params(&assessment_key(&t.id), info.seed)
                .map_err(|e| ClassError::Access(e.to_string()))?;
            drawn.insert(t.id.clone(), p);
        }
        let labels = HashMap::from([
            (LABEL_CLASS.to_string(), info.id.clone()),
            (session::LABEL_INSTANCE.to_string(), info.instance.clone()),
            (session::LABEL_EPOCH.to_string(), info.created.to_string()),
            (
                session::LABEL_ISOLATED.to_string(),
                if info.internet { "0" } else { "1" }.to_string(),
            ),
        ]);
        let count = info.trainees.len();
        self.progress.begin(
            &format!("starting class {} ({count} trainees)", info.id),
            Some(count as u64),
        );
        let quiet = crate::progress::Silent;
        let starts = futures_util::stream::iter(info.trainees.iter().cloned())
            .map(|t| {
                let labels = labels.clone();
                let quiet = &quiet;
                let params = drawn.get(&t.id).cloned();
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
                            // The secret seed is in the class folder only.
                            seed: 0,
                            params,
                            isolated: !info.internet,
                            session_id: None,
                            extra_labels: labels,
                            ssh_bind: Some(info.bind.clone()),
                            // Many sessions' health commands at once would load the machine
                            // more than the sessions themselves.
                            health_interval: crate::session::HEALTH_INTERVAL
                                * if count > 8 { 3 } else { 1 },
                            patience: 4,
                        })
                        .await;
                    self.progress.advance();
                    (t, s)
                }
            })
            .buffer_unordered(parallel.max(1))
            .collect::<Vec<_>>()
            .await;
        self.progress.finish("sessions started");
        Ok(starts)
    }

    /// Gives a reset session of the class its access again (a new key and port), and updates
    /// the access sheet. Refused once the assessment's access has ended.
    pub async fn refresh_access(&self, s: &Session) -> Result<Access, ClassError> {
        let id = s
            .extra_labels
            .get(LABEL_CLASS)
            .cloned()
            .ok_or_else(|| ClassError::Access(format!("{} is not a class session", s.id)))?;
        let info = load_info(&id)?;
        let lab = Lab::load(Path::new(&info.lab_dir), self.project)
            .map_err(|e| ClassError::Access(e.to_string()))?;
        let t = info
            .trainees
            .iter()
            .find(|t| t.id == s.trainee)
            .cloned()
            .ok_or_else(|| ClassError::Access(format!("{} is not on the roster", s.trainee)))?;
        let dir = class_dir(&id);
        let a = self.give_access(&lab, s, &t, &info, &dir).await?;
        let mut all = read_access(&id);
        all.retain(|x| x.trainee.id != t.id);
        all.push(a.clone());
        all.sort_by(|a, b| a.trainee.id.cmp(&b.trainee.id));
        write_access(&info, &lab, &all)?;
        Ok(a)
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
        let out = self.root_sh(&cid, script, 30).await?;
        if out.exit_code != 0 || !out.stdout.contains("PRIVATE KEY") {
            return Err(ClassError::Access(format!(
                "cannot set up SSH access: {}",
                out.stderr.trim()
            )));
        }
        let key_file = dir.join("keys").join(&t.id);
        write_private(&key_file, out.stdout.as_bytes())?;
        // On a swarm: the node's address for trainees and the port published there.
        let (host, port) = match s.node_access(self.engine, svc.name.get_ref(), 22).await {
            Some((address, port, guessed)) => {
                if guessed {
                    eprintln!(
                        "warning: {}: the node that runs it has no `{}` label; the access \
                         sheet gives its swarm address {address}, which trainees may not reach \
                         (on a manager: docker node update --label-add {}=ADDRESS NODE)",
                        s.id,
                        crate::labels::LABEL_NODE_ADDRESS,
                        crate::labels::LABEL_NODE_ADDRESS
                    );
                }
                (address, port)
            }
            None => {
                let port = s
                    .published_ports(self.engine)
                    .await
                    .get(svc.name.get_ref())
                    .and_then(|m| m.get(&22).copied())
                    .ok_or_else(|| {
                        ClassError::Access("the workstation's SSH port is not published".into())
                    })?;
                let host = if info.bind == "0.0.0.0" {
                    session::hostname()
                } else {
                    info.bind.clone()
                };
                (host, port)
            }
        };
        Ok(Access {
            trainee: t.clone(),
            session: s.id.clone(),
            host,
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

    /// Grades every session of the class in parallel. Before the deadline the results are
    /// provisional; from the deadline on, grading is the final grading (see `finalize`).
    pub async fn grade(&self, id: &str, lang: &str) -> Result<Vec<ClassResult>, ClassError> {
        let info = load_info(id)?;
        if info.deadline.is_some_and(|d| session::now() >= d) {
            return self.finalize(id, lang).await;
        }
        let sessions = self.sessions(id).await?;
        self.grade_sessions(&info, &sessions, lang, false).await
    }

    /// Ends the assessment now: the deadline becomes now (when it was later, or unset), then
    /// the final grading.
    pub async fn end_now(&self, id: &str, lang: &str) -> Result<Vec<ClassResult>, ClassError> {
        self.finish(id, lang, true).await
    }

    /// The end of an assessment: trainee access ends for every trainee at once, then every
    /// session is graded a last time (final results, never overwritten), then frozen. Run by the
    /// deadline watcher and by any `class grade` after the deadline; the second to come finds
    /// the work done.
    pub async fn finalize(&self, id: &str, lang: &str) -> Result<Vec<ClassResult>, ClassError> {
        self.finish(id, lang, false).await
    }

    async fn finish(
        &self,
        id: &str,
        lang: &str,
        end_now: bool,
    ) -> Result<Vec<ClassResult>, ClassError> {
        let first = load_info(id)?;
        let _held = crate::lock::take("class", &first.instance, || {
            self.progress.note(&format!(
                "class {id}: waiting for the final grading under way"
            ))
        })
        .await
        .map_err(|e| ClassError::Io(class_dir(id), e))?;
        let mut info = load_info(id)?;
        if info.instance != first.instance {
            return Err(ClassError::NoClass(id.into()));
        }
        let now = session::now();
        if end_now && info.deadline.is_none_or(|d| d > now) {
            info.deadline = Some(now);
            save_info(&info)?;
        }
        let lab = Lab::load(Path::new(&info.lab_dir), self.project)
            .map_err(|e| ClassError::Access(e.to_string()))?;
        let sessions = self.sessions(id).await?;
        if info.access_ended.is_none() {
            self.progress.step("ending trainee access");
            let ended =
                futures_util::future::join_all(sessions.iter().map(|s| self.end_access(&lab, s)))
                    .await;
            for (s, r) in sessions.iter().zip(ended) {
                if let Err(e) = r {
                    self.progress
                        .note(&format!("{}: ending access: {e}", s.trainee));
                }
            }
            info.access_ended = Some(session::now());
            save_info(&info)?;
        }
        let results = self.grade_sessions(&info, &sessions, lang, true).await?;
        // Frozen: nothing the trainee left running can change anything from now on.
        let frozen = sessions
            .iter()
            .flat_map(|s| s.containers.values().map(move |c| (s, c)))
            .map(|(s, cid)| async move { (s, self.freeze(cid).await) });
        for (s, r) in futures_util::future::join_all(frozen).await {
            if let Err(e) = r {
                self.progress.note(&format!("{}: freezing: {e}", s.trainee));
            }
        }
        Ok(results)
    }

    /// Pauses a container, retrying while the engine cannot (a container restarting); one that
    /// still cannot be paused is stopped, so that nothing runs in it either way.
    async fn freeze(&self, cid: &str) -> Result<(), ClassError> {
        for _ in 0..10 {
            match self.engine.inspect(cid).await {
                Ok(st) if st.paused || !st.running && st.status != "restarting" => return Ok(()),
                _ => {}
            }
            if self.engine.pause(cid).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.engine
            .stop(cid, 5)
            .await
            .map_err(|e| ClassError::Session(e.into()))
    }

    /// Ends a trainee's access: the gate's SSH forward closes (open connections drop, new
    /// logins are refused; nothing in the trainee's containers can reopen it), the trainee's
    /// login key is withdrawn, and the trainee's interactive processes end. What the trainee
    /// automated (services, hooks, CI, exporters) keeps running for the grader.
    async fn end_access(&self, lab: &Lab, s: &Session) -> Result<(), ClassError> {
        let svc = lab
            .trainee_service()
            .ok_or_else(|| ClassError::Access("the lab has no trainee service".into()))?;
        let name = svc.name.get_ref();
        let user = svc.user.clone().unwrap_or_else(|| "root".into());
        let gate = s.container(session::GATE)?.to_string();
        let st = self
            .engine
            .inspect(&gate)
            .await
            .map_err(|e| ClassError::Access(e.to_string()))?;
        let forwards = st
            .labels
            .get(session::LABEL_FORWARDS)
            .cloned()
            .unwrap_or_default();
        let ports: Vec<String> = session::parse_forwards(&forwards)
            .into_iter()
            .filter(|(_, svc, p)| svc == name && *p == 22)
            .map(|(gp, _, _)| gp.to_string())
            .collect();
        for gp in ports {
            let script = format!(
                "pkill -KILL -f '^socat TCP-LISTEN:{gp},'; sleep 0.2; ! pgrep -f '^socat TCP-LISTEN:{gp},' >/dev/null"
            );
            let out = self.root_sh(&gate, script, 20).await?;
            if out.exit_code != 0 {
                return Err(ClassError::Access(format!(
                    "the gate's SSH forward {gp} does not close: {}",
                    out.stderr.trim()
                )));
            }
        }
        let cid = s.container(name)?.to_string();
        // Sessions' sshd children ("sshd: USER [priv]", "sshd: USER@pts/0"), never the listener
        // ("sshd: /usr/sbin/sshd ..." or "/usr/sbin/sshd"); the trainee's own processes; anything
        // on a terminal.
        let kill_user = if user == "root" {
            String::new()
        } else {
            format!("pkill -KILL -u {user} 2>/dev/null; ")
        };
        let script = format!(
            "h=$(getent passwd {user} | cut -d: -f6); [ -f \"$h/.ssh/authorized_keys\" ] && sed -i '/ opslab {sid}$/d' \"$h/.ssh/authorized_keys\"; \
             all=$(pgrep -f '^sshd: [^/]'); front=\"$all\"; \
             while [ -n \"$front\" ]; do next=''; for p in $front; do next=\"$next $(pgrep -P $p)\"; done; front=$(echo $next); all=\"$all $front\"; done; \
             all=\"$all $(ps -eo pid=,tty= | awk '$2 != \"?\" {{print $1}}')\"; \
             [ -n \"$(echo $all)\" ] && kill -KILL $all 2>/dev/null; {kill_user}true",
            sid = s.id
        );
        self.root_sh(&cid, script, 20).await?;
        Ok(())
    }

    /// A shell script run as root in one of the class's containers, bounded in time.
    async fn root_sh(
        &self,
        cid: &str,
        script: String,
        secs: u64,
    ) -> Result<crate::backend::ExecOutput, ClassError> {
        self.engine
            .exec(
                cid,
                vec!["sh".into(), "-c".into(), script],
                None,
                Duration::from_secs(secs),
                None,
            )
            .await
            .map_err(|e| ClassError::Access(e.to_string()))
    }

    /// Grades sessions in parallel, each under its grading lock; a final result of this class
    /// instance is returned as it is, never graded again.
    async fn grade_sessions(
        &self,
        info: &ClassInfo,
        sessions: &[Session],
        lang: &str,
        is_final: bool,
    ) -> Result<Vec<ClassResult>, ClassError> {
        let lab = Lab::load(Path::new(&info.lab_dir), self.project)
            .map_err(|e| ClassError::Access(e.to_string()))?;
        let key = crate::signing::load(&crate::signing::keys_dir())?;
        let dir = class_dir(&info.id);
        self.progress.begin(
            &format!("grading class {}", info.id),
            Some(sessions.len() as u64),
        );
        let quiet = crate::progress::Silent;
        let results = futures_util::stream::iter(sessions.iter())
            .map(|s| {
                let lab = &lab;
                let quiet = &quiet;
                let dir = &dir;
                let key = &key;
                async move {
                    let r = self
                        .grade_one(info, lab, s, key, dir, lang, is_final, quiet)
                        .await;
                    self.progress.advance();
                    r
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

    #[allow(clippy::too_many_arguments)]
    async fn grade_one(
        &self,
        info: &ClassInfo,
        lab: &Lab,
        s: &Session,
        key: &ed25519_dalek::SigningKey,
        dir: &Path,
        lang: &str,
        is_final: bool,
        quiet: &dyn Progress,
    ) -> Result<ClassResult, ClassError> {
        let _held = crate::lock::session(&s.id, || {})
            .await
            .map_err(|e| ClassError::Io(dir.to_path_buf(), e))?;
        let path = dir.join("results").join(format!("{}.json", s.trainee));
        if let Some(r) = read_result(&path).filter(|r| r.is_final && r.instance == info.instance) {
            return Ok(r);
        }
        if is_final {
            // Paused by hand, or by a final grading that died half-way: the grader needs the
            // services running.
            for cid in s.containers.values() {
                if self.engine.inspect(cid).await.is_ok_and(|st| st.paused) {
                    let _ = self.engine.unpause(cid).await;
                }
            }
        }
        let grading_started = session::now();
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
            .and_then(|h| h.total_hints(&s.id, s.hint_scope()))
            .map_err(|e| ClassError::History(e.to_string()))?;
        crate::hints::penalise(&mut g, hints, lab.def.lab.hint_cost);
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
            instance: info.instance.clone(),
            trainee,
            lab: lab.id().to_string(),
            definition_hash: lab.definition_hash.clone(),
            is_final,
            deadline: info.deadline,
            access_ended: info.access_ended,
            grading_started,
            graded_at: session::now(),
            grade: g,
        };
        let signed = crate::signing::sign(key, serde_json::to_value(&r).unwrap_or_default());
        crate::signing::write_signed(&path, &signed)
            .map_err(|e| ClassError::Io(path.clone(), e))?;
        Ok(r)
    }

    /// Removes every session of the class; the class folder (results, reports) stays, and its
    /// name stays taken until the class is archived or purged.
    pub async fn stop(&self, id: &str, purge: bool) -> Result<usize, ClassError> {
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
        if purge {
            let dir = class_dir(id);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| ClassError::Io(dir, e))?;
            }
        }
        Ok(sessions.len())
    }

    /// Stops the class's sessions and moves its folder aside (`<data>/archive/NAME-INSTANCE`),
    /// which frees the name. Returns where it went.
    pub async fn archive(&self, id: &str) -> Result<PathBuf, ClassError> {
        let info = load_info(id)?;
        self.stop(id, false).await?;
        let to = crate::project::data_dir()
            .join("archive")
            .join(format!("{id}-{}", info.instance));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ClassError::Io(parent.into(), e))?;
        }
        std::fs::rename(class_dir(id), &to).map_err(|e| ClassError::Io(to.clone(), e))?;
        Ok(to)
    }
}

pub fn read_result(path: &Path) -> Option<ClassResult> {
    let text = std::fs::read_to_string(path).ok()?;
    let signed: crate::signing::SignedResult = serde_json::from_str(&text).ok()?;
    serde_json::from_value(signed.result).ok()
}

/// The results of the class's current instance.
pub fn read_results(id: &str) -> Vec<ClassResult> {
    let instance = load_info(id).map(|i| i.instance).unwrap_or_default();
    let mut files = Vec::new();
    files.extend(crate::confine::walk_lenient(&class_dir(id).join("results")));
    let mut out: Vec<ClassResult> = files
        .iter()
        .filter_map(|f| read_result(f))
        .filter(|r| r.instance == instance)
        .collect();
    out.sort_by(|a, b| a.trainee.id.cmp(&b.trainee.id));
    out
}

/// `verify --class`: every trainee of the roster has exactly one intact, final result of this
/// class instance, under their own name, on the class's lab; nothing is missing or extra.
/// Returns (file or trainee, problem) pairs; empty when the set holds.
pub fn verify_class(id: &str, trusted: &str) -> Result<Vec<(String, String)>, ClassError> {
    let info = load_info(id)?;
    let dir = class_dir(id).join("results");
    let mut problems = Vec::new();
    let mut expected: Vec<String> = Vec::new();
    for t in &info.trainees {
        let file = format!("{}.json", t.id);
        expected.push(file.clone());
        let path = dir.join(&file);
        if !path.exists() {
            problems.push((file, format!("missing: no result for trainee {}", t.id)));
            continue;
        }
        let value = match crate::signing::verify_file(&path, trusted) {
            Ok(v) => v,
            Err(e) => {
                problems.push((file, e));
                continue;
            }
        };
        let r: ClassResult = match serde_json::from_value(value) {
            Ok(r) => r,
            Err(e) => {
                problems.push((file, format!("not a class result: {e}")));
                continue;
            }
        };
        let mut wrong = Vec::new();
        if r.class != info.id || r.instance != info.instance {
            wrong.push(format!(
                "from class {} instance {}, not this class's instance {}",
                r.class, r.instance, info.instance
            ));
        }
        if r.trainee.id != t.id {
            wrong.push(format!("holds trainee {}'s result", r.trainee.id));
        }
        if r.lab != info.lab || r.definition_hash != info.definition_hash {
            wrong.push(format!(
                "graded on lab {} ({}), not the class's {} ({})",
                r.lab, r.definition_hash, info.lab, info.definition_hash
            ));
        }
        if !r.is_final {
            wrong.push("provisional, not final".into());
        }
        if !wrong.is_empty() {
            problems.push((file, wrong.join("; ")));
        }
    }
    let mut present = Vec::new();
    present.extend(crate::confine::walk_lenient(&dir));
    for p in present {
        let rel = p
            .strip_prefix(&dir)
            .map(|r| r.display().to_string())
            .unwrap_or_default();
        if !expected.contains(&rel) {
            problems.push((rel, "extra: no trainee of the roster has this name".into()));
        }
    }
    Ok(problems)
}

/// The class's access, as `class start` (and later resets) gave it.
pub fn read_access(id: &str) -> Vec<Access> {
    std::fs::read(class_dir(id).join("access.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The access sheet in three forms: access.json (opslab's), access.md (to print), access.csv.
fn write_access(info: &ClassInfo, lab: &Lab, access: &[Access]) -> Result<(), ClassError> {
    let dir = class_dir(&info.id);
    write_private(
        &dir.join("access.json"),
        &serde_json::to_vec_pretty(access).unwrap_or_default(),
    )?;
    write(
        &dir.join("access.md"),
        access_sheet(info, lab, access).as_bytes(),
    )?;
    let csv = crate::csvfile::write_rows(
        &["id", "name", "email", "host", "port", "user", "key_file"],
        access.iter().map(|a| {
            [
                a.trainee.id.clone(),
                a.trainee.name.clone(),
                a.trainee.email.clone(),
                a.host.clone(),
                a.port.to_string(),
                a.user.clone(),
                a.key_file.display().to_string(),
            ]
        }),
    );
    write(&dir.join("access.csv"), &csv)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ClassError> {
    use std::os::unix::fs::PermissionsExt;
    write(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| ClassError::Io(path.to_path_buf(), e))
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
            crate::csvfile::markdown_cell(&a.trainee.name),
            a.key_file.display(),
            a.port,
            a.user,
            a.host
        ));
    }
    s
}
