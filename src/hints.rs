//! Hints: which one a trainee is shown next, and what they cost. In practice hints are only
//! counted; in an assessment (a class's session) each costs the lab's `hint_cost` points, and
//! hints that cannot be counted there are an error, never zero.

use crate::grade::{Grade, Status};
use crate::history::History;
use crate::lab::{Check, Lab};
use crate::session::Session;

#[derive(Debug, thiserror::Error)]
pub enum HintError {
    #[error("history database: {0}")]
    History(#[from] rusqlite::Error),
    #[error("no check `{0}` in {1}")]
    NoCheck(String, String),
    #[error("every hint has been shown")]
    AllShown,
    #[error("check `{0}` has no hint")]
    NoHint(String),
}

/// Takes `hints` hints at `cost` points each off a grading (never below zero) and recomputes
/// its percentage and verdict.
pub fn penalise(g: &mut Grade, hints: u32, cost: u32) {
    g.hints_used = hints;
    g.hint_penalty = hints.saturating_mul(cost).min(g.score);
    g.score -= g.hint_penalty;
    g.percent = if g.total == 0 {
        0.0
    } else {
        f64::from(g.score) * 100.0 / f64::from(g.total)
    };
    g.passed = g.percent >= f64::from(g.pass_mark);
}

/// Counts a session's hints into its grading; an assessment's cost points.
pub fn apply(lab: &Lab, s: &Session, g: &mut Grade) -> Result<(), HintError> {
    let used = History::open().and_then(|h| h.total_hints(&s.id, s.hint_scope()));
    if s.assessed() {
        penalise(g, used?, lab.def.lab.hint_cost);
    } else {
        g.hints_used = used.unwrap_or(0);
    }
    Ok(())
}

/// A hint as shown: its level (1-based), how many the check has, and its text (unrendered).
pub struct Shown<'a> {
    pub check: &'a Check,
    pub level: usize,
    pub count: usize,
    pub text: &'a str,
    /// Hints of this check taken before this one.
    pub taken: usize,
}

/// The check whose hint comes next: the one named, else the first check that did not pass at
/// the session's last grading and still has hints, else the first check with hints left.
pub fn choose<'a>(
    lab: &'a Lab,
    history: &History,
    s: &Session,
    named: Option<&str>,
) -> Result<&'a Check, HintError> {
    if let Some(c) = named {
        return lab
            .checks
            .iter()
            .find(|x| x.id == c)
            .ok_or_else(|| HintError::NoCheck(c.into(), lab.id().into()));
    }
    let scope = s.hint_scope();
    let left =
        |c: &&Check| history.hints_taken(&s.id, scope, &c.id).unwrap_or(0) < c.hints.len() as u32;
    let failing: Vec<String> = history
        .last_grade(&s.id, s.started)
        .map(|g| {
            g.checks
                .into_iter()
                .filter(|o| o.status != Status::Passed)
                .map(|o| o.id)
                .collect()
        })
        .unwrap_or_default();
    lab.checks
        .iter()
        .filter(left)
        .find(|c| failing.contains(&c.id))
        .or_else(|| lab.checks.iter().find(left))
        .ok_or(HintError::AllShown)
}

/// The next hint of `check` in `lang`, without taking it.
pub fn next<'a>(
    history: &History,
    s: &Session,
    check: &'a Check,
    lang: &str,
) -> Result<Shown<'a>, HintError> {
    let taken = history.hints_taken(&s.id, s.hint_scope(), &check.id)? as usize;
    let hints = if lang == "fr" && !check.hints_fr.is_empty() {
        &check.hints_fr
    } else {
        &check.hints
    };
    if hints.is_empty() {
        return Err(HintError::NoHint(check.id.clone()));
    }
    let level = taken.min(hints.len() - 1);
    Ok(Shown {
        check,
        level: level + 1,
        count: hints.len(),
        text: &hints[level],
        taken,
    })
}

/// Records a shown hint as taken (a hint shown again once all are taken costs nothing more).
pub fn take(history: &History, s: &Session, shown: &Shown) -> Result<(), HintError> {
    if shown.taken < shown.count {
        history.take_hint(&s.id, s.hint_scope(), &shown.check.id, shown.level as u32)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grade(score: u32, total: u32, pass_mark: u32) -> Grade {
        Grade {
            schema: crate::grade::SCHEMA.into(),
            lab: "l".into(),
            lab_title: "l".into(),
            definition_hash: String::new(),
            session: "s".into(),
            trainee: "t".into(),
            seed: 0,
            params: serde_json::Value::Null,
            started_at: 0,
            seconds: 0.0,
            score,
            total,
            percent: 0.0,
            pass_mark,
            passed: false,
            checks: Vec::new(),
            measures: Default::default(),
            hints_used: 0,
            hint_penalty: 0,
            reviews: Vec::new(),
        }
    }

    #[test]
    fn a_penalty_never_takes_the_score_below_zero_and_recomputes_the_verdict() {
        let mut g = grade(80, 100, 70);
        penalise(&mut g, 2, 6);
        assert_eq!((g.score, g.hint_penalty, g.passed), (68, 12, false));
        let mut g = grade(5, 10, 0);
        penalise(&mut g, u32::MAX, u32::MAX);
        assert_eq!((g.score, g.hint_penalty, g.passed), (0, 5, true));
    }
}
