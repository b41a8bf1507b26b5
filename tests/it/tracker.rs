//! The team's tracker (images/tracker) and its grader modules (graders/tracker): the fixture lab
//! `tracker-probe` proves them both ways, and each shortcut attempt of
//! tests/fixtures/attempts/tracker-probe loses the checks it targets.

use crate::support::{fixture, objects_with_label, require_docker, run, text};

#[test]
fn tracker_modules_prove_themselves_on_the_fixture_docker() {
    require_docker();
    let lab = fixture("labs/tracker-probe");
    let lab = lab.to_str().expect("utf-8");
    let out = run(&["selftest", lab, "--runs", "1"]);
    let t = text(&out);
    assert!(out.status.success(), "selftest tracker-probe: {t}");
    assert!(
        t.contains("untouched 0/100"),
        "every module fails untouched: {t}"
    );
    assert!(t.contains("solved 100/100"), "{t}");
    for attempt in ["loose-items", "closed-on-red"] {
        let dir = fixture(&format!("attempts/tracker-probe/{attempt}"));
        let out = run(&[
            "selftest",
            lab,
            "--runs",
            "1",
            "--attempt",
            dir.to_str().expect("utf-8"),
        ]);
        let t = text(&out);
        assert!(out.status.success(), "attempt {attempt}: {t}");
        assert!(
            t.lines()
                .filter(|l| l.contains("(targeted)"))
                .all(|l| l.trim_start().starts_with("failed")),
            "attempt {attempt} fails every check it targets: {t}"
        );
    }
    assert_eq!(
        objects_with_label("opslab.lab=tracker-probe"),
        0,
        "selftest leaves nothing"
    );
}
