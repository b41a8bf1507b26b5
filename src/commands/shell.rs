//! `opslab shell`: a login shell in a service (the trainee's workstation by default), or one
//! command run there.

use std::io::Write;
use std::time::Duration;

use super::Ctx;
use crate::error::Result;

pub async fn shell(
    ctx: &Ctx,
    service: Option<String>,
    session: Option<&str>,
    command: Vec<String>,
) -> Result<i32> {
    let engine = ctx.engine().await?;
    let (s, lab) = ctx.session(&engine, session).await?;
    let svc = service.unwrap_or_else(|| {
        lab.trainee_service()
            .map(|t| t.name.get_ref().clone())
            .unwrap_or_default()
    });
    let user = lab.service(&svc).and_then(|d| d.user.clone());
    let cid = s.container(&svc)?.to_string();
    if !command.is_empty() {
        let out = engine
            .exec(
                &cid,
                command,
                user.as_deref(),
                Duration::from_secs(3600),
                None,
            )
            .await?;
        print!("{}", out.stdout);
        eprint!("{}", out.stderr);
        let _ = std::io::stdout().flush();
        return Ok(out.exit_code as i32);
    }
    let _raw = crate::terminal::is_tty().then(crate::terminal::RawMode::enter);
    let env = vec!["TERM=xterm-256color".to_string()];
    let login = vec!["bash".to_string(), "-l".to_string()];
    let code = engine
        .exec_interactive(&cid, login, user.as_deref(), env, None)
        .await?;
    Ok(code as i32)
}
