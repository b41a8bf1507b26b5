//! `opslab validate` on malformed labs: every folder of tests/fixtures/invalid/ is a lab with one
//! defect, described by its `expect.toml`:
//!
//! ```toml
//! line = 12                 # 1-based line of the file the error must point at (0: the whole file)
//! field = "check.done.id"   # a substring of the error's field
//! message = "declared twice"  # a substring of the error's message
//! hint = "did you mean"     # optional: a substring of the hint
//! file = "brief.md"         # optional: the file the error names, relative to the case (default lab.toml)
//! known_bug = "..."         # optional: the validator does not behave as described yet (why);
//!                           # the case is reported, not failed, and fails once it passes
//! fifo = ["files/pipe"]     # optional: named pipes to make (git cannot hold them); the case is
//!                           # then copied to a temporary folder of the same name first
//! ```
//!
//! Each case must exit 2 (input error) within `CASE_DEADLINE`, never panic, and report the
//! expected error both in the text output (`file:line:...`) and in the `--json` diagnostics.
//! The folders of tests/fixtures/accepted/ are hostile-looking labs that must stay valid.
//! No Docker engine is involved. The hostile cases are written by
//! tests/fixtures/tools/gen_hostile.py.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::support::{fixture, opslab, text};

/// The longest one `opslab validate` of a case may take: a hang is a failure, not a stuck test.
const CASE_DEADLINE: Duration = Duration::from_secs(20);

/// Runs opslab, killed at `CASE_DEADLINE` (then the output says so and the exit code is None).
fn run(args: &[&str]) -> Output {
    let mut child = opslab()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the opslab binary runs");
    // Read the pipes on threads so that a large output cannot block the child.
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut v);
        v
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for opslab") {
            break s;
        }
        if started.elapsed() > CASE_DEADLINE {
            let _ = child.kill();
            let s = child.wait().expect("waiting for opslab");
            let mut stderr = err_t.join().unwrap_or_default();
            stderr.extend_from_slice(
                format!("\n[test] killed: no answer within {CASE_DEADLINE:?}").as_bytes(),
            );
            return Output {
                status: s,
                stdout: out_t.join().unwrap_or_default(),
                stderr,
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Copies a case folder, links as links.
fn copy_case(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a case folder");
    for e in std::fs::read_dir(from).expect("a case folder").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().expect("a file type");
        if ft.is_symlink() {
            let target = std::fs::read_link(&src).expect("a link");
            std::os::unix::fs::symlink(target, &dst).expect("a link");
        } else if ft.is_dir() {
            copy_case(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("a copy");
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    line: usize,
    field: String,
    message: String,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    known_bug: Option<String>,
    #[serde(default)]
    fifo: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct JsonDiag {
    file: PathBuf,
    line: usize,
    column: usize,
    field: String,
    message: String,
    hint: Option<String>,
}

#[derive(Debug, Deserialize)]
struct JsonReport {
    labs: usize,
    errors: Vec<JsonDiag>,
}

impl std::fmt::Display for JsonDiag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let msg: String = self.message.chars().take(160).collect();
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            msg.replace('\n', " ")
        )?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// The case folders, sorted.
fn cases() -> Vec<PathBuf> {
    let root = fixture("invalid");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Exit code 2 and no panic.
fn check_exit(what: &str, out: &Output, problems: &mut Vec<String>) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked") {
        let first = stderr
            .lines()
            .find(|l| l.contains("panicked"))
            .unwrap_or_default();
        problems.push(format!("`{what}` panicked: {}", first.trim()));
    }
    if out.status.code() != Some(2) {
        problems.push(format!(
            "`{what}` exited {:?}, expected 2",
            out.status.code()
        ));
    }
}

/// Everything wrong with one case; empty when the validator behaves as expected.
fn check_case(dir: &Path) -> (Option<String>, Vec<String>) {
    let mut problems = Vec::new();
    let expect_path = dir.join("expect.toml");
    let expect: Expect = match std::fs::read_to_string(&expect_path)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(e) => e,
        Err(e) => {
            return (
                None,
                vec![format!("bad fixture: {}: {e}", expect_path.display())],
            )
        }
    };
    // Named pipes cannot be kept in git: such a case runs from a copy with its pipes made.
    let _copy;
    let dir: &Path = if expect.fifo.is_empty() {
        dir
    } else {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let copy = tmp.path().join(name(dir));
        copy_case(dir, &copy);
        for f in &expect.fifo {
            let p = copy.join(f);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("a folder");
            }
            let ok = std::process::Command::new("mkfifo")
                .arg(&p)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "mkfifo {}", p.display());
        }
        _copy = (tmp, copy);
        &_copy.1
    };
    let lab_toml = dir.join("lab.toml");
    let source =
        String::from_utf8_lossy(&std::fs::read(&lab_toml).unwrap_or_default()).into_owned();

    // The fixture itself: one defect, so its id is its folder name unless that is the defect.
    if !expect.field.contains("lab.id") {
        if let Ok(v) = toml::from_str::<toml::Value>(&source) {
            if let Some(id) = v
                .get("lab")
                .and_then(|l| l.get("id"))
                .and_then(|i| i.as_str())
            {
                if id != name(dir) {
                    problems.push(format!(
                        "bad fixture: lab id `{id}` differs from the folder name"
                    ));
                }
            }
        }
    }

    let path = dir.to_string_lossy().to_string();
    let target = dir.join(expect.file.as_deref().unwrap_or("lab.toml"));

    // Text output: exit code, no panic, `file:line:` and the message.
    let human = run(&["validate", &path]);
    check_exit("opslab validate", &human, &mut problems);
    let human_text = text(&human);
    let located = format!("{}:{}:", target.display(), expect.line);
    if !human_text
        .lines()
        .any(|l| l.contains(&located) && l.contains(&expect.message))
    {
        problems.push(format!(
            "text output has no line with `{located}` and `{}`:\n      {}",
            expect.message,
            human_text
                .trim()
                .lines()
                .take(6)
                .collect::<Vec<_>>()
                .join("\n      ")
        ));
    }

    // JSON output: the diagnostics as data.
    let json = run(&["--json", "validate", &path]);
    check_exit("opslab --json validate", &json, &mut problems);
    let stdout = String::from_utf8_lossy(&json.stdout);
    let report: JsonReport = match serde_json::from_str(stdout.trim()) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!(
                "--json stdout is not a report ({e}): {}",
                stdout.trim()
            ));
            return (expect.known_bug, problems);
        }
    };
    if report.labs != 1 {
        problems.push(format!("--json reports {} labs, expected 1", report.labs));
    }
    let found = report.errors.iter().any(|d| {
        d.file == target
            && d.line == expect.line
            && d.field.contains(&expect.field)
            && d.message.contains(&expect.message)
            && expect
                .hint
                .as_ref()
                .is_none_or(|h| d.hint.as_deref().unwrap_or("").contains(h.as_str()))
    });
    if !found {
        let mut want = format!(
            "{}:{}: field ~ `{}`, message ~ `{}`",
            target.display(),
            expect.line,
            expect.field,
            expect.message
        );
        if let Some(h) = &expect.hint {
            want.push_str(&format!(", hint ~ `{h}`"));
        }
        let got: Vec<String> = report
            .errors
            .iter()
            .map(|d| format!("      got {d}"))
            .collect();
        problems.push(format!(
            "no error matches\n      want {want}\n{}",
            if got.is_empty() {
                "      got no errors".to_string()
            } else {
                got.join("\n")
            }
        ));
    }

    // Every location given in lab.toml must exist in lab.toml (lines end with LF, CRLF or CR).
    let lines: Vec<&str> = source
        .split_inclusive(['\n', '\r'])
        .fold(Vec::new(), |mut v, l| {
            match v.last_mut() {
                Some(last) if l == "\n" && last.ends_with('\r') => {}
                _ => v.push(l.trim_end_matches(['\n', '\r'])),
            }
            v
        });
    let lines = if lines.is_empty() { vec![""] } else { lines };
    for d in report.errors.iter().filter(|d| d.file == lab_toml) {
        let ok = match d.line {
            0 => d.column == 0,
            n if n <= lines.len() => d.column >= 1 && d.column <= lines[n - 1].len() + 1,
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "error points outside lab.toml ({} lines): {d}",
                lines.len()
            ));
        }
    }
    (expect.known_bug, problems)
}

#[test]
fn invalid_labs_are_rejected_with_located_errors() {
    let dirs = cases();
    assert!(
        dirs.len() >= 24,
        "expected at least 24 cases in tests/fixtures/invalid, found {}",
        dirs.len()
    );

    // Two processes per case; run the cases on a few threads.
    let workers = 4;
    let chunks: Vec<Vec<PathBuf>> = (0..workers)
        .map(|w| dirs.iter().skip(w).step_by(workers).cloned().collect())
        .collect();
    let mut results: Vec<(String, Option<String>, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|d| {
                            let (bug, problems) = check_case(d);
                            (name(d), bug, problems)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread"))
            .collect()
    });
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let mut failures = Vec::new();
    let mut known = Vec::new();
    for (case, bug, problems) in &results {
        match (bug, problems.is_empty()) {
            (None, true) => {}
            (None, false) => failures.push(format!("{case}:\n  - {}", problems.join("\n  - "))),
            (Some(_), true) => failures.push(format!(
                "{case}: marked known_bug but now behaves as expected: remove `known_bug` from its expect.toml"
            )),
            (Some(why), false) => known.push(format!("{case}: {why}\n  - {}", problems.join("\n  - "))),
        }
    }
    if !known.is_empty() {
        eprintln!(
            "{} known validator bugs (see known_bug in expect.toml):\n{}\n",
            known.len(),
            known.join("\n")
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid-lab cases do not behave as expected:\n\n{}\n",
        failures.len(),
        results.len(),
        failures.join("\n\n")
    );
}

#[test]
fn hostile_looking_labs_that_are_fine_stay_accepted() {
    let root = fixture("accepted");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fixtures/accepted")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("lab.toml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 3, "accepted cases: {}", dirs.len());
    for d in dirs {
        let path = d.to_string_lossy().to_string();
        let out = run(&["validate", &path]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "`opslab validate {path}` should pass:\n{}",
            text(&out)
        );
    }
}

#[test]
fn valid_fixture_labs_validate() {
    let labs = fixture("labs");
    let path = labs.to_string_lossy().to_string();
    let out = run(&["validate", &path]);
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "`opslab validate {path}` should pass:\n{t}"
    );
    assert!(
        t.contains("ok  trio"),
        "the output names each valid lab:\n{t}"
    );

    let out = run(&["--json", "validate", &path]);
    assert_eq!(out.status.code(), Some(0), "--json: {}", text(&out));
    let report: JsonReport = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert!(
        report.errors.is_empty(),
        "no errors expected: {:?}",
        report.errors
    );
    let expected = std::fs::read_dir(&labs)
        .expect("the fixture labs")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("lab.toml").is_file())
        .count();
    assert_eq!(report.labs, expected, "every fixture lab is validated");
}

#[test]
fn validate_of_a_missing_path_is_an_input_error() {
    let missing = fixture("invalid/no-such-lab-here");
    let path = missing.to_string_lossy().to_string();
    for args in [&["validate", &path][..], &["--json", "validate", &path][..]] {
        let out = run(args);
        let t = text(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "`opslab {}` exits 2:\n{t}",
            args.join(" ")
        );
        assert!(!t.contains("panicked"), "no panic:\n{t}");
        assert!(
            t.contains(&path) && t.contains("no such file or folder"),
            "the message names the path and says it does not exist:\n{t}"
        );
    }
}

#[test]
fn validate_of_a_folder_without_labs_is_an_input_error() {
    let empty = tempfile::tempdir().expect("a temporary folder");
    let path = empty.path().to_string_lossy().to_string();
    let out = run(&["validate", &path]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "exits 2:\n{t}");
    assert!(t.contains("no lab.toml"), "says there is no lab here:\n{t}");
}
