//! `file = "/path"`: a file of a service read through the engine's archive API (no tool in the
//! container): existence, content, mode and owner.

use std::io::Read;
use std::time::Duration;

use super::Kind;
use crate::backend::OUTPUT_LIMIT;
use crate::lab::model::ExpectDef;
use crate::lab::resolve::Resolver;
use crate::lab::rules::Mode;
use crate::lab::sight::{cut, excerpt, seen, ProbeEnv, Seen};

#[derive(Debug, Clone)]
pub struct File {
    pub path: String,
    pub service: String,
    pub exists: bool,
    pub contains: Option<String>,
    pub regex: Option<regex::Regex>,
    /// As written ("0755", for reports) and its value.
    pub mode: Option<(String, Mode)>,
    pub owner: Option<String>,
}

impl Kind for File {
    const NAME: &'static str = "file";

    fn written(w: &ExpectDef) -> bool {
        w.file.is_some()
    }

    fn resolve(w: &ExpectDef, r: &mut Resolver) -> Option<Self> {
        let path = r.text("file", w.file.as_deref()?);
        let service = r.service("service", &w.service, None);
        let mode = match &w.mode {
            None => None,
            Some(m) => {
                let m = r.text("mode", m);
                Some((m.clone(), r.typed("mode", Mode::parse(&m))?))
            }
        };
        Some(File {
            path,
            service,
            exists: w.exists.unwrap_or(true),
            contains: r.opt("contains", &w.contains),
            regex: r.regex("regex", &w.regex),
            mode,
            owner: r.opt("owner", &w.owner),
        })
    }

    fn describe(&self) -> String {
        let mut s = format!("{} in {}", self.path, self.service);
        if self.exists {
            s.push_str(" exists");
        } else {
            s.push_str(" does not exist");
        }
        if let Some(c) = &self.contains {
            s.push_str(&format!(" containing `{c}`"));
        }
        if let Some((m, _)) = &self.mode {
            s.push_str(&format!(" with mode {m}"));
        }
        if let Some(o) = &self.owner {
            s.push_str(&format!(" owned by {o}"));
        }
        s
    }

    async fn probe(&self, env: &ProbeEnv<'_>, _timeout: Duration) -> Seen {
        let (path, svc) = (&self.path, &self.service);
        let cid = match env.container(svc) {
            Ok(c) => c,
            Err(s) => return seen(false, s),
        };
        let tar = match env.engine.download(cid, path).await {
            Ok(t) => t,
            Err(err) if err.is_not_found() => {
                return seen(!self.exists, format!("{path} does not exist in {svc}"))
            }
            Err(err) => return seen(false, err.to_string()),
        };
        if !self.exists {
            return seen(false, format!("{path} exists in {svc}"));
        }
        let wants_content = self.contains.is_some() || self.regex.is_some();
        let Entry {
            mode,
            uid,
            size,
            content,
        } = match read_entry(&tar.bytes, path, wants_content) {
            Ok(e) => e,
            Err(text) => return seen(false, text),
        };
        // Only the content checks need the content: mode, owner and existence of a large
        // file are still judged.
        if wants_content && size > OUTPUT_LIMIT as u64 {
            return cut(format!("{path} in {svc} ({size} bytes)"));
        }
        let mut problems = self.judge_content(&content, mode);
        if let Some(o) = &self.owner {
            let name = user_name(env, cid, uid).await;
            if name.as_deref() != Some(o.as_str()) && o != &uid.to_string() {
                problems.push(format!(
                    "owner is {}",
                    name.unwrap_or_else(|| uid.to_string())
                ));
            }
        }
        let text = format!(
            "{path}: mode {mode:04o}, uid {uid}, {size} bytes: {}",
            excerpt(&content)
        );
        if problems.is_empty() {
            seen(true, text)
        } else {
            seen(false, format!("{} ({text})", problems.join(", ")))
        }
    }
}

impl File {
    fn judge_content(&self, content: &str, mode: u32) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(c) = &self.contains {
            if !content.contains(c.as_str()) {
                problems.push(format!("content lacks `{c}`"));
            }
        }
        if let Some(r) = &self.regex {
            if !r.is_match(content) {
                problems.push(format!("content does not match /{}/", r.as_str()));
            }
        }
        if let Some((_, m)) = &self.mode {
            if m.0 != mode {
                problems.push(format!("mode is {mode:04o}"));
            }
        }
        problems
    }
}

/// The first entry of an archive the engine gave.
struct Entry {
    mode: u32,
    uid: u64,
    size: u64,
    content: String,
}

/// Err(what was seen instead).
fn read_entry(bytes: &[u8], path: &str, wants_content: bool) -> Result<Entry, String> {
    let mut archive = tar::Archive::new(bytes);
    let Ok(mut entries) = archive.entries() else {
        return Err("unreadable archive".into());
    };
    let Some(Ok(entry)) = entries.next() else {
        return Err(format!("{path} is empty"));
    };
    let header = entry.header().clone();
    let size = entry.size();
    let mut bytes = Vec::new();
    if !wants_content || size <= OUTPUT_LIMIT as u64 {
        let _ = entry.take(OUTPUT_LIMIT as u64).read_to_end(&mut bytes);
    }
    Ok(Entry {
        mode: header.mode().unwrap_or(0) & 0o7777,
        uid: header.uid().unwrap_or(0),
        size,
        content: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// The name of a uid, from the container's /etc/passwd read through the engine.
async fn user_name(env: &ProbeEnv<'_>, cid: &str, uid: u64) -> Option<String> {
    let tar = env.engine.download(cid, "/etc/passwd").await.ok()?;
    let mut archive = tar::Archive::new(tar.bytes.as_slice());
    let entry = archive.entries().ok()?.next()?.ok()?;
    let mut bytes = Vec::new();
    entry
        .take(OUTPUT_LIMIT as u64)
        .read_to_end(&mut bytes)
        .ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
    })
}
