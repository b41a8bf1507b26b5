//! The reports users and their tools read stay the same: a fixture lab's grading, untouched and
//! solved, as the terminal, JSON and JUnit XML show it, against the files in tests/snapshots/
//! (times, timestamps, the host name and the definition's hash replaced by placeholders).
//! `UPDATE_SNAPSHOTS=1 cargo test --test it snapshots::` rewrites them after a wanted change.

use std::path::PathBuf;

use regex::Regex;

use crate::support::{require_docker, root, run, start_fixture, text};

fn normalise(s: &str) -> String {
    let rules = [
        (r"\d+\.\d+s\b", "<t>s"),
        (r#""(seconds|started_at)": [0-9.e-]+"#, r#""$1": <n>"#),
        (r#"time="[0-9.]+""#, r#"time="<t>""#),
        (r#"timestamp="[^"]+""#, r#"timestamp="<ts>""#),
        (r#"hostname="[^"]+""#, r#"hostname="<host>""#),
        (r"[0-9a-f]{64}", "<hash>"),
    ];
    rules.iter().fold(s.to_string(), |acc, (re, to)| {
        Regex::new(re)
            .expect("a valid pattern")
            .replace_all(&acc, *to)
            .into_owned()
    })
}

fn compare(name: &str, actual: &str) -> Option<String> {
    let path: PathBuf = root().join("tests/snapshots").join(name);
    let actual = normalise(actual);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("snapshots folder");
        std::fs::write(&path, &actual).expect("snapshot written");
        return None;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{name} differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )
    })
}

/// The three forms of one grading.
fn grade_all_ways(session: &str, phase: &str) -> Vec<String> {
    let junit = std::env::temp_dir().join(format!("opslab-snap-{}.xml", std::process::id()));
    let junit_arg = junit.to_str().expect("utf-8").to_string();
    let term = crate::support::opslab()
        .args(["check", "--session", session, "--junit", &junit_arg])
        .env("NO_COLOR", "1")
        .output()
        .expect("opslab runs");
    let json = run(&["--json", "check", "--session", session]);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    let _ = std::fs::remove_file(&junit);
    let mut diffs = Vec::new();
    let stdout = String::from_utf8_lossy(&term.stdout);
    diffs.extend(compare(&format!("{phase}.txt"), &stdout));
    diffs.extend(compare(
        &format!("{phase}.json"),
        &String::from_utf8_lossy(&json.stdout),
    ));
    diffs.extend(compare(&format!("{phase}.junit.xml"), &xml));
    diffs
}

#[test]
fn reports_keep_their_form_untouched_and_solved_docker() {
    require_docker();
    let guard = start_fixture("trio", "snap");
    let mut diffs = grade_all_ways(&guard.0, "trio-untouched");
    let solved = run(&["solve", "--session", &guard.0]);
    assert!(solved.status.success(), "solve: {}", text(&solved));
    diffs.extend(grade_all_ways(&guard.0, "trio-solved"));
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}
