//! The Docker engine through bollard. The only file that imports bollard: every engine call,
//! its error and its timeout live here. The API version is negotiated with the engine.

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::{
    Config, CreateContainerOptions, DownloadFromContainerOptions, InspectContainerOptions,
    KillContainerOptions, ListContainersOptions, LogOutput, LogsOptions, RemoveContainerOptions,
    StopContainerOptions, UploadToContainerOptions,
};
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::image::{BuildImageOptions, CreateImageOptions, RemoveImageOptions};
use bollard::models::{EndpointSettings, HealthConfig, HostConfig, PortBinding};
use bollard::network::{
    ConnectNetworkOptions, CreateNetworkOptions, DisconnectNetworkOptions, ListNetworksOptions,
};
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{ContainerSpec, ContainerState, EngineError, ExecOutput, Listed};

type Result<T> = std::result::Result<T, EngineError>;

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    pub api_version: String,
}

/// One line of a build's progress.
pub enum BuildEvent {
    Step(String),
    Output(String),
}

impl Engine {
    /// Connects to the local engine (DOCKER_HOST or the default socket) and negotiates the API
    /// version, so that an older engine (API 1.41) is spoken to in its own version.
    pub async fn connect() -> Result<Engine> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| EngineError::Unreachable(e.to_string()))?
            .with_timeout(Duration::from_secs(600));
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| EngineError::Unreachable("the engine did not answer within 10s".into()))?
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        let v = docker.client_version();
        Ok(Engine {
            api_version: format!("{}.{}", v.major_version, v.minor_version),
            docker,
        })
    }

    // ---- images ----

    /// The id of an image present in the engine, or None.
    pub async fn image_id(&self, tag: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(tag).await {
            Ok(i) => Ok(i.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(EngineError::op(format!("inspect image {tag}"))(e)),
        }
    }

    /// Tries to pull an image from a registry; Err when no registry answers.
    pub async fn pull(&self, image: &str, tag: &str) -> Result<()> {
        let opts = CreateImageOptions {
            from_image: image,
            tag,
            ..Default::default()
        };
        let mut s = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = s.next().await {
            item.map_err(EngineError::op(format!("pull {image}:{tag}")))?;
        }
        Ok(())
    }

    /// Imports a root file system tarball as an image (what `docker import` does).
    pub async fn import(&self, rootfs_tar: Vec<u8>, repo: &str, tag: &str) -> Result<()> {
        let opts = CreateImageOptions {
            from_src: "-",
            repo,
            tag,
            ..Default::default()
        };
        let mut s = self
            .docker
            .create_image(Some(opts), Some(rootfs_tar.into()), None);
        while let Some(item) = s.next().await {
            let info = item.map_err(EngineError::op(format!("import {repo}:{tag}")))?;
            if let Some(err) = info.error {
                return Err(EngineError::Other(format!("import {repo}:{tag}: {err}")));
            }
        }
        Ok(())
    }

    /// Builds an image from a tar of its context. Each step and output line goes to `on_event`.
    /// A failed build returns the failing step and the output that led to it.
    pub async fn build(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        buildargs: HashMap<String, String>,
        labels: HashMap<String, String>,
        mut on_event: impl FnMut(BuildEvent),
    ) -> Result<()> {
        let opts = BuildImageOptions {
            dockerfile: "Dockerfile".to_string(),
            t: tag.to_string(),
            rm: true,
            forcerm: true,
            buildargs,
            labels,
            ..Default::default()
        };
        let mut s = self
            .docker
            .build_image(opts, None, Some(context_tar.into()));
        let mut step = String::new();
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = s.next().await {
            let info = match item {
                Ok(i) => i,
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(build_failure(tag, &step, &tail, &error));
                }
                Err(e) => return Err(EngineError::op(format!("build {tag}"))(e)),
            };
            if let Some(err) = info.error {
                return Err(build_failure(tag, &step, &tail, &err));
            }
            if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    if line.starts_with("Step ") {
                        step = line.to_string();
                        tail.clear();
                        on_event(BuildEvent::Step(line.to_string()));
                    } else {
                        tail.push(line.to_string());
                        if tail.len() > 40 {
                            tail.remove(0);
                        }
                        on_event(BuildEvent::Output(line.to_string()));
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn remove_image(&self, tag: &str) -> Result<()> {
        self.docker
            .remove_image(
                tag,
                Some(RemoveImageOptions {
                    force: true,
                    noprune: false,
                }),
                None,
            )
            .await
            .map_err(EngineError::op(format!("remove image {tag}")))?;
        Ok(())
    }

    // ---- networks and volumes ----

    /// Creates a network. The engine picks its subnet from its default pools; when those are
    /// used up (they hold about thirty networks, fewer than a class needs), opslab takes a /26
    /// from its own pool (`OPSLAB_SUBNET_POOL`, default 10.213.0.0/16).
    pub async fn create_network(
        &self,
        name: &str,
        internal: bool,
        labels: HashMap<String, String>,
    ) -> Result<String> {
        let first = self
            .docker
            .create_network(CreateNetworkOptions {
                name: name.to_string(),
                check_duplicate: true,
                driver: "bridge".to_string(),
                internal,
                labels: labels.clone(),
                ..Default::default()
            })
            .await;
        match first {
            Ok(r) => return Ok(r.id),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("non-overlapping") => {}
            Err(e) => return Err(EngineError::op(format!("create network {name}"))(e)),
        }
        let pool = std::env::var("OPSLAB_SUBNET_POOL").unwrap_or_else(|_| "10.213.0.0/16".into());
        let (base, bits) = parse_cidr(&pool).ok_or_else(|| {
            EngineError::Other(format!("OPSLAB_SUBNET_POOL `{pool}` is not a CIDR block"))
        })?;
        let blocks = 1u32 << (26u32.saturating_sub(bits)).min(16);
        let mut tried = std::collections::HashSet::new();
        loop {
            let used = self.used_subnets().await?;
            // Start at a block drawn from the name, so that concurrent creations rarely collide.
            let start = name
                .bytes()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                % blocks;
            let candidate = (0..blocks)
                .map(|i| base + ((start + i) % blocks) * 64)
                .find(|net| {
                    !tried.contains(net)
                        && !used.iter().any(|(u, ubits)| overlaps(*net, 26, *u, *ubits))
                })
                .ok_or_else(|| {
                    EngineError::Other(format!(
                        "no free /26 left in {pool}; set OPSLAB_SUBNET_POOL to a larger block"
                    ))
                })?;
            tried.insert(candidate);
            let subnet = format!("{}/26", std::net::Ipv4Addr::from(candidate));
            let r = self
                .docker
                .create_network(CreateNetworkOptions {
                    name: name.to_string(),
                    check_duplicate: true,
                    driver: "bridge".to_string(),
                    internal,
                    labels: labels.clone(),
                    ipam: bollard::models::Ipam {
                        config: Some(vec![bollard::models::IpamConfig {
                            subnet: Some(subnet),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .await;
            match r {
                Ok(r) => return Ok(r.id),
                // Taken by a network created meanwhile: try the next block.
                Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                    if message.contains("overlap") && tried.len() < 64 => {}
                Err(e) => return Err(EngineError::op(format!("create network {name}"))(e)),
            }
        }
    }

    async fn used_subnets(&self) -> Result<Vec<(u32, u32)>> {
        let list = self
            .docker
            .list_networks(None::<ListNetworksOptions<String>>)
            .await
            .map_err(EngineError::op("list networks"))?;
        Ok(list
            .into_iter()
            .flat_map(|n| n.ipam.and_then(|i| i.config).unwrap_or_default())
            .filter_map(|c| c.subnet.as_deref().and_then(parse_cidr))
            .collect())
    }

    pub async fn networks_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        let mut filters = HashMap::new();
        filters.insert("label", vec![label]);
        let list = self
            .docker
            .list_networks(Some(ListNetworksOptions { filters }))
            .await
            .map_err(EngineError::op("list networks"))?;
        Ok(list
            .into_iter()
            .map(|n| Listed {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default(),
            })
            .collect())
    }

    pub async fn remove_network(&self, id: &str) -> Result<()> {
        match self.docker.remove_network(id).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(format!("remove network {id}"))(e)),
        }
    }

    pub async fn connect_network(
        &self,
        container: &str,
        network: &str,
        aliases: Vec<String>,
    ) -> Result<()> {
        self.docker
            .connect_network(
                network,
                ConnectNetworkOptions {
                    container: container.to_string(),
                    endpoint_config: EndpointSettings {
                        aliases: Some(aliases),
                        ..Default::default()
                    },
                },
            )
            .await
            .map_err(EngineError::op(format!("connect {container} to {network}")))
    }

    pub async fn disconnect(&self, container: &str, network: &str) -> Result<()> {
        self.docker
            .disconnect_network(
                network,
                DisconnectNetworkOptions {
                    container: container.to_string(),
                    force: true,
                },
            )
            .await
            .map_err(EngineError::op(format!(
                "disconnect {container} from {network}"
            )))
    }

    pub async fn create_volume(&self, name: &str, labels: HashMap<String, String>) -> Result<()> {
        self.docker
            .create_volume(CreateVolumeOptions {
                name: name.to_string(),
                labels,
                ..Default::default()
            })
            .await
            .map_err(EngineError::op(format!("create volume {name}")))?;
        Ok(())
    }

    pub async fn volumes_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        let mut filters = HashMap::new();
        filters.insert("label", vec![label]);
        let r = self
            .docker
            .list_volumes(Some(ListVolumesOptions { filters }))
            .await
            .map_err(EngineError::op("list volumes"))?;
        Ok(r.volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Listed {
                id: v.name.clone(),
                name: v.name,
                labels: v.labels,
            })
            .collect())
    }

    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        match self
            .docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(format!("remove volume {name}"))(e)),
        }
    }

    // ---- containers ----

    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
            .ports
            .iter()
            .map(|p| {
                (
                    format!("{p}/tcp"),
                    // Published on loopback only, on a port the engine picks.
                    Some(vec![PortBinding {
                        host_ip: Some(spec.bind.clone()),
                        host_port: Some(String::new()),
                    }]),
                )
            })
            .collect();
        let exposed: HashMap<String, HashMap<(), ()>> = spec
            .ports
            .iter()
            .map(|p| (format!("{p}/tcp"), HashMap::new()))
            .collect();
        let mounts: Vec<String> = spec
            .volumes
            .iter()
            .map(|(v, to)| format!("{v}:{to}"))
            .collect();
        let host_config = HostConfig {
            memory: Some(spec.memory),
            memory_swap: Some(spec.memory),
            pids_limit: Some(spec.pids),
            privileged: Some(false),
            port_bindings: Some(port_bindings),
            binds: Some(mounts),
            network_mode: spec.networks.first().map(|(n, _)| n.clone()),
            init: Some(true),
            // Raw sockets and device nodes are not needed by labs (sshd needs chroot and audit).
            cap_drop: Some(vec!["NET_RAW".into(), "MKNOD".into()]),
            ..Default::default()
        };
        let healthcheck = spec.health.as_ref().map(|cmd| HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), cmd.clone()]),
            interval: Some(spec.health_interval.as_nanos() as i64),
            // A check that answers slowly on a loaded machine still answers.
            timeout: Some(30_000_000_000),
            retries: Some(3),
            start_period: Some(120_000_000_000),
            start_interval: None,
        });
        let mut endpoints = HashMap::new();
        if let Some((net, aliases)) = spec.networks.first() {
            endpoints.insert(
                net.clone(),
                EndpointSettings {
                    aliases: Some(aliases.clone()),
                    ..Default::default()
                },
            );
        }
        let config = Config {
            image: Some(spec.image.clone()),
            hostname: Some(spec.hostname.clone()),
            cmd: spec.command.clone(),
            env: Some(spec.env.clone()),
            labels: Some(spec.labels.clone()),
            exposed_ports: Some(exposed),
            host_config: Some(host_config),
            healthcheck,
            networking_config: Some(bollard::container::NetworkingConfig {
                endpoints_config: endpoints,
            }),
            ..Default::default()
        };
        let r = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: spec.name.clone(),
                    platform: None,
                }),
                config,
            )
            .await
            .map_err(EngineError::op(format!("create container {}", spec.name)))?;
        for (net, aliases) in spec.networks.iter().skip(1) {
            self.connect_network(&r.id, net, aliases.clone()).await?;
        }
        Ok(r.id)
    }

    pub async fn upload(&self, container: &str, path: &str, tar: Vec<u8>) -> Result<()> {
        self.docker
            .upload_to_container(
                container,
                Some(UploadToContainerOptions {
                    path: path.to_string(),
                    ..Default::default()
                }),
                tar.into(),
            )
            .await
            .map_err(EngineError::op(format!("copy files into {container}")))
    }

    /// A tar of `path` in the container, read through the engine (no tool in the container runs).
    pub async fn download(&self, container: &str, path: &str) -> Result<Vec<u8>> {
        let mut s = self.docker.download_from_container(
            container,
            Some(DownloadFromContainerOptions {
                path: path.to_string(),
            }),
        );
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(
                &chunk.map_err(EngineError::op(format!("read {path} from {container}")))?,
            );
        }
        Ok(out)
    }

    pub async fn start(&self, container: &str) -> Result<()> {
        match self.docker.start_container::<String>(container, None).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(format!("start {container}"))(e)),
        }
    }

    pub async fn stop(&self, container: &str, grace_secs: i64) -> Result<()> {
        match self
            .docker
            .stop_container(container, Some(StopContainerOptions { t: grace_secs }))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(format!("stop {container}"))(e)),
        }
    }

    pub async fn kill(&self, container: &str, signal: &str) -> Result<()> {
        self.docker
            .kill_container(
                container,
                Some(KillContainerOptions {
                    signal: signal.to_string(),
                }),
            )
            .await
            .map_err(EngineError::op(format!("kill {container}")))
    }

    pub async fn restart(&self, container: &str) -> Result<()> {
        self.docker
            .restart_container(
                container,
                Some(bollard::container::RestartContainerOptions { t: 5 }),
            )
            .await
            .map_err(EngineError::op(format!("restart {container}")))
    }

    pub async fn rename(&self, container: &str, name: &str) -> Result<()> {
        self.docker
            .rename_container(
                container,
                bollard::container::RenameContainerOptions {
                    name: name.to_string(),
                },
            )
            .await
            .map_err(EngineError::op(format!("rename {container} to {name}")))
    }

    pub async fn pause(&self, container: &str) -> Result<()> {
        self.docker
            .pause_container(container)
            .await
            .map_err(EngineError::op(format!("pause {container}")))
    }

    pub async fn unpause(&self, container: &str) -> Result<()> {
        self.docker
            .unpause_container(container)
            .await
            .map_err(EngineError::op(format!("unpause {container}")))
    }

    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // Removal already under way (another remove raced us): it will finish on its own.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::op(format!("remove container {id}"))(e)),
        }
    }

    pub async fn containers_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![label.to_string()]);
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .map_err(EngineError::op("list containers"))?;
        Ok(list
            .into_iter()
            .map(|c| Listed {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.first().cloned())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                labels: c.labels.unwrap_or_default(),
            })
            .collect())
    }

    pub async fn inspect(&self, container: &str) -> Result<ContainerState> {
        let c = self
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .map_err(EngineError::op(format!("inspect {container}")))?;
        let state = c.state.unwrap_or_default();
        let cfg = c.config.unwrap_or_default();
        let host = c.host_config.unwrap_or_default();
        let mut ports = HashMap::new();
        let net = c.network_settings.unwrap_or_default();
        for (k, v) in net.ports.unwrap_or_default() {
            let Some(cport) = k.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            for b in v.unwrap_or_default() {
                if b.host_ip.as_deref().is_some_and(|ip| !ip.contains(':')) {
                    if let Some(hp) = b.host_port.and_then(|p| p.parse::<u16>().ok()) {
                        ports.insert(cport, hp);
                    }
                }
            }
        }
        Ok(ContainerState {
            id: c.id.unwrap_or_default(),
            name: c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            running: state.running.unwrap_or(false),
            paused: state.paused.unwrap_or(false),
            status: state.status.map(|s| s.to_string()).unwrap_or_default(),
            health: state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into()),
            restart_count: c.restart_count.unwrap_or(0),
            image: cfg.image.unwrap_or_default(),
            labels: cfg.labels.unwrap_or_default(),
            ports,
            started_at: state.started_at.unwrap_or_default(),
            memory_limit: host.memory.unwrap_or(0),
            pids_limit: host.pids_limit.unwrap_or(0),
            privileged: host.privileged.unwrap_or(false),
            mounts: c
                .mounts
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    format!(
                        "{}:{}",
                        m.source.unwrap_or_default(),
                        m.destination.unwrap_or_default()
                    )
                })
                .collect(),
            ips: net
                .networks
                .clone()
                .unwrap_or_default()
                .into_values()
                .filter_map(|e| e.ip_address)
                .filter(|ip| !ip.is_empty())
                .collect(),
            networks: net.networks.unwrap_or_default().into_keys().collect(),
        })
    }

    /// Runs `cmd` in the container and collects its output. Past `timeout` the command is
    /// killed (inside, by coreutils' timeout, and the wait is abandoned here a little later).
    /// Creates and starts an exec with stdout and stderr attached.
    async fn start_exec(
        &self,
        container: &str,
        mut opts: CreateExecOptions<String>,
    ) -> Result<(String, StartExecResults)> {
        let tty = opts.tty == Some(true);
        opts.attach_stdout = Some(true);
        opts.attach_stderr = Some(true);
        let exec = self
            .docker
            .create_exec(container, opts)
            .await
            .map_err(EngineError::op(format!("exec in {container}")))?;
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(EngineError::op(format!("exec in {container}")))?;
        Ok((exec.id, started))
    }

    pub async fn exec(
        &self,
        container: &str,
        cmd: Vec<String>,
        user: Option<&str>,
        timeout: Duration,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput> {
        let secs = timeout.as_secs().max(1);
        let mut full = vec![
            "timeout".to_string(),
            "-s".into(),
            "KILL".into(),
            secs.to_string(),
        ];
        full.extend(cmd);
        let (exec_id, started) = self
            .start_exec(
                container,
                CreateExecOptions {
                    cmd: Some(full),
                    user: user.map(str::to_string),
                    attach_stdin: Some(stdin.is_some()),
                    ..Default::default()
                },
            )
            .await?;
        let mut out = ExecOutput::default();
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        {
            if let Some(data) = stdin {
                let _ = input.write_all(&data).await;
                let _ = input.shutdown().await;
            }
            drop(input);
            let collect = async {
                while let Some(item) = output.next().await {
                    match item {
                        Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                            out.stdout.push_str(&String::from_utf8_lossy(&message))
                        }
                        Ok(LogOutput::StdErr { message }) => {
                            out.stderr.push_str(&String::from_utf8_lossy(&message))
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            };
            if tokio::time::timeout(timeout + Duration::from_secs(3), collect)
                .await
                .is_err()
            {
                out.timed_out = true;
                out.exit_code = 137;
                return Ok(out);
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&exec_id)
            .await
            .map_err(EngineError::op(format!("exec in {container}")))?;
        out.exit_code = inspect.exit_code.unwrap_or(-1);
        if out.exit_code == 137 || out.exit_code == 124 {
            out.timed_out = true;
        }
        Ok(out)
    }

    /// An interactive TTY session: stdin, stdout and terminal size of this process are wired to a
    /// shell in the container. Returns the command's exit code.
    pub async fn exec_interactive(
        &self,
        container: &str,
        cmd: Vec<String>,
        user: Option<&str>,
        env: Vec<String>,
        workdir: Option<&str>,
    ) -> Result<i64> {
        let (exec_id, started) = self
            .start_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd),
                    user: user.map(str::to_string),
                    env: Some(env),
                    working_dir: workdir.map(str::to_string),
                    attach_stdin: Some(true),
                    tty: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        {
            let resize = |(h, w): (u16, u16)| {
                let docker = self.docker.clone();
                let id = exec_id.clone();
                async move {
                    let _ = docker
                        .resize_exec(
                            &id,
                            ResizeExecOptions {
                                height: h,
                                width: w,
                            },
                        )
                        .await;
                }
            };
            resize(crate::terminal::size()).await;
            let mut winch =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
            let stdin_task = tokio::spawn(async move {
                let mut stdin = tokio::io::stdin();
                let _ = tokio::io::copy(&mut stdin, &mut input).await;
            });
            let mut stdout = tokio::io::stdout();
            loop {
                tokio::select! {
                    item = output.next() => match item {
                        Some(Ok(chunk)) => {
                            let _ = stdout.write_all(&chunk.into_bytes()).await;
                            let _ = stdout.flush().await;
                        }
                        _ => break,
                    },
                    Some(()) = async { match winch.as_mut() { Some(w) => w.recv().await, None => std::future::pending().await } } => {
                        resize(crate::terminal::size()).await;
                    }
                }
            }
            stdin_task.abort();
        }
        let inspect = self
            .docker
            .inspect_exec(&exec_id)
            .await
            .map_err(EngineError::op(format!("exec in {container}")))?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }

    /// Log lines of the container since a unix time.
    pub async fn logs_since(&self, container: &str, since: i64) -> Result<String> {
        let mut s = self.docker.logs(
            container,
            Some(LogsOptions::<String> {
                stdout: true,
                stderr: true,
                since,
                tail: "all".into(),
                ..Default::default()
            }),
        );
        let mut out = String::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(chunk) => out.push_str(&String::from_utf8_lossy(&chunk.into_bytes())),
                Err(e) => return Err(EngineError::op(format!("logs of {container}"))(e)),
            }
        }
        Ok(out)
    }
}

fn build_failure(tag: &str, step: &str, tail: &[String], error: &str) -> EngineError {
    let mut msg = format!(
        "building {tag} failed at {}\n",
        if step.is_empty() {
            "its first step"
        } else {
            step
        }
    );
    for l in tail.iter().rev().take(25).rev() {
        msg.push_str("  | ");
        msg.push_str(l);
        msg.push('\n');
    }
    msg.push_str(&format!("  error: {}", error.trim()));
    EngineError::Other(msg)
}

/// An IPv4 CIDR block as (first address, prefix length).
fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (addr, bits) = s.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Some((u32::from(addr) & mask, bits))
}

fn overlaps(a: u32, abits: u32, b: u32, bbits: u32) -> bool {
    let bits = abits.min(bbits);
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    a & mask == b & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_overlap_when_the_shorter_prefix_covers_both() {
        let (a, ab) = parse_cidr("10.213.0.64/26").expect("cidr");
        let (b, bb) = parse_cidr("10.213.0.0/16").expect("cidr");
        let (c, cb) = parse_cidr("10.213.0.128/26").expect("cidr");
        assert!(overlaps(a, ab, b, bb));
        assert!(!overlaps(a, ab, c, cb));
        assert_eq!(
            parse_cidr("172.17.0.1/16"),
            Some((u32::from(std::net::Ipv4Addr::new(172, 17, 0, 0)), 16))
        );
        assert_eq!(parse_cidr("nope"), None);
    }
}
