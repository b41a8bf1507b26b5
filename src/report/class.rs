//! Class reports: a page per trainee, a class page (competence matrix, score distribution and
//! measured figures as inline SVG, no script), a CSV grade book, and a Gradescope `results.json`
//! per trainee for learning platforms.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::class::ClassResult;
use crate::grade::Status;

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
    // Score distribution in deciles.
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
    ctx.insert("passed", &results.iter().filter(|r| r.grade.passed).count());
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec!["html"]);
    tera.add_raw_template("class.html", TEMPLATE)
        .map_err(|e| crate::lab::render::tera_message(&e))?;
    tera.render("class.html", &ctx)
        .map_err(|e| crate::lab::render::tera_message(&e))
}

pub fn grade_book(results: &[ClassResult]) -> String {
    let mut s = String::from("trainee,name,email,score,total,percent,passed,hints_used,final\n");
    for r in results {
        s.push_str(&format!(
            "{},\"{}\",{},{},{},{:.1},{},{},{}\n",
            r.trainee.id,
            r.trainee.name.replace('"', "\"\""),
            r.trainee.email,
            r.grade.score,
            r.grade.total,
            r.grade.percent,
            r.grade.passed,
            r.grade.hints_used,
            r.is_final
        ));
    }
    s
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
    put("grades.csv".into(), grade_book(results).into_bytes())?;
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
