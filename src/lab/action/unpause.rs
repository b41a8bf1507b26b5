//! `unpause = "svc"`: thaws the service.

use super::{engine, ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;

#[derive(Debug, Clone)]
pub struct Unpause {
    pub service: String,
}

impl Kind for Unpause {
    const NAME: &'static str = "unpause";

    fn written(w: &ActionDef) -> bool {
        w.unpause.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        Some(Unpause {
            service: r.target(Self::NAME, w.unpause.as_deref()?),
        })
    }

    async fn act(&self, env: &ActEnv<'_>, _undo: &mut Vec<Undo>) -> Result<(), String> {
        engine(env.probe.engine.unpause(&env.container(&self.service)?).await)
    }
}
