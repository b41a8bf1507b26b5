//! `opslab start` and `opslab reset`.

use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::session::{self, StartRequest};

fn trainee_default() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "trainee".into())
}

pub async fn start(ctx: &Ctx, lab: &str, trainee: Option<String>, seed: u64) -> Result<i32> {
    let lab = ctx.load(lab)?;
    let engine = ctx.engine().await?;
    let trainee = trainee.unwrap_or_else(trainee_default);
    let s = ctx
        .runner(&engine)
        .start(StartRequest::practice(&lab, &trainee, seed))
        .await?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "session": s.id, "lab": s.lab, "trainee": s.trainee, "seed": s.seed })
        );
    } else {
        let brief = lab.brief(&ctx.lang);
        let brief = crate::lab::render::render(&brief, &s.context()).unwrap_or(brief);
        println!("{}\n", brief.trim_end());
        println!("session {} is ready. Get in with:  opslab shell", s.id);
        println!(
            "grade your work with:  opslab check    hints:  opslab hint    stop:  opslab stop"
        );
    }
    Ok(exit::OK)
}

/// Back to the initial state with the same parameters and isolation; an assessment's session
/// gets new access, and its hints keep counting. Refused once its class's assessment ended.
pub async fn reset(ctx: &Ctx, session: Option<&str>) -> Result<i32> {
    let engine = ctx.engine().await?;
    let (s, lab) = ctx.session(&engine, session).await?;
    let _held = ctx.lock(&s).await?;
    if let Some(class) = s.extra_labels.get(crate::class::LABEL_CLASS) {
        let info = crate::class::load_info(class)?;
        if info.access_ended.is_some() || info.deadline.is_some_and(|d| session::now() >= d) {
            return Err(Error::Input(format!(
                "the assessment of class {class} has ended: its sessions stay as they were graded"
            )));
        }
    }
    let runner = ctx.runner(&engine);
    runner.stop(&s).await?;
    let s2 = runner
        .start(StartRequest {
            session_id: Some(s.id.clone()),
            extra_labels: s.extra_labels.clone(),
            ssh_bind: s.ssh_bind.clone(),
            params: Some(s.params.clone()),
            isolated: s
                .extra_labels
                .get(session::LABEL_ISOLATED)
                .is_some_and(|v| v == "1"),
            ..StartRequest::practice(&lab, &s.trainee, s.seed)
        })
        .await?;
    if s2.assessed() {
        let a = crate::class::Class {
            engine: &engine,
            project: &ctx.project,
            progress: &ctx.bars,
        }
        .refresh_access(&s2)
        .await?;
        println!(
            "new access for {}: ssh -i {} -p {} {}@{}",
            a.trainee.id,
            a.key_file.display(),
            a.port,
            a.user,
            a.host
        );
    }
    println!("session {} is back to its initial state", s2.id);
    Ok(exit::OK)
}
