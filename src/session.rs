//! The life of a running lab: start, status, shell, reset, stop, gc. The engine's labels are the
//! source of truth for what exists; nothing here keeps a list of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::backend::{
    ContainerSpec, ContainerState, Engine, EngineError, LABEL_LAB, LABEL_MANAGED, LABEL_OWNER_PID,
    LABEL_SERVICE, LABEL_SESSION, LABEL_TRAINEE,
};
use crate::images::{Builder, ImageError};
use crate::lab::model::FileDef;
use crate::lab::{render, Lab, Params};
use crate::progress::Progress;
use crate::project::Project;

pub const LABEL_ROLE: &str = "opslab.role";
pub const LABEL_PARAMS: &str = "opslab.params";
pub const LABEL_SEED: &str = "opslab.seed";
pub const LABEL_LAB_DIR: &str = "opslab.lab-dir";
pub const LABEL_STARTED: &str = "opslab.started";
pub const GRADER: &str = "grader";
pub const LABEL_SSH_BIND: &str = "opslab.ssh-bind";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("a session `{0}` is already running")]
    AlreadyRunning(String),
    #[error("no running session{0}")]
    NoSession(String),
    #[error("several sessions are running ({0}); say which with --session")]
    Ambiguous(String),
    #[error("service `{service}` did not become healthy within {secs}s (state: {state})\n{logs}")]
    Unhealthy {
        service: String,
        secs: u64,
        state: String,
        logs: String,
    },
    #[error("setup step of `{service}` failed (exit {code}): {cmd}\n{output}")]
    Setup {
        service: String,
        code: i64,
        cmd: String,
        output: String,
    },
    #[error("interrupted")]
    Interrupted,
    #[error("{0}")]
    Template(String),
    #[error("no service `{0}` in this session")]
    NoService(String),
    #[error(transparent)]
    Images(#[from] ImageError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A running session, as read back from the engine.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub lab: String,
    pub lab_dir: String,
    pub trainee: String,
    pub seed: u64,
    pub params: Params,
    pub started: u64,
    /// service name -> container id
    pub containers: BTreeMap<String, String>,
    /// The class this session belongs to, and its other class labels (`opslab.class*`).
    pub extra_labels: HashMap<String, String>,
    pub ssh_bind: Option<String>,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn session_id(lab: &str, trainee: &str) -> String {
    let clean: String = trainee
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{lab}-{}", clean.trim_matches('-'))
}

pub fn container_name(session: &str, service: &str) -> String {
    format!("opslab-{session}-{service}")
}

fn network_name(session: &str, net: &str) -> String {
    format!("opslab-{session}-{net}")
}

impl Session {
    /// All sessions that have containers in the engine.
    pub async fn list(engine: &Engine) -> Result<Vec<Session>, SessionError> {
        let mut by_id: BTreeMap<String, Session> = BTreeMap::new();
        let mut complete: Vec<String> = Vec::new();
        for c in engine.containers_with_label(LABEL_SESSION).await? {
            let l = &c.labels;
            let Some(id) = l.get(LABEL_SESSION) else {
                continue;
            };
            let s = by_id.entry(id.clone()).or_insert_with(|| Session {
                id: id.clone(),
                lab: l.get(LABEL_LAB).cloned().unwrap_or_default(),
                lab_dir: l.get(LABEL_LAB_DIR).cloned().unwrap_or_default(),
                trainee: l.get(LABEL_TRAINEE).cloned().unwrap_or_default(),
                seed: l.get(LABEL_SEED).and_then(|s| s.parse().ok()).unwrap_or(0),
                params: l
                    .get(LABEL_PARAMS)
                    .and_then(|p| serde_json::from_str(p).ok())
                    .unwrap_or_default(),
                started: l
                    .get(LABEL_STARTED)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                containers: BTreeMap::new(),
                extra_labels: l
                    .iter()
                    .filter(|(k, _)| k.starts_with("opslab.class"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                ssh_bind: l.get(LABEL_SSH_BIND).cloned(),
            });
            if let Some(svc) = l.get(LABEL_SERVICE) {
                s.containers.insert(svc.clone(), c.id.clone());
                if svc == GRADER && c.name == container_name(id, GRADER) {
                    complete.push(id.clone());
                }
            }
        }
        // A session is complete once its grader container has its final name: it takes it last.
        Ok(by_id
            .into_values()
            .filter(|s| complete.contains(&s.id))
            .collect())
    }

    /// The session named by `id`, or the only one running.
    pub async fn find(engine: &Engine, id: Option<&str>) -> Result<Session, SessionError> {
        let all = Session::list(engine).await?;
        match id {
            Some(id) => all
                .into_iter()
                .find(|s| s.id == id)
                .ok_or_else(|| SessionError::NoSession(format!(" named `{id}`"))),
            None => {
                // Without a name, only the user's own practice sessions are candidates: never
                // a class's sessions, nor a selftest's.
                let all: Vec<Session> = all
                    .into_iter()
                    .filter(|s| {
                        !s.extra_labels.contains_key("opslab.class")
                            && !s.trainee.starts_with("selftest-")
                    })
                    .collect();
                match all.len() {
                    0 => Err(SessionError::NoSession(String::new())),
                    1 => Ok(all.into_iter().next().expect("one element")),
                    _ => Err(SessionError::Ambiguous(
                        all.iter()
                            .map(|s| s.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )),
                }
            }
        }
    }

    pub fn container(&self, service: &str) -> Result<&str, SessionError> {
        self.containers
            .get(service)
            .map(String::as_str)
            .ok_or_else(|| SessionError::NoService(service.into()))
    }

    /// The tera context of this session: params, lab, session.
    pub fn context(&self) -> tera::Context {
        let mut ctx = self.params.to_context();
        ctx.insert("lab", &serde_json::json!({ "id": self.lab }));
        ctx.insert(
            "session",
            &serde_json::json!({ "id": self.id, "trainee": self.trainee }),
        );
        ctx
    }

    pub async fn states(
        &self,
        engine: &Engine,
    ) -> Result<Vec<(String, ContainerState)>, SessionError> {
        let mut out = Vec::new();
        for (svc, id) in &self.containers {
            out.push((svc.clone(), engine.inspect(id).await?));
        }
        Ok(out)
    }
}

/// What `start` needs.
pub struct StartRequest<'a> {
    pub lab: &'a Lab,
    pub trainee: &'a str,
    pub seed: u64,
    pub session_id: Option<String>,
    /// Labels added to everything of the session (a class, its deadline).
    pub extra_labels: HashMap<String, String>,
    /// Publish the trainee service's SSH port on this address (trainer assessments).
    pub ssh_bind: Option<String>,
    /// How often health commands run; a class of many sessions spaces them out.
    pub health_interval: Duration,
    /// Multiplies the lab's health deadlines (a class starts many sessions at once).
    pub patience: u32,
}

impl<'a> StartRequest<'a> {
    /// A trainee's own session (not a class's): loopback only, default health pacing.
    pub fn practice(lab: &'a Lab, trainee: &'a str, seed: u64) -> StartRequest<'a> {
        StartRequest {
            lab,
            trainee,
            seed,
            session_id: None,
            extra_labels: HashMap::new(),
            ssh_bind: None,
            health_interval: Duration::from_secs(1),
            patience: 1,
        }
    }
}

pub struct Runner<'a> {
    pub engine: &'a Engine,
    pub project: &'a Project,
    pub progress: &'a dyn Progress,
}

fn tar_files(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(now());
        h.set_cksum();
        let _ = b.append_data(&mut h, path.trim_start_matches('/'), data.as_slice());
    }
    b.into_inner().unwrap_or_default()
}

/// Files to write into a container (path, bytes, mode), and (path, owner) pairs to chown.
pub type RenderedFiles = (Vec<(String, Vec<u8>, u32)>, Vec<(String, String)>);

/// Renders and collects the files of a service: (path in container, bytes, mode), and the
/// (path, owner) pairs to chown once the container runs.
pub fn collect_files(
    lab: &Lab,
    defs: &[toml::Spanned<FileDef>],
    ctx: &tera::Context,
) -> Result<RenderedFiles, SessionError> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut owners = Vec::new();
    for f in defs {
        let f = f.get_ref();
        let forced_mode = f
            .mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok());
        if let Some(t) = &f.template {
            let path = lab.dir.join(t);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| SessionError::Template(format!("{}: {e}", path.display())))?;
            let body = render::render(&text, ctx)
                .map_err(|e| SessionError::Template(format!("{}: {e}", path.display())))?;
            let mode = forced_mode.unwrap_or_else(|| {
                std::fs::metadata(&path)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o644)
            });
            out.push((f.to.clone(), body.into_bytes(), mode));
        } else if let Some(s) = &f.source {
            let src = lab.dir.join(s);
            if src.is_dir() {
                let mut files = Vec::new();
                crate::images::walk_files(&src, &mut files);
                for file in files {
                    let rel = file.strip_prefix(&src).unwrap_or(&file);
                    let data = std::fs::read(&file)
                        .map_err(|e| SessionError::Template(format!("{}: {e}", file.display())))?;
                    let mode = forced_mode.unwrap_or_else(|| {
                        std::fs::metadata(&file)
                            .map(|m| m.permissions().mode() & 0o7777)
                            .unwrap_or(0o644)
                    });
                    out.push((
                        format!("{}/{}", f.to.trim_end_matches('/'), rel.display()),
                        data,
                        mode,
                    ));
                }
            } else {
                let data = std::fs::read(&src)
                    .map_err(|e| SessionError::Template(format!("{}: {e}", src.display())))?;
                let mode = forced_mode.unwrap_or_else(|| {
                    std::fs::metadata(&src)
                        .map(|m| m.permissions().mode() & 0o7777)
                        .unwrap_or(0o644)
                });
                out.push((f.to.clone(), data, mode));
            }
        }
        if let Some(o) = &f.owner {
            owners.push((f.to.clone(), o.clone()));
        }
    }
    Ok((out, owners))
}

impl Runner<'_> {
    fn labels(&self, lab: &Lab, id: &str, trainee: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_MANAGED.to_string(), "1".to_string()),
            (LABEL_LAB.to_string(), lab.id().to_string()),
            (LABEL_SESSION.to_string(), id.to_string()),
            (LABEL_TRAINEE.to_string(), trainee.to_string()),
            (LABEL_OWNER_PID.to_string(), owner_label(std::process::id())),
        ])
    }

    /// The images a lab needs, built when missing; service -> tag.
    pub async fn images_for(&self, lab: &Lab) -> Result<BTreeMap<String, String>, SessionError> {
        let mut names: Vec<String> = lab
            .def
            .service
            .iter()
            .map(|s| s.get_ref().image.get_ref().clone())
            .collect();
        names.push(GRADER.to_string());
        names.sort();
        names.dedup();
        let builder = Builder {
            engine: self.engine,
            project: self.project,
            progress: self.progress,
        };
        let built = builder.ensure(&names).await?;
        Ok(built.into_iter().map(|(n, t, _)| (n, t)).collect())
    }

    /// Starts a session. On any failure, and on Ctrl-C, removes what it created.
    pub async fn start(&self, req: StartRequest<'_>) -> Result<Session, SessionError> {
        let lab = req.lab;
        let id = req
            .session_id
            .clone()
            .unwrap_or_else(|| session_id(lab.id(), req.trainee));
        if Session::list(self.engine).await?.iter().any(|s| s.id == id) {
            return Err(SessionError::AlreadyRunning(id));
        }
        // Leftovers of an earlier start of the same id that died half-way.
        remove_session_objects(self.engine, &id).await?;
        let params = lab
            .draw_params(req.trainee, req.seed)
            .map_err(|e| SessionError::Template(e.to_string()))?;
        let images = self.images_for(lab).await?;
        // Ctrl-C raises a flag that `create` checks between engine calls: an engine call in
        // flight completes, so the clean-up below sees everything that was created.
        let interrupted = Arc::new(AtomicBool::new(false));
        let listener = tokio::spawn({
            let flag = interrupted.clone();
            async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        });
        let result = self
            .create(lab, &id, &req, &params, &images, &interrupted)
            .await;
        listener.abort();
        let result = match result {
            Ok(_) if interrupted.load(Ordering::SeqCst) => Err(SessionError::Interrupted),
            r => r,
        };
        match result {
            Ok(s) => Ok(s),
            Err(e) => {
                self.progress.step("removing what was created");
                // A second Ctrl-C must not stop the clean-up half-way.
                let cleanup = tokio::spawn({
                    let engine = self.engine.clone();
                    let id = id.clone();
                    async move { remove_session_objects(&engine, &id).await }
                });
                let _ = cleanup.await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        lab: &Lab,
        id: &str,
        req: &StartRequest<'_>,
        params: &Params,
        images: &BTreeMap<String, String>,
        interrupted: &AtomicBool,
    ) -> Result<Session, SessionError> {
        let check = || {
            if interrupted.load(Ordering::SeqCst) {
                Err(SessionError::Interrupted)
            } else {
                Ok(())
            }
        };
        let (trainee, seed) = (req.trainee, req.seed);
        let started = now();
        let mut session = Session {
            id: id.to_string(),
            lab: lab.id().to_string(),
            lab_dir: lab.canonical_dir(),
            trainee: trainee.to_string(),
            seed,
            params: params.clone(),
            started,
            containers: BTreeMap::new(),
            extra_labels: req.extra_labels.clone(),
            ssh_bind: req.ssh_bind.clone(),
        };
        let ctx = session.context();
        let mut labels = self.labels(lab, id, trainee);
        labels.extend(req.extra_labels.clone());
        if let Some(b) = &req.ssh_bind {
            labels.insert(LABEL_SSH_BIND.into(), b.clone());
        }
        let nets = lab.networks();
        self.progress.begin(
            &format!("starting {id}"),
            Some((lab.def.service.len() + 2) as u64),
        );
        check()?;
        let created = futures_util::future::join_all(nets.iter().map(|n| {
            let internal = lab
                .def
                .network
                .iter()
                .any(|d| d.get_ref().name.get_ref() == n && d.get_ref().internal);
            let name = network_name(id, n);
            let labels = labels.clone();
            async move { self.engine.create_network(&name, internal, labels).await }
        }))
        .await;
        for r in created {
            r?;
        }
        labels.insert(
            LABEL_PARAMS.into(),
            serde_json::to_string(params).unwrap_or_default(),
        );
        labels.insert(LABEL_SEED.into(), seed.to_string());
        labels.insert(LABEL_LAB_DIR.into(), session.lab_dir.clone());
        labels.insert(LABEL_STARTED.into(), started.to_string());
        let render = |s: &str| render::render(s, &ctx).map_err(SessionError::Template);
        let mut owners: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut pending = Vec::new();
        for s in &lab.def.service {
            let svc = s.get_ref();
            let name = svc.name.get_ref().clone();
            self.progress.step(&format!("creating {name}"));
            check()?;
            for v in &svc.volumes {
                let mut vl = labels.clone();
                vl.insert(LABEL_SERVICE.into(), name.clone());
                check()?;
                self.engine
                    .create_volume(&format!("opslab-{id}-{}", v.name), vl)
                    .await?;
            }
            let mut cl = labels.clone();
            cl.insert(LABEL_SERVICE.into(), name.clone());
            cl.insert(
                LABEL_ROLE.into(),
                if svc.trainee {
                    "trainee".into()
                } else {
                    "service".into()
                },
            );
            let mut env = Vec::new();
            for (k, v) in &svc.env {
                env.push(format!("{k}={}", render(v)?));
            }
            let command = match &svc.command {
                Some(c) => Some(c.iter().map(|a| render(a)).collect::<Result<Vec<_>, _>>()?),
                None => None,
            };
            let spec = ContainerSpec {
                name: container_name(id, &name),
                image: images.get(svc.image.get_ref()).cloned().unwrap_or_default(),
                hostname: name.clone(),
                command,
                env,
                labels: cl,
                networks: lab
                    .service_networks(svc)
                    .iter()
                    .map(|n| (network_name(id, n), vec![name.clone()]))
                    .collect(),
                ports: match &req.ssh_bind {
                    Some(_) if svc.trainee && !svc.ports.contains(&22) => {
                        [svc.ports.clone(), vec![22]].concat()
                    }
                    _ => svc.ports.clone(),
                },
                bind: match &req.ssh_bind {
                    Some(b) if svc.trainee => b.clone(),
                    _ => "127.0.0.1".into(),
                },
                memory: svc
                    .memory
                    .as_ref()
                    .and_then(|m| crate::lab::model_memory(m.get_ref()))
                    .unwrap_or(512 << 20),
                pids: svc.pids.as_ref().map(|p| *p.get_ref()).unwrap_or(512),
                health_interval: req.health_interval,
                health: match &svc.health {
                    Some(h) => Some(render(h)?),
                    None => None,
                },
                volumes: svc
                    .volumes
                    .iter()
                    .map(|v| (format!("opslab-{id}-{}", v.name), v.to.clone()))
                    .collect(),
            };
            let (files, own) = collect_files(lab, &svc.files, &ctx)?;
            pending.push((name, spec, files, own));
        }
        // The grader needs nothing from the services: it is made beside them under a temporary
        // name, and takes its real name last, which marks the session complete.
        let grader_spec = self.grader_spec(lab, id, &labels, images);
        let grader_files = match &lab.def.grader {
            Some(g) => collect_files(lab, &g.files, &ctx)?.0,
            None => Vec::new(),
        };
        pending.push((GRADER.to_string(), grader_spec, grader_files, Vec::new()));
        check()?;
        // Every container is created, filled and started side by side; all of them are waited
        // for, so that a failure leaves nothing in flight that the clean-up would miss.
        let created = futures_util::future::join_all(pending.iter().map(
            |(name, spec, files, own)| async move {
                let cid = self.engine.create_container(spec).await?;
                if !files.is_empty() {
                    self.engine.upload(&cid, "/", tar_files(files)).await?;
                }
                Ok::<_, SessionError>((name.clone(), cid, own.clone()))
            },
        ))
        .await;
        for r in created {
            let (name, cid, own) = r?;
            owners.push((cid.clone(), own));
            session.containers.insert(name, cid);
        }
        check()?;
        let starts = futures_util::future::join_all(
            session
                .containers
                .values()
                .map(|cid| self.engine.start(cid)),
        )
        .await;
        for r in starts {
            r?;
        }
        for (cid, own) in &owners {
            for (path, owner) in own {
                let out = self
                    .engine
                    .exec(
                        cid,
                        vec!["chown".into(), "-R".into(), owner.clone(), path.clone()],
                        None,
                        Duration::from_secs(20),
                        None,
                    )
                    .await?;
                if out.exit_code != 0 {
                    return Err(SessionError::Template(format!(
                        "chown {owner} {path}: {}",
                        out.stderr.trim()
                    )));
                }
            }
        }
        self.progress.step("waiting for services to be healthy");
        let waits = lab.def.service.iter().map(|s| {
            let svc = s.get_ref();
            let timeout = svc
                .health_timeout
                .as_ref()
                .and_then(|t| humantime::parse_duration(t.get_ref()).ok())
                .unwrap_or(Duration::from_secs(60))
                * req.patience.max(1);
            let cid = session
                .containers
                .get(svc.name.get_ref())
                .cloned()
                .unwrap_or_default();
            let name = svc.name.get_ref().clone();
            async move {
                tokio::select! {
                    r = wait_healthy(self.engine, &cid, &name, timeout) => r,
                    _ = async { while !interrupted.load(Ordering::SeqCst) { tokio::time::sleep(Duration::from_millis(50)).await } } => Err(SessionError::Interrupted),
                }
            }
        });
        for r in futures_util::future::join_all(waits).await {
            r?;
        }
        for s in &lab.def.service {
            let svc = s.get_ref();
            for step in &svc.setup {
                let step = step.get_ref();
                let target = step
                    .service
                    .clone()
                    .unwrap_or_else(|| svc.name.get_ref().clone());
                let cid = session.container(&target)?.to_string();
                let cmd = render(&step.run)?;
                self.progress.step(&format!("setting up {target}"));
                check()?;
                let out = self
                    .engine
                    .exec(
                        &cid,
                        vec!["sh".into(), "-c".into(), cmd.clone()],
                        step.user.as_deref(),
                        Duration::from_secs(180),
                        None,
                    )
                    .await?;
                if out.exit_code != 0 {
                    return Err(SessionError::Setup {
                        service: target,
                        code: out.exit_code,
                        cmd,
                        output: format!("{}{}", out.stdout, out.stderr)
                            .lines()
                            .rev()
                            .take(20)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect::<Vec<_>>()
                            .join("\n"),
                    });
                }
            }
        }
        self.progress.step("starting the grader");
        check()?;
        let gid = session.container(GRADER)?.to_string();
        self.engine
            .rename(&gid, &container_name(id, GRADER))
            .await?;
        self.progress.finish(&format!("{id} is ready"));
        Ok(session)
    }

    fn grader_spec(
        &self,
        lab: &Lab,
        id: &str,
        labels: &HashMap<String, String>,
        images: &BTreeMap<String, String>,
    ) -> ContainerSpec {
        let mut gl = labels.clone();
        gl.insert(LABEL_SERVICE.into(), GRADER.into());
        gl.insert(LABEL_ROLE.into(), GRADER.into());
        ContainerSpec {
            name: container_name(id, "grader-starting"),
            image: images.get(GRADER).cloned().unwrap_or_default(),
            hostname: format!("{GRADER}-{}", &id.chars().rev().take(6).collect::<String>()),
            command: Some(vec!["sleep".into(), "infinity".into()]),
            env: vec![],
            labels: gl,
            networks: lab
                .networks()
                .iter()
                .map(|n| (network_name(id, n), vec![]))
                .collect(),
            ports: vec![],
            bind: "127.0.0.1".into(),
            memory: 256 << 20,
            pids: 256,
            health: None,
            health_interval: Duration::from_secs(1),
            volumes: vec![],
        }
    }

    /// Stops and removes a session: containers, networks, volumes.
    pub async fn stop(&self, session: &Session) -> Result<(), SessionError> {
        remove_session_objects(self.engine, &session.id).await
    }
}

pub async fn wait_healthy(
    engine: &Engine,
    cid: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), SessionError> {
    let deadline = Instant::now() + timeout;
    loop {
        let st = engine.inspect(cid).await?;
        let ok = st.running && (st.health == "healthy" || st.health == "none");
        if ok {
            return Ok(());
        }
        let dead = !st.running && st.status != "created" && st.status != "restarting";
        if dead || Instant::now() > deadline {
            let logs = engine.logs_since(cid, 0).await.unwrap_or_default();
            let tail: Vec<&str> = logs.lines().rev().take(15).collect();
            return Err(SessionError::Unhealthy {
                service: name.into(),
                secs: timeout.as_secs(),
                state: format!("{} / health {}", st.status, st.health),
                logs: tail
                    .into_iter()
                    .rev()
                    .map(|l| format!("  | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Removes every container, network and volume labelled with this session.
pub async fn remove_session_objects(engine: &Engine, id: &str) -> Result<(), SessionError> {
    let label = format!("{LABEL_SESSION}={id}");
    let containers = engine.containers_with_label(&label).await?;
    let removals = containers.iter().map(|c| engine.remove_container(&c.id));
    for r in futures_util::future::join_all(removals).await {
        r?;
    }
    for n in engine.networks_with_label(&label).await? {
        engine.remove_network(&n.id).await?;
    }
    for v in engine.volumes_with_label(&label).await? {
        engine.remove_volume(&v.name).await?;
    }
    Ok(())
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The process that creates a session's objects, as `PID:START@HOST`. The start time (clock
/// ticks since boot, from /proc) tells a live owner from a later process that got the same pid:
/// pids wrap quickly on a busy machine.
fn owner_label(pid: u32) -> String {
    let start = process_start(pid).unwrap_or_default();
    format!("{pid}:{start}@{}", hostname())
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn owner_alive(owner: Option<&String>) -> bool {
    let Some(owner) = owner else { return false };
    let Some((proc_id, host)) = owner.split_once('@') else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    let Some((pid, start)) = proc_id.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    process_start(pid) == Some(start)
}

/// What `gc` removed.
#[derive(Debug, Default)]
pub struct GcReport {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// Removes every object opslab labelled that no live session owns (all of them with `all`).
/// A session is live when it is complete (its grader container exists) or when the process
/// starting it is still running.
pub async fn gc(engine: &Engine, all: bool) -> Result<GcReport, SessionError> {
    let live: Vec<String> = if all {
        vec![]
    } else {
        Session::list(engine)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    let keep = |labels: &HashMap<String, String>| {
        !all && (labels.get(LABEL_SESSION).is_some_and(|s| live.contains(s))
            || owner_alive(labels.get(LABEL_OWNER_PID)))
    };
    // Everything a session creates carries its session label; `--all` also takes objects an
    // older opslab labelled as managed without one.
    let label = if all { LABEL_MANAGED } else { LABEL_SESSION };
    let mut report = GcReport::default();
    for c in engine.containers_with_label(label).await? {
        if !keep(&c.labels) {
            engine.remove_container(&c.id).await?;
            report.containers += 1;
        }
    }
    for n in engine.networks_with_label(label).await? {
        if !keep(&n.labels) {
            engine.remove_network(&n.id).await?;
            report.networks += 1;
        }
    }
    for v in engine.volumes_with_label(label).await? {
        if !keep(&v.labels) {
            engine.remove_volume(&v.name).await?;
            report.volumes += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_alive_only_while_the_same_process_runs() {
        let me = owner_label(std::process::id());
        assert!(owner_alive(Some(&me)), "{me}");
        // The same pid with another start time is a later process that reused the pid.
        let (proc_id, host) = me.split_once('@').expect("pid@host");
        let (pid, start) = proc_id.split_once(':').expect("pid:start");
        let start: u64 = start.parse().expect("a number");
        let reused = format!("{pid}:{}@{host}", start + 1);
        assert!(!owner_alive(Some(&reused)));
        assert!(!owner_alive(Some(&format!("{pid}:{start}@another-host"))));
        assert!(!owner_alive(Some(&"4194305:1@x".to_string())));
        assert!(!owner_alive(None));
    }
}
