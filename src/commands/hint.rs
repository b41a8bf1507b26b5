//! `opslab hint`: the next hint of a check (the named one, else the first that failed at the
//! last grading). In an assessment a hint costs points, so it is shown only once confirmed.

use super::Ctx;
use crate::error::{exit, Result};
use crate::history::History;

pub async fn hint(ctx: &Ctx, check: Option<&str>, session: Option<&str>, yes: bool) -> Result<i32> {
    let engine = ctx.engine().await?;
    let (s, lab) = ctx.session(&engine, session).await?;
    let _held = ctx.lock(&s).await?;
    let history = History::open().map_err(crate::hints::HintError::from)?;
    let target = crate::hints::choose(&lab, &history, &s, check)?;
    let shown = crate::hints::next(&history, &s, target, &ctx.lang)?;
    let cost = lab.def.lab.hint_cost;
    if s.assessed() && cost > 0 && !yes && shown.taken < shown.count {
        println!(
            "this is an assessment: hint {} for `{}` costs {cost} points.\nrun `opslab hint {} --session {} --yes` to take it.",
            shown.taken + 1,
            target.id,
            target.id,
            s.id
        );
        return Ok(exit::OK);
    }
    crate::hints::take(&history, &s, &shown)?;
    let text = crate::lab::render::render(shown.text, &s.context())
        .unwrap_or_else(|_| shown.text.to_string());
    println!(
        "hint {}/{} for `{}` ({}):\n{}",
        shown.level, shown.count, target.id, target.title, text
    );
    Ok(exit::OK)
}
