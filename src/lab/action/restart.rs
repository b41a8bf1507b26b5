//! `restart = "svc"`: restarts the service.

use super::{engine, ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;

#[derive(Debug, Clone)]
pub struct Restart {
    pub service: String,
}

impl Kind for Restart {
    const NAME: &'static str = "restart";

    fn written(w: &ActionDef) -> bool {
        w.restart.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        Some(Restart {
            service: r.target(Self::NAME, w.restart.as_deref()?),
        })
    }

    async fn act(&self, env: &ActEnv<'_>, _undo: &mut Vec<Undo>) -> Result<(), String> {
        engine(env.probe.engine.restart(&env.container(&self.service)?).await)
    }
}
