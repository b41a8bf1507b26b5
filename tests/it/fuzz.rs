//! Lab validation on hostile input, by mutation: the shipped labs' `lab.toml` (bytes flipped,
//! lines dropped, doubled or swapped, values replaced by hostile ones, CR and non-UTF-8 bytes)
//! and their folders (links to `.`, out of the folder, to devices, loops, named pipes) run
//! through `Lab::load`. Every case must finish within `CASE_DEADLINE` without a panic, and every
//! rejection must be located: a diagnostic about lab.toml names a line and column inside it.
//!
//! `cargo test` runs a bounded pass (`OPSLAB_FUZZ_CASES`, default 2000, seed `OPSLAB_FUZZ_SEED`,
//! default 12); `make fuzz` runs a longer one. A failing case is kept under
//! `target/fuzz-findings/<seed>-<case>/` to be turned into a fixture of tests/fixtures/invalid/.
//! No Docker engine is involved.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opslab::lab::Lab;
use opslab::project::Project;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::support::root;

const CASE_DEADLINE: Duration = Duration::from_secs(5);

const HOSTILE_STRINGS: &[&str] = &[
    "",
    "-",
    ".",
    "..",
    "solution",
    "/etc/passwd",
    "../../../../etc/passwd",
    "/dev/zero",
    "a b",
    "a/b",
    "Web",
    "GE T",
    "GET\r\nX: y",
    "a\u{0}b",
    "A=B",
    "0",
    "0s",
    "30",
    "11000years",
    "99999999999999999g",
    "1m",
    "65736",
    "200, 99",
    "{{ get_env(name='HOME') }}",
    "{{ now() }}",
    "{{ get_random(end=10) }}",
    "{{ nope }}",
    "{{ run.number }}",
    "{{ run.token }}",
    "{{ with.missing }}",
    "{{ ports.ws['1'] }}",
    "{% for i in range(end=100000000) %}x{% endfor %}",
    "{% for i in range(end=1000) %}{% for j in range(end=1000) %}{% for k in range(end=1000) %}x{% endfor %}{% endfor %}{% endfor %}",
    "{% macro f() %}{{ self::f() }}{% endmacro %}{{ self::f() }}",
    "{% set_global s = 'a' %}",
    "{{ ((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))) }}",
    "{{",
    "{%",
    "http://ws:0/",
    "http://ws:80/a b",
    "http://:80/",
    "/abs/path",
    "files",
    "brief.md",
];

const HOSTILE_INTS: &[&str] = &[
    "0",
    "-1",
    "1",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1e308",
    "nan",
    "inf",
];

const HOSTILE_LINES: &[&str] = &[
    "points = 4294967295",
    "hint_cost = 4294967295",
    "ports = [0, 0]",
    "ports = [8080, 8080]",
    "memory = \"1\"",
    "memory = \"6m\"",
    "every = \"0s\"",
    "[[check]]",
    "[[service]]",
    "[[network]]",
    "[params]",
    "session = { int = [1, 2] }",
    "x = { expr = \"{{ now() }}\" }",
    "needs = [\"nowhere\"]",
    "use = \"/etc/passwd\"",
    "use = \"../labs/x\"",
    "with = { a = 1 }",
    "files = [{ source = \".\", to = \"/x\" }]",
    "files = [{ source = \"solution\", to = \"/x\" }]",
    "env = { \"A=B\" = \"x\", \"\" = \"y\" }",
    "feedback = \"{{ nope }}\"",
    "hints = [\"{{ run.token }}\"]",
    "expect = [{ prometheus = \"up\", port = 9091, service = \"grader\" }]",
    "expect = [{ http = \"http://ws:8080/\", status = 65736, method = \"GE T\", headers = { X = \"a\\r\\nb\" } }]",
    "do = [{ wait = \"11000years\" }]",
    "hints = [\"\"\"",
    "\"\"\"]",
    "x = '''",
    "[[[[[[[[[[[[[[[[",
    "a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
];

/// The labs to mutate: each one's folder and lab.toml.
fn seeds() -> Vec<(PathBuf, Vec<u8>)> {
    let labs = root().join("labs");
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&labs)
        .expect("labs/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|d| std::fs::read(d.join("lab.toml")).ok().map(|t| (d, t)))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no lab to mutate in {}", labs.display());
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a folder");
    for e in std::fs::read_dir(from).expect("a folder").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().expect("a file type");
        if ft.is_symlink() {
            let target = std::fs::read_link(&src).expect("a link");
            std::os::unix::fs::symlink(target, &dst).expect("a link");
        } else if ft.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("a copy");
        }
    }
}

/// The byte ranges of the quoted strings and of the integers of a TOML text (roughly).
fn values(text: &[u8], quoted: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if quoted && text[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < text.len() && text[j] != b'"' && text[j] != b'\n' {
                j += 1;
            }
            out.push((start, j));
            i = j + 1;
        } else if !quoted
            && text[i].is_ascii_digit()
            && (i == 0 || !text[i - 1].is_ascii_alphanumeric())
        {
            let mut j = i;
            while j < text.len() && text[j].is_ascii_digit() {
                j += 1;
            }
            out.push((i, j));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn lines(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

/// One to three mutations of lab.toml.
fn mutate(text: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut t = text.to_vec();
    for _ in 0..rng.gen_range(1..=3) {
        match rng.gen_range(0..11) {
            0 if !t.is_empty() => {
                let i = rng.gen_range(0..t.len());
                t[i] = rng.gen();
            }
            1 => {
                let mut l = lines(&t);
                if !l.is_empty() {
                    l.remove(rng.gen_range(0..l.len()));
                }
                t = l.join(&b'\n');
            }
            2 => {
                let mut l = lines(&t);
                if !l.is_empty() {
                    let i = rng.gen_range(0..l.len());
                    let dup = l[i].clone();
                    l.insert(rng.gen_range(0..=l.len()), dup);
                }
                t = l.join(&b'\n');
            }
            3 => {
                let mut l = lines(&t);
                if l.len() > 1 {
                    let (a, b) = (rng.gen_range(0..l.len()), rng.gen_range(0..l.len()));
                    l.swap(a, b);
                }
                t = l.join(&b'\n');
            }
            4 | 5 => {
                let v = values(&t, true);
                if !v.is_empty() {
                    let (s, e) = v[rng.gen_range(0..v.len())];
                    let h = HOSTILE_STRINGS[rng.gen_range(0..HOSTILE_STRINGS.len())];
                    let h = h.escape_default().to_string();
                    t.splice(s..e, h.into_bytes());
                }
            }
            6 => {
                let v = values(&t, false);
                if !v.is_empty() {
                    let (s, e) = v[rng.gen_range(0..v.len())];
                    let h = HOSTILE_INTS[rng.gen_range(0..HOSTILE_INTS.len())];
                    t.splice(s..e, h.bytes());
                }
            }
            7 => {
                let mut l = lines(&t);
                let h = HOSTILE_LINES[rng.gen_range(0..HOSTILE_LINES.len())];
                l.insert(rng.gen_range(0..=l.len()), h.as_bytes().to_vec());
                t = l.join(&b'\n');
            }
            8 if !t.is_empty() => {
                let i = rng.gen_range(0..t.len());
                t.truncate(i);
            }
            9 if !t.is_empty() => {
                let i = rng.gen_range(0..t.len());
                let b = [b'\r', 0xff, 0xc3, 0, b'"', b'{', b'[', b'\\'][rng.gen_range(0..8)];
                t.insert(i, b);
            }
            10 => {
                // A long value: suggestions and messages must stay linear.
                let v = values(&t, true);
                if !v.is_empty() {
                    let (s, e) = v[rng.gen_range(0..v.len())];
                    t.splice(s..e, vec![b'a'; 40_000]);
                }
            }
            _ => {}
        }
    }
    t
}

/// Changes to the folder: links, loops, special files. Returns what it did.
fn mutate_folder(dir: &Path, rng: &mut ChaCha8Rng) -> &'static str {
    use std::os::unix::fs::symlink;
    let files = dir.join("files");
    let in_files = |n: &str| {
        if files.is_dir() {
            files.join(n)
        } else {
            dir.join(n)
        }
    };
    let r = match rng.gen_range(0..8) {
        0 => symlink(".", dir.join("l1")).and_then(|_| symlink(".", dir.join("l2"))),
        1 => symlink("/etc/passwd", in_files("passwd")),
        2 => symlink("/dev/zero", in_files("zero")),
        3 => symlink("loop-b", in_files("loop-a"))
            .and_then(|_| symlink("loop-a", in_files("loop-b"))),
        4 => {
            let ok = std::process::Command::new("mkfifo")
                .arg(in_files("pipe"))
                .status()
                .is_ok_and(|s| s.success());
            return if ok { "named pipe" } else { "no mkfifo" };
        }
        5 => std::fs::remove_file(dir.join("brief.md"))
            .and_then(|_| symlink("/etc/passwd", dir.join("brief.md"))),
        6 => symlink("..", in_files("up")),
        _ => symlink("/", dir.join("solution").join("root")),
    };
    if r.is_ok() {
        "links"
    } else {
        "none"
    }
}

enum Verdict {
    Ok,
    Rejected(Vec<opslab::lab::Diagnostic>),
    Panicked(String),
}

fn problems(dir: &Path, text: &[u8], verdict: &Verdict) -> Vec<String> {
    let lab_toml = dir.join("lab.toml");
    let n_lines = opslab::lab::diagnostic::line_starts(&String::from_utf8_lossy(text)).len();
    match verdict {
        Verdict::Ok => vec![],
        Verdict::Panicked(m) => vec![format!("panicked: {m}")],
        Verdict::Rejected(diags) => {
            let mut out = Vec::new();
            if diags.is_empty() {
                out.push("rejected without a diagnostic".to_string());
            }
            for d in diags {
                let whole_file = d.line == 0 && d.column == 0;
                if d.message.trim().is_empty() || d.field.trim().is_empty() {
                    out.push(format!("no message or field: {d}"));
                }
                if d.file == lab_toml && !whole_file && (d.line > n_lines || d.column == 0) {
                    out.push(format!("points outside lab.toml ({n_lines} lines): {d}"));
                }
                // lab.toml is readable text in these cases unless a byte made it otherwise:
                // an error about its content must name a line.
                if d.file == lab_toml && whole_file && std::str::from_utf8(text).is_ok() {
                    out.push(format!("not located: {d}"));
                }
            }
            out
        }
    }
}

#[test]
fn mutated_labs_never_panic_or_hang_and_every_rejection_is_located() {
    let cases: usize = std::env::var("OPSLAB_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let seed: u64 = std::env::var("OPSLAB_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let seeds = seeds();
    let project = Project::at(&root());
    let started = Instant::now();
    let work = tempfile::tempdir().expect("a temporary folder");
    let mut failures = Vec::new();
    let (mut accepted, mut rejected) = (0usize, 0usize);
    for case in 0..cases {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(case as u64));
        let (src, text) = &seeds[rng.gen_range(0..seeds.len())];
        let name = src.file_name().expect("a lab folder name");
        let dir = work.path().join(format!("{case}")).join(name);
        copy_dir(src, &dir);
        let mutated = mutate(text, &mut rng);
        std::fs::write(dir.join("lab.toml"), &mutated).expect("lab.toml written");
        let folder = if rng.gen_bool(0.2) {
            mutate_folder(&dir, &mut rng)
        } else {
            "none"
        };
        let (tx, rx) = mpsc::channel();
        let (d, p) = (dir.clone(), project.clone());
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(|| Lab::load(&d, &p));
            let v = match r {
                Ok(Ok(_)) => Verdict::Ok,
                Ok(Err(e)) => Verdict::Rejected(e.0),
                Err(p) => Verdict::Panicked(
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default(),
                ),
            };
            let _ = tx.send(v);
        });
        let found = match rx.recv_timeout(CASE_DEADLINE) {
            Ok(v) => {
                match &v {
                    Verdict::Ok => accepted += 1,
                    Verdict::Rejected(_) => rejected += 1,
                    Verdict::Panicked(_) => {}
                }
                problems(&dir, &mutated, &v)
            }
            Err(_) => vec![format!("no answer within {CASE_DEADLINE:?} (a hang)")],
        };
        if !found.is_empty() {
            let keep = root()
                .join("target/fuzz-findings")
                .join(format!("{seed}-{case}"))
                .join(name);
            let _ = std::fs::remove_dir_all(&keep);
            copy_dir(&dir, &keep);
            failures.push(format!(
                "case {case} (folder: {folder}), kept in {}:\n  - {}",
                keep.display(),
                found.join("\n  - ")
            ));
        } else {
            let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
        }
        if failures.len() >= 10 {
            break;
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "fuzz: seed {seed}, {cases} cases in {:.1} s: {accepted} accepted, {rejected} rejected, {} failures",
        elapsed.as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} mutated labs misbehave:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
