//! The life of a running lab: start, status, shell, reset, stop, gc. The engine's labels are the
//! source of truth for what exists; nothing here keeps a list of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::backend::{
    ContainerSpec, ContainerState, Engine, EngineError, Reach, LABEL_LAB, LABEL_MANAGED,
    LABEL_OWNER_PID, LABEL_SERVICE, LABEL_SESSION, LABEL_TRAINEE,
};
use crate::images::{Builder, ImageError};
use crate::lab::model::FileDef;
use crate::lab::{confine, render, Lab, Params};
use crate::progress::Progress;
use crate::project::Project;

pub const GRADER: &str = crate::lab::GRADER;
/// The container that publishes an assessment session's ports (see `Runner::gate_spec`).
pub const GATE: &str = "gate";
pub use crate::labels::{
    LABEL_EPOCH, LABEL_FORWARDS, LABEL_INSTANCE, LABEL_ISOLATED, LABEL_LAB_DIR, LABEL_PARAMS,
    LABEL_ROLE, LABEL_SEED, LABEL_SSH_BIND, LABEL_STARTED,
};
/// The first port the gate listens on.
const GATE_FIRST_PORT: u16 = 20000;

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
    #[error("start slot: {0}")]
    Slot(std::io::Error),
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

/// The network of an assessment's gate: the only one with a route out.
const EDGE: &str = "_edge";

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
                    .filter(|(k, _)| k.starts_with(crate::labels::LABEL_CLASS))
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
                        !s.extra_labels.contains_key(crate::labels::LABEL_CLASS)
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

    /// Hints are counted within this scope: the class instance's creation for an assessment
    /// (so that a reset does not wipe them), the session's start for practice.
    pub fn hint_scope(&self) -> u64 {
        self.extra_labels
            .get(LABEL_EPOCH)
            .and_then(|e| e.parse().ok())
            .unwrap_or(self.started)
    }

    /// Whether every container of the session is stopped: suspended by `opslab suspend`, or by
    /// an engine restart (a reboot).
    pub async fn suspended(&self, engine: &Engine) -> Result<bool, SessionError> {
        for cid in self.containers.values() {
            if engine.inspect(cid).await?.running {
                return Ok(false);
            }
        }
        Ok(!self.containers.is_empty())
    }

    /// Where the session runs on an engine of several machines: its node (empty on one
    /// engine), or Err with the reason when that machine cannot be reached (the session is
    /// lost with it).
    pub async fn node(&self, engine: &Engine) -> Result<String, String> {
        let Some(cid) = self.containers.get(GRADER) else {
            return Ok(String::new());
        };
        match engine.inspect(cid).await {
            Ok(st) => Ok(st.node),
            Err(EngineError::Unreachable(why)) => Err(why),
            Err(_) => Ok(String::new()),
        }
    }

    /// Whether the session belongs to a class (an assessment).
    pub fn assessed(&self) -> bool {
        self.extra_labels.contains_key(crate::labels::LABEL_CLASS)
    }

    /// Where each service's ports are published on the host: service -> (container port ->
    /// host port). An assessment's services publish nothing themselves; its gate does.
    pub async fn published_ports(&self, engine: &Engine) -> BTreeMap<String, BTreeMap<u16, u16>> {
        let mut out: BTreeMap<String, BTreeMap<u16, u16>> = BTreeMap::new();
        for (svc, cid) in &self.containers {
            if svc == GATE {
                continue;
            }
            let m = match engine.inspect(cid).await {
                Ok(st) => st.ports.into_iter().collect(),
                Err(_) => BTreeMap::new(),
            };
            out.insert(svc.clone(), m);
        }
        if let Some(gid) = self.containers.get(GATE) {
            if let Ok(st) = engine.inspect(gid).await {
                let forwards = st.labels.get(LABEL_FORWARDS).cloned().unwrap_or_default();
                for (gate_port, svc, port) in parse_forwards(&forwards) {
                    if let Some(hp) = st.ports.get(&gate_port) {
                        out.entry(svc).or_default().insert(port, *hp);
                    }
                }
            }
        }
        out
    }

    /// On an engine of several machines: where `port` of `service` is reached from outside,
    /// the address of the node that runs it and the port published there (through the
    /// session's gate when it has one), and whether that address is only the node's swarm
    /// address (its trainer gave none). None on one engine.
    pub async fn node_access(
        &self,
        engine: &Engine,
        service: &str,
        port: u16,
    ) -> Option<(String, u16, bool)> {
        let (cid, port) = match self.containers.get(GATE) {
            Some(gid) => {
                let st = engine.inspect(gid).await.ok()?;
                let forwards = st.labels.get(LABEL_FORWARDS).cloned().unwrap_or_default();
                let (gate_port, _, _) = parse_forwards(&forwards)
                    .into_iter()
                    .find(|(_, s, p)| s == service && *p == port)?;
                (gid.clone(), gate_port)
            }
            None => (self.containers.get(service)?.clone(), port),
        };
        let st = engine.inspect(&cid).await.ok()?;
        if st.node.is_empty() {
            return None;
        }
        let published = st.node_ports.get(&port).copied()?;
        Some((st.node_address, published, st.node_address_guessed))
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
        // Side by side: a service whose health check runs now may take its check's time.
        let states = self.containers.iter().map(|(svc, id)| async move {
            let mut st = engine.inspect(id).await?;
            st.health = engine.health_now(&st).await;
            Ok::<_, SessionError>((svc.clone(), st))
        });
        futures_util::future::join_all(states)
            .await
            .into_iter()
            .collect()
    }
}

/// Reads a gate's `opslab.forwards` label: (gate port, service, service port).
pub fn parse_forwards(label: &str) -> Vec<(u16, String, u16)> {
    label
        .split(',')
        .filter_map(|f| {
            let (gp, target) = f.split_once('=')?;
            let (svc, port) = target.rsplit_once(':')?;
            Some((gp.parse().ok()?, svc.to_string(), port.parse().ok()?))
        })
        .collect()
}

/// How often the engine runs a service's health check: often enough that a start does not wait
/// long for the engine's first verdict, seldom enough that the checks of every container of
/// every session do not load a shared machine more than the sessions themselves (every second,
/// they did).
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

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
    /// Parameters already drawn (an assessment's secret draw, or a reset keeping its values);
    /// drawn from (trainee, seed) when absent.
    pub params: Option<Params>,
    /// The session's networks have no route out (assessments, unless the internet is asked for).
    pub isolated: bool,
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
            health_interval: HEALTH_INTERVAL,
            patience: 1,
            params: None,
            isolated: false,
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
        // Everything read here resolves inside the lab folder (links followed), is a regular
        // file and is bounded: validation refuses the rest, and a folder changed since is
        // refused here too.
        let confined = |rel: &str| {
            confine::resolve(&lab.dir, rel)
                .map_err(|p| SessionError::Template(format!("{}: `{rel}` {p}", lab.dir.display())))
        };
        let read = |path: &std::path::Path, limit: u64| {
            confine::read_regular(path, limit)
                .map_err(|p| SessionError::Template(format!("{}: {p}", path.display())))
        };
        let mode_of = |path: &std::path::Path| {
            forced_mode.unwrap_or_else(|| {
                std::fs::metadata(path)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o644)
            })
        };
        if let Some(t) = &f.template {
            let path = confined(t)?;
            let text = String::from_utf8(read(&path, confine::MAX_TEXT_BYTES)?)
                .map_err(|e| SessionError::Template(format!("{}: {e}", path.display())))?;
            let body = render::render(&text, ctx)
                .map_err(|e| SessionError::Template(format!("{}: {e}", path.display())))?;
            out.push((f.to.clone(), body.into_bytes(), mode_of(&path)));
        } else if let Some(s) = &f.source {
            let src = confined(s)?;
            if src.is_dir() {
                let files = confine::walk(&lab.dir, &lab.dir.join(s)).map_err(|(p, problem)| {
                    SessionError::Template(format!("{}: {problem}", p.display()))
                })?;
                for file in files {
                    let rel = file
                        .path
                        .strip_prefix(lab.dir.join(s))
                        .unwrap_or(&file.path);
                    let data = read(&file.real, confine::MAX_FILE_BYTES)?;
                    out.push((
                        format!("{}/{}", f.to.trim_end_matches('/'), rel.display()),
                        data,
                        mode_of(&file.real),
                    ));
                }
            } else {
                let data = read(&src, confine::MAX_FILE_BYTES)?;
                out.push((f.to.clone(), data, mode_of(&src)));
            }
        }
        if let Some(o) = &f.owner {
            owners.push((f.to.clone(), o.clone()));
        }
    }
    Ok((out, owners))
}

impl Runner<'_> {
    fn session_labels(lab: &Lab, id: &str, trainee: &str) -> HashMap<String, String> {
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
        let names = lab_images(lab);
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
        let params = match &req.params {
            Some(p) => p.clone(),
            None => lab
                .draw_params(req.trainee, req.seed)
                .map_err(|e| SessionError::Template(e.to_string()))?,
        };
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
        // A machine that starts many sessions at once (CI proving every lab) can queue the
        // starts: creating and bringing services up is what loads it, grading mostly waits.
        let _slot = match start_slots() {
            Some(n) => Some(
                crate::lock::slot("start", n, || {
                    self.progress
                        .note("waiting: other sessions are starting (OPSLAB_START_SLOTS)")
                })
                .await
                .map_err(SessionError::Slot)?,
            ),
            None => None,
        };
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
        let plan = Self::plan(lab, id, req, params, images)?;
        self.progress.begin(
            &format!("starting {id}"),
            Some((lab.def.service.len() + 2) as u64),
        );
        check()?;
        let mut session = plan.session.clone();
        self.create_objects(&plan, &mut session, &check).await?;
        self.progress.step("waiting for services to be healthy");
        self.wait_all_healthy(lab, &session, req.patience, interrupted)
            .await?;
        self.run_setup(lab, &session, &check).await?;
        self.progress.step("starting the grader");
        check()?;
        let gid = session.container(GRADER)?.to_string();
        self.engine
            .rename(&gid, &container_name(id, GRADER))
            .await?;
        self.progress.finish(&format!("{id} is ready"));
        Ok(session)
    }

    /// What starting a session creates, worked out from the lab and its parameters alone: its
    /// networks, volumes and containers with their files. Nothing touches the engine.
    pub fn plan(
        lab: &Lab,
        id: &str,
        req: &StartRequest<'_>,
        params: &Params,
        images: &BTreeMap<String, String>,
    ) -> Result<Plan, SessionError> {
        let started = now();
        let session = Session {
            id: id.to_string(),
            lab: lab.id().to_string(),
            lab_dir: lab.canonical_dir(),
            trainee: req.trainee.to_string(),
            seed: req.seed,
            params: params.clone(),
            started,
            containers: BTreeMap::new(),
            extra_labels: req.extra_labels.clone(),
            ssh_bind: req.ssh_bind.clone(),
        };
        let mut labels = Self::session_labels(lab, id, req.trainee);
        labels.extend(req.extra_labels.clone());
        if let Some(b) = &req.ssh_bind {
            labels.insert(LABEL_SSH_BIND.into(), b.clone());
        }
        let networks = plan_networks(lab, id, req, &labels);
        labels.insert(
            LABEL_PARAMS.into(),
            serde_json::to_string(params).unwrap_or_default(),
        );
        labels.insert(LABEL_SEED.into(), req.seed.to_string());
        labels.insert(LABEL_LAB_DIR.into(), session.lab_dir.clone());
        labels.insert(LABEL_STARTED.into(), started.to_string());
        let ctx = session.context();
        let mut volumes = Vec::new();
        let mut containers = Vec::new();
        for s in &lab.def.service {
            let svc = s.get_ref();
            let name = svc.name.get_ref();
            for v in &svc.volumes {
                let mut vl = labels.clone();
                vl.insert(LABEL_SERVICE.into(), name.clone());
                volumes.push((format!("opslab-{id}-{}", v.name), vl));
            }
            let spec = service_spec(lab, svc, id, req, &labels, images, &ctx)?;
            let (files, own) = collect_files(lab, &svc.files, &ctx)?;
            containers.push(Planned {
                service: name.clone(),
                spec,
                files,
                own,
            });
        }
        // The grader needs nothing from the services: it is made beside them under a temporary
        // name, and takes its real name last, which marks the session complete.
        let grader_files = match &lab.def.grader {
            Some(g) => collect_files(lab, &g.files, &ctx)?.0,
            None => Vec::new(),
        };
        containers.push(Planned {
            service: GRADER.to_string(),
            spec: Self::grader_spec(lab, id, &labels, images),
            files: grader_files,
            own: Vec::new(),
        });
        if let Some(bind) = &req.ssh_bind {
            containers.push(Planned {
                service: GATE.to_string(),
                spec: Self::gate_spec(lab, id, &labels, images, bind),
                files: Vec::new(),
                own: Vec::new(),
            });
        }
        // An engine of several machines keeps a session on one of them, sized for all of it.
        let session_memory: i64 = containers.iter().map(|c| c.spec.memory).sum();
        for c in &mut containers {
            c.spec.session_memory = session_memory;
        }
        Ok(Plan {
            session,
            networks,
            volumes,
            containers,
        })
    }

    /// Creates a plan's networks, volumes and containers, fills and starts the containers and
    /// gives their files to their owners.
    async fn create_objects(
        &self,
        plan: &Plan,
        session: &mut Session,
        check: &dyn Fn() -> Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        let created =
            futures_util::future::join_all(plan.networks.iter().map(|(name, reach, labels)| {
                self.engine.create_network(name, *reach, labels.clone())
            }))
            .await;
        for r in created {
            r?;
        }
        for (name, labels) in &plan.volumes {
            check()?;
            self.engine.create_volume(name, labels.clone()).await?;
        }
        check()?;
        // Every container is created, filled and started side by side; all of them are waited
        // for, so that a failure leaves nothing in flight that the clean-up would miss.
        let created = futures_util::future::join_all(plan.containers.iter().map(|p| async move {
            self.progress.step(&format!("creating {}", p.service));
            let cid = self.engine.create_container(&p.spec).await?;
            if !p.files.is_empty() {
                self.engine.upload(&cid, "/", tar_files(&p.files)).await?;
            }
            Ok::<_, SessionError>((p.service.clone(), cid))
        }))
        .await;
        for r in created {
            let (name, cid) = r?;
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
        for p in &plan.containers {
            let cid = session.container(&p.service)?;
            for (path, owner) in &p.own {
                self.chown(cid, owner, path).await?;
            }
        }
        Ok(())
    }

    async fn chown(&self, cid: &str, owner: &str, path: &str) -> Result<(), SessionError> {
        let argv = ["chown", "-R", owner, path].map(String::from).to_vec();
        let out = self
            .engine
            .exec(cid, argv, None, Duration::from_secs(20), None)
            .await?;
        if out.exit_code != 0 {
            return Err(SessionError::Template(format!(
                "chown {owner} {path}: {}",
                out.stderr.trim()
            )));
        }
        Ok(())
    }

    /// The services' setup steps, in the lab's order, once every service is healthy.
    async fn run_setup(
        &self,
        lab: &Lab,
        session: &Session,
        check: &dyn Fn() -> Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        let ctx = session.context();
        for s in &lab.def.service {
            let svc = s.get_ref();
            for step in &svc.setup {
                let step = step.get_ref();
                let target = step
                    .service
                    .clone()
                    .unwrap_or_else(|| svc.name.get_ref().clone());
                let cid = session.container(&target)?.to_string();
                let cmd = render::render(&step.run, &ctx).map_err(SessionError::Template)?;
                self.progress.step(&format!("setting up {target}"));
                check()?;
                let argv = vec!["sh".into(), "-c".into(), cmd.clone()];
                let out = self
                    .engine
                    .exec(
                        &cid,
                        argv,
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
                        output: crate::text::last_lines(
                            &format!("{}{}", out.stdout, out.stderr),
                            20,
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The gate of an assessment session: published ports forwarded to the services (socat, in
    /// the grader's image). The services' own networks can then be internal (no route out), and
    /// ending trainee access at the deadline is closing the gate's SSH forward, which nothing
    /// in the trainee's containers can reopen.
    fn gate_spec(
        lab: &Lab,
        id: &str,
        labels: &HashMap<String, String>,
        images: &BTreeMap<String, String>,
        ssh_bind: &str,
    ) -> ContainerSpec {
        let mut forwards: Vec<(u16, String, u16)> = Vec::new();
        let mut bind_for = HashMap::new();
        for s in &lab.def.service {
            let svc = s.get_ref();
            let mut ports = svc.ports.clone();
            if svc.trainee && !ports.contains(&22) {
                ports.push(22);
            }
            for p in ports {
                let gate_port = GATE_FIRST_PORT + forwards.len() as u16;
                if svc.trainee && p == 22 {
                    bind_for.insert(gate_port, ssh_bind.to_string());
                }
                forwards.push((gate_port, svc.name.get_ref().clone(), p));
            }
        }
        let script: String = forwards
            .iter()
            .map(|(gp, svc, p)| format!("socat TCP-LISTEN:{gp},fork,reuseaddr TCP:{svc}:{p} & "))
            .collect::<String>()
            // The gate outlives its forwards (ending access closes one): reap and stay.
            + "while :; do wait; sleep 1; done";
        let mut gl = labels.clone();
        gl.insert(LABEL_SERVICE.into(), GATE.into());
        gl.insert(LABEL_ROLE.into(), GATE.into());
        gl.insert(
            LABEL_FORWARDS.into(),
            forwards
                .iter()
                .map(|(gp, svc, p)| format!("{gp}={svc}:{p}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        let mut networks: Vec<(String, Vec<String>)> = vec![(network_name(id, EDGE), vec![])];
        networks.extend(lab.networks().iter().map(|n| (network_name(id, n), vec![])));
        ContainerSpec {
            name: container_name(id, GATE),
            image: images.get(GRADER).cloned().unwrap_or_default(),
            hostname: GATE.into(),
            command: Some(vec!["bash".into(), "-c".into(), script]),
            env: vec![],
            labels: gl,
            networks,
            ports: forwards.iter().map(|(gp, _, _)| *gp).collect(),
            bind: "127.0.0.1".into(),
            bind_for,
            memory: 64 << 20,
            nano_cpus: crate::backend::DEFAULT_NANO_CPUS,
            pids: 256,
            health: None,
            health_interval: Duration::from_secs(1),
            volumes: vec![],
            session_memory: 0,
        }
    }

    fn grader_spec(
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
            bind_for: HashMap::new(),
            memory: 256 << 20,
            pids: 256,
            nano_cpus: crate::backend::DEFAULT_NANO_CPUS,
            health: None,
            health_interval: Duration::from_secs(1),
            volumes: vec![],
            session_memory: 0,
        }
    }

    /// Stops a session's containers and keeps them, with their file systems and volumes: what
    /// the trainee did, the parameters (labels) and the hints (history) stay.
    pub async fn suspend(&self, session: &Session) -> Result<(), SessionError> {
        let stops = futures_util::future::join_all(
            session.containers.values().map(|c| self.engine.stop(c, 10)),
        )
        .await;
        for r in stops {
            r?;
        }
        Ok(())
    }

    /// Starts a suspended session's containers again and waits until every service is healthy.
    pub async fn resume(&self, lab: &Lab, session: &Session) -> Result<(), SessionError> {
        for cid in session.containers.values() {
            if !self.engine.inspect(cid).await?.running {
                self.engine.start(cid).await?;
            }
        }
        self.wait_all_healthy(lab, session, 1, &AtomicBool::new(false))
            .await
    }

    /// Waits until every service of the lab is healthy, side by side, each within its health
    /// deadline times `patience`; a raised `interrupted` flag ends the wait.
    async fn wait_all_healthy(
        &self,
        lab: &Lab,
        session: &Session,
        patience: u32,
        interrupted: &AtomicBool,
    ) -> Result<(), SessionError> {
        let waits = lab.def.service.iter().map(|s| {
            let svc = s.get_ref();
            let timeout = health_timeout(svc, patience);
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
        Ok(())
    }

    /// Stops and removes a session: containers, networks, volumes.
    pub async fn stop(&self, session: &Session) -> Result<(), SessionError> {
        // `gc` leaves a session alone while its stop holds this lock.
        let _held = crate::lock::take("life", &session.id, || {}).await;
        remove_session_objects(self.engine, &session.id).await
    }
}

/// How long a service may take to become healthy: its `health_timeout` (60 s by default), times
/// the start's patience.
/// `OPSLAB_START_SLOTS=N`: at most N sessions of this machine (sharing its data folder) start
/// at once; unset, starts are not queued.
fn start_slots() -> Option<usize> {
    std::env::var("OPSLAB_START_SLOTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
}

/// The images of images/ a lab's sessions run: its services' and the grader's (which its gate
/// runs too).
pub fn lab_images(lab: &Lab) -> Vec<String> {
    let mut names: Vec<String> = lab
        .def
        .service
        .iter()
        .map(|s| s.get_ref().image.get_ref().clone())
        .collect();
    names.push(GRADER.to_string());
    names.sort();
    names.dedup();
    names
}

/// Everything starting a session creates (see `Runner::plan`).
pub struct Plan {
    /// The session as it will be read back (its containers are filled in as they are made).
    pub session: Session,
    /// Engine name, reach and labels of each network.
    pub networks: Vec<(String, Reach, HashMap<String, String>)>,
    /// Engine name and labels of each volume.
    pub volumes: Vec<(String, HashMap<String, String>)>,
    pub containers: Vec<Planned>,
}

/// One container of a plan: its service, its spec, the files put in before it starts and
/// the paths given to their owners once it runs.
pub struct Planned {
    pub service: String,
    pub spec: ContainerSpec,
    pub files: Vec<(String, Vec<u8>, u32)>,
    pub own: Vec<(String, String)>,
}

/// A session's networks: the lab's, plus the edge network of an assessment's gate. An
/// assessment's lab networks are sealed; others are internal when the lab says so.
fn plan_networks(
    lab: &Lab,
    id: &str,
    req: &StartRequest<'_>,
    labels: &HashMap<String, String>,
) -> Vec<(String, Reach, HashMap<String, String>)> {
    let mut nets = lab.networks();
    // An assessment's ports are published by its gate, the one container on the edge network.
    if req.ssh_bind.is_some() {
        nets.push(EDGE.to_string());
    }
    nets.iter()
        .map(|n| {
            let internal = lab
                .def
                .network
                .iter()
                .any(|d| d.get_ref().name.get_ref() == n && d.get_ref().internal);
            let reach = if n == EDGE {
                Reach::Outside
            } else if req.isolated {
                Reach::Sealed
            } else if internal {
                Reach::Internal
            } else {
                Reach::Outside
            };
            (network_name(id, n), reach, labels.clone())
        })
        .collect()
}

/// A lab service's container: rendered command, env and health check, limits, networks with
/// the service's name as alias, and ports (none behind an assessment's gate).
fn service_spec(
    lab: &Lab,
    svc: &crate::lab::model::ServiceDef,
    id: &str,
    req: &StartRequest<'_>,
    labels: &HashMap<String, String>,
    images: &BTreeMap<String, String>,
    ctx: &tera::Context,
) -> Result<ContainerSpec, SessionError> {
    let render = |s: &str| render::render(s, ctx).map_err(SessionError::Template);
    let name = svc.name.get_ref().clone();
    let mut cl = labels.clone();
    cl.insert(LABEL_SERVICE.into(), name.clone());
    let role = if svc.trainee { "trainee" } else { "service" };
    cl.insert(LABEL_ROLE.into(), role.into());
    let env = svc
        .env
        .iter()
        .map(|(k, v)| Ok(format!("{k}={}", render(v)?)))
        .collect::<Result<Vec<_>, SessionError>>()?;
    let command = match &svc.command {
        Some(c) => Some(c.iter().map(|a| render(a)).collect::<Result<Vec<_>, _>>()?),
        None => None,
    };
    let health = match &svc.health {
        Some(h) => Some(render(h)?),
        None => None,
    };
    Ok(ContainerSpec {
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
        // Behind a gate, a service publishes nothing itself.
        ports: if req.ssh_bind.is_some() {
            vec![]
        } else {
            svc.ports.clone()
        },
        bind: "127.0.0.1".into(),
        bind_for: HashMap::new(),
        memory: svc
            .memory
            .as_ref()
            .and_then(|m| crate::lab::model_memory(m.get_ref()))
            .unwrap_or(512 << 20),
        pids: svc.pids.as_ref().map(|p| *p.get_ref()).unwrap_or(512),
        nano_cpus: svc
            .cpus
            .as_ref()
            .and_then(|c| crate::lab::model_nano_cpus(c.get_ref()))
            .unwrap_or(crate::backend::DEFAULT_NANO_CPUS),
        health_interval: req.health_interval,
        health,
        volumes: svc
            .volumes
            .iter()
            .map(|v| (format!("opslab-{id}-{}", v.name), v.to.clone()))
            .collect(),
        session_memory: 0,
    })
}

fn health_timeout(svc: &crate::lab::model::ServiceDef, patience: u32) -> Duration {
    svc.health_timeout
        .as_ref()
        .and_then(|t| humantime::parse_duration(t.get_ref()).ok())
        .unwrap_or(Duration::from_secs(60))
        .saturating_mul(patience.max(1))
}

pub async fn wait_healthy(
    engine: &Engine,
    cid: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), SessionError> {
    // A timeout × patience past what an Instant holds waits "forever" (a year), never panics.
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
    loop {
        let st = engine.inspect(cid).await?;
        // The engine's own verdict: a started session is healthy as the engine shows it too.
        let ok = st.running && (st.health == "healthy" || st.health == "none");
        if ok {
            return Ok(());
        }
        let dead = !st.running && st.status != "created" && st.status != "restarting";
        if dead || Instant::now() > deadline {
            let logs = engine.logs_since(cid, 0).await.unwrap_or_default();
            let tail = crate::text::last_lines(&logs, 15);
            return Err(SessionError::Unhealthy {
                service: name.into(),
                secs: timeout.as_secs(),
                state: format!("{} / health {}", st.status, st.health),
                logs: tail
                    .lines()
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
        when_free(|| engine.remove_network(&n.id)).await?;
    }
    for v in engine.volumes_with_label(&label).await? {
        when_free(|| engine.remove_volume(&v.name)).await?;
    }
    Ok(())
}

/// Runs a removal of a network or volume again while the engine answers that a container still
/// holds it: a container's removal (ours, or a concurrent `stop` or `gc`) can still be under
/// way. Gives up after about 20 s with the engine's answer.
async fn when_free<F, Fut>(mut remove: F) -> Result<(), crate::backend::EngineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::backend::EngineError>>,
{
    let mut tries = 0;
    loop {
        match remove().await {
            Err(e) if e.is_conflict() && tries < 40 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            r => return r,
        }
    }
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

/// Whether a `stop` of this machine holds the session now (it removes the objects itself).
fn being_stopped(session: &str) -> bool {
    matches!(crate::lock::try_take("life", session), Ok(None))
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
/// starting it is still running; an ephemeral one (a selftest's) only while that process runs.
pub async fn gc(engine: &Engine, all: bool) -> Result<GcReport, SessionError> {
    // Everything a session creates carries its session label; `--all` also takes objects an
    // older opslab labelled as managed without one.
    let label = if all { LABEL_MANAGED } else { LABEL_SESSION };
    let containers = engine.containers_with_label(label).await?;
    let networks = engine.networks_with_label(label).await?;
    let volumes = engine.volumes_with_label(label).await?;
    // The order of the evidence matters. Owners are judged first and complete sessions listed
    // after: a `start` that was still running when its objects were judged has made its grader
    // by the time the list is read, so a session is never taken between its start's exit and
    // the moment gc looks at its grader.
    let owned = |labels: &HashMap<String, String>| owner_alive(labels.get(LABEL_OWNER_PID));
    let c_owned: Vec<bool> = containers.iter().map(|c| owned(&c.labels)).collect();
    let n_owned: Vec<bool> = networks.iter().map(|n| owned(&n.labels)).collect();
    let v_owned: Vec<bool> = volumes.iter().map(|v| owned(&v.labels)).collect();
    let live: Vec<String> = if all {
        vec![]
    } else {
        Session::list(engine)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    let keep = |labels: &HashMap<String, String>, owned: bool| {
        let complete = labels.get(LABEL_SESSION).is_some_and(|s| live.contains(s))
            && !labels.contains_key(crate::backend::LABEL_EPHEMERAL);
        !all && (complete || owned || labels.get(LABEL_SESSION).is_some_and(|s| being_stopped(s)))
    };
    let mut report = GcReport::default();
    for (c, owned) in containers.iter().zip(c_owned) {
        if !keep(&c.labels, owned) {
            engine.remove_container(&c.id).await?;
            report.containers += 1;
        }
    }
    for (n, owned) in networks.iter().zip(n_owned) {
        if !keep(&n.labels, owned) {
            when_free(|| engine.remove_network(&n.id)).await?;
            report.networks += 1;
        }
    }
    for (v, owned) in volumes.iter().zip(v_owned) {
        if !keep(&v.labels, owned) {
            when_free(|| engine.remove_volume(&v.name)).await?;
            report.volumes += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trio() -> Lab {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let project = Project::at(root);
        Lab::load(&root.join("tests/fixtures/labs/trio"), &project).expect("the fixture loads")
    }

    #[test]
    fn a_plan_holds_every_object_labelled_with_rendered_values() {
        let lab = trio();
        let params = lab.draw_params("ana", 3).expect("drawn");
        let req = StartRequest::practice(&lab, "ana", 3);
        let plan = Runner::plan(&lab, "trio-ana", &req, &params, &BTreeMap::new()).expect("plan");
        let nets: Vec<_> = plan
            .networks
            .iter()
            .map(|(n, r, _)| (n.as_str(), *r))
            .collect();
        assert_eq!(
            nets,
            [
                ("opslab-trio-ana-front", Reach::Outside),
                ("opslab-trio-ana-back", Reach::Internal)
            ]
        );
        assert_eq!(plan.volumes.len(), 1);
        assert_eq!(plan.volumes[0].0, "opslab-trio-ana-data");
        let names: Vec<&str> = plan.containers.iter().map(|c| c.service.as_str()).collect();
        assert_eq!(names, ["web", "api", "ws", GRADER]);
        let team = params
            .0
            .iter()
            .find(|(k, _)| k == "team")
            .expect("team")
            .1
            .clone();
        let api = &plan.containers[1].spec;
        assert_eq!(
            api.env,
            [format!("TEAM={}", team.as_str().expect("a string"))]
        );
        assert_eq!(api.memory, 128 << 20);
        assert_eq!(plan.containers[0].spec.ports, [8000]);
        assert_eq!(
            plan.containers[0].own.len(),
            1,
            "secret.txt goes to its owner"
        );
        for c in &plan.containers {
            assert_eq!(
                c.spec.labels.get(LABEL_SESSION).map(String::as_str),
                Some("trio-ana")
            );
            assert_eq!(
                c.spec.labels.get(LABEL_MANAGED).map(String::as_str),
                Some("1")
            );
        }
        let volume_labels = plan.volumes.iter().map(|(_, l)| l);
        for l in volume_labels.chain(plan.networks.iter().map(|(_, _, l)| l)) {
            assert_eq!(l.get(LABEL_SESSION).map(String::as_str), Some("trio-ana"));
        }
    }

    #[test]
    fn an_assessment_plan_is_sealed_and_publishes_only_through_its_gate() {
        let lab = trio();
        let params = lab.draw_params("bo", 1).expect("drawn");
        let req = StartRequest {
            ssh_bind: Some("127.0.0.1".into()),
            isolated: true,
            ..StartRequest::practice(&lab, "bo", 1)
        };
        let plan = Runner::plan(&lab, "c-bo", &req, &params, &BTreeMap::new()).expect("plan");
        let reach: Vec<Reach> = plan.networks.iter().map(|(_, r, _)| *r).collect();
        assert_eq!(
            reach,
            [Reach::Sealed, Reach::Sealed, Reach::Outside],
            "lab networks, then the edge"
        );
        assert!(plan.networks[2].0.ends_with(EDGE));
        let gate = plan.containers.last().expect("a gate");
        assert_eq!(gate.service, GATE);
        for c in &plan.containers[..plan.containers.len() - 1] {
            assert!(
                c.spec.ports.is_empty(),
                "{} publishes nothing itself",
                c.service
            );
        }
    }

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
