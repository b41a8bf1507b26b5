//! The container engine as opslab sees it: plain types, and the Docker implementation in
//! `docker.rs`, the only file of the project that knows bollard.

pub mod docker;

use std::collections::HashMap;

pub use docker::Engine;

/// Labels every object opslab creates carries.
pub const LABEL_MANAGED: &str = "opslab.managed";
pub const LABEL_LAB: &str = "opslab.lab";
pub const LABEL_SESSION: &str = "opslab.session";
pub const LABEL_TRAINEE: &str = "opslab.trainee";
pub const LABEL_SERVICE: &str = "opslab.service";
/// Set on the containers of a session that is still being started: `gc` may take them.
pub const LABEL_OWNER_PID: &str = "opslab.owner-pid";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no Docker engine answers ({0})")]
    Unreachable(String),
    #[error("{op} failed: {source}")]
    Op {
        op: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    pub fn op(op: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> EngineError {
        let op = op.into();
        move |source| EngineError::Op { op, source }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            EngineError::Op {
                source: bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                },
                ..
            }
        )
    }
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
    pub memory: i64,
    pub pids: i64,
    pub health: Option<String>,
    /// How often the engine runs the health command (every check is an exec: classes of many
    /// sessions space them out).
    pub health_interval: std::time::Duration,
    pub volumes: Vec<(String, String)>,
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
}

#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
}
