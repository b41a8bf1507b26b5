//! Trainer assessments against the real engine: a class of four on a fixture lab, with distinct
//! parameters, sealed networks (nothing outside the session answers), SSH logins over loopback
//! with generated keys, parallel grading, a deadline that ends access before the final grading,
//! one final result per trainee whoever grades, signed results bound to their class instance
//! and trainee, and reports (CSV, Gradescope JSON, a class page opened in headless Chromium).
//! A second class checks secret draws, new instances, archived and purged classes, and hints
//! that survive a reset.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{fixture, objects_with_label, require_docker, run, text};

fn class_dir(opslab_data: &Path, class: &str) -> PathBuf {
    opslab_data.join("classes").join(class)
}

/// A command cut after a minute: an exec or a login into a session that the deadline froze
/// would otherwise wait forever.
fn bounded(program: &str) -> Command {
    let mut c = Command::new("timeout");
    c.args(["60", program]);
    c
}

fn docker(args: &[&str]) -> std::process::Output {
    bounded("docker").args(args).output().expect("docker runs")
}

fn ssh(key: &Path, port: &str, cmd: &str) -> std::process::Output {
    ssh_command(key, port, cmd).output().expect("ssh runs")
}

fn ssh_command(key: &Path, port: &str, cmd: &str) -> Command {
    let mut c = bounded("ssh");
    c.args(["-i", key.to_str().expect("utf-8"), "-p", port])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
        ])
        .arg("trainee@127.0.0.1")
        .arg(cmd);
    c
}

fn epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The parameters of a session, read back by `status`.
fn token_of(session: &str) -> String {
    let out = run(&["--json", "status", "--session", session]);
    let st: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("status of {session}: {}", text(&out)));
    st["params"]["token"].as_str().expect("token").to_string()
}

/// The host's own IPv4 addresses (every interface, bridges included).
fn host_addresses() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let addr = l.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
            Some(addr.split('/').next()?.to_string())
        })
        .filter(|a| !a.starts_with("127."))
        .collect()
}

/// Which of `targets` (address:port) a container reaches with a TCP connection.
fn reached_from(container: &str, targets: &[String]) -> Vec<String> {
    targets
        .iter()
        .filter(|t| {
            let (a, p) = t.rsplit_once(':').expect("address:port");
            docker(&[
                "exec",
                container,
                "timeout",
                "3",
                "bash",
                "-c",
                &format!("echo > /dev/tcp/{a}/{p}"),
            ])
            .status
            .success()
        })
        .cloned()
        .collect()
}

/// A listener on every host address: nothing of a sealed session may reach it.
fn host_listener() -> (TcpListener, Vec<String>) {
    let l = TcpListener::bind("0.0.0.0:0").expect("a host listener");
    let port = l.local_addr().expect("address").port();
    let targets = host_addresses()
        .into_iter()
        .map(|a| format!("{a}:{port}"))
        .collect();
    (l, targets)
}

struct ClassGuard(&'static str);

impl Drop for ClassGuard {
    fn drop(&mut self) {
        let _ = run(&["class", "stop", self.0]);
    }
}

#[test]
fn a_class_of_four_is_isolated_reachable_timed_signed_and_reported_docker() {
    require_docker();
    let data = crate::support::data_path().to_path_buf();
    let _ = run(&["keys", "init"]);
    let _ = run(&["class", "stop", "itclass"]);
    let _ = std::fs::remove_dir_all(class_dir(&data, "itclass"));
    let lab = fixture("labs/classroom");
    let roster = fixture("classes/four.csv");
    let out = run(&[
        "class",
        "start",
        lab.to_str().expect("utf-8"),
        "--roster",
        roster.to_str().expect("utf-8"),
        "--name",
        "itclass",
        "--time",
        "120s",
    ]);
    assert!(out.status.success(), "class start: {}", text(&out));
    let ready = epoch();
    // The clock starts when the class is ready, that is when `class start` returns.
    let deadline = Instant::now() + Duration::from_secs(120);
    let _guard = ClassGuard("itclass");
    let dir = class_dir(&data, "itclass");
    let info = json_file(&dir.join("class.json"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("class.json"))
            .expect("class.json")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "class.json (it holds the secret seed) is the trainer's only"
        );
    }
    let planned = info["deadline"].as_u64().expect("a deadline");
    // Set when the last trainee got access, moments before `class start` returned (whole seconds).
    assert!(
        planned + 1 >= ready + 120 && planned <= ready + 120,
        "the 120 s start when the class is ready (deadline {planned}, ready {ready})"
    );
    let trainees = ["ana", "bob", "cleo", "dev"];

    // Four sessions, each with its own parameters.
    let tokens: Vec<String> = trainees
        .iter()
        .map(|t| token_of(&format!("classroom-{t}")))
        .collect();
    let mut unique = tokens.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "distinct parameters: {tokens:?}");

    // Sealed: from a workstation, no address outside the session answers, not even a listener
    // on every address of the host; no outside name resolves.
    let (_listener, host_targets) = host_listener();
    assert!(!host_targets.is_empty(), "the host has addresses");
    let reached = reached_from("opslab-classroom-ana-ws", &host_targets);
    assert!(
        reached.is_empty(),
        "an assessment workstation reaches the host at {reached:?}"
    );
    let resolved = docker(&[
        "exec",
        "opslab-classroom-ana-ws",
        "timeout",
        "8",
        "getent",
        "hosts",
        "deb.debian.org",
    ]);
    assert!(
        !resolved.status.success(),
        "an outside name resolves from an assessment workstation: {}",
        String::from_utf8_lossy(&resolved.stdout)
    );

    // Another trainee's services are unreachable from a workstation, by name and by address.
    let ip = String::from_utf8_lossy(
        &docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            "opslab-classroom-bob-web",
        ])
        .stdout,
    )
    .trim()
    .to_string();
    for target in ip
        .split_whitespace()
        .map(|a| format!("http://{a}:8000/token.txt"))
    {
        let out = docker(&[
            "exec",
            "opslab-classroom-ana-ws",
            "curl",
            "-fsS",
            "-m",
            "3",
            &target,
        ]);
        assert!(!out.status.success(), "ana reached bob's web at {target}");
    }
    let own = docker(&[
        "exec",
        "opslab-classroom-ana-ws",
        "curl",
        "-fsS",
        "-m",
        "3",
        "http://web:8000/token.txt",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&own.stdout).trim(),
        tokens[0],
        "the name `web` is ana's own service"
    );

    // SSH over loopback with the generated key lands in the trainee's own workstation.
    let access = std::fs::read_to_string(dir.join("access.csv")).expect("access sheet");
    let port_of = |t: &str| {
        access
            .lines()
            .find(|l| l.starts_with(&format!("{t},")))
            .and_then(|l| l.split(',').nth_back(2))
            .expect("a port")
            .to_string()
    };
    assert!(std::fs::read_to_string(dir.join("access.md"))
        .expect("access.md")
        .contains("ssh -i"));
    let out = ssh(
        &dir.join("keys/ana"),
        &port_of("ana"),
        "cat /etc/opslab-session; curl -fsS http://web:8000/token.txt > ~/answer.txt",
    );
    assert!(
        out.status.success(),
        "ssh as ana: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "classroom-ana");
    let out = ssh(&dir.join("keys/ana"), &port_of("bob"), "true");
    assert!(
        !out.status.success(),
        "ana's key does not open bob's workstation"
    );

    // Grading the class in parallel takes clearly less than grading the four one by one.
    let t0 = Instant::now();
    for t in trainees {
        let _ = run(&["check", "--session", &format!("classroom-{t}")]);
    }
    let one_by_one = t0.elapsed();
    let t1 = Instant::now();
    let out = run(&["class", "grade", "itclass"]);
    let together = t1.elapsed();
    assert!(out.status.success(), "class grade: {}", text(&out));
    assert!(
        together.as_secs_f64() < one_by_one.as_secs_f64() * 0.75,
        "class grade took {together:?}, four single gradings {one_by_one:?}"
    );
    assert!(
        text(&out).contains("ana               20/20"),
        "{}",
        text(&out)
    );
    // A provisional result, kept aside: it must never pass for a final one.
    let provisional = std::fs::read(dir.join("results/ana.json")).expect("ana's result");
    assert_eq!(
        json_file(&dir.join("results/ana.json"))["result"]["final"],
        false
    );

    // Ana stays logged in across the deadline, her shell writing a line every 200 ms.
    let mut open = ssh_command(
        &dir.join("keys/ana"),
        &port_of("ana"),
        "while :; do date +%s >> ~/during.txt; sleep 0.2; done",
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("ssh runs");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        open.try_wait().expect("ssh").is_none(),
        "ana's session is open before the deadline"
    );

    assert!(
        Instant::now() < deadline,
        "the steps before the deadline took longer than the class's 120 s: the machine is too \
         loaded for this test"
    );
    // At the deadline the watcher ends access, grades a last time and freezes the sessions;
    // the trainer's own `class grade` at the same moment must not give a second final result.
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    let concurrent = crate::support::opslab()
        .args(["--json", "class", "grade", "itclass"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("class grade runs");
    let mut session_closed_at = None;
    let mut logins_after_freeze = 0;
    let frozen_by = Instant::now() + Duration::from_secs(90);
    loop {
        if session_closed_at.is_none() && open.try_wait().expect("ssh").is_some() {
            session_closed_at = Some(epoch());
        }
        let info = json_file(&dir.join("class.json"));
        if info["access_ended"].is_u64() {
            let login = ssh(&dir.join("keys/ana"), &port_of("ana"), "touch ~/late.txt");
            assert!(
                !login.status.success(),
                "a login succeeded after access ended"
            );
            logins_after_freeze += 1;
        }
        let st: Value =
            serde_json::from_slice(&run(&["--json", "class", "status", "itclass"]).stdout)
                .expect("class status JSON");
        if st["trainees"]
            .as_array()
            .expect("rows")
            .iter()
            .all(|r| r["state"] == "frozen")
            && logins_after_freeze > 0
        {
            break;
        }
        assert!(
            Instant::now() < frozen_by,
            "sessions not frozen after the deadline: {st}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let concurrent = concurrent.wait_with_output().expect("class grade ends");
    assert!(
        concurrent.status.success(),
        "class grade at the deadline: {}",
        text(&concurrent)
    );
    let info = json_file(&dir.join("class.json"));
    let access_ended = info["access_ended"].as_u64().expect("access ended");
    assert!(
        access_ended >= planned,
        "access ended at the deadline, not before"
    );
    let session_closed_at = session_closed_at.expect("ana's open session was closed");
    // One final result per trainee: the one on disk is the one both gradings returned, and
    // it started after access ended.
    let printed: Value = serde_json::from_slice(&concurrent.stdout).expect("grade JSON");
    for t in trainees {
        let r = &json_file(&dir.join(format!("results/{t}.json")))["result"];
        assert_eq!(r["final"], true, "{t}'s result is final");
        let started = r["grading_started"].as_u64().expect("grading start");
        assert!(
            started >= access_ended,
            "{t}'s final grading started at {started}, before access ended at {access_ended}"
        );
        let p = printed
            .as_array()
            .expect("results")
            .iter()
            .find(|p| p["trainee"]["id"] == t)
            .expect("printed result");
        assert_eq!(
            p["graded_at"], r["graded_at"],
            "{t}: the concurrent grading returned another final result than the one kept"
        );
    }
    let ana_started = json_file(&dir.join("results/ana.json"))["result"]["grading_started"]
        .as_u64()
        .expect("start");
    assert!(
        session_closed_at <= ana_started + 1,
        "ana's session closed at {session_closed_at}, after her final grading started at {ana_started}"
    );
    // Frozen once whoever finalised has paused every container of the class.
    let paused_by = Instant::now() + Duration::from_secs(60);
    loop {
        let ids = docker(&["ps", "-aq", "--filter", "label=opslab.class=itclass"]);
        let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
            .split_whitespace()
            .map(String::from)
            .collect();
        // Paused, or stopped where the engine could not pause: nothing runs either way.
        let mut args = vec!["inspect", "-f", "{{.State.Paused}} {{.State.Running}}"];
        args.extend(ids.iter().map(String::as_str));
        let states = String::from_utf8_lossy(&docker(&args).stdout).to_string();
        let still = |l: &str| l.trim() == "true true" || l.trim() == "false false";
        if !ids.is_empty() && states.lines().all(still) {
            break;
        }
        assert!(
            Instant::now() < paused_by,
            "the class is not frozen: {states}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Nothing ana's shell tried to write after access ended is there.
    assert!(docker(&["unpause", "opslab-classroom-ana-ws"])
        .status
        .success());
    let during = docker(&[
        "exec",
        "opslab-classroom-ana-ws",
        "sh",
        "-c",
        "cat /home/trainee/during.txt; ls /home/trainee/late.txt 2>/dev/null",
    ]);
    let during = String::from_utf8_lossy(&during.stdout).to_string();
    assert!(
        !during.contains("late.txt"),
        "a login after the freeze wrote a file"
    );
    let last = during
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .max()
        .expect("ana's shell wrote before the deadline");
    assert!(
        last <= access_ended,
        "ana's shell still wrote at {last}, after access ended at {access_ended}"
    );
    assert!(docker(&["pause", "opslab-classroom-ana-ws"])
        .status
        .success());
    // A change after the deadline (bob's workstation thawed by hand) does not change the grade.
    assert!(docker(&[
        "unpause",
        "opslab-classroom-bob-ws",
        "opslab-classroom-bob-web"
    ])
    .status
    .success());
    let sneak = docker(&[
        "exec",
        "-u",
        "trainee",
        "opslab-classroom-bob-ws",
        "sh",
        "-c",
        "curl -fsS http://web:8000/token.txt > ~/answer.txt",
    ]);
    assert!(sneak.status.success());
    let out = run(&["class", "grade", "itclass"]);
    assert!(out.status.success());
    assert!(
        text(&out).contains("bob               10/20"),
        "bob's final grade changed: {}",
        text(&out)
    );

    // Every result verifies; any changed byte is rejected.
    let results: Vec<PathBuf> = trainees
        .iter()
        .map(|t| dir.join(format!("results/{t}.json")))
        .collect();
    let args: Vec<&str> = std::iter::once("verify")
        .chain(results.iter().map(|p| p.to_str().expect("utf-8")))
        .collect();
    let out = run(&args);
    assert!(out.status.success(), "verify: {}", text(&out));
    let original = std::fs::read(&results[1]).expect("bob's result");
    let at = original
        .windows(9)
        .position(|w| w == b"\"score\": ")
        .expect("a score field")
        + 9;
    let mut altered = original.clone();
    altered[at] = if altered[at] == b'2' { b'1' } else { b'2' };
    std::fs::write(&results[1], &altered).expect("write");
    let out = run(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify accepts an altered result: {}",
        text(&out)
    );
    assert!(text(&out).contains("ALTERED") && text(&out).contains("bob.json"));
    std::fs::write(&results[1], &original).expect("restore");

    // The whole set: one intact final result of this instance per trainee of the roster.
    let out = run(&["verify", "--class", "itclass"]);
    assert!(out.status.success(), "verify --class: {}", text(&out));
    let ana = std::fs::read(&results[0]).expect("ana's result");
    // Each file is one trainee's own result, final, from this instance, and nothing is extra.
    let tries: [(&str, &dyn Fn()); 4] = [
        ("bob's result copied onto ana's name", &|| {
            std::fs::write(&results[0], &original).expect("write")
        }),
        ("a provisional result", &|| {
            std::fs::write(&results[0], &provisional).expect("write")
        }),
        ("a missing result", &|| {
            std::fs::remove_file(&results[0]).expect("remove")
        }),
        ("an extra result", &|| {
            std::fs::write(dir.join("results/zoe.json"), &ana).expect("write")
        }),
    ];
    for (what, spoil) in tries {
        spoil();
        let out = run(&["verify", "--class", "itclass"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "verify --class accepts {what}: {}",
            text(&out)
        );
        assert!(text(&out).contains("REJECTED"), "{what}: {}", text(&out));
        std::fs::write(&results[0], &ana).expect("restore");
        let _ = std::fs::remove_file(dir.join("results/zoe.json"));
    }
    let out = run(&["verify", &results[0].display().to_string()]);
    for field in [
        "class=itclass",
        "trainee=ana",
        "lab=classroom",
        "final=yes",
        "instance=",
    ] {
        assert!(
            text(&out).contains(field),
            "verify prints {field}: {}",
            text(&out)
        );
    }

    // Reports: CSV, Gradescope's results.json, pages.
    let report = dir.join("report");
    // grades.csv read back with a CSV parser: every name and e-mail as the roster has it, and
    // no cell a spreadsheet would run as a formula.
    let mut book = csv::Reader::from_path(report.join("grades.csv")).expect("grades.csv");
    let rows: Vec<Vec<String>> = book
        .records()
        .map(|r| r.expect("a CSV record").iter().map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for cell in rows.iter().flatten() {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "a formula cell in grades.csv: {cell:?}"
        );
    }
    let dev = rows.iter().find(|r| r[0] == "dev").expect("dev's row");
    assert_eq!(dev[1], "'=1+1 \"Dev\", Patel", "the name, neutralised");
    assert_eq!(dev[2], "dev+\"x\",y@example.org", "the e-mail, whole");
    let cleo = rows.iter().find(|r| r[0] == "cleo").expect("cleo's row");
    assert_eq!(cleo[1], "Cléo Durand");
    let gs: Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("gradescope/ana/results.json")).expect("gradescope"),
    )
    .expect("JSON");
    assert_eq!(gs["score"], 20);
    assert!(gs["execution_time"].is_u64());
    for t in gs["tests"].as_array().expect("tests") {
        for k in ["name", "score", "max_score", "status", "output"] {
            assert!(t.get(k).is_some(), "gradescope test lacks {k}: {t}");
        }
    }
    let page = report.join("class.html");
    assert!(report.join("trainees/ana.html").exists());
    chromium_renders(&page);

    let out = run(&["class", "stop", "itclass"]);
    assert!(out.status.success());
    assert_eq!(
        objects_with_label("opslab.class=itclass"),
        0,
        "class stop leaves nothing"
    );

    // The same roster again under the same name: refused, and nothing old passes for new.
    let out = run(&[
        "class",
        "start",
        lab.to_str().expect("utf-8"),
        "--roster",
        roster.to_str().expect("utf-8"),
        "--name",
        "itclass",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a retake reuses a class: {}",
        text(&out)
    );
    for hint in ["--name", "class archive", "--purge"] {
        assert!(
            text(&out).contains(hint),
            "the refusal names {hint}: {}",
            text(&out)
        );
    }
    assert_eq!(
        objects_with_label("opslab.class=itclass"),
        0,
        "a refused start creates nothing"
    );
    assert_eq!(
        std::fs::read(&results[0]).expect("ana"),
        ana,
        "old results untouched"
    );
    let out = run(&["class", "stop", "itclass", "--purge"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!dir.exists(), "--purge deletes the class folder");
}

/// Secret draws, instances, archives, and hints that survive a reset, on a second roster.
#[test]
fn each_class_start_is_a_new_instance_with_secret_draws_docker() {
    require_docker();
    let data = crate::support::data_path().to_path_buf();
    let _ = run(&["keys", "init"]);
    let name = "itinst";
    let _ = run(&["class", "stop", name, "--purge"]);
    let _guard = ClassGuard(name);
    let lab = fixture("labs/classroom");
    let lab_s = lab.to_str().expect("utf-8");
    let roster = fixture("classes/four-b.csv");
    let roster_s = roster.to_str().expect("utf-8");
    let trainees = ["eve", "fay", "gus", "hal"];
    let dir = class_dir(&data, name);
    let tokens = || -> Vec<String> {
        trainees
            .iter()
            .map(|t| token_of(&format!("classroom-{t}")))
            .collect()
    };

    // First instance, no --seed: its values come from a secret draw.
    let out = run(&[
        "class", "start", lab_s, "--roster", roster_s, "--name", name,
    ]);
    assert!(out.status.success(), "class start: {}", text(&out));
    let first = tokens();
    let first_instance = json_file(&dir.join("class.json"))["instance"]
        .as_str()
        .expect("an instance id")
        .to_string();
    // Eve takes a hint, then her session is reset: the hint still costs points.
    let out = run(&["hint", "answer-file", "--session", "classroom-eve", "--yes"]);
    assert!(out.status.success(), "hint: {}", text(&out));
    let out = run(&["reset", "--session", "classroom-eve"]);
    assert!(out.status.success(), "reset: {}", text(&out));
    assert_eq!(
        token_of("classroom-eve"),
        first[0],
        "a reset keeps the values"
    );
    let out = run(&["--json", "class", "grade", name, "--final"]);
    assert!(out.status.success(), "class grade --final: {}", text(&out));
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let eve = results
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["trainee"]["id"] == "eve")
        .expect("eve");
    assert_eq!(eve["final"], true);
    assert_eq!(
        eve["grade"]["hints_used"], 1,
        "the hint taken before the reset counts"
    );
    assert_eq!(
        eve["grade"]["hint_penalty"], 3,
        "and costs the lab's hint_cost"
    );
    let out = run(&["verify", "--class", name]);
    assert!(out.status.success(), "verify --class: {}", text(&out));
    let earlier = std::fs::read(dir.join("results/eve.json")).expect("eve's result");

    // The name holds results: a new start is refused until the class is archived.
    let out = run(&[
        "class", "start", lab_s, "--roster", roster_s, "--name", name,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = run(&["class", "archive", name]);
    assert!(out.status.success(), "archive: {}", text(&out));
    assert!(!dir.exists(), "the archived class's folder moved");
    assert!(data
        .join("archive")
        .join(format!("{name}-{first_instance}"))
        .join("results/eve.json")
        .exists());

    // Second instance of the same roster, no --seed: other values.
    let out = run(&[
        "class", "start", lab_s, "--roster", roster_s, "--name", name,
    ]);
    assert!(out.status.success(), "class start again: {}", text(&out));
    let second = tokens();
    for (i, t) in trainees.iter().enumerate() {
        assert_ne!(first[i], second[i], "{t} drew the same values twice");
    }
    let out = run(&["class", "grade", name, "--final"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(run(&["verify", "--class", name]).status.success());
    // A result of the earlier instance does not pass for this one.
    let current = std::fs::read(dir.join("results/eve.json")).expect("eve");
    std::fs::write(dir.join("results/eve.json"), &earlier).expect("write");
    let out = run(&["verify", "--class", name]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("eve.json") && text(&out).contains("instance"));
    std::fs::write(dir.join("results/eve.json"), &current).expect("restore");
    let out = run(&["class", "stop", name, "--purge"]);
    assert!(out.status.success(), "{}", text(&out));

    // A practice session of the same trainee draws other values again, and, unlike an
    // assessment, it keeps its route out: the host listener answers it.
    let out = run(&["start", lab_s, "--trainee", "eve"]);
    assert!(out.status.success(), "practice start: {}", text(&out));
    let _practice = crate::support::SessionGuard("classroom-eve".into());
    let practice = token_of("classroom-eve");
    assert!(
        practice != first[0] && practice != second[0],
        "a practice session reproduced an assessment's values"
    );
    let (_listener, targets) = host_listener();
    assert!(
        !reached_from("opslab-classroom-eve-ws", &targets).is_empty(),
        "the host listener answers a practice session (else the sealed check proves nothing)"
    );
}

/// Opens the class page in headless Chromium: it must render the matrix with no console error;
/// a screenshot is kept in target/.
fn chromium_renders(page: &Path) {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    let chromium = chromium.expect(
        "this test needs headless Chromium (Debian's chromium package; .ci/setup installs it)",
    );
    let url = format!("file://{}", page.display());
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let dom = Command::new(chromium)
        .args(base)
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium runs");
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        html.contains("id=\"matrix\""),
        "the matrix is in the rendered page"
    );
    assert_eq!(
        html.matches("trainees/").count(),
        4,
        "one matrix row per trainee"
    );
    let stderr = String::from_utf8_lossy(&dom.stderr);
    let console_errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/class-report.png");
    let out = Command::new(chromium)
        .args(base)
        .args([
            "--window-size=1200,900",
            &format!("--screenshot={}", shot.display()),
            &url,
        ])
        .output()
        .expect("chromium runs");
    assert!(
        shot.exists(),
        "screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `class serve`: a live page behind a token, driven in headless Chromium without a reload: it
/// shows the class of three, a login, then a check passed; nothing is fetched from outside the
/// binary; the final results link to the reports; Moodle's CSV matches the signed results.
#[test]
fn the_live_class_page_follows_the_class_docker() {
    require_docker();
    let data = crate::support::data_path().to_path_buf();
    let _ = run(&["keys", "init"]);
    let name = "itlive";
    let _ = run(&["class", "stop", name, "--purge"]);
    let _guard = ClassGuard(name);
    let lab = fixture("labs/classroom");
    let roster = fixture("classes/three.csv");
    let out = run(&[
        "class",
        "start",
        lab.to_str().expect("utf-8"),
        "--roster",
        roster.to_str().expect("utf-8"),
        "--name",
        name,
    ]);
    assert!(out.status.success(), "class start: {}", text(&out));
    let dir = class_dir(&data, name);
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = crate::support::opslab()
        .args(["class", "serve", name, "--interval", "2s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("class serve runs");
    let line = {
        use std::io::BufRead;
        let mut line = String::new();
        let out = server.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("the page's URL");
        line
    };
    let _server = Kill(server);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("a loopback URL: {line}"))
        .to_string();
    let (base, token) = url.split_once("/?token=").expect("a token in the URL");
    let get = |path: &str| -> (String, String) {
        let out = bounded("curl")
            .args([
                "-sS",
                "-m",
                "5",
                "-w",
                "\n%{http_code}",
                &format!("{base}{path}"),
            ])
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
        (code.to_string(), body.to_string())
    };
    assert_eq!(get("/").0, "403", "no token, no page");
    assert_eq!(get("/state?token=wrong").0, "403");
    let (code, page) = get(&format!("/?token={token}&lang=fr"));
    assert_eq!(code, "200");
    assert!(page.contains("EventSource") && page.contains("lang=\"fr\""));
    assert!(!page.contains("<script src"), "nothing outside the binary");

    // One page load in Chromium, then only the server's events change it.
    let mut browser = Command::new("python3")
        .arg(crate::support::root().join("tests/browser/watch_page.py"))
        .arg(&url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs the page driver");
    let mut to_browser = browser.stdin.take().expect("stdin");
    let mut from_browser = {
        let out = browser.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
    };
    let _browser = Kill(browser);
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut from_browser, &mut ready).expect("the page driver answers");
    assert_eq!(ready.trim(), "ready", "the page driver opened the page");
    let mut ask = |command: &str| -> String {
        use std::io::{BufRead, Write};
        writeln!(to_browser, "{command}").expect("the page driver listens");
        let mut answer = String::new();
        from_browser
            .read_line(&mut answer)
            .expect("the page driver answers");
        answer.trim().to_string()
    };
    assert_eq!(ask("count #live tr"), "4", "a header and three trainees");
    assert_eq!(ask("wait l-kim not 45"), "ok", "kim shows as not logged in");
    let access = std::fs::read_to_string(dir.join("access.csv")).expect("access.csv");
    let port_of = |t: &str| {
        access
            .lines()
            .find(|l| l.starts_with(&format!("{t},")))
            .and_then(|l| l.split(',').nth_back(2))
            .expect("a port")
            .to_string()
    };
    let mut login = ssh_command(&dir.join("keys/ivy"), &port_of("ivy"), "sleep 55")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh runs");
    assert_eq!(ask("wait l-ivy since 45"), "ok", "ivy's login shows");
    let out = ssh(
        &dir.join("keys/jon"),
        &port_of("jon"),
        "curl -fsS http://web:8000/token.txt > ~/answer.txt",
    );
    assert!(
        out.status.success(),
        "jon works: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ask("wait c-jon-answer-file passed 60"),
        "ok",
        "jon's solved check shows, within the interval"
    );
    assert_eq!(ask("wait c-ivy-answer-file failed 30"), "ok");
    ask("quit");
    let _ = login.kill();
    let _ = login.wait();
    let events = bounded("curl")
        .args(["-sN", "-m", "4", &format!("{base}/events?token={token}")])
        .output()
        .expect("curl runs");
    assert!(
        String::from_utf8_lossy(&events.stdout).starts_with("data: {"),
        "server-sent events"
    );
    let (_, state) = get(&format!("/state?token={token}"));
    let state: Value = serde_json::from_str(&state).expect("state JSON");
    let jon = &state["trainees"][1];
    assert!(
        jon["timeline"].as_array().expect("timeline").len() >= 2,
        "{jon}"
    );

    // Once graded for good, a trainee's page links to the full report.
    let out = run(&["--json", "class", "grade", name, "--final"]);
    assert!(out.status.success(), "{}", text(&out));
    let finals: Value = serde_json::from_slice(&out.stdout).expect("results JSON");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = get(&format!("/trainee/jon?token={token}"));
        if page.contains("/report/jon?token=") {
            break;
        }
        assert!(Instant::now() < until, "no report link: {page}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(get(&format!("/report/jon?token={token}")).0, "200");
    assert_eq!(
        get(&format!("/report/..%2fclass.json?token={token}")).0,
        "404"
    );

    // Moodle's grade import file, read back with a CSV parser, matches the signed results.
    let mut moodle = csv::Reader::from_path(dir.join("report/moodle.csv")).expect("moodle.csv");
    let rows: Vec<csv::StringRecord> = moodle.records().map(|r| r.expect("a row")).collect();
    assert_eq!(rows.len(), 3);
    for r in finals.as_array().expect("results") {
        let id = r["trainee"]["id"].as_str().expect("id");
        let row = rows.iter().find(|x| &x[1] == id).expect("a Moodle row");
        assert_eq!(&row[0], r["trainee"]["email"].as_str().expect("email"));
        let signed = json_file(&dir.join(format!("results/{id}.json")));
        let percent = signed["result"]["grade"]["percent"]
            .as_f64()
            .expect("percent");
        assert_eq!(
            row[3].parse::<f64>().expect("a number"),
            (percent * 100.0).round() / 100.0
        );
    }
}
