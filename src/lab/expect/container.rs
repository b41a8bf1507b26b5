//! `container = "svc"`: a service's state as the engine inspects it.

use std::time::Duration;

use super::Kind;
use crate::lab::model::ExpectDef;
use crate::lab::resolve::Resolver;
use crate::lab::sight::{seen, ProbeEnv, Seen};

#[derive(Debug, Clone)]
pub struct Container {
    pub service: String,
    pub running: Option<bool>,
    pub healthy: Option<bool>,
    pub restarts_min: Option<i64>,
    pub image: Option<String>,
}

impl Kind for Container {
    const NAME: &'static str = "container";

    fn written(w: &ExpectDef) -> bool {
        w.container.is_some()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        Some(Container {
            service: r.service("container", &w.container, None),
            running: w.running,
            healthy: w.healthy,
            restarts_min: w.restarts_min,
            image: r.opt("image", &w.image),
        })
    }

    fn describe(&self) -> String {
        let mut parts = vec![];
        if let Some(r) = self.running {
            parts.push(if r { "running" } else { "stopped" }.to_string());
        }
        if self.healthy == Some(true) {
            parts.push("healthy".into());
        }
        if let Some(n) = self.restarts_min {
            parts.push(format!("restarted at least {n} times"));
        }
        format!("container {} is {}", self.service, parts.join(", "))
    }

    async fn probe(&self, env: &ProbeEnv<'_>, _timeout: Duration) -> Seen {
        let cid = match env.container(&self.service) {
            Ok(c) => c,
            Err(s) => return seen(false, s),
        };
        let st = match env.engine.inspect(cid).await {
            Err(err) => return seen(false, err.to_string()),
            Ok(st) => st,
        };
        let health = env.engine.health_now(&st).await;
        let mut problems = Vec::new();
        if let Some(r) = self.running {
            if st.running != r {
                problems.push(format!("running is {}", st.running));
            }
        }
        if let Some(h) = self.healthy {
            if (health == "healthy") != h {
                problems.push(format!("health is {health}"));
            }
        }
        if let Some(n) = self.restarts_min {
            if st.restart_count < n {
                problems.push(format!("restarted {} times", st.restart_count));
            }
        }
        if let Some(i) = &self.image {
            if !st.image.contains(i.as_str()) {
                problems.push(format!("image is {}", st.image));
            }
        }
        let text = format!(
            "{} ({}), health {}, {} restarts",
            st.status, st.image, health, st.restart_count
        );
        seen(
            problems.is_empty(),
            if problems.is_empty() {
                text
            } else {
                problems.join(", ")
            },
        )
    }
}
