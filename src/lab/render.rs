//! Tera rendering of lab strings and files, in a sandbox: no `get_env` (the host's environment
//! must not reach a container), no `now` and no `get_random` (a lab's values are drawn from its
//! seed only), and bounded work: templates are at most `MAX_TEMPLATE` bytes, loops nest at most
//! `MAX_LOOP_DEPTH` deep over at most `MAX_RANGE` items each, no macros (recursion), no
//! `set_global` (a loop doubling a string), and the output is at most `MAX_OUTPUT` bytes.
//! Must not read files: callers pass the text.

use std::collections::HashMap;
use std::error::Error as _;

/// The largest template rendered.
pub const MAX_TEMPLATE: usize = 1 << 20;
/// The largest rendered output.
pub const MAX_OUTPUT: usize = 4 << 20;
/// `for` loops nest at most this deep.
pub const MAX_LOOP_DEPTH: usize = 2;
/// `range()` gives at most this many items.
pub const MAX_RANGE: i64 = 1000;
/// Brackets and parentheses nest at most this deep (the parser recurses on them).
pub const MAX_NESTING: usize = 32;

/// Whether `s` is written as a template (rendered before use). A `{#` alone does not make one
/// (shell's `${#list[@]}` is common in copied scripts).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// Renders one template string with the given context.
pub fn render(template: &str, ctx: &tera::Context) -> Result<String, String> {
    if !is_template(template) {
        return Ok(template.to_string());
    }
    gate(template)?;
    let mut t = tera::Tera::default();
    for name in ["get_env", "now", "get_random"] {
        t.register_function(name, Refused(name));
    }
    t.register_function("range", BoundedRange);
    t.add_raw_template("template", template)
        .map_err(|e| tera_message(&e))?;
    let out = t.render("template", ctx).map_err(|e| tera_message(&e))?;
    if out.len() > MAX_OUTPUT {
        return Err(format!(
            "renders to {} bytes, more than {MAX_OUTPUT}",
            out.len()
        ));
    }
    Ok(out)
}

/// What a template may not do, found before tera parses it.
fn gate(template: &str) -> Result<(), String> {
    if template.len() > MAX_TEMPLATE {
        return Err(format!(
            "a template is at most {MAX_TEMPLATE} bytes, this one has {}",
            template.len()
        ));
    }
    // Inside tags only: text around them is the file's own business.
    let mut rest = template;
    while let Some(i) = rest.find(['{']) {
        rest = &rest[i + 1..];
        let close = match rest.chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            _ => continue,
        };
        let end = rest.find(close).unwrap_or(rest.len());
        let mut nesting = 0usize;
        for c in rest[..end].chars() {
            match c {
                '(' | '[' | '{' => {
                    nesting += 1;
                    if nesting > MAX_NESTING {
                        return Err(format!(
                            "brackets nest more than {MAX_NESTING} deep in this template"
                        ));
                    }
                }
                ')' | ']' | '}' => nesting = nesting.saturating_sub(1),
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    let mut loops = 0usize;
    let mut rest = template;
    while let Some(i) = rest.find("{%") {
        rest = &rest[i + 2..];
        let tag = rest.trim_start_matches(['-', '+']).trim_start();
        let word: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        match word.as_str() {
            "for" => {
                loops += 1;
                if loops > MAX_LOOP_DEPTH {
                    return Err(format!(
                        "`for` loops nest at most {MAX_LOOP_DEPTH} deep in a lab template"
                    ));
                }
            }
            "endfor" => loops = loops.saturating_sub(1),
            "macro" | "set_global" | "include" | "import" | "extends" | "block" => {
                return Err(format!(
                    "`{{% {word} %}}` is not available in lab templates"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

struct Refused(&'static str);

impl tera::Function for Refused {
    fn call(&self, _: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
        Err(tera::Error::msg(format!(
            "`{}()` is not available in labs: a lab's values depend on its seed only, never on the host, the clock or chance",
            self.0
        )))
    }

    fn is_safe(&self) -> bool {
        false
    }
}

/// tera's `range`, limited to `MAX_RANGE` items.
struct BoundedRange;

impl tera::Function for BoundedRange {
    fn call(&self, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
        let int = |k: &str, default: i64| -> tera::Result<i64> {
            match args.get(k) {
                None => Ok(default),
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| tera::Error::msg(format!("range: `{k}` is an integer"))),
            }
        };
        let start = int("start", 0)?;
        let end = int("end", i64::MIN)?;
        if end == i64::MIN {
            return Err(tera::Error::msg("range needs `end`"));
        }
        let step = int("step_by", 1)?;
        if step <= 0 {
            return Err(tera::Error::msg("range: `step_by` is a positive integer"));
        }
        let count = end
            .checked_sub(start)
            .map(|d| if d <= 0 { 0 } else { (d - 1) / step + 1 })
            .unwrap_or(i64::MAX);
        if count > MAX_RANGE {
            return Err(tera::Error::msg(format!(
                "range gives at most {MAX_RANGE} items in a lab"
            )));
        }
        let items: Vec<tera::Value> = (0..count)
            .map(|i| tera::Value::from(start + i * step))
            .collect();
        Ok(tera::Value::Array(items))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_host_environment_clock_or_chance() {
        let ctx = tera::Context::new();
        for t in [
            "{{ get_env(name=\"HOME\") }}",
            "{{ now() }}",
            "{{ get_random(end=10) }}",
        ] {
            assert!(
                render(t, &ctx).is_err_and(|e| e.contains("not available")),
                "{t}"
            );
        }
    }

    #[test]
    fn work_is_bounded() {
        let ctx = tera::Context::new();
        let nested = "{% for i in range(end=9) %}{% for j in range(end=9) %}{% for k in range(end=9) %}x{% endfor %}{% endfor %}{% endfor %}";
        assert!(render(nested, &ctx).is_err());
        assert!(render("{% for i in range(end=100000) %}x{% endfor %}", &ctx).is_err());
        assert!(render("{% macro f() %}{% endmacro %}", &ctx).is_err());
        assert_eq!(
            render("{% for i in range(end=3) %}{{ i }}{% endfor %}", &ctx).as_deref(),
            Ok("012")
        );
        assert!(render(&"(".repeat(1000), &ctx).is_ok());
        assert!(render(&format!("{{{{ {} }}}}", "(".repeat(1000)), &ctx).is_err());
    }
}
