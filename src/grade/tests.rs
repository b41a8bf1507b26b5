//! The check engine on the in-memory engine: what grading runs, in which order, what it puts
//! back, and that its deadline and the output limit hold, without Docker.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::{Grade, Grader, Options, Status};
use crate::backend::fake::{Call, Fake, Reply, Run};
use crate::backend::{Engine, LABEL_SERVICE, LABEL_SESSION};
use crate::lab::{Lab, GRADER};
use crate::project::Project;
use crate::session::{container_name, Session};

const SESSION: &str = "seam-ana";

/// A lab of two services (`app`, and the trainee's `ws`) and the given checks.
const HEAD: &str = r#"
[lab]
id = "seam"
title = "Grading on an engine in memory"
competences = ["deploy-automation"]
pass = 50

[[service]]
name = "app"
image = "toolbox"

[[service]]
name = "ws"
image = "toolbox"
trainee = true
"#;

/// A lab, a session of it whose containers run in a fake engine, and that engine.
struct Rig {
    _dir: tempfile::TempDir,
    lab: Lab,
    session: Session,
    fake: Fake,
    engine: Engine,
}

impl Rig {
    fn new(checks: &str) -> Rig {
        Rig::with_files(checks, &[])
    }

    /// The lab with files of its own (`name`, content) beside its lab.toml.
    fn with_files(checks: &str, files: &[(&str, &str)]) -> Rig {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let lab_dir = dir.path().join("seam");
        std::fs::create_dir(&lab_dir).expect("the lab folder");
        for (name, content) in files {
            std::fs::write(lab_dir.join(name), content).expect("a lab file");
        }
        std::fs::write(lab_dir.join("lab.toml"), format!("{HEAD}\n{checks}")).expect("lab.toml");
        std::fs::write(lab_dir.join("brief.md"), "# Seam\n").expect("brief.md");
        let project = Project::at(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
        let lab = Lab::load(&lab_dir, &project).unwrap_or_else(|e| panic!("the lab loads: {e}"));
        let fake = Fake::new();
        let containers: BTreeMap<String, String> = ["app", "ws", GRADER]
            .into_iter()
            .map(|svc| {
                let labels = [(LABEL_SESSION, SESSION), (LABEL_SERVICE, svc)];
                let id = fake.add_running(&container_name(SESSION, svc), &labels);
                (svc.to_string(), id)
            })
            .collect();
        let session = Session {
            id: SESSION.into(),
            lab: "seam".into(),
            lab_dir: lab_dir.display().to_string(),
            trainee: "ana".into(),
            seed: 7,
            params: Default::default(),
            started: 0,
            containers,
            extra_labels: HashMap::new(),
            ssh_bind: None,
        };
        let engine = Engine::new(fake.clone());
        Rig {
            _dir: dir,
            lab,
            session,
            fake,
            engine,
        }
    }

    async fn grade(&self, deadline: Duration) -> Grade {
        Grader {
            engine: &self.engine,
            lab: &self.lab,
            session: &self.session,
            progress: &crate::progress::Silent,
            options: Options {
                deadline,
                ..Options::default()
            },
        }
        .run()
        .await
    }

    /// The execs whose script is `script`.
    fn execs(&self, script: &str) -> Vec<Call> {
        self.fake
            .journal()
            .into_iter()
            .filter(|c| c.op == "exec" && c.detail == script)
            .collect()
    }
}

fn outcome<'g>(g: &'g Grade, id: &str) -> &'g super::Outcome {
    g.checks
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no outcome for {id}: {g:#?}"))
}

/// From the first call's beginning to the last one's end.
fn span(calls: &[Call]) -> Call {
    let first = calls.first().expect("at least one call");
    Call {
        ended: calls.iter().filter_map(|c| c.ended).max(),
        ..first.clone()
    }
}

#[tokio::test]
async fn a_check_whose_needs_failed_is_skipped_and_its_body_never_runs() {
    let rig = Rig::new(
        r#"
[[check]]
id = "base"
title = "The base holds"
points = 10
expect = [{ command = "base", service = "app", within = "1s" }]

[[check]]
id = "on-base"
title = "What stands on the base holds"
points = 10
needs = ["base"]
expect = [{ command = "on base", service = "app" }]

[[check]]
id = "shake-base"
title = "The base survives a stop"
points = 10
needs = ["base"]
do = [{ exec = "shake", service = "app" }, { stop = "app" }]
expect = [{ command = "after shake", service = "app" }]
"#,
    );
    rig.fake.on_exec(|_, call| match call.script().as_str() {
        "base" => Reply::exit(1),
        _ => Reply::ok("fine"),
    });
    let g = rig.grade(Duration::from_secs(60)).await;
    assert_eq!(outcome(&g, "base").status, Status::Failed);
    for id in ["on-base", "shake-base"] {
        let o = outcome(&g, id);
        assert_eq!(o.status, Status::Skipped, "{o:?}");
        assert!(o.message.contains("needs `base`"), "{}", o.message);
    }
    assert!(!rig.execs("base").is_empty());
    for script in ["on base", "shake", "after shake"] {
        assert!(rig.execs(script).is_empty(), "`{script}` ran");
    }
    assert!(!rig.fake.ops().iter().any(|op| op.starts_with("stop ")));
    assert_eq!(rig.fake.run_of("opslab-seam-ana-app"), Some(Run::Running));
}

#[tokio::test]
async fn checks_that_act_run_one_at_a_time_while_observations_overlap() {
    let rig = Rig::new(
        r#"
[[check]]
id = "look-1"
title = "First look"
points = 10
expect = [{ command = "look 1", service = "app" }]

[[check]]
id = "act-1"
title = "First act"
points = 10
do = [{ exec = "act 1", service = "app" }]
expect = [{ command = "after 1", service = "app" }]

[[check]]
id = "look-2"
title = "Second look"
points = 10
expect = [{ command = "look 2", service = "app" }]

[[check]]
id = "act-2"
title = "Second act"
points = 10
do = [{ exec = "act 2", service = "app" }]
expect = [{ command = "after 2", service = "ws" }]
"#,
    );
    rig.fake
        .on_exec(|_, _| Reply::after(Duration::from_millis(300), Reply::ok("ok")));
    let g = rig.grade(Duration::from_secs(60)).await;
    assert!(
        g.checks.iter().all(|o| o.status == Status::Passed),
        "{g:#?}"
    );
    let look1 = span(&rig.execs("look 1"));
    let look2 = span(&rig.execs("look 2"));
    assert!(look1.overlaps(&look2), "observations run side by side");
    let mut act1 = rig.execs("act 1");
    act1.extend(rig.execs("after 1"));
    let mut act2 = rig.execs("act 2");
    act2.extend(rig.execs("after 2"));
    let (act1, act2) = (span(&act1), span(&act2));
    for (a, b) in [(&act1, &act2), (&act1, &look1), (&act1, &look2)] {
        assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
    }
    assert!(!act2.overlaps(&look1) && !act2.overlaps(&look2));
    assert!(act1.began < act2.began, "acting checks run in file order");
}

#[tokio::test]
async fn a_failed_check_that_acted_still_puts_back_what_it_disturbed() {
    let rig = Rig::new(
        r#"
[[check]]
id = "self-healing"
title = "The app comes back by itself"
points = 10
do = [{ stop = "app" }]
expect = [{ container = "app", running = true, within = "1s" }]
restore = [{ exec = "restored", service = "app" }]
"#,
    );
    let g = rig.grade(Duration::from_secs(60)).await;
    let o = outcome(&g, "self-healing");
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(o.seen.contains("running is false"), "{}", o.seen);
    let app = &rig.session.containers["app"];
    let ops = rig.fake.ops();
    let at = |op: &str| {
        ops.iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("no `{op}` in {ops:#?}"))
    };
    let (stop, start) = (at(&format!("stop {app}")), at(&format!("start {app}")));
    let restored = at("exec opslab-seam-ana-app");
    assert!(stop < start && start < restored, "{ops:#?}");
    assert_eq!(rig.fake.run_of(app), Some(Run::Running));
    assert_eq!(rig.execs("restored").len(), 1);
}

#[tokio::test]
async fn a_check_past_the_grading_deadline_fails_and_grading_ends_in_time() {
    let rig = Rig::new(
        r#"
[[check]]
id = "never-true"
title = "Something that never comes"
points = 10
expect = [{ command = "poll", service = "app", within = "60s" }]

[[check]]
id = "hanging"
title = "A command that hangs"
points = 10
expect = [{ command = "hang", service = "app", timeout = "60s", within = "60s" }]

[[check]]
id = "later"
title = "An act after the deadline"
points = 10
do = [{ exec = "later", service = "app" }]
expect = [{ command = "after later", service = "app" }]
"#,
    );
    rig.fake.on_exec(|_, call| match call.script().as_str() {
        "poll" => Reply::exit(1),
        "hang" => Reply::after(Duration::from_secs(3600), Reply::ok("")),
        _ => Reply::ok(""),
    });
    let started = Instant::now();
    let g = rig.grade(Duration::from_secs(1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    for id in ["never-true", "hanging"] {
        let o = outcome(&g, id);
        assert_eq!(o.status, Status::Failed, "{o:?}");
        assert!(o.seen.contains("deadline was reached"), "{o:?}");
    }
    let later = outcome(&g, "later");
    assert_eq!(later.status, Status::Failed);
    assert!(later.message.contains("deadline"), "{}", later.message);
    assert!(rig.execs("later").is_empty());
    assert_eq!(g.score, 0);
    let open: Vec<Call> = rig
        .fake
        .journal()
        .into_iter()
        .filter(|c| c.ended.is_none())
        .collect();
    assert!(open.is_empty(), "every exec was given up: {open:#?}");
}

#[tokio::test]
async fn an_endless_output_is_read_no_further_than_the_limit() {
    let rig = Rig::new(
        r#"
[[check]]
id = "flood"
title = "A command that never stops writing"
points = 10
expect = [{ command = "yes", service = "app", not = true }]

[[check]]
id = "flood-act"
title = "An action that never stops writing"
points = 10
do = [{ exec = "yes", service = "ws" }]
expect = [{ container = "app", running = true }]
"#,
    );
    rig.fake.on_exec(|_, _| Reply::Endless {
        chunk: vec![b'y'; 64 << 10],
        every: Duration::ZERO,
    });
    let g = rig.grade(Duration::from_secs(60)).await;
    for id in ["flood", "flood-act"] {
        let o = outcome(&g, id);
        assert_eq!(o.status, Status::Failed, "{o:?}");
        let said = format!("{} {}", o.seen, o.message);
        assert!(said.contains("output truncated"), "{said}");
        assert!(o.seen.len() < 4096, "{} bytes seen", o.seen.len());
    }
    let abandoned = rig
        .fake
        .ops()
        .iter()
        .filter(|o| o.starts_with("exec-abandoned"))
        .count();
    assert_eq!(abandoned, 2, "each cut exec is stopped");
}

#[tokio::test]
async fn a_copy_gives_its_file_to_its_owner_whatever_the_path_holds() {
    let rig = Rig::with_files(
        r#"
[[check]]
id = "handed-over"
title = "A file handed over to the trainee"
points = 10
do = [{ copy = "note.txt", service = "ws", to = "/home/trainee/it's mine.txt", owner = "trainee" }]
expect = [{ command = "true", service = "ws" }]

[[check]]
id = "no-such-owner"
title = "A file handed to nobody"
points = 10
needs = ["handed-over"]
do = [{ copy = "note.txt", service = "ws", to = "/tmp/note.txt", owner = "nobody-here" }]
expect = [{ command = "true", service = "ws" }]
"#,
        &[("note.txt", "hello {{ session.trainee }}\n")],
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    rig.fake.on_exec(move |_, call| {
        log.lock().expect("log").push(call.cmd.clone());
        if call.cmd.iter().any(|a| a == "nobody-here") {
            Reply::exit(1)
        } else {
            Reply::ok("")
        }
    });
    let g = rig.grade(Duration::from_secs(60)).await;
    assert_eq!(outcome(&g, "handed-over").status, Status::Passed, "{g:#?}");
    let chown: Vec<Vec<String>> = seen
        .lock()
        .expect("log")
        .iter()
        .filter(|c| c.iter().any(|a| a == "chown"))
        .cloned()
        .collect();
    let first = chown.first().expect("a chown ran");
    let at = first.iter().position(|a| a == "chown").expect("chown");
    assert_eq!(
        first[at..],
        ["chown", "--", "trainee", "/home/trainee/it's mine.txt"],
        "the path is one argument, quote included"
    );
    let o = outcome(&g, "no-such-owner");
    assert_eq!(
        o.status,
        Status::Failed,
        "a chown that fails fails the check"
    );
    assert!(o.seen.contains("chown nobody-here"), "{o:?}");
}

/// A check and three reviews: one read, one whose command fails, one too long.
const REVIEWS: &str = r#"
[[check]]
id = "up"
title = "The app answers"
points = 10
expect = [{ command = "true", service = "app" }]

[[review]]
id = "narrative"
title = "The narrative"
competences = ["deploy-automation"]
rubric = "Says what happened to {{ session.trainee }}."
service = "app"
command = "cat /srv/postmortem.md"

[[review]]
id = "missing"
title = "Nothing written"
rubric = "Anything."
service = "app"
command = "cat /srv/absent.md"

[[review]]
id = "long"
title = "Too long"
rubric = "Anything."
service = "app"
user = "trainee"
command = "cat /srv/long.md"
"#;

#[tokio::test]
async fn reviews_carry_the_text_as_printed_at_grading_and_never_the_score() {
    let rig = Rig::new(REVIEWS);
    rig.fake.on_exec(|_, call| match call.script().as_str() {
        "cat /srv/postmortem.md" => Reply::ok("## What happened\n<script>x</script>\n"),
        "cat /srv/absent.md" => Reply::exit(1),
        "cat /srv/long.md" => Reply::ok(&"é".repeat(40_000)),
        _ => Reply::ok(""),
    });
    let g = rig.grade(Duration::from_secs(60)).await;
    assert_eq!(
        (g.score, g.total),
        (10, 10),
        "reviews are no part of the score"
    );
    let ids: Vec<&str> = g.reviews.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["narrative", "missing", "long"]);
    let r = &g.reviews[0];
    assert_eq!(r.text, "## What happened\n<script>x</script>\n");
    assert_eq!(
        r.rubric, "Says what happened to ana.",
        "the rubric is rendered"
    );
    assert!(r.error.is_empty() && !r.truncated, "{r:?}");
    assert!(
        g.reviews[1].text.is_empty() && g.reviews[1].error.starts_with("exit 1"),
        "{:?}",
        g.reviews[1]
    );
    let long = &g.reviews[2];
    assert!(
        long.truncated && long.text.len() <= super::REVIEW_LIMIT,
        "cut at the limit"
    );
    assert!(
        long.text.chars().all(|c| c == 'é'),
        "cut on a character boundary"
    );
    let html = crate::report::html::render(&g).expect("the HTML report");
    assert!(
        html.contains("&lt;script&gt;x&lt;&#x2F;script&gt;")
            || html.contains("&lt;script&gt;x&lt;/script&gt;"),
        "the text is escaped"
    );
    assert!(
        !html.contains("<script>"),
        "no trainee markup reaches the page"
    );
    let text = crate::report::terminal(&g, false);
    assert!(
        text.contains("READ")
            && text.contains("[narrative]")
            && text.contains("nothing to read: exit 1"),
        "{text}"
    );
}
