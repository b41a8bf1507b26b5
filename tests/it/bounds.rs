//! What a trainee cannot make opslab spend: output past 1 MiB is not read (HTTP bodies from the
//! host and from the grader, commands' stdout and stderr, actions, files, logs) and opslab's peak
//! memory stays small while a lab answers 1 GiB everywhere; redirects are answers, not places to
//! go; every container has a CPU limit.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{opslab, require_docker};

/// The peak resident memory (VmHWM) of a running process, in KiB, or None once it has exited.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `opslab --json check` on a session, polling its peak memory until it exits: (the
/// grading, peak MiB).
fn check_measuring_memory(session: &str) -> (Value, f64) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out_path = dir.path().join("check.json");
    let err_path = dir.path().join("check.err");
    let mut child = opslab()
        .args(["--json", "check", "--session", session])
        .stdout(std::fs::File::create(&out_path).expect("a file"))
        .stderr(std::fs::File::create(&err_path).expect("a file"))
        .stdin(Stdio::null())
        .spawn()
        .expect("the opslab binary runs");
    let pid = child.id();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        // Read before asking whether it exited: a zombie has no VmHWM, a live process does.
        if let Some(k) = peak_kib(pid) {
            peak = peak.max(k);
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("opslab check did not finish within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        matches!(status.code(), Some(0) | Some(1)),
        "check failed to run ({status}): {stdout}{stderr}"
    );
    assert!(peak > 0, "the peak memory of opslab check was never read");
    let grade = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("check --json is not JSON ({e}): {stdout}{stderr}"));
    (grade, peak as f64 / 1024.0)
}

fn by_id(g: &Value) -> BTreeMap<String, Value> {
    g["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["id"].as_str().unwrap_or("").to_string(), c.clone()))
        .collect()
}

#[test]
fn endless_output_is_cut_at_a_mebibyte_and_opslab_stays_small_docker() {
    require_docker();
    let _g = crate::support::start_fixture("flood", "it");

    let (g, peak_mib) = check_measuring_memory("flood-it");
    eprintln!("opslab check on the flood lab: peak memory {peak_mib:.1} MiB");
    let checks = by_id(&g);
    let status = |id: &str| {
        checks[id]["status"]
            .as_str()
            .unwrap_or("missing")
            .to_string()
    };
    let seen = |id: &str| checks[id]["seen"].as_str().unwrap_or("").to_string();

    let mut wrong = Vec::new();
    for id in [
        "http-host-flood",
        "http-grader-flood",
        "http-grader-announced",
        "command-stdout-flood",
        "command-stderr-flood",
        "command-not-flood",
        "action-flood",
        "file-flood",
        "log-flood",
    ] {
        if status(id) != "failed" || !seen(id).contains("output truncated") {
            wrong.push(format!("{id}: {}", checks[id]));
        }
    }
    for id in [
        "http-ok",
        "http-host-redirect",
        "http-grader-redirect",
        "file-big-mode",
    ] {
        if status(id) != "passed" {
            wrong.push(format!("{id} should pass: {}", checks[id]));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        peak_mib < 200.0,
        "opslab's peak memory was {peak_mib:.1} MiB while the lab answered 1 GiB everywhere"
    );
    // Cut outputs are not waited out: each flood check ends well before its 60 s timeout.
    for id in ["http-host-flood", "command-stdout-flood", "action-flood"] {
        let secs = checks[id]["seconds"].as_f64().unwrap_or(f64::MAX);
        assert!(secs < 30.0, "{id} took {secs}s");
    }
    // The command whose output was cut is killed, not left blocked in the container.
    std::thread::sleep(Duration::from_secs(1));
    let ps = Command::new("docker")
        .args(["exec", "opslab-flood-it-ws", "ps", "-eo", "args"])
        .output()
        .expect("docker");
    let procs = String::from_utf8_lossy(&ps.stdout);
    assert!(
        !procs.contains("head -c 1G"),
        "commands cut at the limit still run:\n{procs}"
    );
}

fn nano_cpus(container: &str) -> i64 {
    let out = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}",
            container,
        ])
        .output()
        .expect("docker");
    let s = String::from_utf8_lossy(&out.stdout);
    let mut f = s.split_whitespace();
    let nano = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let shares: i64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    assert_eq!(
        shares, 1024,
        "{container}: every container has the same weight"
    );
    nano
}

#[test]
fn every_container_has_a_cpu_limit_docker() {
    require_docker();
    let _g = crate::support::start_fixture("cpus", "it");
    assert_eq!(
        nano_cpus("opslab-cpus-it-half"),
        500_000_000,
        "cpus = \"0.5\""
    );
    assert_eq!(nano_cpus("opslab-cpus-it-ws"), 1_000_000_000, "the default");
    assert_eq!(
        nano_cpus("opslab-cpus-it-grader"),
        1_000_000_000,
        "the grader too"
    );
    let ids = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=opslab.session=cpus-it"])
        .output()
        .expect("docker");
    let ids = String::from_utf8_lossy(&ids.stdout);
    assert_eq!(ids.lines().count(), 3, "half, ws and the grader: {ids}");
    for id in ids.lines() {
        assert!(nano_cpus(id) > 0, "container {id} has no CPU limit");
    }
}
