//! `copy = "files/x"`: renders a template of the lab folder (with the session's context) and
//! writes it into a service, with `mode` and `owner`.

use std::time::Duration;

use super::{ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;
use crate::lab::rules::Mode;
use crate::lab::{confine, render};

#[derive(Debug, Clone)]
pub struct Copy {
    /// The template, relative to the lab folder.
    pub file: String,
    pub service: String,
    pub to: String,
    pub mode: Mode,
    pub owner: Option<String>,
}

impl Kind for Copy {
    const NAME: &'static str = "copy";

    fn written(w: &ActionDef) -> bool {
        w.copy.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        let file = w.copy.clone()?;
        r.lab_file("copy", &file);
        let service = r.service("service", &w.service, None);
        let to = r.opt("to", &w.to);
        if to.is_none() {
            r.problem("", "copy needs `to`");
        }
        let mode = match &w.mode {
            None => Some(Mode(0o644)),
            Some(m) => r.typed("mode", Mode::parse(m)),
        };
        Some(Copy {
            file,
            service,
            to: to?,
            mode: mode?,
            owner: r.opt("owner", &w.owner),
        })
    }

    async fn act(&self, env: &ActEnv<'_>, _undo: &mut Vec<Undo>) -> Result<(), String> {
        let path = env.lab_dir.join(&self.file);
        // Inside the lab folder, a regular file, bounded (validation checked it; the folder
        // may have changed since).
        let text = confine::read_inside(env.lab_dir, &self.file, confine::MAX_TEXT_BYTES)
            .map_err(|p| p.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
            .map_err(|err| format!("{}: {err}", path.display()))?;
        let body = render::render(&text, env.session_ctx)?;
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(self.mode.0);
        h.set_cksum();
        b.append_data(&mut h, self.to.trim_start_matches('/'), body.as_bytes())
            .map_err(|e| e.to_string())?;
        let tar = b.into_inner().map_err(|e| e.to_string())?;
        env.probe
            .engine
            .upload(&env.container(&self.service)?, "/", tar)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(o) = &self.owner {
            let argv = ["chown", "--", o.as_str(), self.to.as_str()]
                .map(String::from)
                .to_vec();
            let out = env
                .probe
                .exec_argv(&self.service, argv, None, Duration::from_secs(10), None)
                .await?;
            if out.exit_code != 0 {
                return Err(format!(
                    "chown {o} {}: {}",
                    self.to,
                    crate::text::last_lines(&out.stderr, 3)
                ));
            }
        }
        Ok(())
    }
}
