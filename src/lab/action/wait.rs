//! `wait = "5s"`: sleeps.

use super::{ActEnv, Kind, Undo};
use crate::lab::model::ActionDef;
use crate::lab::resolve::Resolver;
use crate::lab::rules::Delay;

#[derive(Debug, Clone)]
pub struct Wait {
    pub time: Delay,
}

impl Kind for Wait {
    const NAME: &'static str = "wait";

    fn written(w: &ActionDef) -> bool {
        w.wait.is_some()
    }

    fn resolve(w: &ActionDef, r: &mut Resolver) -> Option<Self> {
        Some(Wait {
            time: r.delay("wait", &w.wait, Delay::secs(1)),
        })
    }

    async fn act(&self, _env: &ActEnv<'_>, _undo: &mut Vec<Undo>) -> Result<(), String> {
        tokio::time::sleep(self.time.time).await;
        Ok(())
    }
}
