//! The runner against the real engine: a fixture lab starts healthy, labelled and limited, with
//! its seeded values rendered; shell, reset, stop and gc; Ctrl-C during start; image caching.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    fixture, objects_with_label, opslab, require_docker, run, text, SessionGuard,
};

fn inspect(name: &str) -> Value {
    let out = std::process::Command::new("docker")
        .args(["inspect", name])
        .output()
        .expect("docker runs");
    let v: Value = serde_json::from_slice(&out.stdout).expect("docker inspect prints JSON");
    v[0].clone()
}

#[test]
fn fixture_lab_starts_healthy_labelled_limited_and_stops_clean_docker() {
    require_docker();
    let lab = fixture("labs/trio");
    let lab = lab.to_str().expect("utf-8 path");
    let _ = run(&["stop", "--session", "trio-runner"]);
    let out = run(&["start", lab, "--trainee", "runner", "--seed", "7"]);
    assert!(out.status.success(), "start failed: {}", text(&out));
    let guard = SessionGuard("trio-runner".into());

    let status = run(&["--json", "status", "--session", "trio-runner"]);
    assert!(status.status.success(), "{}", text(&status));
    let st: Value = serde_json::from_slice(&status.stdout).expect("status --json prints JSON");
    let services = st["services"].as_array().expect("services");
    assert_eq!(services.len(), 4, "three services and the grader: {st}");

    for svc in ["web", "api", "ws", "grader"] {
        let c = inspect(&format!("opslab-trio-runner-{svc}"));
        let labels = &c["Config"]["Labels"];
        assert_eq!(labels["opslab.lab"], "trio", "{svc} lab label");
        assert_eq!(
            labels["opslab.session"], "trio-runner",
            "{svc} session label"
        );
        assert_eq!(labels["opslab.trainee"], "runner", "{svc} trainee label");
        let host = &c["HostConfig"];
        assert!(
            host["Memory"].as_i64().unwrap_or(0) > 0,
            "{svc} has a memory limit"
        );
        assert!(
            host["PidsLimit"].as_i64().unwrap_or(0) > 0,
            "{svc} has a pids limit"
        );
        assert_eq!(host["Privileged"], false, "{svc} is not privileged");
        let mounts = c["Mounts"].to_string();
        assert!(
            !mounts.contains("docker.sock"),
            "{svc} has no engine socket: {mounts}"
        );
        assert_eq!(c["State"]["Running"], true, "{svc} runs");
        if svc == "web" || svc == "api" {
            assert_eq!(
                c["State"]["Health"]["Status"], "healthy",
                "{svc} is healthy"
            );
        }
        for (_, bindings) in c["NetworkSettings"]["Ports"]
            .as_object()
            .into_iter()
            .flatten()
        {
            for b in bindings.as_array().into_iter().flatten() {
                assert_eq!(b["HostIp"], "127.0.0.1", "{svc} publishes on loopback only");
            }
        }
    }
    let web = inspect("opslab-trio-runner-web");
    assert_eq!(
        web["HostConfig"]["Memory"].as_i64(),
        Some(128 << 20),
        "memory from lab.toml"
    );
    assert_eq!(
        web["HostConfig"]["PidsLimit"].as_i64(),
        Some(64),
        "pids from lab.toml"
    );

    // Rendered files hold the values drawn for this trainee and seed.
    let team = st["params"]["team"]
        .as_str()
        .expect("team param")
        .to_string();
    let secret = st["params"]["secret"]
        .as_str()
        .expect("secret param")
        .to_string();
    let out = run(&[
        "shell",
        "api",
        "--session",
        "trio-runner",
        "--",
        "cat",
        "/srv/api/team.json",
    ]);
    assert!(
        text(&out).contains(&format!("\"team\": \"{team}\"")),
        "team.json: {}",
        text(&out)
    );
    let out = run(&[
        "shell",
        "web",
        "--session",
        "trio-runner",
        "--",
        "cat",
        "/srv/www/index.html",
    ]);
    assert!(
        text(&out).contains(&secret) && text(&out).contains(&format!("hello-{team}")),
        "index.html: {}",
        text(&out)
    );
    let out = run(&[
        "shell",
        "web",
        "--session",
        "trio-runner",
        "--",
        "stat",
        "-c",
        "%a %U",
        "/srv/www/secret.txt",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "640 trainee",
        "mode and owner from lab.toml"
    );
    // Setup steps ran, into the session's volume.
    let out = run(&[
        "shell",
        "api",
        "--session",
        "trio-runner",
        "--",
        "cat",
        "/srv/data/seed.txt",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "seeded");

    // A command runs non-interactively, as the trainee, and returns its exit code.
    let out = run(&[
        "shell",
        "--session",
        "trio-runner",
        "--",
        "sh",
        "-c",
        "id -un; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "trainee");

    // The published port answers on loopback.
    let port = services
        .iter()
        .find(|s| s["service"] == "web")
        .and_then(|s| s["ports"]["8000"].as_u64())
        .expect("web publishes 8000");
    let body = std::process::Command::new("curl")
        .args(["-fsS", &format!("http://127.0.0.1:{port}/")])
        .output()
        .expect("curl");
    assert!(String::from_utf8_lossy(&body.stdout).contains(&secret));

    // Reset puts the initial state back, with the same parameters.
    let out = run(&[
        "shell",
        "--session",
        "trio-runner",
        "--",
        "sh",
        "-c",
        "echo x > ~/done.txt",
    ]);
    assert!(out.status.success());
    let out = run(&["reset", "--session", "trio-runner"]);
    assert!(out.status.success(), "reset: {}", text(&out));
    let out = run(&[
        "shell",
        "--session",
        "trio-runner",
        "--",
        "test",
        "-e",
        "/home/trainee/done.txt",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "reset removed the trainee's change"
    );
    let st2: Value =
        serde_json::from_slice(&run(&["--json", "status", "--session", "trio-runner"]).stdout)
            .expect("JSON");
    assert_eq!(st["params"], st2["params"], "reset keeps the parameters");

    let out = run(&["stop", "--session", "trio-runner"]);
    assert!(out.status.success(), "stop: {}", text(&out));
    std::mem::forget(guard);
    assert_eq!(
        objects_with_label("opslab.session=trio-runner"),
        0,
        "stop leaves nothing"
    );
}

#[test]
fn other_trainees_get_other_values_docker() {
    require_docker();
    let lab = fixture("labs/trio");
    let lab = lab.to_str().expect("utf-8 path");
    let mut params = Vec::new();
    for t in ["pa", "pb"] {
        let _ = run(&["stop", "--session", &format!("trio-{t}")]);
        let out = run(&["start", lab, "--trainee", t, "--seed", "1"]);
        assert!(out.status.success(), "start {t}: {}", text(&out));
        let _g = SessionGuard(format!("trio-{t}"));
        let st: Value = serde_json::from_slice(
            &run(&["--json", "status", "--session", &format!("trio-{t}")]).stdout,
        )
        .expect("JSON");
        params.push(st["params"].clone());
    }
    assert_ne!(
        params[0]["secret"], params[1]["secret"],
        "two trainees, two secrets"
    );
    assert_eq!(objects_with_label("opslab.session=trio-pa"), 0);
}

#[test]
fn interrupt_during_start_leaves_nothing_docker() {
    require_docker();
    let lab = fixture("labs/trio");
    // Images first, so that the interrupt lands while containers are being created.
    assert!(run(&["images", "build", "toolbox", "grader"])
        .status
        .success());
    let _ = run(&["stop", "--session", "trio-sigint"]);
    let mut child = opslab()
        .args(["start", lab.to_str().expect("utf-8"), "--trainee", "sigint"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("opslab starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while objects_with_label("opslab.session=trio-sigint") == 0 {
        assert!(
            Instant::now() < deadline,
            "start created nothing within 60s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = child.wait().expect("opslab exits");
    assert_eq!(status.code(), Some(130), "an interrupted start exits 130");
    assert_eq!(
        objects_with_label("opslab.session=trio-sigint"),
        0,
        "the interrupt left objects behind"
    );
}

#[test]
fn unchanged_images_are_not_rebuilt_docker() {
    require_docker();
    let first = run(&["images", "build", "toolbox", "grader"]);
    assert!(first.status.success(), "{}", text(&first));
    let second = run(&["images", "build", "toolbox", "grader"]);
    assert!(second.status.success(), "{}", text(&second));
    let out = String::from_utf8_lossy(&second.stdout);
    let lines: Vec<&str> = out.lines().collect();
    // The two images and the layer they build on.
    let names: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["common", "toolbox", "grader"], "{out}");
    assert!(
        lines.iter().all(|l| l.ends_with("up to date")),
        "second build built something: {out}"
    );
    assert!(
        !text(&second).contains("Step "),
        "second build ran build steps: {}",
        text(&second)
    );
}

#[test]
fn gc_removes_orphans_and_keeps_live_sessions_docker() {
    require_docker();
    let lab = fixture("labs/trio");
    let _ = run(&["stop", "--session", "trio-gc"]);
    assert!(
        run(&["start", lab.to_str().expect("utf-8"), "--trainee", "gc"])
            .status
            .success()
    );
    let _g = SessionGuard("trio-gc".into());
    // An orphan: a labelled volume whose session never completed and whose owner is gone (a
    // volume, not a network: the engine's address pools may be spent by other tests' sessions).
    let out = std::process::Command::new("docker")
        .args([
            "volume",
            "create",
            "--label",
            "opslab.managed=1",
            "--label",
            "opslab.session=orphan-gc",
            "--label",
            "opslab.owner-pid=1@elsewhere",
            "opslab-orphan-gc",
        ])
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["gc"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        objects_with_label("opslab.session=orphan-gc"),
        0,
        "gc removed the orphan"
    );
    assert!(
        objects_with_label("opslab.session=trio-gc") >= 4,
        "gc kept the live session"
    );
}

#[test]
fn missing_session_is_an_input_error() {
    let out = run(&["status", "--session", "no-such-session"]);
    let code = out.status.code();
    // Without an engine this is an environment error (3); with one, the session is missing (2).
    assert!(code == Some(2) || code == Some(3), "{}", text(&out));
    assert!(!text(&out).contains("panicked"));
}

/// A practice session survives a suspend (or a reboot: the engine stopping every container) with
/// the trainee's work, its parameters and the hints taken.
#[test]
fn a_suspended_session_resumes_with_work_parameters_and_hints_docker() {
    require_docker();
    let _g = crate::support::start_fixture("classroom", "sleeper");
    let s = "classroom-sleeper";
    let status = |args: &[&str]| -> Value {
        let out = run(&[&["--json", "status", "--session", s][..], args].concat());
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("status: {}", text(&out)))
    };
    let token = status(&[])["params"]["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let ws = "opslab-classroom-sleeper-ws";
    let work = Command::new("docker")
        .args(["exec", "-u", "trainee", ws, "sh", "-c"])
        .arg("curl -fsS http://web:8000/token.txt > ~/answer.txt")
        .status()
        .expect("docker");
    assert!(work.success());
    let out = run(&["hint", "answer-file", "--session", s]);
    assert!(out.status.success(), "hint: {}", text(&out));
    let outcome = |g: &Value| -> Vec<(String, String)> {
        g["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| (c["id"].to_string(), c["status"].to_string()))
            .collect()
    };
    let out = run(&["--json", "check", "--session", s]);
    let before: Value = serde_json::from_slice(&out.stdout).expect("grade JSON");

    let out = run(&["suspend", "--session", s]);
    assert!(out.status.success(), "suspend: {}", text(&out));
    assert_eq!(inspect(ws)["State"]["Running"], false, "suspended: stopped");
    assert_eq!(status(&[])["suspended"], true);
    let out = run(&["status", "--session", s]);
    assert!(text(&out).contains("opslab resume"), "{}", text(&out));
    let out = run(&["check", "--session", s]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "check on a suspended session: {}",
        text(&out)
    );
    let out = run(&["gc"]);
    assert!(out.status.success());
    assert_eq!(
        status(&[])["suspended"],
        true,
        "gc never takes a suspended session"
    );

    let out = run(&["resume", "--session", s]);
    assert!(out.status.success(), "resume: {}", text(&out));
    assert_eq!(
        status(&[])["params"]["token"],
        token.as_str(),
        "same parameters"
    );
    let out = run(&["--json", "check", "--session", s]);
    let g: Value = serde_json::from_slice(&out.stdout).expect("grade JSON");
    assert_eq!(
        g["score"],
        20,
        "the trainee's work survived: {}",
        text(&out)
    );
    assert_eq!(outcome(&g), outcome(&before), "the same grading as before");
    assert_eq!(g["hints_used"], 1, "the hint taken before survived");

    // An engine restart stops every container: the session reads as suspended, and resumes.
    let ids = Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=opslab.session={s}")])
        .output()
        .expect("docker");
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert!(Command::new("docker")
        .arg("stop")
        .args(&ids)
        .status()
        .expect("docker")
        .success());
    assert_eq!(status(&[])["suspended"], true, "after a reboot, suspended");
    let out = run(&["resume", "--session", s]);
    assert!(
        out.status.success(),
        "resume after a reboot: {}",
        text(&out)
    );
    let out = run(&["--json", "check", "--session", s]);
    let g: Value = serde_json::from_slice(&out.stdout).expect("grade JSON");
    assert_eq!(
        outcome(&g),
        outcome(&before),
        "after a reboot, the same grading"
    );
}

/// Observation-only gradings (`check --observe`, what `class serve` runs) act on nothing: twenty
/// of them leave every service as it was (same start, restarts, state, and file changes).
#[test]
fn observation_gradings_leave_the_session_as_it_was_docker() {
    require_docker();
    let _g = crate::support::start_fixture("probes", "observed");
    let s = "probes-observed";
    let containers: Vec<String> = {
        let out = Command::new("docker")
            .args(["ps", "-a", "--format", "{{.Names}}"])
            .args(["--filter", &format!("label=opslab.session={s}")])
            .output()
            .expect("docker");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|n| !n.ends_with("-grader"))
            .map(String::from)
            .collect()
    };
    assert!(!containers.is_empty());
    let state = || -> Vec<String> {
        containers
            .iter()
            .flat_map(|c| {
                let inspect = Command::new("docker")
                    .args([
                        "inspect",
                        "-f",
                        "{{.State.StartedAt}} {{.RestartCount}} {{.State.Status}} {{.State.Paused}}",
                        c,
                    ])
                    .output()
                    .expect("docker");
                let diff = Command::new("docker")
                    .args(["diff", c])
                    .output()
                    .expect("docker");
                [
                    format!("{c}: {}", String::from_utf8_lossy(&inspect.stdout).trim()),
                    format!("{c}: {}", {
                        // The engine lists changes in no fixed order.
                        let text = String::from_utf8_lossy(&diff.stdout).to_string();
                        let mut lines: Vec<&str> = text.lines().collect();
                        lines.sort_unstable();
                        lines.join("\n")
                    }),
                ]
            })
            .collect()
    };
    let before = state();
    // The checks that act (they have `do` actions), read from the lab itself.
    let def: toml::Value = toml::from_str(
        &std::fs::read_to_string(fixture("labs/probes/lab.toml")).expect("lab.toml"),
    )
    .expect("TOML");
    let perturbing: Vec<String> = def["check"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c.get("do").is_some())
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    assert!(perturbing.len() >= 4, "the fixture has checks that act");
    for i in 0..20 {
        let out = run(&["--json", "check", "--session", s, "--observe"]);
        let g: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("observation {i}: {}", text(&out)));
        for c in g["checks"].as_array().expect("checks") {
            let id = c["id"].as_str().unwrap_or("");
            assert!(
                !perturbing.iter().any(|p| p == id),
                "an observation ran {id}, which acts"
            );
        }
    }
    assert_eq!(state(), before, "twenty observations changed the session");
}

/// Many sessions start at once in a class: networks created in the same instant must all get a
/// subnet, even when the engine hands out one subnet twice or its pools (about thirty networks)
/// run out.
#[test]
fn networks_created_at_once_all_get_a_subnet_docker() {
    require_docker();
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let engine = opslab::backend::Engine::connect()
            .await
            .expect("the engine answers");
        let labels = std::collections::HashMap::from([
            (
                opslab::backend::LABEL_MANAGED.to_string(),
                "true".to_string(),
            ),
            (
                opslab::backend::LABEL_SESSION.to_string(),
                "netrace".to_string(),
            ),
        ]);
        let reaches = [
            opslab::backend::Reach::Outside,
            opslab::backend::Reach::Internal,
            opslab::backend::Reach::Sealed,
        ];
        let made = futures_util::future::join_all((0..40).map(|i| {
            let (engine, labels) = (&engine, labels.clone());
            async move {
                let name = format!("opslab-netrace-{i}");
                let r = engine.create_network(&name, reaches[i % 3], labels).await;
                (name, r)
            }
        }))
        .await;
        let mut failed = Vec::new();
        for (name, r) in made {
            match r {
                Ok(id) => engine.remove_network(&id).await.expect("removed"),
                Err(e) => failed.push(format!("{name}: {e}")),
            }
        }
        assert!(
            failed.is_empty(),
            "networks not created:\n{}",
            failed.join("\n")
        );
    });
}
