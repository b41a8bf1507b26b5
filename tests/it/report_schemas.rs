//! The grading reports against their schemas: `--json` output against docs/grade.schema.json
//! (JSON Schema 2020-12, checked with python3's `jsonschema`) and `--junit` output against the
//! published JUnit XML schema (Jenkins xUnit's junit-10.xsd as shipped in pytest's sdist, fetched
//! by tests/schemas/fetch-junit-xsd; checked with `xmllint --schema`). Negative controls show
//! that both validators do reject a broken report.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{fixture, require_docker, root, run, text, SessionGuard};

const SESSION: &str = "trio-schemas";

/// Validates a JSON document against a JSON Schema with python3's `jsonschema`: Ok, or the
/// validator's list of errors (path: message).
const JSON_VALIDATOR: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    print("python3 has no `jsonschema` module: run `bash .ci/setup` (or pip install jsonschema)")
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errors:
    print("/" + "/".join(str(p) for p in e.absolute_path) + ": " + e.message)
sys.exit(1 if errors else 0)
"#;

fn grade_schema() -> PathBuf {
    root().join("docs/grade.schema.json")
}

/// The published JUnit XSD, fetched (once, idempotently) into target/schemas/junit.xsd.
fn junit_xsd() -> PathBuf {
    let dest = root().join("target/schemas/junit.xsd");
    let out = Command::new("bash")
        .arg(root().join("tests/schemas/fetch-junit-xsd"))
        .arg(&dest)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success() && dest.is_file(),
        "tests/schemas/fetch-junit-xsd could not fetch the JUnit schema: {}",
        text(&out)
    );
    dest
}

/// Ok(validator output) when `doc` is valid JSON for the grade schema, Err(output) otherwise.
fn validate_json(doc: &Path) -> Result<String, String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(JSON_VALIDATOR)
        .arg(grade_schema())
        .arg(doc)
        .output()
        .expect("python3 runs");
    match out.status.code() {
        Some(0) => Ok(text(&out)),
        Some(1) => Err(text(&out)),
        _ => panic!("the JSON validator could not run: {}", text(&out)),
    }
}

/// Ok(validator output) when `doc` is valid against the XSD, Err(output) otherwise.
fn validate_xml(xsd: &Path, doc: &Path) -> Result<String, String> {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .arg(doc)
        .output()
        .unwrap_or_else(|e| {
            panic!("xmllint does not run ({e}): install libxml2-utils (bash .ci/setup does)")
        });
    // xmllint: 0 valid, 3 invalid against the schema, 1..=2 or 4+ cannot read the schema/document.
    match out.status.code() {
        Some(0) => Ok(text(&out)),
        Some(3) => Err(text(&out)),
        _ => panic!(
            "xmllint could not validate {}: {}",
            doc.display(),
            text(&out)
        ),
    }
}

/// The same JSON with the first check's status set to a value outside the enumeration.
fn with_bad_status(json: &str) -> String {
    let mut v: Value = serde_json::from_str(json).expect("JSON");
    v["checks"][0]["status"] = Value::String("succeeded".into());
    serde_json::to_string_pretty(&v).expect("JSON")
}

/// The same XML with the `name` attribute of the first testcase removed.
fn with_nameless_testcase(xml: &str) -> String {
    let start = xml.find("<testcase ").expect("a testcase") + "<testcase ".len();
    let rest = &xml[start..];
    assert!(
        rest.starts_with("name=\""),
        "the first testcase starts with its name: {rest}"
    );
    let close = rest["name=\"".len()..].find('"').expect("a closing quote") + "name=\"".len() + 1;
    let rest = rest[close..].trim_start();
    format!("{}{}", &xml[..start], rest)
}

fn write(dir: &Path, name: &str, data: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write a temporary file");
    p
}

#[test]
fn check_reports_match_their_schemas_docker() {
    require_docker();
    let xsd = junit_xsd();
    let lab = fixture("labs/trio");
    let lab = lab.to_str().expect("utf-8 path");
    let _ = run(&["stop", "--session", SESSION]);
    let out = run(&["start", lab, "--trainee", "schemas"]);
    assert!(out.status.success(), "start failed: {}", text(&out));
    let _guard = SessionGuard(SESSION.into());

    let tmp = tempfile::tempdir().expect("a temporary folder");
    let junit = tmp.path().join("j.xml");
    let junit_arg = junit.to_str().expect("utf-8 path");
    let out = run(&[
        "--json",
        "check",
        "--session",
        SESSION,
        "--junit",
        junit_arg,
    ]);
    // A fresh session does not pass every check: 0 (passed) and 1 (below the pass mark) both
    // mean that the grading ran and its reports were written.
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "check did not grade: {}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let grade: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("--json check prints one JSON document ({e}): {stdout}"));
    assert_eq!(grade["session"], SESSION, "{grade}");
    let checks = grade["checks"].as_array().expect("checks").len();
    assert!(checks > 0, "the trio lab has checks: {grade}");
    let json = write(tmp.path(), "grade.json", &stdout);
    assert!(junit.is_file(), "--junit wrote no file: {}", text(&out));
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report");
    assert_eq!(
        xml.matches("<testcase ").count(),
        checks,
        "one testcase per check: {xml}"
    );

    let mut problems = Vec::new();
    if let Err(e) = validate_json(&json) {
        problems.push(format!(
            "`opslab --json check` does not match docs/grade.schema.json:\n{e}\ndocument:\n{stdout}"
        ));
    }
    if let Err(e) = validate_xml(&xsd, &junit) {
        problems.push(format!(
            "`opslab check --junit` does not match the JUnit schema {}:\n{e}\ndocument:\n{xml}",
            xsd.display()
        ));
    }

    // Negative controls on the real reports: the validators reject them once broken.
    let bad_json = write(tmp.path(), "bad-status.json", &with_bad_status(&stdout));
    match validate_json(&bad_json) {
        Ok(o) => problems.push(format!(
            "the JSON validator accepted a status of `succeeded`: {o}"
        )),
        Err(e) => assert!(e.contains("succeeded"), "the error names the value: {e}"),
    }
    let bad_xml = write(tmp.path(), "nameless.xml", &with_nameless_testcase(&xml));
    match validate_xml(&xsd, &bad_xml) {
        Ok(o) => problems.push(format!(
            "the JUnit schema accepted a testcase without a name: {o}"
        )),
        Err(e) => assert!(e.contains("name"), "the error names the attribute: {e}"),
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Hand-written reports in the shapes opslab writes: accepted as they are, rejected with a wrong
/// status or a nameless testcase. Needs no Docker engine, so the validators are tested on every
/// run.
#[test]
fn validators_accept_good_reports_and_reject_broken_ones() {
    let xsd = junit_xsd();
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let grade = serde_json::json!({
        "schema": "opslab.grade/1",
        "lab": "trio",
        "lab_title": "Fixture: three services",
        "definition_hash": "0123abcd",
        "session": "trio-schemas",
        "trainee": "schemas",
        "seed": 7u64,
        "params": { "secret": "abcdefghij", "team": "red" },
        "started_at": 1_800_000_000u64,
        "seconds": 3.25,
        "score": 10,
        "total": 20,
        "percent": 50.0,
        "pass_mark": 60,
        "passed": false,
        "checks": [
            {
                "id": "api-team", "title": "The API tells the team", "status": "passed",
                "points": 10, "earned": 10, "competences": ["deploy-automation"],
                "expected": "GET http://api:9000/team.json answers 200", "seen": "200 [0.1s]",
                "message": "", "hints": 1, "seconds": 0.12,
                "measures": { "recovery": 1.5 }, "initially_passes": true
            },
            {
                "id": "web-up", "title": "The web answers", "status": "failed",
                "points": 10, "earned": 0, "competences": [],
                "expected": "x", "seen": "y", "message": "look at the port", "hints": 0,
                "seconds": 2.0, "measures": {}, "initially_passes": false
            }
        ],
        "measures": { "recovery": 1.5 },
        "hints_used": 0,
        "hint_penalty": 0,
        "reviews": [
            {
                "id": "narrative", "title": "The narrative", "competences": ["debrief"],
                "rubric": "What happened, why, what changes.", "text": "## What happened\n",
                "truncated": false, "error": ""
            }
        ]
    })
    .to_string();
    let good = write(tmp.path(), "good.json", &grade);
    if let Err(e) = validate_json(&good) {
        panic!("a well-formed grade is rejected by docs/grade.schema.json:\n{e}");
    }
    let bad = write(tmp.path(), "bad.json", &with_bad_status(&grade));
    let e = validate_json(&bad).expect_err("a status of `succeeded` must be rejected");
    assert!(e.contains("succeeded"), "the error names the value: {e}");
    let mut missing: Value = serde_json::from_str(&grade).expect("the fixture grade is JSON");
    missing.as_object_mut().expect("an object").remove("schema");
    let missing = write(tmp.path(), "missing.json", &missing.to_string());
    validate_json(&missing).expect_err("a grade without `schema` must be rejected");
    let mut no_text: Value = serde_json::from_str(&grade).expect("the fixture grade is JSON");
    no_text["reviews"][0]
        .as_object_mut()
        .expect("a review")
        .remove("text");
    let no_text = write(tmp.path(), "no-text.json", &no_text.to_string());
    validate_json(&no_text).expect_err("a review without its text must be rejected");

    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="opslab" tests="2" failures="1" errors="0" time="3.250">
  <testsuite name="trio/schemas" id="0" package="opslab.trio" tests="2" failures="1" errors="0" skipped="0" time="3.250" timestamp="2027-01-15T08:00:00" hostname="host">
    <properties>
      <property name="session" value="trio-schemas"/>
    </properties>
    <testcase name="api-team" classname="trio.deploy-automation" time="0.120"/>
    <testcase name="web-up" classname="trio.check" time="2.000">
      <failure message="The web answers" type="check">expected: x
seen: y
</failure>
    </testcase>
    <system-out></system-out>
    <system-err></system-err>
  </testsuite>
</testsuites>
"#;
    let good = write(tmp.path(), "good.xml", xml);
    if let Err(e) = validate_xml(&xsd, &good) {
        panic!(
            "a well-formed JUnit report is rejected by {}:\n{e}",
            xsd.display()
        );
    }
    let bad = write(tmp.path(), "nameless.xml", &with_nameless_testcase(xml));
    let e = validate_xml(&xsd, &bad).expect_err("a testcase without a name must be rejected");
    assert!(e.contains("name"), "the error names the attribute: {e}");
}
