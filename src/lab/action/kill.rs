//! `kill = "svc"`: sends a signal (KILL unless `signal`) to a running service (restored:
//! started and waited healthy).

use super::{engine, ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;

#[derive(Debug, Clone)]
pub struct Kill {
    pub service: String,
    pub signal: String,
}

impl Kind for Kill {
    const NAME: &'static str = "kill";

    fn written(w: &ActionDef) -> bool {
        w.kill.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        let service = r.target(Self::NAME, w.kill.as_deref()?);
        let signal = r.opt("signal", &w.signal);
        Some(Kill {
            service,
            signal: signal.unwrap_or_else(|| "KILL".into()),
        })
    }

    async fn act(&self, env: &ActEnv<'_>, undo: &mut Vec<Undo>) -> Result<(), String> {
        let id = env.container(&self.service)?;
        let st = engine(env.probe.engine.inspect(&id).await)?;
        if st.running {
            engine(env.probe.engine.kill(&id, &self.signal).await)?;
        }
        undo.push(Undo::Start(self.service.clone()));
        Ok(())
    }
}
