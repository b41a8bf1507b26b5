//! The command line, parsed with clap. `commands/` does the work.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "opslab",
    version,
    about = "Hands-on DevOps labs in containers, graded by making the system act"
)]
pub struct Cli {
    /// Language of briefs, hints and reports (en, fr); default from the locale.
    #[arg(long, global = true, env = "OPSLAB_LANG")]
    pub lang: Option<String>,
    /// Print machine-readable JSON instead of text (where the command has a result).
    #[arg(long, global = true)]
    pub json: bool,
    /// The engine sessions run on: `docker` (one engine) or `swarm` (a Docker Swarm, one
    /// session on one node, through a manager).
    #[arg(long, global = true, env = "OPSLAB_ENGINE", default_value = "docker")]
    pub engine: crate::backend::EngineKind,
    /// The engine's address (`tcp://ADDRESS:PORT` or `unix:///PATH`; a swarm manager's with
    /// `--engine swarm`); default DOCKER_HOST, else the local socket.
    #[arg(long, global = true, env = "OPSLAB_ENGINE_HOST")]
    pub engine_host: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the labs of labs/.
    List,
    /// Check lab definitions without starting anything: one lab, a folder of labs, or all of labs/.
    Validate { paths: Vec<PathBuf> },
    /// Build and list the lab images (content-addressed: unchanged images are not rebuilt).
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Start a lab.
    Start {
        lab: String,
        #[arg(long)]
        trainee: Option<String>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Services, health, ports and elapsed time of the running session.
    Status {
        #[arg(long)]
        session: Option<String>,
    },
    /// Open a shell in a service (the trainee's workstation by default), or run a command there.
    Shell {
        service: Option<String>,
        #[arg(long)]
        session: Option<String>,
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Grade the running session.
    Check {
        #[arg(long)]
        session: Option<String>,
        /// Write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write a self-contained HTML report here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Only these checks.
        #[arg(long = "only")]
        only: Vec<String>,
        /// Only the checks that act on nothing (no push, no outage): an observation that leaves
        /// the session as it was.
        #[arg(long, conflicts_with = "only")]
        observe: bool,
        /// Grading as a whole stops here; checks not run by then fail with that reason.
        #[arg(long, default_value = "15m")]
        deadline: String,
    },
    /// Show the next hint for a check (the first failing one by default).
    Hint {
        check: Option<String>,
        #[arg(long)]
        session: Option<String>,
        /// Take the hint even though it costs points (in an assessment).
        #[arg(long)]
        yes: bool,
    },
    /// Stop a practice session's containers and keep their state (files, data, parameters,
    /// hints); `opslab resume` brings it back. The laptop may sleep or reboot meanwhile.
    Suspend {
        #[arg(long)]
        session: Option<String>,
    },
    /// Start a suspended session again and wait until its services are healthy.
    Resume {
        #[arg(long)]
        session: Option<String>,
    },
    /// Put the session back to its initial state, same parameters.
    Reset {
        #[arg(long)]
        session: Option<String>,
    },
    /// Stop the session and remove everything it created.
    Stop {
        #[arg(long)]
        session: Option<String>,
        /// Stop every session.
        #[arg(long)]
        all: bool,
    },
    /// Remove everything opslab labelled that no live session owns.
    Gc {
        /// Remove live sessions too.
        #[arg(long)]
        all: bool,
    },
    /// Prove a lab's grader both ways: the untouched lab fails, the reference solution scores full marks.
    Selftest {
        lab: String,
        #[arg(long, default_value_t = 2)]
        runs: u32,
        /// Apply this shortcut attempt instead of the reference solution; it must score below the pass mark.
        #[arg(long)]
        attempt: Option<PathBuf>,
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Apply the lab's reference solution (or the given folder) to the running session, as the trainee would.
    Solve {
        #[arg(long)]
        session: Option<String>,
        /// A folder holding solve.sh (default: the lab's solution/).
        #[arg(long)]
        with: Option<PathBuf>,
    },
    /// Trainer assessments: a class of seeded, isolated, timed sessions.
    Class {
        #[command(subcommand)]
        command: ClassCommand,
    },
    /// The trainer's signing key for assessment results.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check signed result files: which are intact, which were altered.
    Verify {
        #[arg(required_unless_present = "class")]
        files: Vec<PathBuf>,
        /// Check a class's whole set of results: one final result of its current instance per
        /// trainee of the roster, each under its trainee's name, nothing missing or extra.
        #[arg(long)]
        class: Option<String>,
        /// The trainer's public key (hex); default: this machine's key.
        #[arg(long)]
        key: Option<String>,
    },
    /// Past gradings, newest first.
    History {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClassCommand {
    /// One session per trainee of the roster (CSV: id,name,email), with SSH access to each workstation.
    Start {
        lab: String,
        #[arg(long)]
        roster: PathBuf,
        /// Time limit, e.g. 90m: at the deadline every session is graded a last time and frozen.
        #[arg(long)]
        time: Option<String>,
        /// Class name (default: the roster's file name).
        #[arg(long)]
        name: Option<String>,
        /// Address the workstations' SSH ports are published on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Fixed seed for the trainees' parameters, for reproducible tests only: by default it
        /// is drawn from the operating system's random source and kept in the class folder.
        #[arg(long)]
        seed: Option<u64>,
        /// Give the sessions a route out (by default an assessment's networks are internal).
        #[arg(long)]
        internet: bool,
        /// Sessions started at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Trainee, state, last score, hints used, time left.
    Status { name: String },
    /// Grade every session in parallel; write signed results and the reports. Before the
    /// deadline the results are provisional; from it on, the grading is the final one.
    Grade {
        name: String,
        /// End the assessment now (before its time limit, or in a class without one): trainee
        /// access ends for everyone, then the final grading, then the sessions freeze.
        #[arg(long = "final")]
        end_now: bool,
    },
    /// Write the class's reports from its signed results.
    Report {
        name: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A live class page for the trainer: who is logged in, last activity, time left, hints,
    /// the latest grading per check and a progress timeline, updated by itself. Progress comes
    /// from observation-only gradings (checks without actions) run every --interval.
    Serve {
        name: String,
        /// Address to listen on (loopback by default; 0.0.0.0 to share it on the trainer's
        /// network: the URL carries a token).
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Port (0: any free port; the URL is printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// How often the observation-only gradings run.
        #[arg(long, default_value = "60s")]
        interval: String,
    },
    /// Remove every session of the class (results and reports stay, and the name stays taken).
    Stop {
        name: String,
        /// Also delete the class folder (results, reports, keys), which frees the name.
        #[arg(long)]
        purge: bool,
    },
    /// Stop the class and move its folder aside (under the data folder's archive/), which
    /// frees the name.
    Archive { name: String },
    /// Wait for the deadline, then end access, grade a last time and freeze (started by
    /// `class start --time`).
    Watch {
        name: String,
        /// The class instance to finalize; an instance started later under the same name is
        /// not this watcher's.
        #[arg(long)]
        instance: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the signing key (ed25519).
    Init,
    /// Print the public key.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build the named images (all of images/ by default).
    Build { names: Vec<String> },
    /// Per lab (all of labs/ by default), the images it needs with their tags: present or
    /// missing.
    List { labs: Vec<String> },
    /// Write one archive with the Debian base and every image the named labs (all by default)
    /// need, for a classroom with no network: `opslab images import FILE` loads it there.
    Export { file: PathBuf, labs: Vec<String> },
    /// Load an archive written by `opslab images export` (no network or debootstrap needed).
    Import { file: PathBuf },
}
