//! `opslab images build|list|export|import`.

use std::path::Path;
use std::time::Instant;

use super::Ctx;
use crate::cli::ImagesCommand;
use crate::error::{exit, Result};
use crate::images::Builder;

pub async fn run(ctx: &Ctx, command: ImagesCommand) -> Result<i32> {
    let engine = ctx.engine().await?;
    let builder = Builder {
        engine: &engine,
        project: &ctx.project,
        progress: &ctx.bars,
    };
    match command {
        ImagesCommand::Build { names } => {
            let names = if names.is_empty() {
                ctx.project.image_names()
            } else {
                names
            };
            for (name, tag, was_built) in &builder.ensure(&names).await? {
                let what = if *was_built { "built" } else { "up to date" };
                println!("{name:<16} {tag}  {what}");
            }
            Ok(exit::OK)
        }
        ImagesCommand::List { labs } => list(ctx, &builder, &labs).await,
        ImagesCommand::Export { file, labs } => export(ctx, &builder, &file, &labs).await,
        ImagesCommand::Import { file } => {
            let started = Instant::now();
            let tags = builder.import(&file).await?;
            for t in &tags {
                println!("loaded   {t}");
            }
            println!(
                "{} image(s) loaded from {} in {:.1}s",
                tags.len(),
                file.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(exit::OK)
        }
    }
}

/// The labs named (all of labs/ by default) and the images each needs.
fn labs_images(ctx: &Ctx, labs: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let names: Vec<String> = if labs.is_empty() {
        crate::lab::discover(&ctx.project.labs_dir())
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect()
    } else {
        labs.to_vec()
    };
    names
        .into_iter()
        .map(|n| {
            let lab = ctx.load(&n)?;
            Ok((lab.id().to_string(), crate::session::lab_images(&lab)))
        })
        .collect()
}

async fn list(ctx: &Ctx, builder: &Builder<'_>, labs: &[String]) -> Result<i32> {
    let mut rows = Vec::new();
    for (lab, images) in labs_images(ctx, labs)? {
        for (p, here) in builder.present(&images).await? {
            rows.push((lab.clone(), p.name, p.tag, here));
        }
    }
    if ctx.json {
        let items: Vec<_> = rows
            .iter()
            .map(|(l, n, t, h)| serde_json::json!({ "lab": l, "image": n, "tag": t, "present": h }))
            .collect();
        println!("{}", serde_json::Value::from(items));
        return Ok(exit::OK);
    }
    for (lab, name, tag, here) in &rows {
        let what = if *here { "present" } else { "missing" };
        println!("{lab:<22} {name:<16} {tag}  {what}");
    }
    let missing = rows.iter().filter(|r| !r.3).count();
    if missing > 0 {
        println!("{missing} missing: `opslab images build` or `opslab images import FILE`");
    }
    Ok(exit::OK)
}

async fn export(ctx: &Ctx, builder: &Builder<'_>, file: &Path, labs: &[String]) -> Result<i32> {
    let started = Instant::now();
    let mut images: Vec<String> = labs_images(ctx, labs)?
        .into_iter()
        .flat_map(|(_, i)| i)
        .collect();
    images.sort();
    images.dedup();
    let (tags, size) = builder.export(&images, file).await?;
    for t in &tags {
        println!("written  {t}");
    }
    println!(
        "{} image(s), {:.0} MiB, written to {} in {:.1}s",
        tags.len(),
        size as f64 / f64::from(1u32 << 20),
        file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(exit::OK)
}
