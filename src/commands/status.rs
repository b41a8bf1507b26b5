//! `opslab status`: services, health, ports and elapsed time of a session.

use super::Ctx;
use crate::error::{exit, Result};
use crate::session::{self, Session};

pub async fn status(ctx: &Ctx, session: Option<&str>) -> Result<i32> {
    let engine = ctx.engine().await?;
    let s = Session::find(&engine, session).await?;
    // On a swarm, a session whose node is gone is lost with it.
    if let Err(why) = s.node(&engine).await {
        return lost(ctx, &s, &why);
    }
    if s.suspended(&engine).await? {
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({ "session": s.id, "lab": s.lab, "trainee": s.trainee, "suspended": true })
            );
        } else {
            println!(
                "session {} (lab {}, trainee {}) is suspended: its work, parameters and hints are kept.\nresume it with:  opslab resume --session {}",
                s.id, s.lab, s.trainee, s.id
            );
        }
        return Ok(exit::OK);
    }
    let states = s.states(&engine).await?;
    let elapsed = session::now().saturating_sub(s.started);
    if ctx.json {
        let services: Vec<_> = states
            .iter()
            .map(|(n, st)| serde_json::json!({ "service": n, "status": st.status, "health": st.health, "ports": st.ports, "node": st.node }))
            .collect();
        let params: serde_json::Map<String, serde_json::Value> =
            s.params.0.iter().cloned().collect();
        println!(
            "{}",
            serde_json::json!({ "session": s.id, "lab": s.lab, "trainee": s.trainee, "seed": s.seed, "params": params, "elapsed": elapsed, "services": services })
        );
        return Ok(exit::OK);
    }
    println!(
        "session {} (lab {}, trainee {}), up {}m{:02}s",
        s.id,
        s.lab,
        s.trainee,
        elapsed / 60,
        elapsed % 60
    );
    // On an engine of several machines, the one the session runs on.
    let nodes: std::collections::BTreeSet<&str> = states
        .iter()
        .map(|(_, st)| st.node.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    if !nodes.is_empty() {
        println!(
            "  node: {}",
            nodes.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    for (n, st) in states {
        let ports: Vec<String> = st
            .ports
            .iter()
            .map(|(c, h)| format!("127.0.0.1:{h}->{c}"))
            .collect();
        println!(
            "  {:<14} {:<9} {:<10} {}",
            n,
            st.status,
            st.health,
            ports.join(" ")
        );
    }
    Ok(exit::OK)
}

fn lost(ctx: &Ctx, s: &Session, why: &str) -> Result<i32> {
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({ "session": s.id, "lab": s.lab, "trainee": s.trainee, "lost": why })
        );
    } else {
        println!(
            "session {} (lab {}, trainee {}) is lost: {why}",
            s.id, s.lab, s.trainee
        );
    }
    Ok(exit::ENVIRONMENT)
}
