//! `opslab history`: the latest gradings on this machine.

use super::Ctx;
use crate::error::{exit, Error, Result};

pub fn history(ctx: &Ctx, limit: u32) -> Result<i32> {
    let rows = crate::history::History::open()
        .and_then(|h| h.recent(limit))
        .map_err(|e| Error::Environment(format!("history database: {e}")))?;
    if ctx.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    for r in rows {
        println!(
            "{}  {:<20} {:<16} {:>3}/{:<3} {}  ({:.0}s)",
            crate::report::junit::timestamp(r.at),
            r.lab,
            r.trainee,
            r.score,
            r.total,
            crate::report::verdict(r.passed),
            r.seconds
        );
    }
    Ok(exit::OK)
}
