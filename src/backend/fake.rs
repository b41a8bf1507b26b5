//! An engine in memory, for unit tests: containers with their state (running, paused,
//! stopped), networks, volumes and labels; execs answered by a scripted handler (which may
//! sleep, stream without end, or change the world); and a journal of every call with when it
//! began and ended, so that tests can tell order and overlap.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    Backend, BuildEvent, ByteStream, Chunk, ContainerSpec, ContainerState, EngineError,
    ExecRequest, Listed, Reach, RunningExec,
};

type Result<T> = std::result::Result<T, EngineError>;

/// Where a fake container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Created,
    Running,
    Paused,
    Stopped,
}

#[derive(Debug, Clone)]
pub struct FakeContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    pub labels: HashMap<String, String>,
    pub run: Run,
    pub networks: Vec<String>,
    pub restarts: i64,
    pub logs: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct FakeObject {
    pub id: String,
    pub labels: HashMap<String, String>,
}

/// One call the engine received: what, on what, and when it began and ended (an exec ends when
/// its output does, or when its reader gives it up).
#[derive(Debug, Clone)]
pub struct Call {
    pub op: &'static str,
    pub target: String,
    pub detail: String,
    pub began: Instant,
    pub ended: Option<Instant>,
}

impl Call {
    /// Whether the two calls were under way at the same moment.
    pub fn overlaps(&self, other: &Call) -> bool {
        let end = |c: &Call| c.ended.unwrap_or_else(Instant::now);
        self.began < end(other) && other.began < end(self)
    }
}

/// An exec as the handler sees it.
#[derive(Debug, Clone)]
pub struct ExecCall {
    /// The container's name.
    pub container: String,
    pub cmd: Vec<String>,
    pub user: Option<String>,
}

impl ExecCall {
    /// The script of `sh -c script`, or the command words joined.
    pub fn script(&self) -> String {
        match self.cmd.as_slice() {
            [sh, c, script, ..] if sh == "sh" && c == "-c" => script.clone(),
            _ => self.cmd.join(" "),
        }
    }
}

/// How a scripted exec answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Writes this and exits with this code.
    Exit {
        code: i64,
        stdout: String,
        stderr: String,
    },
    /// Waits, then answers.
    After(Duration, Box<Reply>),
    /// Writes `chunk` to stdout again and again, never exiting (`every` apart).
    Endless { chunk: Vec<u8>, every: Duration },
}

impl Reply {
    pub fn ok(stdout: &str) -> Reply {
        Reply::Exit {
            code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    pub fn exit(code: i64) -> Reply {
        Reply::Exit {
            code,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    pub fn after(wait: Duration, then: Reply) -> Reply {
        Reply::After(wait, Box::new(then))
    }
}

type Handler = Arc<dyn Fn(&Fake, &ExecCall) -> Reply + Send + Sync>;

#[derive(Default)]
struct World {
    containers: BTreeMap<String, FakeContainer>,
    networks: BTreeMap<String, FakeObject>,
    volumes: BTreeMap<String, FakeObject>,
    images: BTreeMap<String, String>,
    journal: Vec<Call>,
    next_id: u64,
}

impl World {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    fn find(&mut self, op: &str, container: &str) -> Result<&mut FakeContainer> {
        self.containers
            .values_mut()
            .find(|c| c.id == container || c.name == container)
            .ok_or_else(|| EngineError::status(op, 404, format!("No such container: {container}")))
    }
}

/// The fake engine; clones share one world.
#[derive(Clone, Default)]
pub struct Fake {
    world: Arc<Mutex<World>>,
    handler: Arc<Mutex<Option<Handler>>>,
}

fn labelled(labels: &HashMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

impl Fake {
    pub fn new() -> Fake {
        Fake::default()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers every exec from now on with `handler`.
    pub fn on_exec(&self, handler: impl Fn(&Fake, &ExecCall) -> Reply + Send + Sync + 'static) {
        *self.handler.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(handler));
    }

    /// A running container; returns its id.
    pub fn add_running(&self, name: &str, labels: &[(&str, &str)]) -> String {
        let mut w = self.world();
        let id = w.id("c");
        w.containers.insert(
            id.clone(),
            FakeContainer {
                id: id.clone(),
                name: name.into(),
                image: "fake".into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                run: Run::Running,
                networks: Vec::new(),
                restarts: 0,
                logs: Vec::new(),
            },
        );
        id
    }

    /// Where a container (by id or name) is.
    pub fn run_of(&self, container: &str) -> Option<Run> {
        self.world().find("", container).ok().map(|c| c.run)
    }

    /// Moves a container, as something outside opslab would (a crash, a trainee).
    pub fn set_run(&self, container: &str, run: Run) {
        if let Ok(c) = self.world().find("", container) {
            c.run = run;
        }
    }

    /// Every call so far, in the order they began.
    pub fn journal(&self) -> Vec<Call> {
        self.world().journal.clone()
    }

    /// "op target" of every call so far.
    pub fn ops(&self) -> Vec<String> {
        self.journal()
            .iter()
            .map(|c| format!("{} {}", c.op, c.target))
            .collect()
    }

    /// Notes a call that ends as it begins.
    fn note(&self, op: &'static str, target: &str, detail: impl Into<String>) {
        self.begin(op, target, detail, true);
    }

    fn begin(
        &self,
        op: &'static str,
        target: &str,
        detail: impl Into<String>,
        done: bool,
    ) -> usize {
        let now = Instant::now();
        let mut w = self.world();
        w.journal.push(Call {
            op,
            target: target.into(),
            detail: detail.into(),
            began: now,
            ended: done.then_some(now),
        });
        w.journal.len() - 1
    }

    fn end(&self, call: usize) {
        if let Some(c) = self.world().journal.get_mut(call) {
            c.ended.get_or_insert_with(Instant::now);
        }
    }

    /// Notes the call, then moves the container from one of `from` to `to`.
    fn shift(&self, op: &'static str, container: &str, from: &[Run], to: Run) -> Result<()> {
        self.note(op, container, "");
        let mut w = self.world();
        let c = w.find(op, container)?;
        if !from.contains(&c.run) {
            return Err(EngineError::status(
                op,
                409,
                format!("container {} is {:?}", c.name, c.run),
            ));
        }
        c.run = to;
        Ok(())
    }

    fn listed(objects: &BTreeMap<String, FakeObject>, label: &str) -> Vec<Listed> {
        objects
            .iter()
            .filter(|(_, o)| labelled(&o.labels, label))
            .map(|(name, o)| Listed {
                id: o.id.clone(),
                name: name.clone(),
                labels: o.labels.clone(),
            })
            .collect()
    }
}

fn unsupported<T>(what: &str) -> Result<T> {
    Err(EngineError::Other(format!("the fake engine has no {what}")))
}

#[async_trait]
impl Backend for Fake {
    async fn image_id(&self, tag: &str) -> Result<Option<String>> {
        self.note("image_id", tag, "");
        Ok(self.world().images.get(tag).cloned())
    }

    async fn pull(&self, image: &str, tag: &str) -> Result<()> {
        self.note("pull", &format!("{image}:{tag}"), "");
        unsupported("registry")
    }

    async fn import(&self, _rootfs_tar: Vec<u8>, repo: &str, tag: &str) -> Result<()> {
        let name = format!("{repo}:{tag}");
        self.note("import", &name, "");
        let id = self.world().id("sha256:");
        self.world().images.insert(name, id);
        Ok(())
    }

    async fn build(
        &self,
        _context_tar: Vec<u8>,
        tag: &str,
        _buildargs: HashMap<String, String>,
        _labels: HashMap<String, String>,
        on_event: &mut (dyn FnMut(BuildEvent) + Send),
    ) -> Result<()> {
        self.note("build", tag, "");
        on_event(BuildEvent::Step("Step 1/1 : FROM scratch".into()));
        let id = self.world().id("sha256:");
        self.world().images.insert(tag.into(), id);
        Ok(())
    }

    async fn save_images(&self, _tags: &[String], _out: &mut tokio::fs::File) -> Result<u64> {
        unsupported("image archives")
    }

    async fn load_images(&self, _file: tokio::fs::File) -> Result<Vec<String>> {
        unsupported("image archives")
    }

    async fn remove_image(&self, tag: &str) -> Result<()> {
        self.note("remove_image", tag, "");
        self.world().images.remove(tag);
        Ok(())
    }

    async fn create_network(
        &self,
        name: &str,
        reach: Reach,
        labels: HashMap<String, String>,
    ) -> Result<String> {
        self.note("create_network", name, format!("{reach:?}"));
        let mut w = self.world();
        if w.networks.contains_key(name) {
            return Err(EngineError::status(
                "create network",
                409,
                format!("network {name} exists"),
            ));
        }
        let id = w.id("n");
        let obj = FakeObject {
            id: id.clone(),
            labels,
        };
        w.networks.insert(name.into(), obj);
        Ok(id)
    }

    async fn networks_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        self.note("networks_with_label", label, "");
        Ok(Fake::listed(&self.world().networks, label))
    }

    async fn remove_network(&self, id: &str) -> Result<()> {
        self.note("remove_network", id, "");
        self.world()
            .networks
            .retain(|name, n| n.id != id && name != id);
        Ok(())
    }

    async fn connect_network(
        &self,
        container: &str,
        network: &str,
        aliases: Vec<String>,
    ) -> Result<()> {
        self.note(
            "connect_network",
            container,
            format!("{network} {aliases:?}"),
        );
        let mut w = self.world();
        let c = w.find("connect", container)?;
        if !c.networks.iter().any(|n| n == network) {
            c.networks.push(network.into());
        }
        Ok(())
    }

    async fn disconnect(&self, container: &str, network: &str) -> Result<()> {
        self.note("disconnect", container, network);
        let mut w = self.world();
        w.find("disconnect", container)?
            .networks
            .retain(|n| n != network);
        Ok(())
    }

    async fn create_volume(&self, name: &str, labels: HashMap<String, String>) -> Result<()> {
        self.note("create_volume", name, "");
        let mut w = self.world();
        let obj = FakeObject {
            id: name.into(),
            labels,
        };
        w.volumes.insert(name.into(), obj);
        Ok(())
    }

    async fn volumes_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        self.note("volumes_with_label", label, "");
        Ok(Fake::listed(&self.world().volumes, label))
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.note("remove_volume", name, "");
        self.world().volumes.remove(name);
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        self.note("create_container", &spec.name, &spec.image);
        let mut w = self.world();
        if w.containers.values().any(|c| c.name == spec.name) {
            let msg = format!("the name {} is in use", spec.name);
            return Err(EngineError::status("create container", 409, msg));
        }
        let id = w.id("c");
        let c = FakeContainer {
            id: id.clone(),
            name: spec.name.clone(),
            image: spec.image.clone(),
            labels: spec.labels.clone(),
            run: Run::Created,
            networks: spec.networks.iter().map(|(n, _)| n.clone()).collect(),
            restarts: 0,
            logs: Vec::new(),
        };
        w.containers.insert(id.clone(), c);
        Ok(id)
    }

    async fn upload(&self, container: &str, path: &str, _tar: Vec<u8>) -> Result<()> {
        self.note("upload", container, path);
        self.world().find("upload", container).map(|_| ())
    }

    fn download<'a>(&'a self, container: &'a str, path: &'a str) -> ByteStream<'a> {
        self.note("download", container, path);
        let r = unsupported("archives");
        Box::pin(futures_util::stream::iter([r]))
    }

    async fn start(&self, container: &str) -> Result<()> {
        let from = [Run::Created, Run::Stopped, Run::Running];
        self.shift("start", container, &from, Run::Running)
    }

    async fn stop(&self, container: &str, _grace_secs: i64) -> Result<()> {
        let from = [Run::Created, Run::Stopped, Run::Running, Run::Paused];
        self.shift("stop", container, &from, Run::Stopped)
    }

    async fn kill(&self, container: &str, _signal: &str) -> Result<()> {
        self.shift("kill", container, &[Run::Running], Run::Stopped)
    }

    async fn restart(&self, container: &str) -> Result<()> {
        let from = [Run::Created, Run::Stopped, Run::Running];
        self.shift("restart", container, &from, Run::Running)?;
        self.world().find("restart", container)?.restarts += 1;
        Ok(())
    }

    async fn rename(&self, container: &str, name: &str) -> Result<()> {
        self.note("rename", container, name);
        self.world().find("rename", container)?.name = name.into();
        Ok(())
    }

    async fn pause(&self, container: &str) -> Result<()> {
        self.shift("pause", container, &[Run::Running], Run::Paused)
    }

    async fn unpause(&self, container: &str) -> Result<()> {
        self.shift("unpause", container, &[Run::Paused], Run::Running)
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        self.note("remove_container", id, "");
        self.world()
            .containers
            .retain(|_, c| c.id != id && c.name != id);
        Ok(())
    }

    async fn containers_with_label(&self, label: &str) -> Result<Vec<Listed>> {
        self.note("containers_with_label", label, "");
        let w = self.world();
        Ok(w.containers
            .values()
            .filter(|c| labelled(&c.labels, label))
            .map(|c| Listed {
                id: c.id.clone(),
                name: c.name.clone(),
                labels: c.labels.clone(),
            })
            .collect())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerState> {
        self.note("inspect", container, "");
        let mut w = self.world();
        let c = w.find("inspect", container)?;
        let status = match c.run {
            Run::Created => "created",
            Run::Running => "running",
            Run::Paused => "paused",
            Run::Stopped => "exited",
        };
        Ok(ContainerState {
            id: c.id.clone(),
            name: c.name.clone(),
            running: matches!(c.run, Run::Running | Run::Paused),
            paused: c.run == Run::Paused,
            status: status.into(),
            health: "none".into(),
            restart_count: c.restarts,
            image: c.image.clone(),
            labels: c.labels.clone(),
            networks: c.networks.clone(),
            ..ContainerState::default()
        })
    }

    async fn exec(&self, container: &str, req: ExecRequest) -> Result<Box<dyn RunningExec>> {
        let name = {
            let mut w = self.world();
            let c = w.find("exec", container)?;
            if c.run != Run::Running {
                let msg = format!("container {} is not running", c.name);
                return Err(EngineError::status("exec", 409, msg));
            }
            c.name.clone()
        };
        let call = ExecCall {
            container: name,
            cmd: req.cmd,
            user: req.user,
        };
        let journal = self.begin("exec", &call.container, call.script(), false);
        let handler = self
            .handler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let reply = handler.map_or_else(|| Reply::ok(""), |h| h(self, &call));
        Ok(Box::new(FakeExec {
            fake: self.clone(),
            journal,
            reply: Some(reply),
            queue: VecDeque::new(),
            exit: None,
        }))
    }

    async fn exec_interactive(
        &self,
        _container: &str,
        _cmd: Vec<String>,
        _user: Option<&str>,
        _env: Vec<String>,
        _workdir: Option<&str>,
    ) -> Result<i64> {
        unsupported("terminal")
    }

    fn logs<'a>(&'a self, container: &'a str, _since: i64) -> ByteStream<'a> {
        self.note("logs", container, "");
        let r = self.world().find("logs", container).map(|c| c.logs.clone());
        Box::pin(futures_util::stream::iter([r]))
    }
}

/// A scripted exec being played.
struct FakeExec {
    fake: Fake,
    journal: usize,
    /// What is left to play; None once the command exited.
    reply: Option<Reply>,
    queue: VecDeque<Chunk>,
    exit: Option<i64>,
}

#[async_trait]
impl RunningExec for FakeExec {
    async fn next(&mut self) -> Option<Chunk> {
        loop {
            if let Some(c) = self.queue.pop_front() {
                return Some(c);
            }
            match self.reply.take() {
                None => {
                    self.fake.end(self.journal);
                    return None;
                }
                Some(Reply::After(wait, then)) => {
                    tokio::time::sleep(wait).await;
                    self.reply = Some(*then);
                }
                Some(Reply::Exit {
                    code,
                    stdout,
                    stderr,
                }) => {
                    for (text, chunk) in [
                        (stdout, Chunk::Stdout as fn(_) -> _),
                        (stderr, Chunk::Stderr),
                    ] {
                        if !text.is_empty() {
                            self.queue.push_back(chunk(text.into_bytes()));
                        }
                    }
                    self.exit = Some(code);
                }
                Some(Reply::Endless { chunk, every }) => {
                    if every.is_zero() {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(every).await;
                    }
                    let out = Chunk::Stdout(chunk.clone());
                    self.reply = Some(Reply::Endless { chunk, every });
                    return Some(out);
                }
            }
        }
    }

    async fn exit_code(&mut self) -> Result<i64> {
        Ok(self.exit.unwrap_or(-1))
    }

    async fn abandon(&mut self) {
        self.reply = None;
        self.fake.end(self.journal);
        let target = self.fake.journal()[self.journal].target.clone();
        self.fake.note("exec-abandoned", &target, "");
    }
}

impl Drop for FakeExec {
    fn drop(&mut self) {
        self.fake.end(self.journal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Engine, OUTPUT_LIMIT};

    #[tokio::test]
    async fn containers_move_between_states_and_the_journal_keeps_the_order() {
        let fake = Fake::new();
        let id = fake.add_running("web", &[("opslab.session", "s")]);
        let engine = Engine::new(fake.clone());
        engine.pause(&id).await.expect("pauses");
        assert!(engine.inspect("web").await.expect("inspects").paused);
        assert!(engine.pause(&id).await.expect_err("twice").is_conflict());
        engine.unpause(&id).await.expect("unpauses");
        engine.stop("web", 1).await.expect("stops");
        assert_eq!(fake.run_of(&id), Some(Run::Stopped));
        assert!(engine
            .inspect("nope")
            .await
            .expect_err("gone")
            .is_not_found());
        let listed = engine.containers_with_label("opslab.session=s").await;
        assert_eq!(listed.expect("lists").len(), 1);
        assert_eq!(
            fake.ops()[..4],
            ["pause c1", "inspect web", "pause c1", "unpause c1"]
        );
    }

    #[tokio::test]
    async fn an_exec_answers_from_the_script_and_may_change_the_world() {
        let fake = Fake::new();
        let id = fake.add_running("app", &[]);
        fake.on_exec(|fake, call| match call.script().as_str() {
            "crash" => {
                fake.set_run(&call.container, Run::Stopped);
                Reply::exit(137)
            }
            s => Reply::ok(s),
        });
        let engine = Engine::new(fake.clone());
        let sh = |s: &str| vec!["sh".to_string(), "-c".into(), s.into()];
        let t = Duration::from_secs(5);
        let out = engine.exec(&id, sh("hello"), None, t, None).await;
        assert_eq!(out.expect("runs").stdout, "hello");
        let out = engine.exec(&id, sh("crash"), None, t, None).await;
        assert!(out.expect("runs").timed_out);
        assert_eq!(fake.run_of("app"), Some(Run::Stopped));
        let refused = engine.exec(&id, sh("hello"), None, t, None).await;
        assert!(refused.expect_err("stopped").is_conflict());
    }

    #[tokio::test]
    async fn an_endless_exec_is_cut_at_the_limit_and_abandoned() {
        let fake = Fake::new();
        let id = fake.add_running("app", &[]);
        fake.on_exec(|_, _| Reply::Endless {
            chunk: vec![b'y'; 64 << 10],
            every: Duration::ZERO,
        });
        let engine = Engine::new(fake.clone());
        let cmd = vec!["yes".to_string()];
        let out = engine
            .exec(&id, cmd, None, Duration::from_secs(60), None)
            .await
            .expect("runs");
        assert!(out.truncated);
        assert_eq!(out.exit_code, -1);
        assert_eq!(out.stdout.len(), OUTPUT_LIMIT);
        assert!(out.stderr.contains("output truncated"));
        assert_eq!(
            fake.ops().last().map(String::as_str),
            Some("exec-abandoned app")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_exec_that_never_ends_is_given_up_after_its_timeout_and_a_grace() {
        let fake = Fake::new();
        let id = fake.add_running("app", &[]);
        fake.on_exec(|_, _| Reply::Endless {
            chunk: b"tick\n".to_vec(),
            every: Duration::from_secs(1),
        });
        let engine = Engine::new(fake.clone());
        let started = tokio::time::Instant::now();
        let out = engine
            .exec(
                &id,
                vec!["watch".into()],
                None,
                Duration::from_secs(10),
                None,
            )
            .await
            .expect("runs");
        assert!(out.timed_out && !out.truncated);
        assert_eq!(out.exit_code, 137);
        assert!(out.stdout.starts_with("tick\ntick\n"));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(10) && waited <= Duration::from_secs(14));
        let exec = &fake.journal()[0];
        assert!(exec.ended.is_some(), "the exec's connection is closed");
    }
}
