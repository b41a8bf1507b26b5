//! One self-contained HTML page per grading, rendered with tera: no script, no external asset.

use crate::grade::Grade;

const TEMPLATE: &str = include_str!("templates/grade.html");

pub fn render(g: &Grade) -> Result<String, String> {
    let mut ctx = tera::Context::new();
    ctx.insert("g", g);
    let by_comp = crate::lab::competences::ALL
        .iter()
        .filter_map(|c| {
            let checks: Vec<_> = g.checks.iter().filter(|o| o.competences.iter().any(|x| x == c.id)).collect();
            if checks.is_empty() {
                return None;
            }
            let earned: u32 = checks.iter().map(|o| o.earned).sum();
            let points: u32 = checks.iter().map(|o| o.points).sum();
            Some(serde_json::json!({ "id": c.id, "en": c.en, "fr": c.fr, "earned": earned, "points": points,
                "percent": (earned * 100).checked_div(points).unwrap_or(0) }))
        })
        .collect::<Vec<_>>();
    ctx.insert("competences", &by_comp);
    ctx.insert("when", &super::junit::timestamp(g.started_at));
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec!["html"]);
    tera.add_raw_template("grade.html", TEMPLATE)
        .map_err(|e| crate::lab::render::tera_message(&e))?;
    tera.render("grade.html", &ctx)
        .map_err(|e| crate::lab::render::tera_message(&e))
}
