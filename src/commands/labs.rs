//! `opslab list` and `opslab validate`.

use std::path::PathBuf;

use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::lab::{Lab, LabErrors};

pub fn list(ctx: &Ctx) -> Result<i32> {
    for dir in crate::lab::discover(&ctx.project.labs_dir()) {
        match Lab::load(&dir, &ctx.project) {
            Ok(l) => {
                let competences: Vec<&str> = l
                    .def
                    .lab
                    .competences
                    .iter()
                    .map(|c| c.get_ref().as_str())
                    .collect();
                println!(
                    "{:<22} {}  [{}]",
                    l.id(),
                    l.title(&ctx.lang),
                    competences.join(", ")
                );
            }
            Err(_) => println!(
                "{:<22} (invalid: run `opslab validate {}`)",
                dir.file_name().unwrap_or_default().to_string_lossy(),
                dir.display()
            ),
        }
    }
    Ok(exit::OK)
}

/// The labs below `paths` (all of labs/ by default); an empty or missing path is an input error.
fn lab_folders(ctx: &Ctx, paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let roots = if paths.is_empty() {
        vec![ctx.project.labs_dir()]
    } else {
        paths.to_vec()
    };
    let mut labs = Vec::new();
    for r in &roots {
        if !r.exists() {
            return Err(Error::Input(format!(
                "{}: no such file or folder",
                r.display()
            )));
        }
        let found = crate::lab::discover(r);
        if found.is_empty() {
            return Err(Error::Input(format!(
                "{}: no lab.toml here or in its sub-folders",
                r.display()
            )));
        }
        labs.extend(found);
    }
    Ok(labs)
}

pub fn validate(ctx: &Ctx, paths: &[PathBuf]) -> Result<i32> {
    let labs = lab_folders(ctx, paths)?;
    let mut all = Vec::new();
    for l in &labs {
        match Lab::load(l, &ctx.project) {
            Ok(lab) if !ctx.json => println!(
                "ok  {} ({} checks, {} points)",
                lab.id(),
                lab.checks.len(),
                lab.total_points()
            ),
            Ok(_) => {}
            Err(e) => all.extend(e.0),
        }
    }
    if ctx.json {
        let items: Vec<_> = all
            .iter()
            .map(|d| serde_json::json!({ "file": d.file, "line": d.line, "column": d.column, "field": d.field, "message": d.message, "hint": d.hint }))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "labs": labs.len(), "errors": items })
        );
    }
    if all.is_empty() {
        Ok(exit::OK)
    } else {
        Err(Error::Lab(LabErrors(all)))
    }
}
