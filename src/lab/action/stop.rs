//! `stop = "svc"`: stops the service (restored: started and waited healthy).

use super::{engine, ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;

#[derive(Debug, Clone)]
pub struct Stop {
    pub service: String,
}

impl Kind for Stop {
    const NAME: &'static str = "stop";

    fn written(w: &ActionDef) -> bool {
        w.stop.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        Some(Stop {
            service: r.target(Self::NAME, w.stop.as_deref()?),
        })
    }

    async fn act(&self, env: &ActEnv<'_>, undo: &mut Vec<Undo>) -> Result<(), String> {
        let id = env.container(&self.service)?;
        engine(env.probe.engine.stop(&id, 5).await)?;
        undo.push(Undo::Start(self.service.clone()));
        Ok(())
    }
}
