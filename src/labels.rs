//! Every label opslab puts on what it creates in the engine, in one place. Labels are the truth
//! about sessions (see docs/ARCHITECTURE.md): `status`, `check`, `stop` and `gc` read them back.

// ---- every object of a session ----

/// Marks what a session creates (never an image: a container inherits its image's labels).
pub const LABEL_MANAGED: &str = "opslab.managed";
pub const LABEL_LAB: &str = "opslab.lab";
pub const LABEL_SESSION: &str = "opslab.session";
pub const LABEL_TRAINEE: &str = "opslab.trainee";
/// Set on the containers of a session that is still being started: `gc` may take them.
pub const LABEL_OWNER_PID: &str = "opslab.owner-pid";
/// On a session that lives only as long as the process that started it (a selftest's): `gc`
/// takes it, complete or not, once that process is gone.
pub const LABEL_EPHEMERAL: &str = "opslab.ephemeral";

// ---- a session's containers ----

pub const LABEL_SERVICE: &str = "opslab.service";
pub const LABEL_ROLE: &str = "opslab.role";
pub const LABEL_PARAMS: &str = "opslab.params";
pub const LABEL_SEED: &str = "opslab.seed";
pub const LABEL_LAB_DIR: &str = "opslab.lab-dir";
pub const LABEL_STARTED: &str = "opslab.started";
pub const LABEL_SSH_BIND: &str = "opslab.ssh-bind";
/// On the gate: `GATE_PORT=service:port` pairs, comma-separated.
pub const LABEL_FORWARDS: &str = "opslab.forwards";

// ---- a swarm (`--engine swarm`) ----

/// On a swarm service: the name it answers to once renamed (a service cannot be renamed; a
/// session's grader takes its final name last).
pub const LABEL_NAME: &str = "opslab.name";
/// On a swarm service: its health command, which opslab runs itself (the swarm stops a
/// container whose check fails, where one engine keeps it running).
pub const LABEL_HEALTH: &str = "opslab.health";
/// On a swarm node (set by the trainer): the address of its engine, e.g. `tcp://10.0.0.5:2375`,
/// through which opslab runs commands in, and reads files and logs of, the containers there.
pub const LABEL_NODE_ENGINE: &str = "opslab.engine";
/// On a swarm node (set by the trainer): the address trainees reach the node at (a name or an
/// IP), written on a class's access sheet with the node's SSH ports.
pub const LABEL_NODE_ADDRESS: &str = "opslab.address";
/// On a swarm node (set by the trainer): the ports opslab publishes sessions' ports on there,
/// `FIRST-LAST` (the range the node's firewall lets trainees reach); without it the node's
/// engine picks them in its ephemeral range.
pub const LABEL_NODE_PORTS: &str = "opslab.ports";

// ---- an assessment's sessions ----

/// The class a session belongs to; every label of a class begins with it.
pub const LABEL_CLASS: &str = "opslab.class";
/// "1" when the session's networks have no route out.
pub const LABEL_ISOLATED: &str = "opslab.class-isolated";
/// The class instance, and its creation time (the hints' scope).
pub const LABEL_INSTANCE: &str = "opslab.class-instance";
pub const LABEL_EPOCH: &str = "opslab.class-epoch";

// ---- images ----

/// The one label opslab's images carry. Every container inherits its image's labels (build
/// steps included), so images never carry `opslab.managed`: that label marks only what a
/// session creates, and `gc` must not mistake a build step or a user's own container for it.
pub const LABEL_IMAGE: &str = "opslab.image";
