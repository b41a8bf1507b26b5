//! `connect = "svc"`, `network = "..."`: connects the service to a network, with its alias.

use super::{engine, network, ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;

#[derive(Debug, Clone)]
pub struct Connect {
    pub service: String,
    pub network: String,
}

impl Kind for Connect {
    const NAME: &'static str = "connect";

    fn written(w: &ActionDef) -> bool {
        w.connect.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        let service = r.target(Self::NAME, w.connect.as_deref()?);
        Some(Connect {
            service,
            network: network(w, r)?,
        })
    }

    async fn act(&self, env: &ActEnv<'_>, _undo: &mut Vec<Undo>) -> Result<(), String> {
        let net = env.network(&self.network);
        let id = env.container(&self.service)?;
        engine(
            env.probe
                .engine
                .connect_network(&id, &net, vec![self.service.clone()])
                .await,
        )
    }
}
