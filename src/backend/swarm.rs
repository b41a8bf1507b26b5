//! Docker Swarm mode as opslab's engine: the `Swarm` backend. One session is one stack on one
//! node: each service of the lab is a swarm service of one replica, on the session's own
//! attachable overlay networks under its short name (a network alias). The swarm chooses the
//! session's node when it places the session's `place` service, which reserves the memory of
//! the whole session; every service of the session is then constrained to that node. What a
//! container does (exec, files, logs, pause) goes to the engine of the node that runs the
//! service's task, at the address the trainer gave that node in its `opslab.engine` label
//! (`docker node update --label-add opslab.engine=tcp://ADDR:PORT NODE`); start, stop and kill
//! act on the service's command inside its container, which keeps running (`SUPERVISOR`).
//!
//! An opslab "container" is a swarm service here: its id is the service's id, its name the
//! service's name, or its `opslab.name` label once renamed (services cannot be renamed).
//!
//! The supported configuration needs no IPVS: `dnsrr` endpoints (no virtual IP) and ports
//! published in host mode on the node (no routing mesh).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, EndpointSpec, EndpointSpecModeEnum,
    HealthConfig, Limit, Mount, MountTypeEnum, MountVolumeOptions, NetworkAttachmentConfig,
    ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec,
    TaskSpecContainerSpec, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use bollard::network::{CreateNetworkOptions, ListNetworksOptions};
use bollard::service::{InspectServiceOptions, ListServicesOptions};
use bollard::volume::{ListVolumesOptions, RemoveVolumeOptions};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::docker::{op, Docker};
use super::{
    Backend, BuildEvent, ByteStream, ContainerSpec, ContainerState, EngineError, ExecRequest,
    Listed, Reach, RunningExec, DEFAULT_NANO_CPUS, LABEL_SERVICE, LABEL_SESSION,
};
use crate::labels::{
    LABEL_HEALTH, LABEL_NAME, LABEL_NODE_ADDRESS, LABEL_NODE_ENGINE, LABEL_NODE_PORTS, LABEL_ROLE,
};

type Result<T> = std::result::Result<T, EngineError>;

/// What runs as a lab service's container's command: a small supervisor that runs the
/// service's own command (its arguments) in a process group of its own. A swarm task starts as
/// soon as it is placed, and a container that stops leaves the swarm's name resolution for
/// good (only the swarm puts it back, and only in a new container), so the container never
/// stops while its service lives: opslab starts, stops and kills the command inside it. Its
/// files, at the container's root: `.opslab-go` (the first start: files are in place), and
/// while the command must not run, `.opslab-stopped` (written by a stop, or when the command
/// ends by itself, as a container would stop), `.opslab-pid` (the command's process group while
/// it runs), `.opslab-exit` (its last exit code).
const SUPERVISOR: &str = r#"trap 'p=$(cat /.opslab-pid 2>/dev/null) && kill -s TERM -- "-$p" 2>/dev/null; exit 0' TERM INT
while :; do
  if [ -e /.opslab-go ] && [ ! -e /.opslab-stopped ]; then
    setsid "$@" &
    p=$!
    echo "$p" > /.opslab-pid
    while kill -0 "$p" 2>/dev/null; do wait "$p"; echo "$?" > /.opslab-exit; done
    touch /.opslab-stopped
    rm -f /.opslab-pid
  fi
  sleep 0.2
done"#;

/// Starts the command: opens the gate, clears the stop, waits (5 s at most) until it runs.
const START: &str = r#"touch /.opslab-go; rm -f /.opslab-stopped
i=0; while [ ! -e /.opslab-pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; true"#;

/// Stops the command: TERM to its process group, KILL after the grace ($1 tenths of a second),
/// then waits until the supervisor has seen it end.
const STOP: &str = r#"touch /.opslab-stopped
p=$(cat /.opslab-pid 2>/dev/null) || exit 0
kill -s TERM -- "-$p" 2>/dev/null
i=0; while [ -e /.opslab-pid ] && [ $i -lt "$1" ]; do sleep 0.1; i=$((i+1)); done
kill -s KILL -- "-$p" 2>/dev/null
while [ -e /.opslab-pid ]; do sleep 0.1; done; true"#;

/// Sends signal $1 to the command's process group; exit 3 when it does not run.
const KILL: &str = r#"p=$(cat /.opslab-pid 2>/dev/null) || { echo "the service is not running" >&2; exit 3; }
kill -s "$1" -- "-$p""#;

/// Pauses the container: marks it paused (`.opslab-paused`) and sends STOP to every process
/// in it but its init (pid 1), this script and the processes it runs under (the exec's
/// `timeout`).
const PAUSE: &str = r#"touch /.opslab-paused
keep=" 1 $$ "; p=$$
while [ -r "/proc/$p/status" ]; do
  q=""; while read -r k v rest; do [ "$k" = PPid: ] && q=$v && break; done < "/proc/$p/status"
  [ -n "$q" ] && [ "$q" != 0 ] || break
  keep="$keep$q "; p=$q
done
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  case "$keep" in *" $p "*) ;; *) kill -s STOP "$p" 2>/dev/null ;; esac
done; true"#;

/// Unpauses it: CONT to every process in it, the mark removed.
const UNPAUSE: &str = r#"for d in /proc/[0-9]*; do kill -s CONT "${d#/proc/}" 2>/dev/null; done
rm -f /.opslab-paused; true"#;

/// The state of the container's command (`paused`, `created`, `running`, `exited`), then,
/// when it runs and has a health command ($1), `healthy` or `unhealthy`.
const STATE: &str = r#"[ -e /.opslab-paused ] && { echo paused; exit 0; }
[ -e /.opslab-go ] || { echo created; exit 0; }
[ -e /.opslab-stopped ] && { echo exited; exit 0; }
echo running
[ -n "$1" ] || exit 0
if sh -c "$1" >/dev/null 2>&1 </dev/null; then echo healthy; else echo unhealthy; fi"#;

/// How long a new service's task may take to be placed and to run.
const TASK_DEADLINE: Duration = Duration::from_secs(120);

/// The API version of the few swarm calls made without bollard (tasks, nodes): the oldest
/// engine opslab supports speaks it.
const RAW_API: &str = "/v1.41";

/// A node of the swarm, as opslab reaches it.
#[derive(Clone)]
struct Node {
    id: String,
    hostname: String,
    /// The address of its engine (its `opslab.engine` label), when the trainer gave one.
    engine: Option<String>,
    /// "ready", "down", "disconnected", "unknown".
    state: String,
    nano_cpus: i64,
    /// The address trainees reach it at: its `opslab.address` label, else the address the
    /// node has in the swarm (`address_guessed`).
    address: String,
    address_guessed: bool,
    /// The ports opslab publishes on there (its `opslab.ports` label, `FIRST-LAST`).
    ports: Option<(u16, u16)>,
}

/// A swarm, through its manager's engine.
pub struct Swarm {
    /// The manager's engine: images, services, networks.
    manager: Docker,
    /// Its address, for the calls bollard does not have (tasks, nodes).
    address: String,
    /// The engines of the nodes met so far, by node id.
    engines: tokio::sync::Mutex<HashMap<String, Docker>>,
    /// service id -> (node id, container id) of its running task, as last found.
    located: Mutex<HashMap<String, (String, String)>>,
    /// session -> the node its services go to (the first service's node), held while that
    /// first service is placed.
    placing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<String>>>>>,
    /// Volumes asked for, created on the node with the service that mounts them: name -> labels.
    volumes: Mutex<HashMap<String, HashMap<String, String>>>,
    /// Held while ports are chosen on a node and the service that publishes them is created.
    publishing: tokio::sync::Mutex<()>,
    /// The registry inside the cluster the nodes pull images from (`OPSLAB_REGISTRY`,
    /// `HOST:PORT` as the nodes' engines and the manager's name it), if any.
    registry: Option<String>,
    /// Image tag -> its reference in the registry, pinned by digest, once pushed.
    pushed: tokio::sync::Mutex<HashMap<String, String>>,
    /// (service, network) -> the service's address there, for the interfaces `disconnect`
    /// took down.
    cut: Mutex<HashMap<(String, String), String>>,
}

/// The environment variable naming the swarm's registry (`HOST:PORT`): opslab pushes the
/// images of sessions there and the services pull them by digest. Without it, every node must
/// hold the images (loaded into each).
pub const REGISTRY_ENV: &str = "OPSLAB_REGISTRY";

impl Swarm {
    /// Connects to the swarm's manager at `host` (`tcp://ADDRESS:PORT`, `unix:///PATH`), or the
    /// local engine (DOCKER_HOST or the default socket), and checks it manages a swarm.
    pub async fn connect(host: Option<&str>) -> Result<Swarm> {
        let address = match host {
            Some(h) => h.to_string(),
            None => std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unix:///var/run/docker.sock".into()),
        };
        let manager = Docker::connect_to(Some(&address)).await?;
        let info = manager.client().info().await.map_err(op("engine info"))?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.control_available != Some(true) {
            return Err(EngineError::Other(format!(
                "the engine at {address} is not a swarm manager (swarm state: {}); give a \
                 manager's address with --engine-host or DOCKER_HOST",
                swarm
                    .local_node_state
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into())
            )));
        }
        Ok(Swarm {
            manager,
            address,
            engines: Default::default(),
            located: Default::default(),
            placing: Default::default(),
            volumes: Default::default(),
            publishing: Default::default(),
            registry: std::env::var(REGISTRY_ENV)
                .ok()
                .map(|r| r.trim().trim_end_matches('/').to_string())
                .filter(|r| !r.is_empty()),
            pushed: Default::default(),
            cut: Default::default(),
        })
    }

    /// GET of the manager's API, for what bollard lacks (tasks and nodes): a plain HTTP/1.0
    /// request over TCP or the unix socket, read to its end.
    async fn get(&self, path: &str) -> Result<Value> {
        self.request("GET", path, None).await
    }

    /// A request of the manager's API with an optional JSON body (see `get`).
    async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let what = format!("{method} {path}");
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {RAW_API}{path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let exchange = async {
            let mut raw = Vec::new();
            if let Some(sock) = self.address.strip_prefix("unix://") {
                let mut s = tokio::net::UnixStream::connect(sock).await?;
                s.write_all(request.as_bytes()).await?;
                s.read_to_end(&mut raw).await?;
            } else {
                let hostport = self
                    .address
                    .trim_start_matches("tcp://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/');
                let mut s = tokio::net::TcpStream::connect(hostport).await?;
                s.write_all(request.as_bytes()).await?;
                s.read_to_end(&mut raw).await?;
            }
            Ok::<_, std::io::Error>(raw)
        };
        let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
            .await
            .map_err(|_| EngineError::Unreachable(format!("{}: no answer in 30s", self.address)))?
            .map_err(|e| EngineError::Unreachable(format!("{}: {e}", self.address)))?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| EngineError::Other(format!("{what}: not an HTTP answer")))?;
        let head = String::from_utf8_lossy(&raw[..split]);
        let body = &raw[split + 4..];
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let message = value["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
            return Err(EngineError::status(what, status, message));
        }
        Ok(value)
    }

    /// Every node of the swarm.
    async fn nodes(&self) -> Result<Vec<Node>> {
        let list = self.get("/nodes").await?;
        Ok(list
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(node_of)
            .collect())
    }

    async fn node(&self, id: &str) -> Result<Node> {
        Ok(node_of(&self.get(&format!("/nodes/{id}")).await?))
    }

    /// The engine of a node, at the address of its `opslab.engine` label.
    async fn engine_of(&self, node: &Node) -> Result<Docker> {
        let mut engines = self.engines.lock().await;
        if let Some(d) = engines.get(&node.id) {
            return Ok(d.clone());
        }
        let Some(address) = &node.engine else {
            return Err(EngineError::Other(format!(
                "swarm node {} has no `{LABEL_NODE_ENGINE}` label: opslab reaches each node's \
                 engine at the address given there (on a manager: docker node update \
                 --label-add {LABEL_NODE_ENGINE}=tcp://ADDRESS:PORT {})",
                node.hostname, node.hostname
            )));
        };
        let d = Docker::connect_to(Some(address)).await.map_err(|e| {
            EngineError::Unreachable(format!(
                "swarm node {} ({}, {address}): {e}",
                node.hostname, node.state
            ))
        })?;
        engines.insert(node.id.clone(), d.clone());
        Ok(d)
    }

    /// The tasks of a service, newest first.
    async fn tasks(&self, service: &str) -> Result<Vec<Value>> {
        let filters = serde_json::json!({ "service": [service] }).to_string();
        let list = self
            .get(&format!("/tasks?filters={}", url_encode(&filters)))
            .await?;
        let mut tasks: Vec<Value> = list.as_array().cloned().unwrap_or_default();
        tasks.sort_by_key(|t| std::cmp::Reverse(t["Version"]["Index"].as_u64().unwrap_or(0)));
        Ok(tasks)
    }

    /// The node and the container of a service's task: the task swarm wants running, else the
    /// newest one that has a container (a task that stopped keeps its container).
    async fn locate(&self, service: &str) -> Result<(Docker, String, Node)> {
        let known = self
            .located
            .lock()
            .ok()
            .and_then(|l| l.get(service).cloned());
        let (node_id, cid) = match known {
            Some(k) => k,
            None => {
                let tasks = self.tasks(service).await?;
                let with_container = |t: &&Value| {
                    t["Status"]["ContainerStatus"]["ContainerID"]
                        .as_str()
                        .is_some_and(|c| !c.is_empty())
                        && t["NodeID"].as_str().is_some_and(|n| !n.is_empty())
                };
                let task = tasks
                    .iter()
                    .filter(with_container)
                    .find(|t| t["DesiredState"] == "running")
                    .or_else(|| tasks.iter().find(with_container))
                    .ok_or_else(|| {
                        EngineError::status(
                            format!("inspect {service}"),
                            404,
                            format!("service {service} has no task with a container"),
                        )
                    })?;
                let found = (
                    task["NodeID"].as_str().unwrap_or_default().to_string(),
                    task["Status"]["ContainerStatus"]["ContainerID"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                if let Ok(mut l) = self.located.lock() {
                    l.insert(service.to_string(), found.clone());
                }
                found
            }
        };
        let node = self.node(&node_id).await?;
        if node.state != "ready" {
            return Err(EngineError::Unreachable(format!(
                "swarm node {} that runs {service} is {}",
                node.hostname, node.state
            )));
        }
        Ok((self.engine_of(&node).await?, cid, node))
    }

    /// The node of a session's services: the one of a service already placed (by this process
    /// or an earlier one).
    async fn session_node(&self, session: &str) -> Result<Option<String>> {
        let label = format!("{LABEL_SESSION}={session}");
        for s in self.services_with_label(&label).await? {
            let id = s.id.unwrap_or_default();
            for t in self.tasks(&id).await? {
                if let Some(n) = t["NodeID"].as_str().filter(|n| !n.is_empty()) {
                    return Ok(Some(n.to_string()));
                }
            }
        }
        Ok(None)
    }

    async fn services_with_label(&self, label: &str) -> Result<Vec<bollard::models::Service>> {
        self.manager
            .client()
            .list_services(Some(ListServicesOptions {
                filters: HashMap::from([("label".to_string(), vec![label.to_string()])]),
                status: false,
            }))
            .await
            .map_err(op("list services"))
    }

    /// Waits until a new service's task runs in a container; returns its node. A task the
    /// swarm cannot place or start fails with the swarm's reason.
    async fn wait_running(&self, service: &str, name: &str) -> Result<String> {
        let deadline = Instant::now() + TASK_DEADLINE;
        let mut last = String::from("no task yet");
        loop {
            let tasks = self.tasks(service).await?;
            if let Some(t) = tasks.first() {
                let state = t["Status"]["State"].as_str().unwrap_or_default();
                let message = t["Status"]["Message"].as_str().unwrap_or_default();
                let err = t["Status"]["Err"].as_str().unwrap_or_default();
                let node = t["NodeID"].as_str().unwrap_or_default();
                let cid = t["Status"]["ContainerStatus"]["ContainerID"]
                    .as_str()
                    .unwrap_or_default();
                match state {
                    "running" if !cid.is_empty() => {
                        if let Ok(mut l) = self.located.lock() {
                            l.insert(service.to_string(), (node.to_string(), cid.to_string()));
                        }
                        return Ok(node.to_string());
                    }
                    "failed" | "rejected" | "shutdown" | "complete" | "orphaned" => {
                        let hint = if err.contains("No such image") {
                            "; every node needs the lab's images: load them into each node's \
                             engine (opslab images export, then docker load there) or serve \
                             them from a registry in the cluster"
                        } else {
                            ""
                        };
                        return Err(EngineError::Other(format!(
                            "the swarm could not run {name}: task {state}: {}{hint}",
                            if err.is_empty() { message } else { err }
                        )));
                    }
                    _ => {
                        last = format!(
                            "task {state}: {}",
                            if err.is_empty() { message } else { err }
                        );
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(EngineError::Other(format!(
                    "the swarm did not run {name} within {}s ({last})",
                    TASK_DEADLINE.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Places a session: a service that does nothing but hold, on the node the swarm chooses
    /// for it, a memory reservation for the whole session (a container cannot reserve more
    /// than its own limit). Sessions spread over the nodes by these reservations, and the
    /// session's services go to this node. Returns the node's id.
    async fn place(&self, spec: &ContainerSpec, session: &str) -> Result<String> {
        let (name, service) = place_spec(spec, session);
        let created = self
            .manager
            .client()
            .create_service(service, None)
            .await
            .map_err(op(format!("create service {name}")))?;
        self.wait_running(&created.id.unwrap_or_default(), &name)
            .await
    }

    /// Runs one of the supervisor's scripts in the container, as root; a script that fails is
    /// the engine's refusal (409, as an engine refuses to kill a stopped container).
    #[allow(clippy::too_many_arguments)]
    async fn supervise(
        &self,
        engine: &Docker,
        cid: &str,
        service: &str,
        what: &str,
        script: &str,
        args: &[String],
        secs: u64,
    ) -> Result<()> {
        let mut cmd = vec![
            "sh".to_string(),
            "-c".into(),
            script.into(),
            "opslab".into(),
        ];
        cmd.extend(args.iter().cloned());
        let timeout = Duration::from_secs(secs);
        let req = ExecRequest {
            cmd,
            user: Some("0".into()),
            timeout,
            stdin: None,
        };
        let out = super::collect_exec(engine.exec(cid, req).await?, timeout).await?;
        if out.exit_code != 0 {
            return Err(EngineError::status(
                format!("{what} {service}"),
                409,
                format!("exit {}: {}", out.exit_code, out.stderr.trim()),
            ));
        }
        Ok(())
    }

    /// Waits until the swarm has settled the end of a service's task whose container stopped:
    /// its node shuts an ended task down once, which would stop a container started again
    /// before. Up to 20 s; the start goes ahead then anyway.
    async fn settled(&self, service: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let tasks = self.tasks(service).await?;
            let state = tasks
                .first()
                .and_then(|t| t["Status"]["State"].as_str())
                .unwrap_or_default();
            if matches!(
                state,
                "shutdown" | "failed" | "rejected" | "remove" | "orphaned"
            ) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// The command of a service's container: the image's entrypoint and the lab's command (or
    /// the image's), run by the supervisor (`SUPERVISOR`).
    async fn gated_command(&self, spec: &ContainerSpec) -> Result<Vec<String>> {
        let image = self
            .manager
            .client()
            .inspect_image(&spec.image)
            .await
            .map_err(op(format!("inspect image {}", spec.image)))?;
        let cfg = image.config.unwrap_or_default();
        let mut argv = cfg.entrypoint.unwrap_or_default();
        match &spec.command {
            Some(c) => argv.extend(c.iter().cloned()),
            None => argv.extend(cfg.cmd.unwrap_or_default()),
        }
        if argv.is_empty() {
            return Err(EngineError::Other(format!(
                "{}: neither the lab nor the image {} gives a command",
                spec.name, spec.image
            )));
        }
        let mut full = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            SUPERVISOR.to_string(),
            "opslab-supervisor".into(),
        ];
        full.extend(argv);
        Ok(full)
    }

    /// The CPU limit a node accepts: at most the cores of the smallest node.
    async fn cpu_cap(&self, wanted: i64) -> Result<i64> {
        let wanted = if wanted > 0 {
            wanted
        } else {
            DEFAULT_NANO_CPUS
        };
        let smallest = self
            .nodes()
            .await?
            .iter()
            .map(|n| n.nano_cpus)
            .filter(|c| *c > 0)
            .min();
        Ok(smallest.map_or(wanted, |s| wanted.min(s)))
    }

    /// The node ports of a service's published ports (container port -> node port): free
    /// ones of the node's `opslab.ports` range, or none (the node's engine picks them) when
    /// the node has no range.
    async fn choose_ports(&self, spec: &ContainerSpec, node: &str) -> Result<HashMap<u16, u16>> {
        if spec.ports.is_empty() {
            return Ok(HashMap::new());
        }
        let n = self.node(node).await?;
        let Some((first, last)) = n.ports else {
            return Ok(HashMap::new());
        };
        let services = self
            .manager
            .client()
            .list_services(None::<ListServicesOptions<String>>)
            .await
            .map_err(op("list services"))?;
        let used = published_on(&services, node);
        // From a random place in the range: two opslab processes placing sessions on the same
        // node at the same moment seldom choose the same port.
        let mut free: Vec<u16> = (first..=last).filter(|p| !used.contains(p)).collect();
        if !free.is_empty() {
            use rand::Rng;
            let at = rand::thread_rng().gen_range(0..free.len());
            free.rotate_left(at);
        }
        let mut free = free.into_iter();
        let mut out = HashMap::new();
        for p in &spec.ports {
            let Some(np) = free.next() else {
                return Err(EngineError::Other(format!(
                    "swarm node {} has no free port left in its {LABEL_NODE_PORTS} range \
                     {first}-{last}",
                    n.hostname
                )));
            };
            out.insert(*p, np);
        }
        Ok(out)
    }

    /// The image a service runs: its tag, or, with a registry in the cluster, the image pushed
    /// there (through the manager's engine) under the same repository and content-hash tag,
    /// pinned by digest (`REGISTRY/opslab/NAME:HASH@sha256:…`), which the nodes pull.
    async fn pinned(&self, tag: &str) -> Result<String> {
        let Some(registry) = &self.registry else {
            return Ok(tag.to_string());
        };
        let mut pushed = self.pushed.lock().await;
        if let Some(p) = pushed.get(tag) {
            return Ok(p.clone());
        }
        let (repo, version) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
        let target = format!("{registry}/{repo}");
        let client = self.manager.client();
        client
            .tag_image(
                tag,
                Some(bollard::image::TagImageOptions {
                    repo: target.clone(),
                    tag: version.to_string(),
                }),
            )
            .await
            .map_err(op(format!("tag {tag} as {target}:{version}")))?;
        let mut push = client.push_image(
            &target,
            Some(bollard::image::PushImageOptions {
                tag: version.to_string(),
            }),
            None,
        );
        while let Some(step) = push.next().await {
            step.map_err(op(format!("push {target}:{version}")))?;
        }
        let image = client
            .inspect_image(&format!("{target}:{version}"))
            .await
            .map_err(op(format!("inspect image {target}:{version}")))?;
        let digest = image
            .repo_digests
            .unwrap_or_default()
            .into_iter()
            .find_map(|d| d.strip_prefix(&format!("{target}@")).map(str::to_string))
            .ok_or_else(|| {
                EngineError::Other(format!(
                    "{target}:{version} was pushed to {registry}, which gave no digest"
                ))
            })?;
        let pinned = format!("{target}:{version}@{digest}");
        pushed.insert(tag.to_string(), pinned.clone());
        Ok(pinned)
    }

    /// The node ports of a service's published ports (container port -> node port): those
    /// its definition fixes, and those the node's engine picked, from the status of the task
    /// whose container is `cid`.
    async fn node_ports(
        &self,
        service: &str,
        cid: &str,
        wanted: &[(u16, u16)],
    ) -> Result<HashMap<u16, u16>> {
        let mut out: HashMap<u16, u16> = wanted.iter().filter(|(_, n)| *n > 0).copied().collect();
        if out.len() == wanted.len() {
            return Ok(out);
        }
        for t in self.tasks(service).await? {
            if t["Status"]["ContainerStatus"]["ContainerID"].as_str() != Some(cid) {
                continue;
            }
            for p in t["Status"]["PortStatus"]["Ports"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let target = p["TargetPort"].as_u64().and_then(|t| u16::try_from(t).ok());
                let published = p["PublishedPort"]
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok());
                if let (Some(t), Some(n)) = (target, published) {
                    out.insert(t, n);
                }
            }
        }
        Ok(out)
    }

    /// Takes the interface that holds `address` in the network namespace of container `cid`
    /// (service `service`) down, or brings it up: a helper container on the node, in that
    /// namespace with `NET_ADMIN` only, from the session's grader image (its Python), labelled
    /// as the session's, removed once done.
    async fn set_link(
        &self,
        engine: &Docker,
        service: &str,
        cid: &str,
        address: &str,
        up: bool,
    ) -> Result<()> {
        let what = format!(
            "{} {service}'s interface {address}",
            if up { "bring up" } else { "take down" }
        );
        let svc = self
            .manager
            .client()
            .inspect_service(service, None::<InspectServiceOptions>)
            .await
            .map_err(op(format!("inspect {service}")))?;
        let mut labels = svc.spec.and_then(|s| s.labels).unwrap_or_default();
        let session = labels.get(LABEL_SESSION).cloned().unwrap_or_default();
        let image = self.grader_image(&session).await?.ok_or_else(|| {
            EngineError::Other(format!("{what}: the session {session} has no grader image"))
        })?;
        labels.retain(|k, _| k.starts_with("opslab."));
        labels.insert(LABEL_ROLE.to_string(), "link".to_string());
        labels.remove(LABEL_HEALTH);
        let config = bollard::container::Config {
            image: Some(image),
            cmd: Some(vec![
                "python3".to_string(),
                "-c".into(),
                SET_LINK.into(),
                address.into(),
                if up { "up" } else { "down" }.into(),
            ]),
            labels: Some(labels),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some(format!("container:{cid}")),
                cap_drop: Some(vec!["ALL".into()]),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                memory: Some(64 << 20),
                pids_limit: Some(16),
                ..Default::default()
            }),
            ..Default::default()
        };
        run_helper(engine, config, &what).await
    }

    /// The image of a session's grader service.
    async fn grader_image(&self, session: &str) -> Result<Option<String>> {
        Ok(self
            .services_with_label(&format!("{LABEL_SESSION}={session}"))
            .await?
            .into_iter()
            .filter_map(|s| s.spec)
            .find(|s| {
                s.labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_ROLE))
                    .is_some_and(|r| r == "grader")
            })
            .and_then(|s| s.task_template?.container_spec?.image))
    }

    fn slot(&self, session: &str) -> Arc<tokio::sync::Mutex<Option<String>>> {
        let mut placing = match self.placing.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        placing.entry(session.to_string()).or_default().clone()
    }

    /// Every reachable node's engine. A node that is down, or whose engine does not answer, is
    /// left out: what it holds is out of reach with it (the swarm removes the containers of
    /// removed services when it comes back; a later `gc` takes its volumes). A node without
    /// an `opslab.engine` label is an error: opslab could never clean it.
    async fn node_engines(&self) -> Result<Vec<(Node, Docker)>> {
        let mut out = Vec::new();
        for n in self.nodes().await? {
            if n.state != "ready" {
                continue;
            }
            match self.engine_of(&n).await {
                Ok(d) => out.push((n.clone(), d)),
                Err(EngineError::Unreachable(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// A lab service as a swarm service of one replica on `node`, its container waiting for its
/// gate (`command`).
fn service_spec(
    spec: &ContainerSpec,
    command: Vec<String>,
    nano_cpus: i64,
    node: &str,
    volumes: &HashMap<String, HashMap<String, String>>,
    published: &HashMap<u16, u16>,
) -> ServiceSpec {
    let mounts = mounts_of(spec, volumes);
    let health_check = no_health();
    let labels = labels_of(spec);
    ServiceSpec {
        name: Some(spec.name.clone()),
        labels: Some(labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(spec.image.clone()),
                labels: Some(labels),
                command: Some(command),
                hostname: Some(spec.hostname.clone()),
                env: Some(spec.env.clone()),
                mounts: Some(mounts),
                health_check,
                init: Some(true),
                stop_grace_period: Some(10_000_000_000),
                capability_drop: Some(vec!["CAP_NET_RAW".into(), "CAP_MKNOD".into()]),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    nano_cpus: Some(nano_cpus),
                    memory_bytes: Some(spec.memory),
                    pids: Some(spec.pids),
                }),
                // The session's place holds the reservation of the whole session.
                reservations: None,
            }),
            // A service opslab stops (a grading's outage) stays stopped until opslab
            // starts it again: the swarm must not replace its container.
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={node}")]),
                ..Default::default()
            }),
            networks: Some(
                spec.networks
                    .iter()
                    .map(|(net, aliases)| NetworkAttachmentConfig {
                        target: Some(net.clone()),
                        aliases: Some(aliases.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            log_driver: Some(TaskSpecLogDriver {
                name: Some("json-file".into()),
                options: Some(HashMap::from([
                    ("max-size".to_string(), "10m".to_string()),
                    ("max-file".to_string(), "2".to_string()),
                ])),
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        endpoint_spec: Some(endpoint_of(spec, published)),
        ..Default::default()
    }
}

/// The service's volumes, with the labels `create_volume` was given: the node makes them
/// when the task starts.
fn mounts_of(
    spec: &ContainerSpec,
    volumes: &HashMap<String, HashMap<String, String>>,
) -> Vec<Mount> {
    spec.volumes
        .iter()
        .map(|(name, to)| Mount {
            target: Some(to.clone()),
            source: Some(name.clone()),
            typ: Some(MountTypeEnum::VOLUME),
            volume_options: Some(MountVolumeOptions {
                labels: volumes.get(name).cloned(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

/// The service that places a session (see `Swarm::place`): its name and definition.
fn place_spec(spec: &ContainerSpec, session: &str) -> (String, ServiceSpec) {
    let name = format!("opslab-{session}--place");
    let mut labels = spec.labels.clone();
    labels.remove(LABEL_SERVICE);
    labels.insert(LABEL_ROLE.to_string(), "place".to_string());
    let memory = spec.session_memory.max(spec.memory).max(16 << 20);
    let service = ServiceSpec {
        name: Some(name.clone()),
        labels: Some(labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(spec.image.clone()),
                labels: Some(labels),
                command: Some(
                    [
                        "/bin/sh",
                        "-c",
                        "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done",
                    ]
                    .map(String::from)
                    .to_vec(),
                ),
                init: Some(true),
                // The image's own health check (postgres declares one) would judge a
                // container that only holds: the swarm would stop it as unhealthy, and
                // with it the session's reservation, half a minute after it started.
                health_check: no_health(),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    nano_cpus: Some(10_000_000),
                    memory_bytes: Some(memory),
                    pids: Some(16),
                }),
                reservations: Some(ResourceObject {
                    memory_bytes: Some(memory),
                    ..Default::default()
                }),
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        ..Default::default()
    };
    (name, service)
}

/// No health check for the swarm: it stops a container whose check fails (a trainee's broken
/// service would vanish, where one engine keeps it running). opslab runs the check itself
/// (`opslab.health`, see `inspect`); `NONE` also turns off one the image declares.
fn no_health() -> Option<HealthConfig> {
    Some(HealthConfig {
        test: Some(vec!["NONE".into()]),
        ..Default::default()
    })
}

/// The labels of a lab service's swarm service: the session's, and its health command.
fn labels_of(spec: &ContainerSpec) -> HashMap<String, String> {
    let mut labels = spec.labels.clone();
    if let Some(cmd) = &spec.health {
        labels.insert(LABEL_HEALTH.to_string(), cmd.clone());
    }
    labels
}

/// `dnsrr` (no virtual IP: no IPVS needed), ports published in host mode on the node, on the
/// node ports chosen (`published`), else on ports the node's engine picks.
fn endpoint_of(spec: &ContainerSpec, published: &HashMap<u16, u16>) -> EndpointSpec {
    EndpointSpec {
        mode: Some(EndpointSpecModeEnum::DNSRR),
        ports: Some(
            spec.ports
                .iter()
                .map(|p| EndpointPortConfig {
                    target_port: Some(i64::from(*p)),
                    published_port: published.get(p).map(|n| i64::from(*n)),
                    publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                    ..Default::default()
                })
                .collect(),
        ),
    }
}

fn node_of(v: &Value) -> Node {
    Node {
        id: v["ID"].as_str().unwrap_or_default().to_string(),
        hostname: v["Description"]["Hostname"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        engine: v["Spec"]["Labels"][LABEL_NODE_ENGINE]
            .as_str()
            .map(str::to_string),
        state: v["Status"]["State"]
            .as_str()
            .unwrap_or("unknown")
            .to_string(),
        nano_cpus: v["Description"]["Resources"]["NanoCPUs"]
            .as_i64()
            .unwrap_or(0),
        address_guessed: v["Spec"]["Labels"][LABEL_NODE_ADDRESS]
            .as_str()
            .is_none_or(|a| a.trim().is_empty()),
        address: v["Spec"]["Labels"][LABEL_NODE_ADDRESS]
            .as_str()
            .filter(|a| !a.trim().is_empty())
            .or_else(|| v["Status"]["Addr"].as_str())
            .unwrap_or_default()
            .trim()
            .to_string(),
        ports: v["Spec"]["Labels"][LABEL_NODE_PORTS]
            .as_str()
            .and_then(port_range),
    }
}

/// `FIRST-LAST` (a node's `opslab.ports`), or None when it is not a range of ports.
fn port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.trim().split_once('-')?;
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a > 0 && a <= b).then_some((a, b))
}

/// The ports published on a node by the services constrained to it (`node.id==NODE`).
fn published_on(services: &[bollard::models::Service], node: &str) -> Vec<u16> {
    let constraint = format!("node.id=={node}");
    services
        .iter()
        .filter_map(|s| s.spec.as_ref())
        .filter(|spec| {
            spec.task_template
                .as_ref()
                .and_then(|t| t.placement.as_ref())
                .and_then(|p| p.constraints.as_ref())
                .is_some_and(|c| c.contains(&constraint))
        })
        .flat_map(|spec| {
            spec.endpoint_spec
                .as_ref()
                .and_then(|e| e.ports.clone())
                .unwrap_or_default()
        })
        .filter_map(|p| p.published_port.and_then(|p| u16::try_from(p).ok()))
        .filter(|p| *p > 0)
        .collect()
}

/// Runs a helper container on a node's engine to its end (60 s at most) and removes it; an
/// exit code other than 0 is the engine's refusal of `what`, with what the helper said.
async fn run_helper(
    engine: &Docker,
    config: bollard::container::Config<String>,
    what: &str,
) -> Result<()> {
    let client = engine.client();
    let helper = client
        .create_container(
            None::<bollard::container::CreateContainerOptions<String>>,
            config,
        )
        .await
        .map_err(op(what.to_string()))?;
    let run = async {
        client
            .start_container(
                &helper.id,
                None::<bollard::container::StartContainerOptions<String>>,
            )
            .await
            .map_err(op(what.to_string()))?;
        let mut wait = client.wait_container(
            &helper.id,
            None::<bollard::container::WaitContainerOptions<String>>,
        );
        let mut code = 0;
        while let Some(w) = wait.next().await {
            match w {
                Ok(r) => code = r.status_code,
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = c,
                Err(e) => return Err(op(what.to_string())(e)),
            }
        }
        Ok(code)
    };
    let code = tokio::time::timeout(Duration::from_secs(60), run).await;
    let said = engine
        .logs(&helper.id, 0)
        .filter_map(|c| async move { c.ok() })
        .concat()
        .await;
    let _ = client
        .remove_container(
            &helper.id,
            Some(bollard::container::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    match code {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(c)) => Err(EngineError::status(
            what,
            409,
            format!("exit {c}: {}", String::from_utf8_lossy(&said).trim()),
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(EngineError::Other(format!("{what}: no end in 60s"))),
    }
}

/// The address of container `cid` on `network`, read from the node's engine.
async fn network_address(engine: &Docker, cid: &str, network: &str) -> Result<String> {
    let c = engine
        .client()
        .inspect_container(cid, None::<bollard::container::InspectContainerOptions>)
        .await
        .map_err(op(format!("inspect {cid}")))?;
    c.network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get(network).cloned())
        .and_then(|e| e.ip_address)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            EngineError::status(
                format!("disconnect from {network}"),
                404,
                format!("the container is not on {network}"),
            )
        })
}

/// Run by `set_link` in the service's network namespace (`python3 -c`, argv: ADDRESS up|down):
/// sets the interface that holds ADDRESS up or down (an interface keeps its IPv4 address while
/// down, so that it is found again). Exit 3 when no interface holds it.
const SET_LINK: &str = r#"import fcntl, socket, struct, sys
address, up = sys.argv[1], sys.argv[2] == "up"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _, name in socket.if_nameindex():
    n = name.encode()[:15]
    try:
        a = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", n))
    except OSError:
        continue
    if socket.inet_ntoa(a[20:24]) != address:
        continue
    flags = struct.unpack("16sh", fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sh", n, 0))[:18])[1]
    flags = flags | 1 if up else flags & ~1
    fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sh", n, flags))
    print(name, "up" if up else "down")
    sys.exit(0)
print("no interface holds", address, file=sys.stderr)
sys.exit(3)
"#;

/// Percent-encodes a query value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn listed(s: bollard::models::Service) -> Listed {
    let spec = s.spec.unwrap_or_default();
    let labels = spec.labels.unwrap_or_default();
    Listed {
        id: s.id.unwrap_or_default(),
        name: labels
            .get(LABEL_NAME)
            .cloned()
            .or(spec.name)
            .unwrap_or_default(),
        labels,
    }
}

#[async_trait]
impl Backend for Swarm {
    // ---- images: the manager's (every node needs them too: see `wait_running`) ----

    async fn image_id(&self, tag: &str) -> Result<Option<String>> {
        self.manager.image_id(tag).await
    }

    async fn pull(&self, image: &str, tag: &str) -> Result<()> {
        self.manager.pull(image, tag).await
    }

    async fn import(&self, rootfs_tar: Vec<u8>, repo: &str, tag: &str) -> Result<()> {
        self.manager.import(rootfs_tar, repo, tag).await
    }

    async fn build(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        buildargs: HashMap<String, String>,
        labels: HashMap<String, String>,
        on_event: &mut (dyn FnMut(BuildEvent) + Send),
    ) -> Result<()> {
        self.manager
            .build(context_tar, tag, buildargs, labels, on_event)
            .await
    }

    async fn save_images(&self, tags: &[String], out: &mut tokio::fs::File) -> Result<u64> {
        self.manager.save_images(tags, out).await
    }

    async fn load_images(&self, file: tokio::fs::File) -> Result<Vec<String>> {
        self.manager.load_images(file).await
    }

    async fn remove_image(&self, tag: &str) -> Result<()> {
        self.manager.remove_image(tag).await
    }

    // ---- networks and volumes ----

    /// An attachable overlay network: its containers reach each other across nodes, and an
    /// internal one has no route out (an overlay network never gives the host an address).
    async fn create_network(
        &self,
        name: &str,
        reach: Reach,
        labels: HashMap<String, String>,
    ) -> Result<String> {
        let r = self
            .manager
            .client()
            .create_network(CreateNetworkOptions {
                name: name.to_string(),
                check_duplicate: true,
                driver: "overlay".to_string(),
                internal: reach != Reach::Outside,
                attachable: true,
                labels,
                ..Default::default()
            })
            .await
            .map_err(op(format!("create network {name}")))?;
        Ok(r.id)
    }

    async fn networks_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        let mut filters = HashMap::new();
        filters.insert("label", vec![label]);
        let list = self
            .manager
            .client()
            .list_networks(Some(ListNetworksOptions { filters }))
            .await
            .map_err(op("list networks"))?;
        Ok(list
            .into_iter()
            .filter(|n| n.scope.as_deref() == Some("swarm"))
            .map(Listed::from)
            .collect())
    }

    /// Removes a network once the tasks of removed services have left it (the swarm refuses
    /// while one is attached): up to about 30 s.
    async fn remove_network(&self, id: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.manager.client().remove_network(id).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                    if message.contains("in use") && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(op(format!("remove network {id}"))(e)),
            }
        }
    }

    /// Brings back an interface `disconnect` took down; a service cannot join a network it
    /// was not defined with (that would replace its container).
    async fn connect_network(
        &self,
        container: &str,
        network: &str,
        _aliases: Vec<String>,
    ) -> Result<()> {
        let cut = self.cut.lock().ok().and_then(|c| {
            c.get(&(container.to_string(), network.to_string()))
                .cloned()
        });
        if let Some(address) = cut {
            let (engine, cid, _) = self.locate(container).await?;
            self.set_link(&engine, container, &cid, &address, true)
                .await?;
            if let Ok(mut c) = self.cut.lock() {
                c.remove(&(container.to_string(), network.to_string()));
            }
            return Ok(());
        }
        Err(EngineError::status(
            format!("connect {container} to {network}"),
            501,
            "a swarm service's networks are part of its definition: connecting a running \
             one is not supported on a swarm session",
        ))
    }

    /// Swarm networks refuse `disconnect` (and changing a service's networks replaces its
    /// container): the service's interface on the network is taken down instead, from inside
    /// its network namespace, by a helper container on its node (`set_link`). Its address
    /// stays; nothing reaches it, nor leaves through it, until `connect_network` brings it up.
    async fn disconnect(&self, container: &str, network: &str) -> Result<()> {
        let (engine, cid, _) = self.locate(container).await?;
        let address = network_address(&engine, &cid, network).await?;
        self.set_link(&engine, container, &cid, &address, false)
            .await?;
        if let Ok(mut cut) = self.cut.lock() {
            cut.insert((container.to_string(), network.to_string()), address);
        }
        Ok(())
    }

    /// Remembers the volume: it is made on the node of the service that mounts it, with these
    /// labels, when that service's task starts.
    async fn create_volume(&self, name: &str, labels: HashMap<String, String>) -> Result<()> {
        if let Ok(mut v) = self.volumes.lock() {
            v.insert(name.to_string(), labels);
        }
        Ok(())
    }

    /// The volumes with `label` on every reachable node.
    async fn volumes_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        let mut out: Vec<Listed> = Vec::new();
        for (node, engine) in self.node_engines().await? {
            let mut filters = HashMap::new();
            filters.insert("label", vec![label]);
            let r = engine
                .client()
                .list_volumes(Some(ListVolumesOptions { filters }))
                .await
                .map_err(op(format!("list volumes of node {}", node.hostname)))?;
            for v in r.volumes.unwrap_or_default() {
                if !out.iter().any(|o| o.name == v.name) {
                    out.push(Listed::from(v));
                }
            }
        }
        Ok(out)
    }

    /// Removes the volume from every reachable node that has it.
    async fn remove_volume(&self, name: &str) -> Result<()> {
        for (node, engine) in self.node_engines().await? {
            match engine
                .client()
                .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
                .await
            {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(op(format!("remove volume {name} on {}", node.hostname))(e)),
            }
        }
        Ok(())
    }

    // ---- containers: swarm services of one replica ----

    /// Creates the service; its task runs its container at once, waiting for `start` (the gate
    /// file) before running its command, so that files uploaded meanwhile are in place.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let command = self.gated_command(spec).await?;
        let pinned = ContainerSpec {
            image: self.pinned(&spec.image).await?,
            ..spec.clone()
        };
        let spec = &pinned;
        let nano_cpus = self.cpu_cap(spec.nano_cpus).await?;
        let session = spec.labels.get(LABEL_SESSION).cloned().unwrap_or_default();
        // The session's place is found or made once; its services are then created side by
        // side on its node.
        let node = {
            let slot = self.slot(&session);
            let mut node = slot.lock().await;
            if node.is_none() {
                *node = self.session_node(&session).await?;
            }
            if node.is_none() {
                *node = Some(self.place(spec, &session).await?);
            }
            node.clone().unwrap_or_default()
        };
        let volumes = self.volumes.lock().map(|v| v.clone()).unwrap_or_default();
        // Ports from the node's range, when the trainer gave one: chosen and taken (the
        // service created) under one lock, so that two services never get the same.
        let publishing = self.publishing.lock().await;
        let published = self.choose_ports(spec, &node).await?;
        let service = service_spec(spec, command, nano_cpus, &node, &volumes, &published);
        let created = self
            .manager
            .client()
            .create_service(service, None)
            .await
            .map_err(op(format!("create service {}", spec.name)))?;
        drop(publishing);
        let id = created.id.unwrap_or_default();
        self.wait_running(&id, &spec.name).await?;
        Ok(id)
    }

    async fn upload(&self, container: &str, path: &str, tar: Vec<u8>) -> Result<()> {
        let (engine, cid, _) = self.locate(container).await?;
        engine.upload(&cid, path, tar).await
    }

    fn download<'a>(&'a self, container: &'a str, path: &'a str) -> ByteStream<'a> {
        futures_util::stream::once(async move { self.locate(container).await })
            .flat_map(move |located| match located {
                Ok((engine, cid, _)) => engine
                    .client()
                    .download_from_container(
                        &cid,
                        Some(bollard::container::DownloadFromContainerOptions {
                            path: path.to_string(),
                        }),
                    )
                    .map(move |chunk| {
                        chunk
                            .map(|b| b.to_vec())
                            .map_err(op(format!("read {path} from {container}")))
                    })
                    .boxed(),
                Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
            })
            .boxed()
    }

    /// Runs the service's command (see `SUPERVISOR`); a container stopped by other means is
    /// started again.
    async fn start(&self, container: &str) -> Result<()> {
        let (engine, cid, _) = self.locate(container).await?;
        if !engine.inspect(&cid).await?.running {
            self.settled(container).await?;
            engine.start(&cid).await?;
        }
        self.supervise(&engine, &cid, container, "start", START, &[], 20)
            .await
    }

    /// Stops the service's command, its container left running (see `SUPERVISOR`).
    async fn stop(&self, container: &str, grace_secs: i64) -> Result<()> {
        let (engine, cid, _) = self.locate(container).await?;
        let tenths = (grace_secs.max(0) * 10).to_string();
        let wait = grace_secs.max(0) as u64 + 20;
        self.supervise(&engine, &cid, container, "stop", STOP, &[tenths], wait)
            .await
    }

    async fn kill(&self, container: &str, signal: &str) -> Result<()> {
        let (engine, cid, _) = self.locate(container).await?;
        let signal = signal.trim_start_matches("SIG").to_string();
        self.supervise(&engine, &cid, container, "kill", KILL, &[signal], 20)
            .await
    }

    async fn restart(&self, container: &str) -> Result<()> {
        self.stop(container, 5).await?;
        self.start(container).await
    }

    /// A service cannot be renamed: the new name goes to its `opslab.name` label. The service's
    /// definition goes back to the engine exactly as it gave it, labels aside, so that the
    /// swarm sees no change to its task and keeps its container.
    async fn rename(&self, container: &str, name: &str) -> Result<()> {
        let current = self.get(&format!("/services/{container}")).await?;
        let version = current["Version"]["Index"].as_u64().ok_or_else(|| {
            EngineError::Other(format!("rename {container}: the service has no version"))
        })?;
        let mut spec = current["Spec"].clone();
        if !spec["Labels"].is_object() {
            spec["Labels"] = serde_json::json!({});
        }
        spec["Labels"][LABEL_NAME] = Value::String(name.to_string());
        self.request(
            "POST",
            &format!("/services/{container}/update?version={version}"),
            Some(&spec),
        )
        .await?;
        Ok(())
    }

    /// Stops every process of the container (`PAUSE`) rather than freezing its cgroup: a
    /// command run in a container (a state read, a grading's probe) whose start meets the
    /// freezer stays stuck in it, and the node's engine answers nothing more about that
    /// container, not even `unpause`.
    async fn pause(&self, container: &str) -> Result<()> {
        let (engine, cid, _) = self.locate(container).await?;
        self.supervise(&engine, &cid, container, "pause", PAUSE, &[], 20)
            .await
    }

    async fn unpause(&self, container: &str) -> Result<()> {
        let (engine, cid, _) = self.locate(container).await?;
        self.supervise(&engine, &cid, container, "unpause", UNPAUSE, &[], 20)
            .await
    }

    /// Removes the service; the swarm removes its task's container on its node.
    async fn remove_container(&self, id: &str) -> Result<()> {
        if let Ok(mut l) = self.located.lock() {
            l.remove(id);
        }
        match self.manager.client().delete_service(id).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(op(format!("remove service {id}"))(e)),
        }
    }

    async fn containers_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        Ok(self
            .services_with_label(label)
            .await?
            .into_iter()
            .map(listed)
            .collect())
    }

    /// The state of the service's container, on its node, under the service's id, name and
    /// labels. Its ports are published on the node, not on this machine's loopback: none are
    /// given, so that probes go through the session's grader container.
    async fn inspect(&self, container: &str) -> Result<ContainerState> {
        let service = self
            .manager
            .client()
            .inspect_service(container, None::<InspectServiceOptions>)
            .await
            .map_err(op(format!("inspect {container}")))?;
        let (engine, cid, node) = self.locate(container).await?;
        let mut st = engine.inspect(&cid).await?;
        let wanted: Vec<(u16, u16)> = service
            .spec
            .as_ref()
            .and_then(|s| s.endpoint_spec.as_ref())
            .and_then(|e| e.ports.clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                let target = u16::try_from(p.target_port?).ok()?;
                Some((
                    target,
                    p.published_port
                        .and_then(|n| u16::try_from(n).ok())
                        .unwrap_or(0),
                ))
            })
            .collect();
        let l = listed(service);
        st.id = l.id.clone();
        st.name = l.name;
        st.ports.clear();
        st.node = node.hostname.clone();
        st.node_address = node.address.clone();
        st.node_address_guessed = node.address_guessed;
        st.node_ports = self.node_ports(&l.id, &cid, &wanted).await?;
        // The command's state and health, from its supervisor and opslab's pause (a container
        // the engine stopped or froze runs nothing: the engine's state stands). The health check is run here as the
        // engine would run it (`sh -c`, as the container's user): the swarm is given none.
        st.health_check = l.labels.get(LABEL_HEALTH).cloned();
        st.health = if st.health_check.is_some() {
            "unhealthy".into()
        } else {
            "none".into()
        };
        if st.running && !st.paused {
            let health = st.health_check.clone().unwrap_or_default();
            let req = ExecRequest {
                cmd: vec![
                    "sh".into(),
                    "-c".into(),
                    STATE.into(),
                    "opslab".into(),
                    health,
                ],
                user: None,
                timeout: Duration::from_secs(30),
                stdin: None,
            };
            let run = engine.exec(&cid, req).await?;
            let out = super::collect_exec(run, Duration::from_secs(30)).await?;
            let mut lines = out.stdout.lines();
            let state = lines.next().unwrap_or_default().trim().to_string();
            if let Some(h) = lines.next() {
                st.health = h.trim().to_string();
            }
            st.paused = state == "paused";
            st.running = state == "running" || st.paused;
            if !state.is_empty() {
                st.status = state;
            }
        }
        st.labels = l.labels;
        Ok(st)
    }

    async fn exec(&self, container: &str, req: ExecRequest) -> Result<Box<dyn RunningExec>> {
        let (engine, cid, _) = self.locate(container).await?;
        engine.exec(&cid, req).await
    }

    async fn exec_interactive(
        &self,
        container: &str,
        cmd: Vec<String>,
        user: Option<&str>,
        env: Vec<String>,
        workdir: Option<&str>,
    ) -> Result<i64> {
        let (engine, cid, _) = self.locate(container).await?;
        engine.exec_interactive(&cid, cmd, user, env, workdir).await
    }

    fn logs<'a>(&'a self, container: &'a str, since: i64) -> ByteStream<'a> {
        futures_util::stream::once(async move { self.locate(container).await })
            .flat_map(move |located| match located {
                Ok((engine, cid, _)) => engine
                    .client()
                    .logs(
                        &cid,
                        Some(bollard::container::LogsOptions::<String> {
                            stdout: true,
                            stderr: true,
                            since,
                            tail: "all".into(),
                            ..Default::default()
                        }),
                    )
                    .map(move |item| {
                        item.map(|chunk| chunk.into_bytes().to_vec())
                            .map_err(op(format!("logs of {container}")))
                    })
                    .boxed(),
                Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(
            url_encode(r#"{"service":["a b"]}"#),
            "%7B%22service%22%3A%5B%22a%20b%22%5D%7D"
        );
    }

    #[test]
    fn a_node_is_read_from_the_swarm_api() {
        let v = serde_json::json!({
            "ID": "n1",
            "Spec": { "Labels": {
                "opslab.engine": "tcp://127.0.0.1:2401",
                "opslab.address": "10.0.0.7",
                "opslab.ports": "30000-30099"
            } },
            "Description": { "Hostname": "node-1", "Resources": { "NanoCPUs": 2_000_000_000i64 } },
            "Status": { "State": "ready", "Addr": "172.18.0.2" }
        });
        let n = node_of(&v);
        assert_eq!(n.id, "n1");
        assert_eq!(n.hostname, "node-1");
        assert_eq!(n.engine.as_deref(), Some("tcp://127.0.0.1:2401"));
        assert_eq!(n.state, "ready");
        assert_eq!(n.nano_cpus, 2_000_000_000);
        assert_eq!(n.address, "10.0.0.7");
        assert!(!n.address_guessed);
        assert_eq!(n.ports, Some((30000, 30099)));
        let bare = node_of(&serde_json::json!({ "ID": "n2", "Status": { "Addr": "10.0.0.8" } }));
        assert_eq!(bare.engine, None);
        assert_eq!(bare.state, "unknown");
        assert_eq!(
            bare.address, "10.0.0.8",
            "without its label, the node's swarm address"
        );
        assert!(bare.address_guessed);
        assert_eq!(bare.ports, None);
        assert_eq!(port_range("30000-29999"), None);
        assert_eq!(port_range("x-3"), None);
    }

    #[test]
    fn a_lab_service_is_one_replica_on_its_node_without_ipvs() {
        let spec = ContainerSpec {
            name: "opslab-trio-ana-api".into(),
            image: "opslab/toolbox:1".into(),
            hostname: "api".into(),
            labels: HashMap::from([(LABEL_SESSION.to_string(), "trio-ana".to_string())]),
            networks: vec![
                ("opslab-trio-ana-back".into(), vec!["api".into()]),
                ("opslab-trio-ana-front".into(), vec!["api".into()]),
            ],
            ports: vec![9000],
            memory: 128 << 20,
            pids: 64,
            health: Some("true".into()),
            health_interval: Duration::from_secs(2),
            volumes: vec![("opslab-trio-ana-data".into(), "/srv/data".into())],
            session_memory: 640 << 20,
            ..Default::default()
        };
        let volume_labels = HashMap::from([(
            "opslab-trio-ana-data".to_string(),
            HashMap::from([(LABEL_SESSION.to_string(), "trio-ana".to_string())]),
        )]);
        let cmd = vec!["/bin/sh".to_string()];
        let ports = HashMap::from([(9000, 30001)]);
        let s = service_spec(
            &spec,
            cmd.clone(),
            1_000_000_000,
            "n2",
            &volume_labels,
            &ports,
        );
        assert_eq!(s.name.as_deref(), Some("opslab-trio-ana-api"));
        let mut labels = spec.labels.clone();
        labels.insert(LABEL_HEALTH.to_string(), "true".to_string());
        assert_eq!(
            s.labels,
            Some(labels.clone()),
            "the health command is a label"
        );
        let mode = s.mode.expect("mode").replicated.expect("replicated");
        assert_eq!(mode.replicas, Some(1));
        let task = s.task_template.expect("task");
        let c = task.container_spec.expect("container");
        assert_eq!(c.command, Some(cmd));
        assert_eq!(c.labels, Some(labels));
        let health = c.health_check.and_then(|h| h.test);
        assert_eq!(
            health,
            Some(vec!["NONE".to_string()]),
            "the swarm runs no check"
        );
        let mount = &c.mounts.expect("mounts")[0];
        assert_eq!(mount.source.as_deref(), Some("opslab-trio-ana-data"));
        assert_eq!(
            mount.volume_options.as_ref().and_then(|o| o.labels.clone()),
            volume_labels.get("opslab-trio-ana-data").cloned(),
            "the node makes the volume with the session's labels"
        );
        let constraints = task.placement.expect("placement").constraints;
        assert_eq!(constraints, Some(vec!["node.id==n2".to_string()]));
        assert_eq!(
            task.restart_policy.expect("policy").condition,
            Some(TaskSpecRestartPolicyConditionEnum::NONE)
        );
        let limits = task.resources.expect("resources").limits.expect("limits");
        assert_eq!(limits.memory_bytes, Some(128 << 20));
        assert_eq!(limits.pids, Some(64));
        let nets: Vec<_> = task
            .networks
            .expect("networks")
            .into_iter()
            .map(|n| (n.target.unwrap_or_default(), n.aliases.unwrap_or_default()))
            .collect();
        assert_eq!(nets, spec.networks);
        assert!(s.endpoint_spec.is_some());
    }

    #[test]
    fn a_session_place_reserves_its_memory_and_runs_no_health_check() {
        let spec = ContainerSpec {
            image: "opslab/postgres:1".into(),
            memory: 256 << 20,
            session_memory: 900 << 20,
            ..Default::default()
        };
        let (name, s) = place_spec(&spec, "sprint-restore-ana");
        assert_eq!(name, "opslab-sprint-restore-ana--place");
        let task = s.task_template.expect("task");
        let c = task.container_spec.expect("container");
        assert_eq!(
            c.health_check.and_then(|h| h.test),
            Some(vec!["NONE".to_string()]),
            "an image's own check must not have the swarm stop the place"
        );
        let r = task.resources.expect("resources");
        assert_eq!(
            r.reservations.and_then(|r| r.memory_bytes),
            Some(900 << 20),
            "the place reserves the whole session's memory"
        );
        assert_eq!(
            task.restart_policy.and_then(|p| p.condition),
            Some(TaskSpecRestartPolicyConditionEnum::NONE)
        );
    }

    #[test]
    fn ports_are_published_in_host_mode_on_the_node_ports_chosen() {
        let spec = ContainerSpec {
            ports: vec![9000, 22],
            ..Default::default()
        };
        let ep = endpoint_of(&spec, &HashMap::from([(9000, 30001)]));
        assert_eq!(ep.mode, Some(EndpointSpecModeEnum::DNSRR));
        let ports = ep.ports.expect("ports");
        assert_eq!(ports[0].target_port, Some(9000));
        assert_eq!(ports[0].published_port, Some(30001), "the node port chosen");
        assert_eq!(ports[1].published_port, None, "the node's engine picks");
        assert!(ports
            .iter()
            .all(|p| p.publish_mode == Some(EndpointPortConfigPublishModeEnum::HOST)));
    }

    #[test]
    fn ports_taken_on_a_node_are_read_from_its_services() {
        let on = |node: &str, published: i64| bollard::models::Service {
            spec: Some(ServiceSpec {
                task_template: Some(TaskSpec {
                    placement: Some(TaskSpecPlacement {
                        constraints: Some(vec![format!("node.id=={node}")]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                endpoint_spec: Some(EndpointSpec {
                    ports: Some(vec![EndpointPortConfig {
                        target_port: Some(22),
                        published_port: Some(published),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let services = [on("n1", 30001), on("n2", 30002), on("n1", 0)];
        assert_eq!(published_on(&services, "n1"), [30001]);
        assert_eq!(published_on(&services, "n3"), Vec::<u16>::new());
    }

    #[test]
    fn a_renamed_service_answers_to_its_label() {
        let s = bollard::models::Service {
            id: Some("s1".into()),
            spec: Some(ServiceSpec {
                name: Some("opslab-x-grader-starting".into()),
                labels: Some(HashMap::from([(
                    LABEL_NAME.to_string(),
                    "opslab-x-grader".to_string(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let l = listed(s);
        assert_eq!((l.id.as_str(), l.name.as_str()), ("s1", "opslab-x-grader"));
    }
}
