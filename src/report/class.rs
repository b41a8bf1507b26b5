//! Class reports: a page per trainee, a class page (competence matrix, score distribution and
//! measured figures as inline SVG, no script), a CSV grade book, and a Gradescope `results.json`
//! per trainee for learning platforms.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::grade::Status;
use crate::record::ClassResult;

const TEMPLATE: &str = include_str!("templates/class.html");

fn percent(earned: u32, points: u32) -> u32 {
    (earned * 100).checked_div(points).unwrap_or(0)
}

/// Earned and available points of one result, by competence id.
fn by_competence(r: &ClassResult) -> BTreeMap<String, (u32, u32)> {
    let mut m: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for c in &r.grade.checks {
        for comp in &c.competences {
            let e = m.entry(comp.clone()).or_default();
            e.0 += c.earned;
            e.1 += c.points;
        }
    }
    m
}

/// A bar chart as SVG: (label, value) pairs, values scaled to the largest.
fn bars_svg(title: &str, unit: &str, items: &[(String, f64)]) -> String {
    let w = 560.0;
    let row = 22.0;
    let h = 30.0 + row * items.len() as f64;
    let max = items
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{title}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><title>{title}</title>");
    s.push_str(&format!(
        "<text x=\"0\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{}</text>",
        esc(title)
    ));
    for (i, (label, v)) in items.iter().enumerate() {
        let y = 26.0 + row * i as f64;
        let bw = (v / max) * (w - 200.0);
        s.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"130\" y=\"{y}\" width=\"{bw:.1}\" height=\"16\" fill=\"#2f6db5\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{}{unit}</text>",
            y + 12.0,
            esc(label),
            135.0 + bw,
            y + 12.0,
            if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
        ));
    }
    s.push_str("</svg>");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn class_page(class: &str, lab: &str, results: &[ClassResult]) -> Result<String, String> {
    let comps: Vec<&str> = crate::lab::competences::ALL
        .iter()
        .map(|c| c.id)
        .filter(|id| results.iter().any(|r| by_competence(r).contains_key(*id)))
        .collect();
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let m = by_competence(r);
            let cells: Vec<serde_json::Value> = comps
                .iter()
                .map(|c| match m.get(*c) {
                    Some((e, p)) => serde_json::json!({ "percent": percent(*e, *p), "text": format!("{e}/{p}") }),
                    None => serde_json::json!({ "percent": null, "text": "" }),
                })
                .collect();
            serde_json::json!({
                "id": r.trainee.id, "name": r.trainee.name, "score": r.grade.score, "total": r.grade.total,
                "percent": r.grade.percent.round(), "passed": r.grade.passed, "final": r.is_final,
                "hints": r.grade.hints_used, "cells": cells,
            })
        })
        .collect();
    let charts = charts(results);
    let mut ctx = tera::Context::new();
    ctx.insert("class", class);
    ctx.insert("lab", lab);
    ctx.insert(
        "competences",
        &comps
            .iter()
            .map(|c| {
                crate::lab::competences::find(c)
                    .map(|x| serde_json::json!({"id": x.id, "en": x.en, "fr": x.fr}))
            })
            .collect::<Vec<_>>(),
    );
    ctx.insert("rows", &rows);
    ctx.insert("charts", &charts);
    ctx.insert("count", &results.len());
    // When the assessment ended for the trainees, and when its last grading started.
    let ended = results.iter().filter_map(|r| r.access_ended).max();
    let last_start = results
        .iter()
        .filter(|r| r.is_final)
        .map(|r| r.grading_started)
        .max();
    ctx.insert("access_ended", &ended.map(crate::report::junit::timestamp));
    ctx.insert(
        "last_grading",
        &last_start.map(crate::report::junit::timestamp),
    );
    ctx.insert("passed", &results.iter().filter(|r| r.grade.passed).count());
    ctx.insert(
        "reviews",
        &results.iter().any(|r| !r.grade.reviews.is_empty()),
    );
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec!["html"]);
    tera.add_raw_template("class.html", TEMPLATE)
        .map_err(|e| crate::lab::render::tera_message(&e))?;
    tera.render("class.html", &ctx)
        .map_err(|e| crate::lab::render::tera_message(&e))
}

const REVIEWS: &str = include_str!("templates/reviews.html");

/// Every trainee's text of each review of the lab, with its rubric: what the jury reads.
pub fn reviews_page(class: &str, lab: &str, results: &[ClassResult]) -> Result<String, String> {
    let mut order: Vec<(String, String, String)> = Vec::new();
    for r in results {
        for v in &r.grade.reviews {
            if !order.iter().any(|(id, _, _)| id == &v.id) {
                order.push((v.id.clone(), v.title.clone(), v.rubric.clone()));
            }
        }
    }
    let reviews: Vec<serde_json::Value> = order
        .iter()
        .map(|(id, title, rubric)| {
            let trainees: Vec<serde_json::Value> = results
                .iter()
                .map(|r| {
                    let v = r.grade.reviews.iter().find(|v| &v.id == id);
                    serde_json::json!({
                        "id": r.trainee.id, "name": r.trainee.name, "final": r.is_final,
                        "text": v.map(|v| v.text.clone()).unwrap_or_default(),
                        "truncated": v.is_some_and(|v| v.truncated),
                        "error": v.map_or_else(|| "not read at this grading".to_string(), |v| v.error.clone()),
                    })
                })
                .collect();
            serde_json::json!({ "id": id, "title": title, "rubric": rubric, "trainees": trainees })
        })
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("class", class);
    ctx.insert("lab", lab);
    ctx.insert("reviews", &reviews);
    ctx.insert("all_final", &results.iter().all(|r| r.is_final));
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec!["html"]);
    tera.add_raw_template("reviews.html", REVIEWS)
        .map_err(|e| crate::lab::render::tera_message(&e))?;
    tera.render("reviews.html", &ctx)
        .map_err(|e| crate::lab::render::tera_message(&e))
}

/// The class's charts: the score distribution in deciles, then one per measured figure.
fn charts(results: &[ClassResult]) -> Vec<String> {
    let mut deciles = [0.0; 10];
    for r in results {
        deciles[((r.grade.percent / 10.0).floor() as usize).min(9)] += 1.0;
    }
    let dist: Vec<(String, f64)> = deciles
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{}-{}%", i * 10, i * 10 + 10), *n))
        .collect();
    let mut charts = vec![bars_svg("Scores (trainees per band)", "", &dist)];
    let mut figures: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for r in results {
        for (k, v) in &r.grade.measures {
            figures
                .entry(k.clone())
                .or_default()
                .push((r.trainee.id.clone(), *v));
        }
    }
    for (k, items) in &figures {
        charts.push(bars_svg(
            &format!("{} (seconds)", k.replace('_', " ")),
            "s",
            items,
        ));
    }
    charts
}

/// The grade book: one CSV line per trainee. Names and e-mails come from the roster: the CSV
/// writer quotes them and neutralises any that a spreadsheet would take for a formula.
pub fn grade_book(results: &[ClassResult]) -> Vec<u8> {
    crate::csvfile::write_rows(
        &[
            "trainee",
            "name",
            "email",
            "score",
            "total",
            "percent",
            "passed",
            "hints_used",
            "final",
            "access_ended",
            "grading_started",
        ],
        results.iter().map(|r| {
            [
                r.trainee.id.clone(),
                r.trainee.name.clone(),
                r.trainee.email.clone(),
                r.grade.score.to_string(),
                r.grade.total.to_string(),
                format!("{:.1}", r.grade.percent),
                r.grade.passed.to_string(),
                r.grade.hints_used.to_string(),
                r.is_final.to_string(),
                r.access_ended
                    .map(crate::report::junit::timestamp)
                    .unwrap_or_default(),
                crate::report::junit::timestamp(r.grading_started),
            ]
        }),
    )
}

/// The grades in the form Moodle's "Import grades from CSV" takes: the trainee's e-mail and id to
/// map each line to a Moodle user (map "Email address" to "email address", or "ID number" to
/// "idnumber"), one grade column for the lab (percent, out of 100), and its feedback column.
pub fn moodle_grades(lab: &str, results: &[ClassResult]) -> Vec<u8> {
    let grade = format!("{lab} (percent)");
    let feedback = format!("{lab} feedback");
    crate::csvfile::write_rows(
        &["Email address", "ID number", "Full name", &grade, &feedback],
        results.iter().map(|r| {
            let failed: Vec<&str> = r
                .grade
                .checks
                .iter()
                .filter(|c| c.status != crate::grade::Status::Passed)
                .map(|c| c.id.as_str())
                .collect();
            let mut text = format!(
                "{}/{} points, {}{}",
                r.grade.score,
                r.grade.total,
                super::verdict(r.grade.passed),
                if r.is_final { "" } else { " (provisional)" }
            );
            if r.grade.hints_used > 0 {
                text.push_str(&format!(
                    "; {} hint(s), {} point(s) off",
                    r.grade.hints_used, r.grade.hint_penalty
                ));
            }
            if !failed.is_empty() {
                text.push_str(&format!("; not passed: {}", failed.join(", ")));
            }
            [
                r.trainee.email.clone(),
                r.trainee.id.clone(),
                r.trainee.name.clone(),
                format!("{:.2}", r.grade.percent),
                text,
            ]
        }),
    )
}

/// Gradescope's autograder `results.json`.
pub fn gradescope(r: &ClassResult) -> serde_json::Value {
    let tests: Vec<serde_json::Value> = r
        .grade
        .checks
        .iter()
        .map(|c| {
            let mut output = format!("expected: {}\nseen: {}", c.expected, c.seen);
            if !c.message.is_empty() {
                output.push_str(&format!("\n{}", c.message));
            }
            serde_json::json!({
                "name": c.title, "number": c.id, "score": c.earned, "max_score": c.points,
                "status": if c.status == Status::Passed { "passed" } else { "failed" },
                "output": output, "tags": c.competences,
            })
        })
        .collect();
    serde_json::json!({
        "score": r.grade.score, "execution_time": r.grade.seconds.round() as u64,
        "output": format!("{}: {}/{} (pass mark {}%), hints used {}", r.grade.lab, r.grade.score, r.grade.total, r.grade.pass_mark, r.grade.hints_used),
        "tests": tests,
    })
}

/// Writes every report of a class into `out`; returns the files written.
pub fn write_all(
    class: &str,
    lab: &str,
    results: &[ClassResult],
    out: &Path,
) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let mut put = |name: String, bytes: Vec<u8>| -> Result<(), String> {
        let p = out.join(name);
        super::write_atomic(&p, &bytes).map_err(|e| format!("{}: {e}", p.display()))?;
        written.push(p);
        Ok(())
    };
    put(
        "class.html".into(),
        class_page(class, lab, results)?.into_bytes(),
    )?;
    if results.iter().any(|r| !r.grade.reviews.is_empty()) {
        put(
            "reviews.html".into(),
            reviews_page(class, lab, results)?.into_bytes(),
        )?;
    }
    put("grades.csv".into(), grade_book(results))?;
    put("moodle.csv".into(), moodle_grades(lab, results))?;
    for r in results {
        put(
            format!("trainees/{}.html", r.trainee.id),
            super::html::render(&r.grade)?.into_bytes(),
        )?;
        put(
            format!("gradescope/{}/results.json", r.trainee.id),
            serde_json::to_vec_pretty(&gradescope(r)).unwrap_or_default(),
        )?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csvfile::is_formula;
    use crate::grade::Grade;
    use crate::record::Trainee;

    #[test]
    fn moodle_reads_one_line_per_trainee_with_grade_and_feedback() {
        let results = vec![
            result("t1", "=1+1", "a,b@example.org", 7),
            result("t2", "Zoé", "z@example.org", 10),
        ];
        let bytes = moodle_grades("shop", &results);
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(String::from)
            .collect();
        assert_eq!(
            header,
            [
                "Email address",
                "ID number",
                "Full name",
                "shop (percent)",
                "shop feedback"
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][0], "a,b@example.org");
        assert_eq!(&rows[0][2], "'=1+1");
        assert_eq!(&rows[0][3], "70.00");
        assert_eq!(&rows[1][3], "100.00");
        assert!(rows[1][4].starts_with("10/10 points, passed"));
    }

    #[test]
    fn the_jury_reads_every_trainees_text_escaped_and_a_missing_one_says_why() {
        let review = |text: &str, error: &str| crate::grade::Review {
            id: "narrative".into(),
            title: "The narrative".into(),
            competences: vec!["debrief".into()],
            rubric: "What happened, & why.".into(),
            text: text.into(),
            truncated: false,
            error: error.into(),
        };
        let mut ana = result("ana", "Ana <b>", "ana@example.org", 8);
        ana.grade.reviews = vec![review("We broke <em>prod</em> at 10:02.", "")];
        let mut bo = result("bo", "Bo", "bo@example.org", 3);
        bo.grade.reviews = vec![review("", "exit 128: no postmortem.md on main")];
        let plain = result("cy", "Cy", "cy@example.org", 5);
        let page = reviews_page("c1", "lab", &[ana, bo, plain]).expect("the page renders");
        assert!(
            page.contains("We broke &lt;em&gt;prod&lt;&#x2F;em&gt; at 10:02."),
            "{page}"
        );
        assert!(page.contains("Ana &lt;b&gt;") && !page.contains("<em>") && !page.contains("<b>"));
        assert!(
            page.contains("What happened, &amp; why."),
            "the rubric once, escaped"
        );
        assert!(page.contains("Nothing to read: exit 128: no postmortem.md on main"));
        assert!(
            page.contains("Nothing to read: not read at this grading"),
            "a grade without it says so"
        );
    }

    fn result(id: &str, name: &str, email: &str, score: u32) -> ClassResult {
        ClassResult {
            class: "c1".into(),
            trainee: Trainee {
                id: id.into(),
                name: name.into(),
                email: email.into(),
            },
            instance: "i1".into(),
            lab: "lab".into(),
            definition_hash: String::new(),
            is_final: true,
            access_ended: Some(0),
            grading_started: 0,
            graded_at: 0,
            deadline: None,
            grade: Grade {
                schema: crate::grade::SCHEMA.into(),
                lab: "lab".into(),
                lab_title: "Lab".into(),
                definition_hash: String::new(),
                session: format!("lab-{id}"),
                trainee: id.into(),
                seed: 1,
                params: serde_json::json!({}),
                started_at: 0,
                seconds: 1.0,
                score,
                total: 10,
                percent: f64::from(score) * 10.0,
                pass_mark: 70,
                passed: score >= 7,
                checks: Vec::new(),
                measures: BTreeMap::new(),
                hints_used: 0,
                hint_penalty: 0,
                reviews: Vec::new(),
            },
        }
    }

    #[test]
    fn the_grade_book_round_trips_awkward_names_without_a_formula_cell() {
        // A roster as a trainer's spreadsheet exports it, read with the roster reader.
        let roster = "\u{FEFF}id,name,email\n\
            t1,=1+1,\"=cmd|' /C calc'!A0@example.org\"\n\
            t2,\"Durand, Zoë\",\"zoe,durand@example.org\"\n\
            t3, \"Bob \"\"the builder\"\"\",+33@example.org\n\
            t4,@SUM(A1:A9),-x@example.org\n\
            t5,\"Łukasz Żółć\nsecond line\",łukasz@exämple.org\n\
            t6,\"\t=HYPERLINK(\"\"http://e.vil\"\")\",a|b`c@example.org\n";
        let rows = crate::csvfile::parse_rows(roster.as_bytes()).expect("the roster parses");
        let results: Vec<ClassResult> = rows[1..]
            .iter()
            .zip(0..)
            .map(|(row, score)| result(&row.fields[0], &row.fields[1], &row.fields[2], score))
            .collect();
        assert_eq!(results[1].trainee.name, "Durand, Zoë");
        assert_eq!(results[2].trainee.name, "Bob \"the builder\"");
        assert_eq!(results[4].trainee.name, "Łukasz Żółć\nsecond line");
        let dir = tempfile::tempdir().expect("a temporary folder");
        write_all("c1", "lab", &results, dir.path()).expect("reports written");
        let mut reader = csv::ReaderBuilder::new()
            .from_path(dir.path().join("grades.csv"))
            .expect("grades.csv");
        let header: Vec<String> = reader
            .headers()
            .expect("a header")
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(header[..3], ["trainee", "name", "email"]);
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.expect("a record").iter().map(str::to_string).collect())
            .collect();
        assert_eq!(rows.len(), results.len());
        for (r, row) in results.iter().zip(&rows) {
            assert_eq!(row.len(), header.len(), "{row:?}");
            for cell in row {
                assert!(!is_formula(cell), "a formula cell: {cell:?}");
            }
            let unquote = |c: &str| match c.strip_prefix('\'') {
                Some(rest) if is_formula(rest) => rest.to_string(),
                _ => c.to_string(),
            };
            assert_eq!(unquote(&row[0]), r.trainee.id);
            assert_eq!(unquote(&row[1]), r.trainee.name);
            assert_eq!(unquote(&row[2]), r.trainee.email);
            assert_eq!(row[3], r.grade.score.to_string());
            assert_eq!(row[5], format!("{:.1}", r.grade.percent));
            assert_eq!(row[8], "true");
        }
    }
}
