//! Reports of a grading: terminal text, JSON, JUnit XML and a self-contained HTML page.

pub mod class;
pub mod html;
pub mod junit;

use crate::grade::{Grade, Status};

/// Whether to draw colours: a terminal, and NO_COLOR unset.
/// A grading's verdict in words, as every text report says it.
pub fn verdict(passed: bool) -> &'static str {
    if passed {
        "passed"
    } else {
        "not passed"
    }
}

pub fn use_colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout())
}

fn paint(text: &str, code: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The grading as people read it in a terminal.
pub fn terminal(g: &Grade, colour: bool) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{} ({}), session {}, trainee {}\n\n",
        g.lab_title, g.lab, g.session, g.trainee
    ));
    for c in &g.checks {
        let mark = match c.status {
            Status::Passed => paint("PASS", "32;1", colour),
            Status::Failed => paint("FAIL", "31;1", colour),
            Status::Skipped => paint("SKIP", "33", colour),
        };
        s.push_str(&format!(
            "{mark} {:>3}/{:<3} {}  [{}]  ({:.1}s)\n",
            c.earned, c.points, c.title, c.id, c.seconds
        ));
        for (k, v) in &c.measures {
            s.push_str(&format!("           measured {k}: {v:.1}s\n"));
        }
        if c.status != Status::Passed {
            if !c.expected.is_empty() {
                s.push_str(&format!("           expected: {}\n", c.expected));
            }
            if !c.seen.is_empty() {
                s.push_str(&format!("           seen:     {}\n", c.seen));
            }
            if !c.message.is_empty() {
                s.push_str(&format!("           {}\n", c.message));
            }
            if c.hints > 0 {
                s.push_str(&format!(
                    "           hint: `opslab hint {}` ({} available)\n",
                    c.id, c.hints
                ));
            }
        }
    }
    for r in &g.reviews {
        let mark = paint("READ", "36;1", colour);
        s.push_str(&format!(
            "{mark}   -/-   {}  [{}]  for the trainer to read, not scored\n",
            r.title, r.id
        ));
        if r.error.is_empty() {
            s.push_str(&format!(
                "           {} line(s), {} byte(s){}: the HTML and JSON reports hold the text and the rubric\n",
                r.text.lines().count(),
                r.text.len(),
                if r.truncated { ", cut" } else { "" }
            ));
        } else {
            s.push_str(&format!("           nothing to read: {}\n", r.error));
        }
    }
    let verdict = if g.passed {
        paint("PASSED", "32;1", colour)
    } else {
        paint("NOT PASSED", "31;1", colour)
    };
    s.push_str(&format!(
        "\nscore {}/{} ({:.0}%), pass mark {}%: {verdict}  [graded in {:.1}s]\n",
        g.score, g.total, g.percent, g.pass_mark, g.seconds
    ));
    if g.hints_used > 0 {
        s.push_str(&format!(
            "hints used: {} (-{} points)\n",
            g.hints_used, g.hint_penalty
        ));
    }
    s
}

pub use crate::files::write_atomic;

pub fn json(g: &Grade) -> String {
    serde_json::to_string_pretty(g).unwrap_or_default()
}
