//! `opslab suspend`, `resume`, `stop` and `gc`.

use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::progress::Silent;
use crate::session::{self, Session};

pub async fn suspend(ctx: &Ctx, session: Option<&str>) -> Result<i32> {
    let engine = ctx.engine().await?;
    let s = Session::find(&engine, session).await?;
    if s.assessed() {
        return Err(Error::Input(format!(
            "{} is an assessment's session: a class runs until its deadline",
            s.id
        )));
    }
    let _held = ctx.lock(&s).await?;
    ctx.runner(&engine).suspend(&s).await?;
    println!(
        "session {} suspended; resume it with:  opslab resume --session {}",
        s.id, s.id
    );
    Ok(exit::OK)
}

pub async fn resume(ctx: &Ctx, session: Option<&str>) -> Result<i32> {
    let engine = ctx.engine().await?;
    let (s, lab) = ctx.session(&engine, session).await?;
    let _held = ctx.lock(&s).await?;
    ctx.runner(&engine).resume(&lab, &s).await?;
    println!("session {} resumed", s.id);
    Ok(exit::OK)
}

pub async fn stop(ctx: &Ctx, session: Option<&str>, all: bool) -> Result<i32> {
    let engine = ctx.engine().await?;
    let runner = crate::session::Runner {
        engine: &engine,
        project: &ctx.project,
        progress: &Silent,
    };
    let sessions = if all {
        Session::list(&engine).await?
    } else {
        vec![Session::find(&engine, session).await?]
    };
    for s in sessions {
        runner.stop(&s).await?;
        println!("stopped {}", s.id);
    }
    Ok(exit::OK)
}

pub async fn gc(ctx: &Ctx, all: bool) -> Result<i32> {
    let engine = ctx.engine().await?;
    let r = session::gc(&engine, all).await?;
    println!(
        "removed {} container(s), {} network(s), {} volume(s)",
        r.containers, r.networks, r.volumes
    );
    Ok(exit::OK)
}
