//! Gradings and hints kept in an embedded SQLite database under the user's data directory.

use std::path::PathBuf;

use rusqlite::{params, Connection};

use crate::grade::Grade;

pub struct History {
    conn: Connection,
}

#[derive(Debug, serde::Serialize)]
pub struct Attempt {
    pub at: u64,
    pub lab: String,
    pub session: String,
    pub trainee: String,
    pub score: u32,
    pub total: u32,
    pub passed: bool,
    pub seconds: f64,
}

impl History {
    pub fn path() -> PathBuf {
        crate::project::data_dir().join("history.sqlite")
    }

    pub fn open() -> rusqlite::Result<History> {
        let path = History::path();
        if let Some(d) = path.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS attempts (
                 id INTEGER PRIMARY KEY, at INTEGER NOT NULL, lab TEXT NOT NULL, session TEXT NOT NULL,
                 trainee TEXT NOT NULL, score INTEGER NOT NULL, total INTEGER NOT NULL,
                 passed INTEGER NOT NULL, seconds REAL NOT NULL, result TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS hints (
                 id INTEGER PRIMARY KEY, at INTEGER NOT NULL, session TEXT NOT NULL,
                 started INTEGER NOT NULL, check_id TEXT NOT NULL, level INTEGER NOT NULL);",
        )?;
        Ok(History { conn })
    }

    pub fn record(&self, g: &Grade) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO attempts (at, lab, session, trainee, score, total, passed, seconds, result)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                g.started_at as i64,
                g.lab,
                g.session,
                g.trainee,
                g.score,
                g.total,
                g.passed,
                g.seconds,
                serde_json::to_string(g).unwrap_or_default()
            ],
        )?;
        Ok(())
    }

    pub fn recent(&self, limit: u32) -> rusqlite::Result<Vec<Attempt>> {
        let mut st = self.conn.prepare(
            "SELECT at, lab, session, trainee, score, total, passed, seconds FROM attempts ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map(params![limit], |r| {
            Ok(Attempt {
                at: r.get::<_, i64>(0)? as u64,
                lab: r.get(1)?,
                session: r.get(2)?,
                trainee: r.get(3)?,
                score: r.get(4)?,
                total: r.get(5)?,
                passed: r.get(6)?,
                seconds: r.get(7)?,
            })
        })?;
        rows.collect()
    }

    /// The last grading recorded for a session since it started.
    pub fn last_grade(&self, session: &str, started: u64) -> Option<Grade> {
        self.conn
            .query_row(
                "SELECT result FROM attempts WHERE session = ?1 AND at >= ?2 ORDER BY id DESC LIMIT 1",
                params![session, started as i64],
                |r| r.get::<_, String>(0),
            )
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    }

    /// Hints taken in this run of the session (identified by its start time) for a check.
    pub fn hints_taken(&self, session: &str, started: u64, check: &str) -> rusqlite::Result<u32> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM hints WHERE session = ?1 AND started = ?2 AND check_id = ?3",
            params![session, started as i64, check],
            |r| r.get(0),
        )
    }

    pub fn total_hints(&self, session: &str, started: u64) -> rusqlite::Result<u32> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM hints WHERE session = ?1 AND started = ?2",
            params![session, started as i64],
            |r| r.get(0),
        )
    }

    pub fn take_hint(
        &self,
        session: &str,
        started: u64,
        check: &str,
        level: u32,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO hints (at, session, started, check_id, level) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                crate::session::now() as i64,
                session,
                started as i64,
                check,
                level
            ],
        )?;
        Ok(())
    }
}
