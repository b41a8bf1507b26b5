//! `port = 8080`: a TCP connection from the grader container (bash's /dev/tcp), nothing else.
//! `port` beside `prometheus`, `alertmanager` or `inbox` is where that API listens instead.

use std::time::Duration;

use super::Kind;
use crate::lab::model::ExpectDef;
use crate::lab::resolve::Resolver;
use crate::lab::rules;
use crate::lab::sight::{seen, ProbeEnv, Seen};

#[derive(Debug, Clone)]
pub struct Port {
    pub port: rules::Port,
    pub service: String,
    pub open: bool,
}

/// The `port` of a prometheus, alertmanager or inbox probe: where its API listens.
pub fn api_port(w: &ExpectDef, r: &mut Resolver, default: u16) -> Option<rules::Port> {
    match w.port {
        None => Some(rules::Port(default)),
        Some(p) => r.typed("port", rules::Port::new(i64::from(p))),
    }
}

impl Kind for Port {
    const NAME: &'static str = "port";

    fn written(w: &ExpectDef) -> bool {
        w.port.is_some() && w.prometheus.is_none() && w.alertmanager.is_none() && w.inbox.is_none()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        let port = api_port(w, r, 0);
        let service = r.service("service", &w.service, None);
        Some(Port {
            port: port?,
            service,
            open: w.open.unwrap_or(true),
        })
    }

    fn describe(&self) -> String {
        format!(
            "{}:{} is {}",
            self.service,
            self.port,
            if self.open { "open" } else { "closed" }
        )
    }

    async fn probe(&self, env: &ProbeEnv<'_>, _timeout: Duration) -> Seen {
        let (svc, port) = (&self.service, self.port);
        let argv = vec![
            "bash".to_string(),
            "-c".into(),
            "exec 3<>\"/dev/tcp/$0/$1\"".into(),
            svc.clone(),
            port.to_string(),
        ];
        let cid = match env.container(crate::lab::GRADER) {
            Ok(c) => c,
            Err(s) => return seen(false, s),
        };
        match env
            .engine
            .exec(cid, argv, None, Duration::from_secs(3), None)
            .await
        {
            Err(err) => seen(false, err.to_string()),
            Ok(out) => {
                let open = out.exit_code == 0;
                let text = if open {
                    format!("{svc}:{port} accepts connections")
                } else if out.timed_out {
                    format!("{svc}:{port} does not answer")
                } else {
                    format!("{svc}:{port} refuses connections")
                };
                seen(open == self.open, text)
            }
        }
    }
}
