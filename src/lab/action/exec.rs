//! `exec = "shell command"`: runs `sh -c` in a service (or the grader); an exit code outside
//! `ok_exit` fails the check with the output.

use super::{ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;
use crate::lab::rules::Delay;
use crate::lab::sight::{excerpt, truncated_text};

#[derive(Debug, Clone)]
pub struct Exec {
    pub command: String,
    pub service: String,
    pub user: Option<String>,
    pub timeout: Delay,
    pub ok_exit: Vec<i64>,
}

impl Kind for Exec {
    const NAME: &'static str = "exec";

    fn written(w: &ActionDef) -> bool {
        w.exec.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        Some(Exec {
            command: r.text("exec", w.exec.as_deref()?),
            service: r.service("service", &w.service, None),
            user: r.opt("user", &w.user),
            timeout: r.delay("timeout", &w.timeout, Delay::secs(60)),
            ok_exit: w.ok_exit.clone().unwrap_or_else(|| vec![0]),
        })
    }

    async fn act(&self, env: &ActEnv<'_>, _undo: &mut Vec<Undo>) -> Result<(), String> {
        let (cmd, svc) = (&self.command, &self.service);
        let timeout = self.timeout.time;
        let out = env
            .probe
            .exec(svc, cmd, self.user.as_deref(), timeout, None)
            .await?;
        if out.truncated {
            return Err(format!("`{}` in {svc}: {}", excerpt(cmd), truncated_text()));
        }
        if out.timed_out {
            return Err(format!(
                "`{}` in {svc} did not finish within {}s",
                excerpt(cmd),
                timeout.as_secs()
            ));
        }
        if !self.ok_exit.contains(&out.exit_code) {
            return Err(format!(
                "`{}` in {svc} exited {}: {}",
                excerpt(cmd),
                out.exit_code,
                excerpt(&format!("{}{}", out.stdout, out.stderr))
            ));
        }
        Ok(())
    }
}
