//! `start = "svc"`: starts the service.

use super::{engine, ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;

#[derive(Debug, Clone)]
pub struct Start {
    pub service: String,
}

impl Kind for Start {
    const NAME: &'static str = "start";

    fn written(w: &ActionDef) -> bool {
        w.start.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        Some(Start {
            service: r.target(Self::NAME, w.start.as_deref()?),
        })
    }

    async fn act(&self, env: &ActEnv<'_>, _undo: &mut Vec<Undo>) -> Result<(), String> {
        engine(env.probe.engine.start(&env.container(&self.service)?).await)
    }
}
