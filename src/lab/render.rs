//! Tera rendering of lab strings and files.

use std::error::Error as _;

/// Renders one template string with the given context.
pub fn render(template: &str, ctx: &tera::Context) -> Result<String, String> {
    if !template.contains("{{") && !template.contains("{%") {
        return Ok(template.to_string());
    }
    tera::Tera::one_off(template, ctx, false).map_err(|e| tera_message(&e))
}

/// Tera's errors nest the useful part in their sources; join the chain into one line.
pub fn tera_message(e: &tera::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !parts.contains(&m) {
            parts.push(m);
        }
        src = s.source();
    }
    parts.join(": ").replace('\n', " ")
}
