//! Per-trainee parameters: values drawn deterministically from (lab, trainee, seed).
//! Each parameter has its own stream, so adding a parameter never changes the others.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::ParamList;

/// Drawn parameters, in the order the lab declares them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params(pub Vec<(String, Value)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn to_context(&self) -> tera::Context {
        let mut ctx = tera::Context::new();
        let mut table = serde_json::Map::new();
        for (k, v) in &self.0 {
            ctx.insert(k.as_str(), v);
            table.insert(k.clone(), v.clone());
        }
        ctx.insert("params", &table);
        ctx
    }
}

/// Why a parameter could not be drawn (an `expr` that does not render, an empty range...).
#[derive(Debug, Clone)]
pub struct ParamError {
    pub name: String,
    pub span: std::ops::Range<usize>,
    pub message: String,
}

/// Names the template context gives other meanings (`ports` is the published ports).
pub const RESERVED: &[&str] = &["session", "run", "ports", "lab", "params", "with"];

fn stream(lab: &str, trainee: &str, seed: u64, name: &str) -> ChaCha8Rng {
    let mut h = Sha256::new();
    for part in [lab, trainee, &seed.to_string(), name] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest: [u8; 32] = h.finalize().into();
    ChaCha8Rng::from_seed(digest)
}

pub fn draw(specs: &ParamList, lab: &str, trainee: &str, seed: u64) -> Result<Params, ParamError> {
    let mut out = Params::default();
    for (name, spec) in &specs.0 {
        let name_s = name.get_ref().clone();
        let err = |message: String| ParamError {
            name: name_s.clone(),
            span: spec.span(),
            message,
        };
        if RESERVED.contains(&name_s.as_str()) {
            return Err(ParamError {
                name: name_s.clone(),
                span: name.span(),
                message: format!(
                    "`{name_s}` is opslab's own name in templates; a parameter cannot take it"
                ),
            });
        }
        let mut rng = stream(lab, trainee, seed, &name_s);
        let s = spec.get_ref();
        let kinds = [
            s.int.is_some(),
            s.pick.is_some(),
            s.word.is_some(),
            s.expr.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if kinds != 1 {
            return Err(err(
                "a parameter is exactly one of `int`, `pick`, `word` or `expr`".into(),
            ));
        }
        let value = if let Some([lo, hi]) = s.int {
            if lo > hi {
                return Err(err(format!("empty range [{lo}, {hi}]")));
            }
            Value::from(rng.gen_range(lo..=hi))
        } else if let Some(list) = &s.pick {
            if list.is_empty() {
                return Err(err("`pick` needs at least one value".into()));
            }
            let v = &list[rng.gen_range(0..list.len())];
            serde_json::to_value(v).map_err(|e| err(e.to_string()))?
        } else if let Some(len) = s.word {
            if len == 0 || len > 64 {
                return Err(err("`word` length must be between 1 and 64".into()));
            }
            const LETTERS: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
            const ALNUM: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
            let mut w = String::new();
            w.push(LETTERS[rng.gen_range(0..LETTERS.len())] as char);
            for _ in 1..len {
                w.push(ALNUM[rng.gen_range(0..ALNUM.len())] as char);
            }
            Value::from(w)
        } else {
            let expr = s.expr.as_deref().unwrap_or_default();
            let rendered = super::render::render(expr, &out.to_context()).map_err(err)?;
            let t = rendered.trim();
            t.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(t.to_string()))
        };
        out.0.push((name_s, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> ParamList {
        let f: crate::lab::model::LabFile = toml::from_str(
            r#"
[lab]
id = "x"
title = "t"
[params]
port = { int = [8000, 8999] }
team = { pick = ["a", "b", "c", "d", "e", "f"] }
secret = { word = 12 }
next = { expr = "{{ port + 1 }}" }
"#,
        )
        .expect("fixture parses");
        f.params
    }

    #[test]
    fn same_inputs_same_values() {
        let a = draw(&specs(), "lab", "alice", 1).expect("draws");
        let b = draw(&specs(), "lab", "alice", 1).expect("draws");
        assert_eq!(a, b);
    }

    #[test]
    fn other_trainees_other_values() {
        let a = draw(&specs(), "lab", "alice", 1).expect("draws");
        let b = draw(&specs(), "lab", "bob", 1).expect("draws");
        let c = draw(&specs(), "lab", "alice", 2).expect("draws");
        assert_ne!(a.get("secret"), b.get("secret"));
        assert_ne!(a.get("secret"), c.get("secret"));
    }

    #[test]
    fn expr_sees_earlier_params() {
        let a = draw(&specs(), "lab", "alice", 1).expect("draws");
        let port = a.get("port").and_then(Value::as_i64).expect("int");
        assert_eq!(a.get("next").and_then(Value::as_i64), Some(port + 1));
        assert!((8000..=8999).contains(&port));
    }
}
