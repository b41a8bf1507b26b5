//! The check engine against the real engine: every probe kind and action, passing and failing,
//! `within` and `holds`, `needs` skipping, commands cut at their timeout, disturbed services put
//! back; selftest proves a grader both ways and rejects one that cannot fail.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{fixture, objects_with_label, require_docker, run, text, SessionGuard};

fn grade(session: &str) -> Value {
    let out = run(&["--json", "check", "--session", session]);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "check failed to run: {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check --json is not JSON ({e}): {}", text(&out)))
}

fn by_id(g: &Value) -> BTreeMap<String, Value> {
    g["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["id"].as_str().unwrap_or("").to_string(), c.clone()))
        .collect()
}

fn container_running(name: &str) -> bool {
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.Paused}}",
            name,
        ])
        .output()
        .expect("docker");
    String::from_utf8_lossy(&out.stdout).trim() == "true false"
}

#[test]
fn every_probe_and_action_passes_and_fails_as_it_should_docker() {
    require_docker();
    let _g = crate::support::start_fixture("probes", "it");

    let expected = [
        ("http-json-pass", "passed"),
        ("http-status-fail", "failed"),
        ("http-inner-pass", "passed"),
        ("command-pass", "passed"),
        ("command-fail", "failed"),
        ("command-timeout", "failed"),
        ("file-pass", "passed"),
        ("file-fail", "failed"),
        ("container-pass", "passed"),
        ("container-fail", "failed"),
        ("port-pass", "passed"),
        ("port-fail", "failed"),
        ("holds-pass", "passed"),
        ("needs-skip", "skipped"),
        ("log-pass", "passed"),
        ("log-fail", "failed"),
        ("holds-fail", "failed"),
        ("within-later", "passed"),
        ("stop-restored", "passed"),
        ("kill-restored", "passed"),
        ("pause-restored", "passed"),
        ("disconnect-restored", "passed"),
        ("copy-and-restart", "passed"),
    ];
    // Twice: a grading puts back what it disturbed, so the second sees the same system.
    for round in 1..=2 {
        let g = grade("probes-it");
        let checks = by_id(&g);
        let mut wrong = Vec::new();
        for (id, want) in expected {
            let got = checks
                .get(id)
                .and_then(|c| c["status"].as_str())
                .unwrap_or("missing");
            if got != want {
                wrong.push(format!(
                    "{id}: {got}, expected {want} ({})",
                    checks.get(id).map(|c| c.to_string()).unwrap_or_default()
                ));
            }
        }
        assert!(wrong.is_empty(), "round {round}:\n{}", wrong.join("\n"));

        let secs = |id: &str| checks[id]["seconds"].as_f64().expect("seconds");
        assert!(
            secs("command-timeout") < 10.0,
            "a command that never returns is cut at its timeout: {}s",
            secs("command-timeout")
        );
        assert!(secs("holds-pass") >= 3.0, "holds waits its whole window");
        assert!(
            secs("holds-fail") < 4.5,
            "holds fails as soon as the condition breaks: {}s",
            secs("holds-fail")
        );
        let late = checks["within-later"]["measures"]["late_file"]
            .as_f64()
            .expect("measured");
        assert!(
            (1.5..8.0).contains(&late),
            "within passes once true, and the time is measured: {late}"
        );
        assert!(
            checks["needs-skip"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("http-status-fail"),
            "the skip names its need"
        );
        let fail = &checks["http-status-fail"];
        assert!(
            fail["expected"]
                .as_str()
                .unwrap_or("")
                .contains("answers 200"),
            "says what was expected: {fail}"
        );
        assert!(
            fail["seen"].as_str().unwrap_or("").contains("404"),
            "says what was seen: {fail}"
        );

        // Services stopped, killed, paused or cut off are running again, reachable by name.
        for svc in ["inner", "web"] {
            assert!(
                container_running(&format!("opslab-probes-it-{svc}")),
                "round {round}: {svc} was not put back"
            );
        }
        let out = run(&[
            "shell",
            "web",
            "--session",
            "probes-it",
            "--",
            "curl",
            "-fsS",
            "http://inner:9000/",
        ]);
        assert!(
            out.status.success(),
            "inner is reachable again: {}",
            text(&out)
        );
        let out = run(&[
            "shell",
            "web",
            "--session",
            "probes-it",
            "--",
            "test",
            "-e",
            "/srv/www/vanishing.txt",
        ]);
        assert!(out.status.success(), "restore put the removed file back");
    }
}

#[test]
fn a_stopped_service_gives_failed_checks_not_an_error_docker() {
    require_docker();
    let lab = fixture("labs/trio");
    let _ = run(&["stop", "--session", "trio-crash"]);
    assert!(
        run(&["start", lab.to_str().expect("utf-8"), "--trainee", "crash"])
            .status
            .success()
    );
    let _g = SessionGuard("trio-crash".into());
    let out = std::process::Command::new("docker")
        .args(["kill", "opslab-trio-crash-api", "opslab-trio-crash-ws"])
        .output()
        .expect("docker");
    assert!(out.status.success());
    let g = grade("trio-crash");
    let checks = by_id(&g);
    assert_eq!(
        checks["api-team"]["status"], "failed",
        "{}",
        checks["api-team"]
    );
    assert_eq!(checks["done-file"]["status"], "failed");
    assert!(
        checks["api-team"]["seen"].as_str().unwrap_or("").len() > 3,
        "feedback says what was seen"
    );
}

#[test]
fn selftest_proves_a_fixture_grader_both_ways_docker() {
    require_docker();
    let out = run(&[
        "selftest",
        fixture("labs/trio").to_str().expect("utf-8"),
        "--runs",
        "2",
    ]);
    assert!(out.status.success(), "selftest trio: {}", text(&out));
    let t = text(&out);
    assert!(t.contains("selftest trio: ok"));
    let sessions: Vec<&str> = t
        .lines()
        .filter_map(|l| l.split_once(": session ").map(|(_, id)| id.trim()))
        .collect();
    assert_eq!(sessions.len(), 2, "each run names its session: {t}");
    for id in sessions {
        assert_eq!(
            objects_with_label(&format!("opslab.session={id}")),
            0,
            "selftest left {id} behind"
        );
    }
}

#[test]
fn selftest_rejects_a_grader_that_cannot_fail_docker() {
    require_docker();
    let out = run(&[
        "selftest",
        fixture("labs/always").to_str().expect("utf-8"),
        "--runs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("`home-exists` passes on the untouched lab"),
        "the message names the check: {t}"
    );
    assert_eq!(
        objects_with_label("opslab.lab=always"),
        0,
        "selftest leaves nothing"
    );
}

#[test]
fn a_shortcut_attempt_that_passes_fails_the_attempt_selftest_docker() {
    require_docker();
    // The reference solution given as an "attempt" passes, so the attempt check must fail.
    let lab = fixture("labs/trio");
    let out = run(&[
        "selftest",
        lab.to_str().expect("utf-8"),
        "--runs",
        "1",
        "--attempt",
        lab.join("solution").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the shortcut attempt passes"),
        "{}",
        text(&out)
    );
}

/// A selftest killed outright (no chance to stop its session) leaves a complete session behind;
/// its session lives only as long as the selftest, so `gc` takes it.
#[test]
fn gc_takes_the_session_of_a_killed_selftest_docker() {
    require_docker();
    let mut child = crate::support::opslab()
        .args([
            "selftest",
            fixture("labs/trio").to_str().expect("utf-8"),
            "--runs",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("opslab starts");
    let session = format!("trio-selftest-{}-1", child.id());
    let grader = format!("opslab-{session}-grader");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    // Complete: its grader container exists.
    while !std::process::Command::new("docker")
        .args(["inspect", &grader])
        .output()
        .expect("docker runs")
        .status
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the selftest's session was not complete within 180 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        child.try_wait().expect("the selftest's state").is_none(),
        "the selftest ended before it could be killed: nothing to prove"
    );
    child.kill().expect("the selftest is killed");
    child.wait().expect("it exits");
    let out = run(&["gc"]);
    assert!(out.status.success(), "gc: {}", text(&out));
    assert_eq!(
        objects_with_label(&format!("opslab.session={session}")),
        0,
        "gc left the killed selftest's session"
    );
}
