//! The decision log's hash chain and the evidence export an auditor receives.
//!
//! Each log entry's hash is the SHA-256 of its JSON without the hash (fields in declaration
//! order), and its `prev` is the previous entry's hash; the first entry's `prev` is the snapshot
//! hash, itself the SHA-256 of the snapshot's facts. Changing, removing or reordering any decision
//! or row breaks the chain, which `verify` finds.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::{hex, snapshot_hash, AccessRow};

/// One decision in the append-only log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub campaign: Uuid,
    pub seq: i64,
    pub row: i64,
    pub reviewer: String,
    /// Unix ms.
    pub at: i64,
    /// What the reviewer saw (`model::Seen`, as JSON text).
    pub seen: String,
    pub decision: String,
    pub new_role: Option<String>,
    pub justification: String,
    pub prev: String,
    pub hash: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Hashed<'a> {
    campaign: &'a Uuid,
    seq: i64,
    row: i64,
    reviewer: &'a str,
    at: i64,
    seen: &'a str,
    decision: &'a str,
    new_role: &'a Option<String>,
    justification: &'a str,
    prev: &'a str,
}

impl LogEntry {
    /// The hash this entry must carry.
    pub fn compute_hash(&self) -> String {
        let body = Hashed {
            campaign: &self.campaign,
            seq: self.seq,
            row: self.row,
            reviewer: &self.reviewer,
            at: self.at,
            seen: &self.seen,
            decision: &self.decision,
            new_role: &self.new_role,
            justification: &self.justification,
            prev: &self.prev,
        };
        hex(&Sha256::digest(serde_json::to_vec(&body).expect("entries serialise")))
    }
}

/// What applying a decision did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultEntry {
    pub row: i64,
    /// `applied`, `failed`, `notFound`, `notRemovableByApi`.
    pub outcome: String,
    pub detail: String,
    pub request_id: Option<String>,
    pub at: i64,
}

/// The campaign as the evidence file states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignSummary {
    pub id: Uuid,
    pub name: String,
    pub scope: serde_json::Value,
    pub owner: String,
    pub created_at: i64,
    pub due_at: i64,
    pub snapshot_at: i64,
    pub snapshot_hash: String,
    pub admin_calls: i64,
    pub state: String,
}

/// The JSON evidence export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub format: String,
    pub campaign: CampaignSummary,
    /// The snapshot's facts, in row order (row n is `rows[n - 1]`).
    pub rows: Vec<AccessRow>,
    pub decisions: Vec<LogEntry>,
    pub results: Vec<ResultEntry>,
    /// The last entry's hash (the snapshot hash when no decision was made).
    pub head: String,
}

pub const EVIDENCE_FORMAT: &str = "pbi-access-review/1";

/// Why an export does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("unknown format '{0}' (expected {EVIDENCE_FORMAT})")]
    Format(String),
    #[error("the snapshot's rows hash to {actual}, not the recorded {recorded}: a row was changed, added or removed")]
    Snapshot { recorded: String, actual: String },
    #[error("decision {seq} is out of sequence (expected {expected})")]
    Sequence { seq: i64, expected: i64 },
    #[error("decision {seq} belongs to another campaign")]
    Campaign { seq: i64 },
    #[error("decision {seq} names row {row}, which the snapshot does not have")]
    Row { seq: i64, row: i64 },
    #[error("decision {seq} does not follow the one before it: its prev is not that entry's hash")]
    Link { seq: i64 },
    #[error("decision {seq} was changed after it was recorded: its content does not hash to its hash")]
    Tampered { seq: i64 },
    #[error("the head {recorded} is not the last decision's hash {actual}: decisions were removed or added")]
    Head { recorded: String, actual: String },
}

/// What a verified export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub decisions: usize,
    pub rows: usize,
    pub head: String,
}

/// Check an export: the snapshot hash from its rows, then every link of the decision chain.
pub fn verify(e: &Evidence) -> Result<Verified, ChainError> {
    if e.format != EVIDENCE_FORMAT {
        return Err(ChainError::Format(e.format.clone()));
    }
    let actual = snapshot_hash(&e.rows);
    if actual != e.campaign.snapshot_hash {
        return Err(ChainError::Snapshot { recorded: e.campaign.snapshot_hash.clone(), actual });
    }
    let mut prev = e.campaign.snapshot_hash.clone();
    for (i, d) in e.decisions.iter().enumerate() {
        let expected = i as i64 + 1;
        if d.seq != expected {
            return Err(ChainError::Sequence { seq: d.seq, expected });
        }
        if d.campaign != e.campaign.id {
            return Err(ChainError::Campaign { seq: d.seq });
        }
        if d.row < 1 || d.row as usize > e.rows.len() {
            return Err(ChainError::Row { seq: d.seq, row: d.row });
        }
        if d.prev != prev {
            return Err(ChainError::Link { seq: d.seq });
        }
        if d.compute_hash() != d.hash {
            return Err(ChainError::Tampered { seq: d.seq });
        }
        prev = d.hash.clone();
    }
    if e.head != prev {
        return Err(ChainError::Head { recorded: e.head.clone(), actual: prev });
    }
    Ok(Verified { decisions: e.decisions.len(), rows: e.rows.len(), head: prev })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(decisions: usize) -> Evidence {
        let rows: Vec<AccessRow> = (0..3)
            .map(|i| AccessRow {
                workspace_id: Uuid::from_u128(9),
                workspace: "Sales".into(),
                principal: format!("user{i}@contoso.com"),
                principal_type: "User".into(),
                role: "Viewer".into(),
                via: "direct".into(),
                license_type: "Pro".into(),
                user_type: "Member".into(),
                account: "enabled".into(),
                last_activity: None,
            })
            .collect();
        let hash = snapshot_hash(&rows);
        let id = Uuid::from_u128(7);
        let mut prev = hash.clone();
        let mut log = Vec::new();
        for seq in 1..=decisions as i64 {
            let mut e = LogEntry {
                campaign: id,
                seq,
                row: seq,
                reviewer: "dave@contoso.com".into(),
                at: 1_000 + seq,
                seen: "{}".into(),
                decision: "Revoke".into(),
                new_role: None,
                justification: "left".into(),
                prev: prev.clone(),
                hash: String::new(),
            };
            e.hash = e.compute_hash();
            prev = e.hash.clone();
            log.push(e);
        }
        Evidence {
            format: EVIDENCE_FORMAT.into(),
            campaign: CampaignSummary {
                id,
                name: "Q4".into(),
                scope: serde_json::json!({"all": true}),
                owner: "admin@contoso.com".into(),
                created_at: 0,
                due_at: 10,
                snapshot_at: 0,
                snapshot_hash: hash,
                admin_calls: 3,
                state: "open".into(),
            },
            rows,
            decisions: log,
            results: vec![],
            head: prev,
        }
    }

    #[test]
    fn an_intact_export_verifies() {
        assert_eq!(verify(&evidence(3)).unwrap().decisions, 3);
        assert_eq!(verify(&evidence(0)).unwrap().head, evidence(0).campaign.snapshot_hash);
    }

    #[test]
    fn every_kind_of_tampering_is_found() {
        let mut e = evidence(3);
        e.decisions[1].justification = "changed".into();
        assert_eq!(verify(&e), Err(ChainError::Tampered { seq: 2 }));

        let mut e = evidence(3);
        e.decisions[1].hash = e.decisions[1].compute_hash();
        e.decisions[1].decision = "Keep".into();
        e.decisions[1].hash = e.decisions[1].compute_hash();
        assert_eq!(verify(&e), Err(ChainError::Link { seq: 3 }), "a re-hashed entry breaks the next link");

        let mut e = evidence(3);
        e.decisions.pop();
        assert!(matches!(verify(&e), Err(ChainError::Head { .. })));

        let mut e = evidence(3);
        e.decisions.remove(0);
        assert!(matches!(verify(&e), Err(ChainError::Sequence { seq: 2, expected: 1 })));

        let mut e = evidence(3);
        e.rows[0].role = "Admin".into();
        assert!(matches!(verify(&e), Err(ChainError::Snapshot { .. })));

        let mut e = evidence(1);
        e.decisions[0].row = 9;
        assert_eq!(verify(&e), Err(ChainError::Row { seq: 1, row: 9 }));
    }
}
