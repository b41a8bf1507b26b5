//! `opslab keys init|show` and `opslab verify`.

use std::path::PathBuf;

use crate::cli::KeysCommand;
use crate::error::{exit, Result};

pub fn keys(command: KeysCommand) -> Result<i32> {
    let dir = crate::signing::keys_dir();
    let key = match command {
        KeysCommand::Init => crate::signing::init(&dir)?,
        KeysCommand::Show => crate::signing::public_key(&dir)?,
    };
    println!("{key}");
    if matches!(command, KeysCommand::Init) {
        eprintln!("signing key written to {}", dir.display());
    }
    Ok(exit::OK)
}

/// Checks signed results: each file's bytes, and with `--class` that the class holds one
/// intact final result per trainee of its roster, of its own instance, nothing missing or extra.
pub fn verify(files: &[PathBuf], key: Option<String>, class: Option<&str>) -> Result<i32> {
    let trusted = match key {
        Some(k) => k,
        None => crate::signing::public_key(&crate::signing::keys_dir())?,
    };
    let mut bad = 0;
    for f in files {
        match crate::signing::verify_file(f, &trusted) {
            Ok(v) => println!("intact   {}  {}", f.display(), describe_result(&v)),
            Err(e) => {
                bad += 1;
                println!("ALTERED  {}: {e}", f.display());
            }
        }
    }
    if let Some(name) = class {
        let problems = crate::class::verify_class(name, &trusted)?;
        let info = crate::class::load_info(name)?;
        for (file, why) in &problems {
            println!("REJECTED {file}: {why}");
        }
        bad += problems.len();
        let verdict = if problems.is_empty() {
            "one intact final result each, nothing missing or extra".to_string()
        } else {
            format!("{} problem(s)", problems.len())
        };
        println!(
            "class {name} (instance {}): {} trainee(s), {verdict}",
            info.instance,
            info.trainees.len()
        );
    }
    Ok(if bad == 0 { exit::OK } else { exit::FAILED })
}

/// What a signed result binds: class instance, trainee, lab and definition, final or not, times.
fn describe_result(v: &serde_json::Value) -> String {
    let time = |k: &str| {
        v[k].as_u64()
            .map(crate::report::junit::timestamp)
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "class={} instance={} trainee={} lab={} definition={} final={} score={}/{} deadline={} access_ended={} grading_started={} graded_at={}",
        v["class"].as_str().unwrap_or("-"),
        v["instance"].as_str().unwrap_or("-"),
        v["trainee"]["id"].as_str().unwrap_or("-"),
        v["lab"].as_str().unwrap_or("-"),
        v["definition_hash"].as_str().unwrap_or("-"),
        v["final"].as_bool().map(|b| if b { "yes" } else { "no" }).unwrap_or("-"),
        v["grade"]["score"],
        v["grade"]["total"],
        time("deadline"),
        time("access_ended"),
        time("grading_started"),
        time("graded_at"),
    )
}
