//! The handle opslab holds on its engine: cheap to clone, one `Backend` behind it. Reading what
//! a container controls is bounded here, whatever the backend: at most `OUTPUT_LIMIT` bytes of
//! an exec's stdout and of its stderr, of logs, of an archive (with room for its headers), and
//! an exec is waited for no longer than its timeout and a grace.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::{
    Backend, BuildEvent, ByteStream, Captured, Chunk, ContainerSpec, ContainerState, EngineError,
    ExecOutput, ExecRequest, Listed, Reach, RunningExec, OUTPUT_LIMIT,
};

type Result<T> = std::result::Result<T, EngineError>;

/// Room for the tar headers (a PAX header for a long name, the entry's own) read beside a
/// file's content.
const TAR_HEADROOM: usize = 64 << 10;

/// Ends the stderr of an exec whose output was cut.
const TRUNCATED_NOTE: &str = "\n[opslab: output truncated at 1 MiB; the command was stopped]\n";

/// How long past its timeout an exec's output is still waited for (the command is killed inside
/// the container at its timeout; this is the backstop).
const EXEC_GRACE: Duration = Duration::from_secs(3);

/// Which engine opslab runs sessions on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// One Docker engine.
    #[default]
    Docker,
    /// A Docker Swarm: one session on one node, reached through a manager.
    Swarm,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Swarm => "swarm",
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<EngineKind, String> {
        match s {
            "docker" => Ok(EngineKind::Docker),
            "swarm" => Ok(EngineKind::Swarm),
            _ => Err(format!("no engine `{s}` (engines: docker, swarm)")),
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    backend: Arc<dyn Backend>,
}

impl Engine {
    /// Connects to the local Docker engine (DOCKER_HOST or the default socket).
    pub async fn connect() -> Result<Engine> {
        Ok(Engine::new(super::docker::Docker::connect().await?))
    }

    /// Connects to the engine `kind` names: `docker` (one engine: `host`, else DOCKER_HOST or
    /// the default socket) or `swarm` (a Docker Swarm, through a manager at `host`, else
    /// DOCKER_HOST or the default socket).
    pub async fn connect_kind(kind: EngineKind, host: Option<&str>) -> Result<Engine> {
        Ok(match kind {
            EngineKind::Docker => Engine::new(super::docker::Docker::connect_to(host).await?),
            EngineKind::Swarm => Engine::new(super::swarm::Swarm::connect(host).await?),
        })
    }

    /// An engine on another backend (the fake of the unit tests).
    pub fn new(backend: impl Backend + 'static) -> Engine {
        Engine {
            backend: Arc::new(backend),
        }
    }

    // ---- images ----

    pub async fn image_id(&self, tag: &str) -> Result<Option<String>> {
        self.backend.image_id(tag).await
    }

    pub async fn pull(&self, image: &str, tag: &str) -> Result<()> {
        self.backend.pull(image, tag).await
    }

    pub async fn import(&self, rootfs_tar: Vec<u8>, repo: &str, tag: &str) -> Result<()> {
        self.backend.import(rootfs_tar, repo, tag).await
    }

    pub async fn build(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        buildargs: HashMap<String, String>,
        labels: HashMap<String, String>,
        mut on_event: impl FnMut(BuildEvent) + Send,
    ) -> Result<()> {
        self.backend
            .build(context_tar, tag, buildargs, labels, &mut on_event)
            .await
    }

    pub async fn save_images(&self, tags: &[String], out: &mut tokio::fs::File) -> Result<u64> {
        self.backend.save_images(tags, out).await
    }

    pub async fn load_images(&self, file: tokio::fs::File) -> Result<Vec<String>> {
        self.backend.load_images(file).await
    }

    pub async fn remove_image(&self, tag: &str) -> Result<()> {
        self.backend.remove_image(tag).await
    }

    // ---- networks and volumes ----

    pub async fn create_network(
        &self,
        name: &str,
        reach: Reach,
        labels: HashMap<String, String>,
    ) -> Result<String> {
        self.backend.create_network(name, reach, labels).await
    }

    pub async fn networks_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        self.backend.networks_with_label(label).await
    }

    pub async fn remove_network(&self, id: &str) -> Result<()> {
        self.backend.remove_network(id).await
    }

    pub async fn connect_network(
        &self,
        container: &str,
        network: &str,
        aliases: Vec<String>,
    ) -> Result<()> {
        self.backend
            .connect_network(container, network, aliases)
            .await
    }

    pub async fn disconnect(&self, container: &str, network: &str) -> Result<()> {
        self.backend.disconnect(container, network).await
    }

    pub async fn create_volume(&self, name: &str, labels: HashMap<String, String>) -> Result<()> {
        self.backend.create_volume(name, labels).await
    }

    pub async fn volumes_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        self.backend.volumes_with_label(label).await
    }

    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        self.backend.remove_volume(name).await
    }

    // ---- containers ----

    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        self.backend.create_container(spec).await
    }

    pub async fn upload(&self, container: &str, path: &str, tar: Vec<u8>) -> Result<()> {
        self.backend.upload(container, path, tar).await
    }

    /// A tar of `path` in the container. At most `OUTPUT_LIMIT` bytes of content and room for
    /// the tar headers before it are read: the first entry is complete when it is no larger
    /// than `OUTPUT_LIMIT`.
    pub async fn download(&self, container: &str, path: &str) -> Result<Captured> {
        bounded(
            self.backend.download(container, path),
            OUTPUT_LIMIT + TAR_HEADROOM,
        )
        .await
    }

    pub async fn start(&self, container: &str) -> Result<()> {
        self.backend.start(container).await
    }

    pub async fn stop(&self, container: &str, grace_secs: i64) -> Result<()> {
        self.backend.stop(container, grace_secs).await
    }

    pub async fn kill(&self, container: &str, signal: &str) -> Result<()> {
        self.backend.kill(container, signal).await
    }

    pub async fn restart(&self, container: &str) -> Result<()> {
        self.backend.restart(container).await
    }

    pub async fn rename(&self, container: &str, name: &str) -> Result<()> {
        self.backend.rename(container, name).await
    }

    pub async fn pause(&self, container: &str) -> Result<()> {
        self.backend.pause(container).await
    }

    pub async fn unpause(&self, container: &str) -> Result<()> {
        self.backend.unpause(container).await
    }

    pub async fn remove_container(&self, id: &str) -> Result<()> {
        self.backend.remove_container(id).await
    }

    pub async fn containers_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        self.backend.containers_with_label(label).await
    }

    pub async fn inspect(&self, container: &str) -> Result<ContainerState> {
        self.backend.inspect(container).await
    }

    /// Runs `cmd` in the container and collects its output (see `collect_exec`). Past
    /// `timeout` the command is killed inside the container, and the wait is abandoned here a
    /// little later.
    pub async fn exec(
        &self,
        container: &str,
        cmd: Vec<String>,
        user: Option<&str>,
        timeout: Duration,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput> {
        let req = ExecRequest {
            cmd,
            user: user.map(str::to_string),
            timeout,
            stdin,
        };
        let run = self.backend.exec(container, req).await?;
        collect_exec(run, timeout).await
    }

    /// An interactive TTY session: this process's terminal wired to a command in the
    /// container. Returns the command's exit code.
    pub async fn exec_interactive(
        &self,
        container: &str,
        cmd: Vec<String>,
        user: Option<&str>,
        env: Vec<String>,
        workdir: Option<&str>,
    ) -> Result<i64> {
        self.backend
            .exec_interactive(container, cmd, user, env, workdir)
            .await
    }

    /// A container's health as its service would show it now. The engine runs a health check
    /// only every few seconds, so while it has not yet seen a first success ("starting": just
    /// started or restarted), the check is run here, as the engine runs it (`sh -c`, as the
    /// container's user).
    pub async fn health_now(&self, st: &ContainerState) -> String {
        if st.health != "starting" || !st.running || st.paused {
            return st.health.clone();
        }
        let Some(cmd) = &st.health_check else {
            return st.health.clone();
        };
        let argv = vec!["sh".to_string(), "-c".to_string(), cmd.clone()];
        match self
            .exec(&st.id, argv, None, Duration::from_secs(30), None)
            .await
        {
            Ok(o) if o.exit_code == 0 => "healthy".into(),
            _ => st.health.clone(),
        }
    }

    /// Log lines of the container since a unix time, their first `OUTPUT_LIMIT` bytes (to show a
    /// few of them; a probe uses `logs`, which says whether there were more).
    pub async fn logs_since(&self, container: &str, since: i64) -> Result<String> {
        Ok(self.logs(container, since).await?.text())
    }

    /// The container's logs since a unix time: at most `OUTPUT_LIMIT` bytes, oldest first.
    pub async fn logs(&self, container: &str, since: i64) -> Result<Captured> {
        bounded(self.backend.logs(container, since), OUTPUT_LIMIT).await
    }
}

/// Reads a stream up to `limit` bytes; the rest is not read.
async fn bounded(mut s: ByteStream<'_>, limit: usize) -> Result<Captured> {
    let mut out = Captured::default();
    while let Some(chunk) = s.next().await {
        if !out.push(&chunk?, limit) {
            break;
        }
    }
    Ok(out)
}

/// Reads a started command's output: at most `OUTPUT_LIMIT` bytes of its stdout and of its
/// stderr, for at most `timeout` and a grace. A command cut at the limit is stopped and its
/// output marked truncated (exit code -1, a note at the end of stderr for callers that only
/// show output); one still writing past the grace is marked timed out (exit code 137).
pub async fn collect_exec(mut run: Box<dyn RunningExec>, timeout: Duration) -> Result<ExecOutput> {
    let mut stdout = Captured::default();
    let mut stderr = Captured::default();
    let reading = async {
        while let Some(chunk) = run.next().await {
            let more = match chunk {
                Chunk::Stdout(b) => stdout.push(&b, OUTPUT_LIMIT),
                Chunk::Stderr(b) => stderr.push(&b, OUTPUT_LIMIT),
            };
            if !more {
                break;
            }
        }
    };
    let finished = tokio::time::timeout(timeout + EXEC_GRACE, reading)
        .await
        .is_ok();
    let mut out = ExecOutput {
        stdout: stdout.text(),
        stderr: stderr.text(),
        ..ExecOutput::default()
    };
    if stdout.truncated || stderr.truncated {
        // The command may go on writing to no one: stop it rather than leave it until its
        // timeout.
        run.abandon().await;
        out.truncated = true;
        out.exit_code = -1;
        out.stderr.push_str(TRUNCATED_NOTE);
        return Ok(out);
    }
    if !finished {
        out.timed_out = true;
        out.exit_code = 137;
        return Ok(out);
    }
    out.exit_code = run.exit_code().await?;
    if out.exit_code == 137 || out.exit_code == 124 {
        out.timed_out = true;
    }
    Ok(out)
}
