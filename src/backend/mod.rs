//! The container engine as opslab sees it: plain types, the `Backend` trait every engine
//! implements (`docker.rs`, the only file of the project that knows bollard; `fake.rs`, in
//! memory, for unit tests), and `Engine` (`engine.rs`), the handle the rest of opslab holds,
//! which bounds what it reads of any stream a container controls whatever the backend.

pub mod docker;
mod engine;
#[cfg(test)]
pub mod fake;
pub mod swarm;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

pub use engine::{collect_exec, Engine, EngineKind};

pub use crate::labels::{
    LABEL_EPHEMERAL, LABEL_LAB, LABEL_MANAGED, LABEL_OWNER_PID, LABEL_SERVICE, LABEL_SESSION,
    LABEL_TRAINEE,
};

/// The most opslab reads of any one stream a container controls (an exec's stdout, its stderr,
/// logs, a file read through the archive API, an HTTP body): a trainee's endless stream must not
/// take opslab's memory, nor the class watcher's. Past it, reading stops and the reader says so.
pub const OUTPUT_LIMIT: usize = 1 << 20;

/// A container's CPU limit when its lab sets none, in billionths of a CPU: one CPU, so that a
/// busy loop takes at most one core of the machine, whatever the class size (every container
/// also has the same CPU weight, so a class shares what is left evenly).
pub const DEFAULT_NANO_CPUS: i64 = 1_000_000_000;

/// An engine call that failed. The cause is kept (as its source) without its type: no engine
/// library's type leaves its backend.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no Docker engine answers ({0})")]
    Unreachable(String),
    #[error("{op} failed: {source}")]
    Op {
        /// What was asked (`inspect opslab-x-web`).
        op: String,
        /// The engine's HTTP status, when it answered with one.
        status: Option<u16>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    /// The engine answered `op` with an HTTP status and a message.
    pub fn status(op: impl Into<String>, status: u16, message: impl Into<String>) -> EngineError {
        EngineError::Op {
            op: op.into(),
            status: Some(status),
            source: message.into().into(),
        }
    }

    /// The engine refused because the object is in use (a volume or network a container still
    /// holds, often one whose removal is under way).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            EngineError::Op {
                status: Some(409),
                ..
            }
        )
    }

    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            EngineError::Op {
                status: Some(404),
                ..
            }
        )
    }
}

/// How far a network reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A route out through the host (the engine's default bridge behaviour).
    Outside,
    /// No route out: the engine's `internal` networks.
    Internal,
    /// Internal, and the host holds no address on it either: nothing outside the network
    /// answers, not even the host's own services (an assessment's sessions).
    Sealed,
}

/// What a container must be.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub hostname: String,
    pub command: Option<Vec<String>>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    /// First network with aliases; the others are connected after creation.
    pub networks: Vec<(String, Vec<String>)>,
    pub ports: Vec<u16>,
    /// Host address the ports are published on: loopback unless a trainer chose otherwise.
    pub bind: String,
    /// Ports published on another address than `bind` (an assessment's SSH port).
    pub bind_for: HashMap<u16, String>,
    pub memory: i64,
    pub pids: i64,
    /// CPU limit in billionths of a CPU (`DEFAULT_NANO_CPUS` unless the lab sets `cpus`); the
    /// engine gets at most the cores it has.
    pub nano_cpus: i64,
    pub health: Option<String>,
    /// How often the engine runs the health command (every check is an exec: classes of many
    /// sessions space them out).
    pub health_interval: std::time::Duration,
    pub volumes: Vec<(String, String)>,
    /// The memory of every container of the session together. An engine of several machines
    /// (a swarm) reserves it on the machine it places the session's first container on, and
    /// keeps the session's other containers there; one engine ignores it.
    pub session_memory: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ContainerState {
    pub id: String,
    pub name: String,
    pub running: bool,
    pub paused: bool,
    pub status: String,
    /// "healthy", "unhealthy", "starting", or "none" when the container has no health check.
    pub health: String,
    /// The shell command the engine runs as the container's health check, if any.
    pub health_check: Option<String>,
    pub restart_count: i64,
    pub image: String,
    pub labels: HashMap<String, String>,
    /// container port -> host port on 127.0.0.1
    pub ports: HashMap<u16, u16>,
    pub started_at: String,
    pub memory_limit: i64,
    pub pids_limit: i64,
    pub privileged: bool,
    pub mounts: Vec<String>,
    pub networks: Vec<String>,
    /// The container's addresses on its networks (to recognise a sender, never to send to).
    pub ips: Vec<String>,
    /// The machine that runs it on an engine of several (a swarm node's hostname); empty on
    /// one engine.
    pub node: String,
    /// On a swarm: the address trainees reach the node at (its `opslab.address` label, else
    /// the address it has in the swarm), and the ports published there (container port ->
    /// node port). Empty on one engine, where `ports` says it all.
    pub node_address: String,
    pub node_ports: HashMap<u16, u16>,
    /// The node has no `opslab.address` label: `node_address` is its swarm address, which
    /// trainees may not reach.
    pub node_address_guessed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// -1 when the output was truncated: the command was stopped before it said.
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    /// stdout or stderr passed `OUTPUT_LIMIT`: what is above is its beginning, the command was
    /// killed, and stderr ends with a line that says so (for callers that only show output).
    pub truncated: bool,
}

/// Bytes read from a stream a container controls, at most `OUTPUT_LIMIT` of them.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub bytes: Vec<u8>,
    /// The stream had more: it was not read further.
    pub truncated: bool,
}

impl Captured {
    /// Appends a chunk, keeping at most `limit` bytes; false once the limit is passed (stop
    /// reading then).
    pub fn push(&mut self, chunk: &[u8], limit: usize) -> bool {
        let room = limit.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.bytes.extend_from_slice(&chunk[..room]);
            self.truncated = true;
            return false;
        }
        self.bytes.extend_from_slice(chunk);
        true
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
}

impl From<bollard::models::Network> for Listed {
    fn from(n: bollard::models::Network) -> Listed {
        Listed {
            id: n.id.unwrap_or_default(),
            name: n.name.unwrap_or_default(),
            labels: n.labels.unwrap_or_default(),
        }
    }
}

/// A volume is known by its name: it is its id too.
impl From<bollard::models::Volume> for Listed {
    fn from(v: bollard::models::Volume) -> Listed {
        Listed {
            id: v.name.clone(),
            name: v.name,
            labels: v.labels,
        }
    }
}

/// One line of a build's progress.
pub enum BuildEvent {
    Step(String),
    Output(String),
}

/// A piece of what a command run in a container wrote.
#[derive(Debug, Clone)]
pub enum Chunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// A command to run in a container, its output read by `Engine::exec`.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    pub user: Option<String>,
    /// How long the command may run: the backend has it killed inside the container past it
    /// (the reader abandons the wait a little later anyway).
    pub timeout: Duration,
    /// Written to the command's standard input, which is then closed.
    pub stdin: Option<Vec<u8>>,
}

/// A command started in a container, whose output is read piece by piece. Dropping it closes
/// the connection: nothing more is read.
#[async_trait]
pub trait RunningExec: Send {
    /// The next piece of output; None once the command closed its output (or it could not be
    /// read further).
    async fn next(&mut self) -> Option<Chunk>;
    /// The command's exit code, asked once its output ended.
    async fn exit_code(&mut self) -> Result<i64, EngineError>;
    /// Stops the command, whose output will not be read any further (best effort).
    async fn abandon(&mut self);
}

/// Bytes a container controls (logs, an archive of its files), chunk by chunk.
pub type ByteStream<'a> = BoxStream<'a, Result<Vec<u8>, EngineError>>;

/// What sessions, grading and images need of a container engine. Every call names containers
/// by id or name. Removing what is gone is no error, nor is starting what runs or stopping what
/// is stopped. What is read of a container (exec output, logs, archives) comes as a stream: the
/// `Engine` bounds it, so no backend has to.
#[async_trait]
pub trait Backend: Send + Sync {
    // ---- images ----
    /// The id of an image present in the engine, or None.
    async fn image_id(&self, tag: &str) -> Result<Option<String>, EngineError>;
    /// Tries to pull an image from a registry; Err when no registry answers.
    async fn pull(&self, image: &str, tag: &str) -> Result<(), EngineError>;
    /// Imports a root file system tarball as an image.
    async fn import(&self, rootfs_tar: Vec<u8>, repo: &str, tag: &str) -> Result<(), EngineError>;
    /// Builds an image from a tar of its context (its `Dockerfile`); each step and output line
    /// goes to `on_event`. A failed build says at which step, with the output that led to it.
    async fn build(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        buildargs: HashMap<String, String>,
        labels: HashMap<String, String>,
        on_event: &mut (dyn FnMut(BuildEvent) + Send),
    ) -> Result<(), EngineError>;
    /// Writes `tags` with their layers as one archive to `out`; returns its size.
    async fn save_images(
        &self,
        tags: &[String],
        out: &mut tokio::fs::File,
    ) -> Result<u64, EngineError>;
    /// Loads an archive of `save_images`; returns the tags it loaded.
    async fn load_images(&self, file: tokio::fs::File) -> Result<Vec<String>, EngineError>;
    async fn remove_image(&self, tag: &str) -> Result<(), EngineError>;

    // ---- networks and volumes ----
    /// Creates a network; returns its id.
    async fn create_network(
        &self,
        name: &str,
        reach: Reach,
        labels: HashMap<String, String>,
    ) -> Result<String, EngineError>;
    async fn networks_with_label(&self, label: &str) -> Result<Vec<Listed>, EngineError>;
    async fn remove_network(&self, id: &str) -> Result<(), EngineError>;
    async fn connect_network(
        &self,
        container: &str,
        network: &str,
        aliases: Vec<String>,
    ) -> Result<(), EngineError>;
    async fn disconnect(&self, container: &str, network: &str) -> Result<(), EngineError>;
    async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError>;
    async fn volumes_with_label(&self, label: &str) -> Result<Vec<Listed>, EngineError>;
    async fn remove_volume(&self, name: &str) -> Result<(), EngineError>;

    // ---- containers ----
    /// Creates a container (not started) on its networks; returns its id.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError>;
    /// Unpacks a tar into the container at `path`.
    async fn upload(&self, container: &str, path: &str, tar: Vec<u8>) -> Result<(), EngineError>;
    /// A tar of `path` in the container, read through the engine (no tool in it runs).
    fn download<'a>(&'a self, container: &'a str, path: &'a str) -> ByteStream<'a>;
    async fn start(&self, container: &str) -> Result<(), EngineError>;
    async fn stop(&self, container: &str, grace_secs: i64) -> Result<(), EngineError>;
    async fn kill(&self, container: &str, signal: &str) -> Result<(), EngineError>;
    async fn restart(&self, container: &str) -> Result<(), EngineError>;
    async fn rename(&self, container: &str, name: &str) -> Result<(), EngineError>;
    async fn pause(&self, container: &str) -> Result<(), EngineError>;
    async fn unpause(&self, container: &str) -> Result<(), EngineError>;
    /// Removes a container, running or not, with its anonymous volumes.
    async fn remove_container(&self, id: &str) -> Result<(), EngineError>;
    /// Every container (running or not) carrying `label` (`key` or `key=value`).
    async fn containers_with_label(&self, label: &str) -> Result<Vec<Listed>, EngineError>;
    async fn inspect(&self, container: &str) -> Result<ContainerState, EngineError>;
    /// Starts a command in a running container, its stdout and stderr attached.
    async fn exec(
        &self,
        container: &str,
        req: ExecRequest,
    ) -> Result<Box<dyn RunningExec>, EngineError>;
    /// An interactive TTY session wired to this process's terminal; returns the exit code.
    async fn exec_interactive(
        &self,
        container: &str,
        cmd: Vec<String>,
        user: Option<&str>,
        env: Vec<String>,
        workdir: Option<&str>,
    ) -> Result<i64, EngineError>;
    /// The container's logs (stdout and stderr) since a unix time, oldest first.
    fn logs<'a>(&'a self, container: &'a str, since: i64) -> ByteStream<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_keeps_at_most_the_limit_and_says_so() {
        let mut c = Captured::default();
        assert!(c.push(b"abc", 5));
        assert!(c.push(b"de", 5));
        assert!(!c.truncated);
        assert!(!c.push(b"fgh", 5));
        assert!(c.truncated);
        assert_eq!(c.bytes, b"abcde");
    }

    #[test]
    fn engine_errors_keep_their_status_and_cause() {
        let gone = EngineError::status("inspect x", 404, "No such container: x");
        assert!(gone.is_not_found() && !gone.is_conflict());
        assert_eq!(gone.to_string(), "inspect x failed: No such container: x");
        let source = std::error::Error::source(&gone).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("No such container: x"));
        assert!(EngineError::status("remove volume v", 409, "in use").is_conflict());
        assert!(!EngineError::Other("x".into()).is_not_found());
    }
}
