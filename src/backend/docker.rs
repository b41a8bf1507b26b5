//! The Docker engine through bollard: the Docker `Backend`. The only file that imports bollard:
//! every Docker call, its error (kept as the cause of an `EngineError`, with its HTTP status)
//! and its timeout live here. The API version is negotiated with the engine.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bollard::container::{
    Config, CreateContainerOptions, DownloadFromContainerOptions, InspectContainerOptions,
    KillContainerOptions, ListContainersOptions, LogOutput, LogsOptions, RemoveContainerOptions,
    StopContainerOptions, UploadToContainerOptions,
};
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::image::{
    BuildImageOptions, CreateImageOptions, ImportImageOptions, RemoveImageOptions,
};
use bollard::models::{
    EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, PortBinding,
};
use bollard::network::{
    ConnectNetworkOptions, CreateNetworkOptions, DisconnectNetworkOptions, ListNetworksOptions,
};
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    Backend, BuildEvent, ByteStream, Chunk, ContainerSpec, ContainerState, EngineError,
    ExecRequest, Listed, RunningExec, DEFAULT_NANO_CPUS,
};

type Result<T> = std::result::Result<T, EngineError>;

/// The error of the Docker call `what`, with the engine's HTTP status when it answered one.
pub(super) fn op(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> EngineError {
    let what = what.into();
    move |source| EngineError::Op {
        op: what,
        status: match &source {
            bollard::errors::Error::DockerResponseServerError { status_code, .. } => {
                Some(*status_code)
            }
            _ => None,
        },
        source: Box::new(source),
    }
}

/// The local Docker engine.
#[derive(Clone)]
pub struct Docker {
    docker: bollard::Docker,
    /// The engine's CPU count, asked once: a CPU limit above it is refused by the engine.
    cpus: std::sync::Arc<tokio::sync::OnceCell<i64>>,
}

impl Docker {
    /// Connects to the local engine (DOCKER_HOST or the default socket) and negotiates the API
    /// version, so that an older engine (API 1.41) is spoken to in its own version.
    pub async fn connect() -> Result<Docker> {
        Docker::connect_to(None).await
    }

    /// Connects to the engine at `host` (`tcp://ADDRESS:PORT` or `unix:///PATH`), or to the
    /// local one (DOCKER_HOST or the default socket) when `host` is None, and negotiates the
    /// API version.
    pub async fn connect_to(host: Option<&str>) -> Result<Docker> {
        let unreachable = |e: bollard::errors::Error| match host {
            Some(h) => EngineError::Unreachable(format!("{h}: {e}")),
            None => EngineError::Unreachable(e.to_string()),
        };
        let docker = match host {
            None => bollard::Docker::connect_with_local_defaults(),
            Some(h) if h.starts_with("unix://") => {
                bollard::Docker::connect_with_socket(h, 600, bollard::API_DEFAULT_VERSION)
            }
            Some(h) if h.starts_with("tcp://") || h.starts_with("http://") => {
                bollard::Docker::connect_with_http(h, 600, bollard::API_DEFAULT_VERSION)
            }
            Some(h) => {
                return Err(EngineError::Unreachable(format!(
                    "`{h}` is not an engine address (tcp://ADDRESS:PORT or unix:///PATH)"
                )))
            }
        }
        .map_err(unreachable)?
        .with_timeout(Duration::from_secs(600));
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| {
                EngineError::Unreachable(format!(
                    "the engine{} did not answer within 10s",
                    host.map(|h| format!(" at {h}")).unwrap_or_default()
                ))
            })?
            .map_err(unreachable)?;
        Ok(Docker {
            docker,
            cpus: Default::default(),
        })
    }

    /// The bollard client, for the swarm backend (`swarm.rs`), which speaks to the same engines.
    pub(super) fn client(&self) -> &bollard::Docker {
        &self.docker
    }

    async fn used_subnets(&self) -> Result<Vec<(u32, u32)>> {
        let list = self
            .docker
            .list_networks(None::<ListNetworksOptions<String>>)
            .await
            .map_err(op("list networks"))?;
        Ok(list
            .into_iter()
            .flat_map(|n| n.ipam.and_then(|i| i.config).unwrap_or_default())
            .filter_map(|c| c.subnet.as_deref().and_then(parse_cidr))
            .collect())
    }

    /// The engine's CPU count (0 when it does not say).
    async fn engine_cpus(&self) -> Result<i64> {
        self.cpus
            .get_or_try_init(|| async {
                let info = self.docker.info().await.map_err(op("engine info"))?;
                Ok(info.ncpu.unwrap_or(0))
            })
            .await
            .copied()
    }

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
            .map_err(op(format!("exec in {container}")))?;
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
            .map_err(op(format!("exec in {container}")))?;
        Ok((exec.id, started))
    }

    /// Best effort: kills the process group of the exec whose environment holds `mark` (its
    /// `timeout` leads a group of its own). It runs as the exec's user: containers have no
    /// CAP_SYS_PTRACE, so even root cannot read another user's environment. `timeout` kills the
    /// command anyway when this cannot.
    async fn kill_marked(&self, container: &str, user: Option<&str>, mark: &str) {
        let script = r#"for d in /proc/[0-9]*; do
  if tr '\0' '\n' < "$d/environ" 2>/dev/null | grep -qxF "$0"; then
    kill -9 "-${d#/proc/}" 2>/dev/null; kill -9 "${d#/proc/}" 2>/dev/null
  fi
done; true"#;
        let Ok((_, started)) = self
            .start_exec(
                container,
                CreateExecOptions {
                    cmd: Some(vec![
                        "sh".into(),
                        "-c".into(),
                        script.into(),
                        mark.to_string(),
                    ]),
                    user: user.map(str::to_string),
                    ..Default::default()
                },
            )
            .await
        else {
            return;
        };
        if let StartExecResults::Attached { mut output, .. } = started {
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(Ok(_)) = output.next().await {}
            })
            .await;
        }
    }
}

#[async_trait]
impl Backend for Docker {
    // ---- images ----

    /// The id of an image present in the engine, or None.
    async fn image_id(&self, tag: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(tag).await {
            Ok(i) => Ok(i.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(op(format!("inspect image {tag}"))(e)),
        }
    }

    /// Tries to pull an image from a registry; Err when no registry answers.
    async fn pull(&self, image: &str, tag: &str) -> Result<()> {
        let opts = CreateImageOptions {
            from_image: image,
            tag,
            ..Default::default()
        };
        let mut s = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = s.next().await {
            item.map_err(op(format!("pull {image}:{tag}")))?;
        }
        Ok(())
    }

    /// Imports a root file system tarball as an image (what `docker import` does).
    async fn import(&self, rootfs_tar: Vec<u8>, repo: &str, tag: &str) -> Result<()> {
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
            let info = item.map_err(op(format!("import {repo}:{tag}")))?;
            if let Some(err) = info.error {
                return Err(EngineError::Other(format!("import {repo}:{tag}: {err}")));
            }
        }
        Ok(())
    }

    /// Builds an image from a tar of its context. Each step and output line goes to `on_event`.
    /// A failed build returns the failing step and the output that led to it.
    async fn build(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        buildargs: HashMap<String, String>,
        labels: HashMap<String, String>,
        on_event: &mut (dyn FnMut(BuildEvent) + Send),
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
                Err(e) => return Err(op(format!("build {tag}"))(e)),
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

    /// Writes `tags` with their layers as one archive (the engine's `save` format) to `out`;
    /// returns its size.
    async fn save_images(&self, tags: &[String], out: &mut tokio::fs::File) -> Result<u64> {
        let names: Vec<&str> = tags.iter().map(String::as_str).collect();
        let mut stream = self.docker.export_images(&names);
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(op("save images"))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| EngineError::Other(format!("writing the archive: {e}")))?;
            size += chunk.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| EngineError::Other(format!("writing the archive: {e}")))?;
        Ok(size)
    }

    /// Loads an archive of `save_images` into the engine; returns the tags it loaded.
    async fn load_images(&self, file: tokio::fs::File) -> Result<Vec<String>> {
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None::<std::io::Error>));
        let chunks =
            futures_util::stream::unfold((file, failed.clone()), |(mut f, failed)| async move {
                let mut buf = vec![0u8; 1 << 20];
                match f.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((bytes::Bytes::from(buf), (f, failed)))
                    }
                    Err(e) => {
                        if let Ok(mut slot) = failed.lock() {
                            *slot = Some(e);
                        }
                        None
                    }
                }
            });
        let mut events =
            self.docker
                .import_image_stream(ImportImageOptions { quiet: true }, chunks, None);
        let mut loaded = Vec::new();
        while let Some(ev) = events.next().await {
            let ev = ev.map_err(op("load images"))?;
            if let Some(e) = ev.error {
                return Err(EngineError::Other(format!("load images: {e}")));
            }
            let text = ev.stream.unwrap_or_default();
            for line in text.lines() {
                if let Some(tag) = line.trim().strip_prefix("Loaded image: ") {
                    loaded.push(tag.to_string());
                }
            }
        }
        if let Some(e) = failed.lock().ok().and_then(|mut f| f.take()) {
            return Err(EngineError::Other(format!("reading the archive: {e}")));
        }
        Ok(loaded)
    }

    async fn remove_image(&self, tag: &str) -> Result<()> {
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
            .map_err(op(format!("remove image {tag}")))?;
        Ok(())
    }

    // ---- networks and volumes ----

    /// Creates a network. The engine picks its subnet from its default pools; when those are
    /// used up (they hold about thirty networks, fewer than a class needs), opslab takes a /26
    /// from its own pool (`OPSLAB_SUBNET_POOL`, default 10.213.0.0/16).
    async fn create_network(
        &self,
        name: &str,
        reach: super::Reach,
        labels: HashMap<String, String>,
    ) -> Result<String> {
        let internal = reach != super::Reach::Outside;
        // The bridge driver's inhibit_ipv4: the host takes no address on the bridge, so a
        // container of a sealed network has no host address to talk to.
        let options: HashMap<String, String> = if reach == super::Reach::Sealed {
            HashMap::from([(
                "com.docker.network.bridge.inhibit_ipv4".to_string(),
                "true".to_string(),
            )])
        } else {
            HashMap::new()
        };
        let first = self
            .docker
            .create_network(CreateNetworkOptions {
                name: name.to_string(),
                check_duplicate: true,
                driver: "bridge".to_string(),
                internal,
                labels: labels.clone(),
                options: options.clone(),
                ..Default::default()
            })
            .await;
        match first {
            Ok(r) => return Ok(r.id),
            // Pools used up ("non-overlapping"), or a subnet the engine handed out twice to
            // networks created at the same moment ("overlapping"): take a block of our own.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("overlapping") => {}
            Err(e) => return Err(op(format!("create network {name}"))(e)),
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
                    options: options.clone(),
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
                Err(e) => return Err(op(format!("create network {name}"))(e)),
            }
        }
    }

    async fn networks_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        let mut filters = HashMap::new();
        filters.insert("label", vec![label]);
        let list = self
            .docker
            .list_networks(Some(ListNetworksOptions { filters }))
            .await
            .map_err(op("list networks"))?;
        Ok(list.into_iter().map(Listed::from).collect())
    }

    async fn remove_network(&self, id: &str) -> Result<()> {
        match self.docker.remove_network(id).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(op(format!("remove network {id}"))(e)),
        }
    }

    async fn connect_network(
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
            .map_err(op(format!("connect {container} to {network}")))
    }

    async fn disconnect(&self, container: &str, network: &str) -> Result<()> {
        self.docker
            .disconnect_network(
                network,
                DisconnectNetworkOptions {
                    container: container.to_string(),
                    force: true,
                },
            )
            .await
            .map_err(op(format!("disconnect {container} from {network}")))
    }

    async fn create_volume(&self, name: &str, labels: HashMap<String, String>) -> Result<()> {
        self.docker
            .create_volume(CreateVolumeOptions {
                name: name.to_string(),
                labels,
                ..Default::default()
            })
            .await
            .map_err(op(format!("create volume {name}")))?;
        Ok(())
    }

    async fn volumes_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        let mut filters = HashMap::new();
        filters.insert("label", vec![label]);
        let r = self
            .docker
            .list_volumes(Some(ListVolumesOptions { filters }))
            .await
            .map_err(op("list volumes"))?;
        Ok(r.volumes
            .unwrap_or_default()
            .into_iter()
            .map(Listed::from)
            .collect())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        match self
            .docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(op(format!("remove volume {name}"))(e)),
        }
    }

    // ---- containers ----

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        // Every container has a CPU limit and the same CPU weight; a lab's limit above the
        // engine's cores (which the engine refuses) becomes all of them.
        let mut nano_cpus = if spec.nano_cpus > 0 {
            spec.nano_cpus
        } else {
            DEFAULT_NANO_CPUS
        };
        let cores = self.engine_cpus().await?;
        if cores > 0 {
            nano_cpus = nano_cpus.min(cores * 1_000_000_000);
        }
        let exposed: HashMap<String, HashMap<(), ()>> = spec
            .ports
            .iter()
            .map(|p| (format!("{p}/tcp"), HashMap::new()))
            .collect();
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
            host_config: Some(host_config(spec, nano_cpus)),
            healthcheck,
            networking_config: Some(bollard::container::NetworkingConfig {
                endpoints_config: endpoints,
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: spec.name.clone(),
            platform: None,
        };
        let r = self
            .docker
            .create_container(Some(options), config)
            .await
            .map_err(op(format!("create container {}", spec.name)))?;
        for (net, aliases) in spec.networks.iter().skip(1) {
            self.connect_network(&r.id, net, aliases.clone()).await?;
        }
        Ok(r.id)
    }

    async fn upload(&self, container: &str, path: &str, tar: Vec<u8>) -> Result<()> {
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
            .map_err(op(format!("copy files into {container}")))
    }

    fn download<'a>(&'a self, container: &'a str, path: &'a str) -> ByteStream<'a> {
        self.docker
            .download_from_container(
                container,
                Some(DownloadFromContainerOptions {
                    path: path.to_string(),
                }),
            )
            .map(move |chunk| {
                chunk
                    .map(|b| b.to_vec())
                    .map_err(op(format!("read {path} from {container}")))
            })
            .boxed()
    }

    async fn start(&self, container: &str) -> Result<()> {
        match self.docker.start_container::<String>(container, None).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(op(format!("start {container}"))(e)),
        }
    }

    async fn stop(&self, container: &str, grace_secs: i64) -> Result<()> {
        match self
            .docker
            .stop_container(container, Some(StopContainerOptions { t: grace_secs }))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(op(format!("stop {container}"))(e)),
        }
    }

    async fn kill(&self, container: &str, signal: &str) -> Result<()> {
        self.docker
            .kill_container(
                container,
                Some(KillContainerOptions {
                    signal: signal.to_string(),
                }),
            )
            .await
            .map_err(op(format!("kill {container}")))
    }

    async fn restart(&self, container: &str) -> Result<()> {
        self.docker
            .restart_container(
                container,
                Some(bollard::container::RestartContainerOptions { t: 5 }),
            )
            .await
            .map_err(op(format!("restart {container}")))
    }

    async fn rename(&self, container: &str, name: &str) -> Result<()> {
        self.docker
            .rename_container(
                container,
                bollard::container::RenameContainerOptions {
                    name: name.to_string(),
                },
            )
            .await
            .map_err(op(format!("rename {container} to {name}")))
    }

    async fn pause(&self, container: &str) -> Result<()> {
        self.docker
            .pause_container(container)
            .await
            .map_err(op(format!("pause {container}")))
    }

    async fn unpause(&self, container: &str) -> Result<()> {
        self.docker
            .unpause_container(container)
            .await
            .map_err(op(format!("unpause {container}")))
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
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
            Err(e) => Err(op(format!("remove container {id}"))(e)),
        }
    }

    async fn containers_with_label(&self, label: &str) -> Result<Vec<Listed>> {
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
            .map_err(op("list containers"))?;
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

    async fn inspect(&self, container: &str) -> Result<ContainerState> {
        let c = self
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .map_err(op(format!("inspect {container}")))?;
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
            health_check: cfg
                .healthcheck
                .as_ref()
                .and_then(|h| h.test.as_ref())
                .filter(|t| t.first().map(String::as_str) == Some("CMD-SHELL"))
                .and_then(|t| t.get(1).cloned()),
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
            node: String::new(),
            node_address: String::new(),
            node_ports: HashMap::new(),
            node_address_guessed: false,
        })
    }

    async fn exec(&self, container: &str, req: ExecRequest) -> Result<Box<dyn RunningExec>> {
        let secs = req.timeout.as_secs().max(1);
        let mut full = vec![
            "timeout".to_string(),
            "-s".into(),
            "KILL".into(),
            secs.to_string(),
        ];
        full.extend(req.cmd);
        // A mark in the command's environment, to find and kill it when its output is cut.
        let mark = format!("{EXEC_MARK}={:016x}", rand::random::<u64>());
        let (exec_id, started) = self
            .start_exec(
                container,
                CreateExecOptions {
                    cmd: Some(full),
                    user: req.user.clone(),
                    env: Some(vec![mark.clone()]),
                    attach_stdin: Some(req.stdin.is_some()),
                    ..Default::default()
                },
            )
            .await?;
        let output = match started {
            StartExecResults::Attached { output, mut input } => {
                if let Some(data) = req.stdin {
                    let _ = input.write_all(&data).await;
                    let _ = input.shutdown().await;
                }
                Some(output)
            }
            StartExecResults::Detached => None,
        };
        Ok(Box::new(DockerExec {
            docker: self.clone(),
            container: container.to_string(),
            user: req.user,
            exec_id,
            mark,
            output,
        }))
    }

    /// An interactive TTY session: stdin, stdout and terminal size of this process are wired to a
    /// shell in the container. Returns the command's exit code.
    async fn exec_interactive(
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
            .map_err(op(format!("exec in {container}")))?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }

    fn logs<'a>(&'a self, container: &'a str, since: i64) -> ByteStream<'a> {
        self.docker
            .logs(
                container,
                Some(LogsOptions::<String> {
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
            .boxed()
    }
}

/// An exec of the Docker engine: its attached output, and how to find it to kill it.
struct DockerExec {
    docker: Docker,
    container: String,
    user: Option<String>,
    exec_id: String,
    mark: String,
    output: Option<BoxStream<'static, std::result::Result<LogOutput, bollard::errors::Error>>>,
}

#[async_trait]
impl RunningExec for DockerExec {
    async fn next(&mut self) -> Option<Chunk> {
        let output = self.output.as_mut()?;
        loop {
            match output.next().await? {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    return Some(Chunk::Stdout(message.to_vec()))
                }
                Ok(LogOutput::StdErr { message }) => return Some(Chunk::Stderr(message.to_vec())),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    async fn exit_code(&mut self) -> Result<i64> {
        let inspect = self
            .docker
            .docker
            .inspect_exec(&self.exec_id)
            .await
            .map_err(op(format!("exec in {}", self.container)))?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }

    /// The engine does not stop a command whose reader left: its writes block until `timeout`
    /// kills it. The connection is closed, then the command killed.
    async fn abandon(&mut self) {
        self.output = None;
        self.docker
            .kill_marked(&self.container, self.user.as_deref(), &self.mark)
            .await;
    }
}

/// The environment variable that marks an exec, so that it can be found to be killed.
const EXEC_MARK: &str = "OPSLAB_EXEC";

/// Limits, published ports, volumes and logging of a container.
fn host_config(spec: &ContainerSpec, nano_cpus: i64) -> HostConfig {
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
        .ports
        .iter()
        .map(|p| {
            (
                format!("{p}/tcp"),
                // Published on loopback unless a trainer chose otherwise for this port, on a
                // port the engine picks.
                Some(vec![PortBinding {
                    host_ip: Some(spec.bind_for.get(p).unwrap_or(&spec.bind).clone()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect();
    let mounts: Vec<String> = spec
        .volumes
        .iter()
        .map(|(v, to)| format!("{v}:{to}"))
        .collect();
    HostConfig {
        memory: Some(spec.memory),
        memory_swap: Some(spec.memory),
        pids_limit: Some(spec.pids),
        nano_cpus: Some(nano_cpus),
        cpu_shares: Some(1024),
        privileged: Some(false),
        port_bindings: Some(port_bindings),
        binds: Some(mounts),
        network_mode: spec.networks.first().map(|(n, _)| n.clone()),
        init: Some(true),
        // Raw sockets and device nodes are not needed by labs (sshd needs chroot and audit).
        cap_drop: Some(vec!["NET_RAW".into(), "MKNOD".into()]),
        // A service that floods its log must not fill the host's disk: the engine keeps at
        // most two 10 MB files per container.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), "10m".to_string()),
                ("max-file".to_string(), "2".to_string()),
            ])),
        }),
        ..Default::default()
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
