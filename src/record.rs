//! What an assessment records, as plain data: the roster's trainees and the signed results.
//! The class (which writes them) and the reports (which read them) both build on it.

use serde::{Deserialize, Serialize};

use crate::grade::Grade;

/// One trainee of a roster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trainee {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// An assessment result as signed: the grading, and what binds it to one trainee of one class
/// instance on one lab definition, final or not, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassResult {
    pub class: String,
    pub instance: String,
    pub trainee: Trainee,
    pub lab: String,
    pub definition_hash: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub deadline: Option<u64>,
    /// When trainee access ended (final results).
    pub access_ended: Option<u64>,
    pub grading_started: u64,
    pub graded_at: u64,
    pub grade: Grade,
}
