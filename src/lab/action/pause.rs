//! `pause = "svc"`: freezes the service (restored: unpaused).

use super::{engine, ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;

#[derive(Debug, Clone)]
pub struct Pause {
    pub service: String,
}

impl Kind for Pause {
    const NAME: &'static str = "pause";

    fn written(w: &ActionDef) -> bool {
        w.pause.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        Some(Pause {
            service: r.target(Self::NAME, w.pause.as_deref()?),
        })
    }

    async fn act(&self, env: &ActEnv<'_>, undo: &mut Vec<Undo>) -> Result<(), String> {
        engine(env.probe.engine.pause(&env.container(&self.service)?).await)?;
        undo.push(Undo::Unpause(self.service.clone()));
        Ok(())
    }
}
