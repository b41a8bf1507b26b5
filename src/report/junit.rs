//! JUnit XML, as CI servers read it: one testsuite per grading, one testcase per check.

use crate::grade::{Grade, Status};

fn esc(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn render(grades: &[Grade]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let tests: usize = grades.iter().map(|g| g.checks.len()).sum();
    let failures: usize = grades
        .iter()
        .map(|g| {
            g.checks
                .iter()
                .filter(|c| c.status == Status::Failed)
                .count()
        })
        .sum();
    let time: f64 = grades.iter().map(|g| g.seconds).sum();
    s.push_str(&format!("<testsuites name=\"opslab\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">\n"));
    for (i, g) in grades.iter().enumerate() {
        let f = g
            .checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .count();
        let sk = g
            .checks
            .iter()
            .filter(|c| c.status == Status::Skipped)
            .count();
        s.push_str(&format!(
            "  <testsuite name=\"{}\" id=\"{i}\" package=\"opslab.{}\" tests=\"{}\" failures=\"{f}\" errors=\"0\" skipped=\"{sk}\" time=\"{:.3}\" timestamp=\"{}\" hostname=\"{}\">\n",
            esc(&format!("{}/{}", g.lab, g.trainee)),
            esc(&g.lab),
            g.checks.len(),
            g.seconds,
            timestamp(g.started_at),
            esc(&crate::session::hostname()),
        ));
        s.push_str("    <properties>\n");
        for (k, v) in [
            ("session", g.session.clone()),
            ("trainee", g.trainee.clone()),
            ("score", format!("{}/{}", g.score, g.total)),
            ("passed", g.passed.to_string()),
            ("definition_hash", g.definition_hash.clone()),
        ] {
            s.push_str(&format!(
                "      <property name=\"{k}\" value=\"{}\"/>\n",
                esc(&v)
            ));
        }
        s.push_str("    </properties>\n");
        for c in &g.checks {
            s.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                esc(&c.id),
                esc(&format!(
                    "{}.{}",
                    g.lab,
                    c.competences
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "check".into())
                )),
                c.seconds
            ));
            match c.status {
                Status::Passed => s.push_str("/>\n"),
                Status::Skipped => s.push_str(&format!(">\n      <skipped message=\"{}\"/>\n    </testcase>\n", esc(&c.message))),
                Status::Failed => s.push_str(&format!(
                    ">\n      <failure message=\"{}\" type=\"check\">expected: {}\nseen: {}\n{}</failure>\n    </testcase>\n",
                    esc(&c.title),
                    esc(&c.expected),
                    esc(&c.seen),
                    esc(&c.message)
                )),
            }
        }
        s.push_str(
            "    <system-out></system-out>\n    <system-err></system-err>\n  </testsuite>\n",
        );
    }
    s.push_str("</testsuites>\n");
    s
}

/// ISO 8601 without time zone, as the JUnit schema's timestamp type wants.
pub fn timestamp(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_timestamps() {
        assert_eq!(super::timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(super::timestamp(1_800_000_000), "2027-01-15T08:00:00");
    }
}
