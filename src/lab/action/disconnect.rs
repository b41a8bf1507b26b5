//! `disconnect = "svc"`, `network = "..."`: cuts the service from a network (restored:
//! reconnected with its alias).

use super::{engine, network, ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;

#[derive(Debug, Clone)]
pub struct Disconnect {
    pub service: String,
    pub network: String,
}

impl Kind for Disconnect {
    const NAME: &'static str = "disconnect";

    fn written(w: &ActionDef) -> bool {
        w.disconnect.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        let service = r.target(Self::NAME, w.disconnect.as_deref()?);
        Some(Disconnect {
            service,
            network: network(w, r)?,
        })
    }

    async fn act(&self, env: &ActEnv<'_>, undo: &mut Vec<Undo>) -> Result<(), String> {
        let net = env.network(&self.network);
        let id = env.container(&self.service)?;
        engine(env.probe.engine.disconnect(&id, &net).await)?;
        undo.push(Undo::Connect(self.service.clone(), net));
        Ok(())
    }
}
