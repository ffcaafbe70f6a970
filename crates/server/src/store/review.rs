//! Access-review campaigns (schema v13): the frozen snapshot's rows, reviewers per workspace, the
//! append-only decision log and the results of applying it. Review state belongs to no tenant and
//! no cached view, so these writes are plain transactions; a decision locks its campaign's row
//! (`version + 1`) first, so concurrent reviewers extend the hash chain one after another.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::{parse_enum, parse_uuid, Store, StoreResult};
use crate::review::secret_key;
use crate::review::{
    access_key, check_decision, AccessRow, Campaign, CampaignState, CampaignSummary, CurrentDecision, DecisionFilter, DecisionRefusal,
    DecisionRequest, Evidence, Flag, LogEntry, NewCampaign, PendingSignIn, Progress, ResultEntry, ReviewRow, RowQuery, SignedIn, Snapshot,
    Tally, EVIDENCE_FORMAT,
};

const CAMPAIGN_COLUMNS: &str = "id, name, scope, owner, created_at, due_at, lookback_days, snapshot_at, snapshot_hash, admin_calls, \
     row_count, state, previous_id, log_length, log_head";
const ROW_COLUMNS: &str = "row_no, workspace_id, workspace, principal, principal_type, role, via, license_type, user_type, account, \
     last_activity, flags, recommendation, reason, previous_decision, is_new, decision, new_role, decided_by, decided_at, justification";
/// Rows per multi-row INSERT (18 parameters each, well under both backends' limits).
const INSERT_CHUNK: usize = 500;

enum Param {
    Text(String),
    Int(i64),
}

fn campaign_from_row(r: &AnyRow) -> StoreResult<Campaign> {
    let scope: String = r.try_get("scope")?;
    Ok(Campaign {
        id: parse_uuid(&r.try_get::<String, _>("id")?)?,
        name: r.try_get("name")?,
        scope: serde_json::from_str(&scope).map_err(|e| super::StoreError::Corrupt(format!("campaign scope: {e}")))?,
        owner: r.try_get("owner")?,
        created_at: r.try_get("created_at")?,
        due_at: r.try_get("due_at")?,
        lookback_days: r.try_get("lookback_days")?,
        snapshot_at: r.try_get("snapshot_at")?,
        snapshot_hash: r.try_get("snapshot_hash")?,
        admin_calls: r.try_get("admin_calls")?,
        row_count: r.try_get("row_count")?,
        state: parse_enum(&r.try_get::<String, _>("state")?)?,
        previous_id: r.try_get::<Option<String>, _>("previous_id")?.as_deref().map(parse_uuid).transpose()?,
        log_length: r.try_get("log_length")?,
        log_head: r.try_get("log_head")?,
    })
}

fn review_row_from_row(r: &AnyRow) -> StoreResult<ReviewRow> {
    let access = AccessRow {
        workspace_id: parse_uuid(&r.try_get::<String, _>("workspace_id")?)?,
        workspace: r.try_get("workspace")?,
        principal: r.try_get("principal")?,
        principal_type: r.try_get("principal_type")?,
        role: r.try_get("role")?,
        via: r.try_get("via")?,
        license_type: r.try_get("license_type")?,
        user_type: r.try_get("user_type")?,
        account: r.try_get("account")?,
        last_activity: r.try_get("last_activity")?,
    };
    let flags: String = r.try_get("flags")?;
    let current = match r.try_get::<Option<String>, _>("decision")? {
        Some(d) => Some(CurrentDecision {
            decision: parse_enum(&d)?,
            new_role: r.try_get::<Option<String>, _>("new_role")?.as_deref().map(parse_enum).transpose()?,
            by: r.try_get::<Option<String>, _>("decided_by")?.unwrap_or_default(),
            at: r.try_get::<Option<i64>, _>("decided_at")?.unwrap_or_default(),
            justification: r.try_get::<Option<String>, _>("justification")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(ReviewRow {
        row_no: r.try_get("row_no")?,
        access,
        flags: flags.split_whitespace().map(parse_enum).collect::<StoreResult<_>>()?,
        recommendation: parse_enum(&r.try_get::<String, _>("recommendation")?)?,
        reason: r.try_get("reason")?,
        previous_decision: r.try_get("previous_decision")?,
        is_new: r.try_get::<i64, _>("is_new")? != 0,
        current,
    })
}

fn entry_from_row(campaign: Uuid, r: &AnyRow) -> StoreResult<LogEntry> {
    Ok(LogEntry {
        campaign,
        seq: r.try_get("seq")?,
        row: r.try_get("row_no")?,
        reviewer: r.try_get("reviewer")?,
        at: r.try_get("decided_at")?,
        seen: r.try_get("seen")?,
        decision: r.try_get("decision")?,
        new_role: r.try_get("new_role")?,
        justification: r.try_get("justification")?,
        prev: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// `LIKE` pattern matching `text` anywhere, its wildcards escaped (with `ESCAPE '\'`).
fn contains_pattern(text: &str) -> String {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

async fn campaign_in(conn: &mut AnyConnection, id: Uuid) -> StoreResult<Option<Campaign>> {
    let r = sqlx::query(&format!("SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(campaign_from_row).transpose()
}

async fn row_in(conn: &mut AnyConnection, id: Uuid, row_no: i64) -> StoreResult<Option<ReviewRow>> {
    let r = sqlx::query(&format!("SELECT {ROW_COLUMNS} FROM review_rows WHERE campaign_id = $1 AND row_no = $2"))
        .bind(id.to_string())
        .bind(row_no)
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(review_row_from_row).transpose()
}

async fn reviews_in(conn: &mut AnyConnection, id: Uuid, workspace: Uuid, reviewer: &str) -> StoreResult<bool> {
    let r = sqlx::query("SELECT 1 AS one FROM review_reviewers WHERE campaign_id = $1 AND workspace_id = $2 AND reviewer = $3")
        .bind(id.to_string())
        .bind(workspace.to_string())
        .bind(reviewer.trim().to_lowercase())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(r.is_some())
}

impl Store {
    /// The decisions of the latest campaign over `scope_key`, by access key (the delta's input).
    pub async fn previous_review(&self, scope_key: &str) -> StoreResult<Option<(Uuid, HashMap<String, String>)>> {
        let Some(r) = sqlx::query("SELECT id FROM review_campaigns WHERE scope_key = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
            .bind(scope_key)
            .fetch_optional(&self.read)
            .await?
        else {
            return Ok(None);
        };
        let id: String = r.try_get("id")?;
        let rows = sqlx::query("SELECT workspace_id, principal, role, via, decision FROM review_rows WHERE campaign_id = $1")
            .bind(&id)
            .fetch_all(&self.read)
            .await?;
        let mut decisions = HashMap::with_capacity(rows.len());
        for r in rows {
            let ws = parse_uuid(&r.try_get::<String, _>("workspace_id")?)?;
            let key =
                access_key(ws, &r.try_get::<String, _>("principal")?, &r.try_get::<String, _>("role")?, &r.try_get::<String, _>("via")?);
            decisions.insert(key, r.try_get::<Option<String>, _>("decision")?.unwrap_or_else(|| "open".into()));
        }
        Ok(Some((parse_uuid(&id)?, decisions)))
    }

    /// Store a new campaign with its frozen snapshot and reviewers, in one transaction.
    pub async fn create_review_campaign(&self, new: &NewCampaign, snapshot: &Snapshot, previous: Option<Uuid>) -> StoreResult<Campaign> {
        let id = new.id.to_string();
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO review_campaigns (id, name, scope, scope_key, owner, created_at, due_at, lookback_days, snapshot_at, \
             snapshot_hash, admin_calls, row_count, state, previous_id, log_length, log_head, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13, 0, $10, 0)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(new.scope.to_string())
        .bind(new.scope_key())
        .bind(new.owner.trim().to_lowercase())
        .bind(new.created_at)
        .bind(new.due_at)
        .bind(new.lookback_days)
        .bind(new.snapshot_at)
        .bind(&snapshot.hash)
        .bind(new.admin_calls)
        .bind(snapshot.rows.len() as i64)
        .bind(previous.map(|p| p.to_string()))
        .execute(&mut *tx)
        .await?;
        for chunk in snapshot.rows.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO review_rows (campaign_id, row_no, workspace_id, workspace, principal, principal_lower, principal_type, role, \
                 via, license_type, user_type, account, last_activity, flags, recommendation, reason, previous_decision, is_new) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 18;
                let ps: Vec<String> = (1..=18).map(|k| format!("${}", b + k)).collect();
                sql.push_str(if i == 0 { "(" } else { ", (" });
                sql.push_str(&ps.join(", "));
                sql.push(')');
            }
            let mut q = sqlx::query(&sql);
            for r in chunk {
                let a = &r.access;
                let flags: Vec<&str> = r.flags.iter().map(|f| f.as_str()).collect();
                q = q
                    .bind(id.clone())
                    .bind(r.row_no)
                    .bind(a.workspace_id.to_string())
                    .bind(a.workspace.clone())
                    .bind(a.principal.clone())
                    .bind(a.principal.to_lowercase())
                    .bind(a.principal_type.clone())
                    .bind(a.role.clone())
                    .bind(a.via.clone())
                    .bind(a.license_type.clone())
                    .bind(a.user_type.clone())
                    .bind(a.account.clone())
                    .bind(a.last_activity)
                    .bind(format!(" {} ", flags.join(" ")))
                    .bind(r.recommendation.to_string())
                    .bind(r.reason.clone())
                    .bind(r.previous_decision.clone())
                    .bind(r.is_new as i64);
            }
            q.execute(&mut *tx).await?;
        }
        for (ws, reviewers) in &snapshot.reviewers {
            for reviewer in reviewers {
                sqlx::query("INSERT INTO review_reviewers (campaign_id, workspace_id, reviewer) VALUES ($1, $2, $3)")
                    .bind(&id)
                    .bind(ws.to_string())
                    .bind(reviewer)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let campaign = campaign_in(&mut tx, new.id).await?.ok_or_else(|| super::StoreError::Corrupt("campaign vanished".into()))?;
        tx.commit().await?;
        Ok(campaign)
    }

    pub async fn review_campaign(&self, id: Uuid) -> StoreResult<Option<Campaign>> {
        let mut conn = self.read.acquire().await?;
        campaign_in(&mut conn, id).await
    }

    /// Every campaign, newest first.
    pub async fn review_campaigns(&self) -> StoreResult<Vec<Campaign>> {
        let rows = sqlx::query(&format!("SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns ORDER BY created_at DESC, id"))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    pub async fn review_row(&self, id: Uuid, row_no: i64) -> StoreResult<Option<ReviewRow>> {
        let mut conn = self.read.acquire().await?;
        row_in(&mut conn, id, row_no).await
    }

    /// A page of rows in row order after `q.after`, filtered on indexed columns.
    ///
    /// A reviewer's page is read workspace by workspace when they review a few (each an index
    /// range on `(campaign_id, workspace_id, row_no)`, merged by row number): one query with the
    /// reviewer as a subquery lets the planner walk the campaign in row order past every other
    /// workspace's rows, which costs the depth of the reviewer's rows in a large campaign.
    pub async fn review_rows(&self, id: Uuid, q: &RowQuery) -> StoreResult<Vec<ReviewRow>> {
        const FEW: usize = 64;
        let Some(reviewer) = &q.reviewer else {
            return self.review_rows_where(id, q).await;
        };
        let theirs = sqlx::query("SELECT workspace_id FROM review_reviewers WHERE campaign_id = $1 AND reviewer = $2")
            .bind(id.to_string())
            .bind(reviewer.trim().to_lowercase())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| parse_uuid(&r.try_get::<String, _>("workspace_id")?))
            .collect::<StoreResult<Vec<Uuid>>>()?;
        let workspaces: Vec<Uuid> = match q.workspace_id {
            Some(ws) if theirs.contains(&ws) => vec![ws],
            Some(_) => return Ok(Vec::new()),
            None if theirs.len() <= FEW => theirs,
            None => return self.review_rows_where(id, q).await,
        };
        let limit = q.limit.clamp(1, 1000) as usize;
        let mut out = Vec::new();
        for ws in workspaces {
            let one = RowQuery { reviewer: None, workspace_id: Some(ws), ..q.clone() };
            out.extend(self.review_rows_where(id, &one).await?);
        }
        out.sort_by_key(|r| r.row_no);
        out.truncate(limit);
        Ok(out)
    }

    async fn review_rows_where(&self, id: Uuid, q: &RowQuery) -> StoreResult<Vec<ReviewRow>> {
        let mut params = vec![Param::Text(id.to_string()), Param::Int(q.after)];
        let mut sql = format!("SELECT {ROW_COLUMNS} FROM review_rows WHERE campaign_id = $1 AND row_no > $2");
        let mut push = |cond: &str, p: Param, params: &mut Vec<Param>| {
            params.push(p);
            sql.push_str(&cond.replace('?', &format!("${}", params.len())));
        };
        if let Some(reviewer) = &q.reviewer {
            push(
                " AND workspace_id IN (SELECT workspace_id FROM review_reviewers WHERE campaign_id = $1 AND reviewer = ?)",
                Param::Text(reviewer.trim().to_lowercase()),
                &mut params,
            );
        }
        if let Some(ws) = q.workspace_id {
            push(" AND workspace_id = ?", Param::Text(ws.to_string()), &mut params);
        }
        if let Some(flag) = q.flag {
            push(" AND flags LIKE ?", Param::Text(format!("% {} %", flag.as_str())), &mut params);
        }
        match q.decision {
            Some(DecisionFilter::Open) => sql.push_str(" AND decision IS NULL"),
            Some(DecisionFilter::Decided(d)) => push(" AND decision = ?", Param::Text(d.as_str().into()), &mut params),
            None => {}
        }
        if let Some(search) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            params.push(Param::Text(contains_pattern(search)));
            let n = params.len();
            sql.push_str(&format!(" AND (principal_lower LIKE ${n} ESCAPE '\\' OR lower(workspace) LIKE ${n} ESCAPE '\\')"));
        }
        params.push(Param::Int(i64::from(q.limit.clamp(1, 1000))));
        sql.push_str(&format!(" ORDER BY row_no LIMIT ${}", params.len()));
        let mut query = sqlx::query(&sql);
        for p in params {
            query = match p {
                Param::Text(t) => query.bind(t),
                Param::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter().map(review_row_from_row).collect()
    }

    /// Workspace → reviewers of a campaign.
    pub async fn review_reviewers(&self, id: Uuid) -> StoreResult<BTreeMap<Uuid, BTreeSet<String>>> {
        let rows = sqlx::query("SELECT workspace_id, reviewer FROM review_reviewers WHERE campaign_id = $1")
            .bind(id.to_string())
            .fetch_all(&self.read)
            .await?;
        let mut out: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
        for r in rows {
            out.entry(parse_uuid(&r.try_get::<String, _>("workspace_id")?)?).or_default().insert(r.try_get("reviewer")?);
        }
        Ok(out)
    }

    /// Record `requests` by `reviewer` at `now`: all of them, each checked and appended to the
    /// hash-chained log, or none (the first refusal, with its row, and nothing written).
    pub async fn record_review_decisions(
        &self,
        id: Uuid,
        reviewer: &str,
        requests: &[DecisionRequest],
        now: i64,
    ) -> StoreResult<Result<Vec<LogEntry>, (i64, DecisionRefusal)>> {
        let reviewer = reviewer.trim().to_lowercase();
        let mut tx = self.write.begin().await?;
        let locked = sqlx::query("UPDATE review_campaigns SET version = version + 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let campaign = match campaign_in(&mut tx, id).await? {
            Some(c) if locked == 1 => c,
            _ => return Ok(Err((0, DecisionRefusal::NoSuchCampaign))),
        };
        let (mut seq, mut head) = (campaign.log_length, campaign.log_head.clone());
        let mut entries = Vec::with_capacity(requests.len());
        for req in requests {
            let Some(row) = row_in(&mut tx, id, req.row_no).await? else {
                return Ok(Err((req.row_no, DecisionRefusal::NoSuchRow(req.row_no))));
            };
            let reviews = reviews_in(&mut tx, id, row.access.workspace_id, &reviewer).await?;
            if let Err(refusal) = check_decision(campaign.state, campaign.due_at, now, &row, &reviewer, reviews, req) {
                return Ok(Err((req.row_no, refusal)));
            }
            seq += 1;
            let mut entry = LogEntry {
                campaign: id,
                seq,
                row: row.row_no,
                reviewer: reviewer.clone(),
                at: now,
                seen: serde_json::to_string(&row.seen()).expect("seen serialises"),
                decision: req.decision.as_str().into(),
                new_role: req.new_role.map(|r| r.to_string()),
                justification: req.justification.trim().to_string(),
                prev: head.clone(),
                hash: String::new(),
            };
            entry.hash = entry.compute_hash();
            head = entry.hash.clone();
            sqlx::query(
                "INSERT INTO review_decisions (campaign_id, seq, row_no, reviewer, decided_at, seen, decision, new_role, justification, \
                 prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(id.to_string())
            .bind(entry.seq)
            .bind(entry.row)
            .bind(&entry.reviewer)
            .bind(entry.at)
            .bind(&entry.seen)
            .bind(&entry.decision)
            .bind(entry.new_role.clone())
            .bind(&entry.justification)
            .bind(&entry.prev)
            .bind(&entry.hash)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE review_rows SET decision = $3, new_role = $4, decided_by = $5, decided_at = $6, justification = $7 \
                 WHERE campaign_id = $1 AND row_no = $2",
            )
            .bind(id.to_string())
            .bind(entry.row)
            .bind(&entry.decision)
            .bind(entry.new_role.clone())
            .bind(&entry.reviewer)
            .bind(entry.at)
            .bind(&entry.justification)
            .execute(&mut *tx)
            .await?;
            entries.push(entry);
        }
        sqlx::query("UPDATE review_campaigns SET log_length = $2, log_head = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(seq)
            .bind(&head)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(entries))
    }

    /// Set a campaign's state (close, mark applied). False when it does not exist.
    pub async fn set_review_state(&self, id: Uuid, state: CampaignState) -> StoreResult<bool> {
        let n = sqlx::query("UPDATE review_campaigns SET state = $2, version = version + 1 WHERE id = $1")
            .bind(id.to_string())
            .bind(state.as_str())
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Record what applying a row's decision did (the last result wins; an applied result without
    /// a request id keeps the id an earlier run recorded for the same applied change).
    pub async fn record_review_result(&self, id: Uuid, result: &ResultEntry) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        let earlier: Option<String> = match &result.request_id {
            Some(_) => None,
            None => sqlx::query("SELECT request_id FROM review_results WHERE campaign_id = $1 AND row_no = $2 AND outcome = $3")
                .bind(id.to_string())
                .bind(result.row)
                .bind(&result.outcome)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<Option<String>, _>("request_id"))
                .transpose()?
                .flatten(),
        };
        sqlx::query("DELETE FROM review_results WHERE campaign_id = $1 AND row_no = $2")
            .bind(id.to_string())
            .bind(result.row)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO review_results (campaign_id, row_no, outcome, detail, request_id, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id.to_string())
            .bind(result.row)
            .bind(&result.outcome)
            .bind(&result.detail)
            .bind(result.request_id.clone().or(earlier))
            .bind(result.at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Progress per reviewer (their own access left out), per workspace, and per decision.
    pub async fn review_progress(&self, id: Uuid) -> StoreResult<Progress> {
        let id = id.to_string();
        let tally = |rows: Vec<AnyRow>| -> StoreResult<Vec<Tally>> {
            rows.iter()
                .map(|r| Ok(Tally { name: r.try_get("name")?, decided: r.try_get("decided")?, total: r.try_get("total")? }))
                .collect()
        };
        let by_reviewer = sqlx::query(
            "SELECT v.reviewer AS name, COUNT(r.decision) AS decided, COUNT(*) AS total FROM review_reviewers v \
             JOIN review_rows r ON r.campaign_id = v.campaign_id AND r.workspace_id = v.workspace_id \
             WHERE v.campaign_id = $1 AND NOT (r.principal_type = 'User' AND r.principal_lower = v.reviewer) \
             GROUP BY v.reviewer ORDER BY v.reviewer",
        )
        .bind(&id)
        .fetch_all(&self.read)
        .await?;
        let by_workspace = sqlx::query(
            "SELECT workspace AS name, COUNT(decision) AS decided, COUNT(*) AS total FROM review_rows WHERE campaign_id = $1 \
             GROUP BY workspace_id, workspace ORDER BY workspace, workspace_id",
        )
        .bind(&id)
        .fetch_all(&self.read)
        .await?;
        let counts = sqlx::query("SELECT decision, COUNT(*) AS n FROM review_rows WHERE campaign_id = $1 GROUP BY decision")
            .bind(&id)
            .fetch_all(&self.read)
            .await?;
        let mut decisions = BTreeMap::new();
        for r in counts {
            decisions.insert(r.try_get::<Option<String>, _>("decision")?.unwrap_or_else(|| "open".into()), r.try_get::<i64, _>("n")?);
        }
        Ok(Progress { by_reviewer: tally(by_reviewer)?, by_workspace: tally(by_workspace)?, decisions })
    }

    /// Rows per flag in a campaign (flags no row has are left out).
    pub async fn count_review_flags(&self, id: Uuid) -> StoreResult<BTreeMap<Flag, i64>> {
        let mut out = BTreeMap::new();
        for flag in Flag::ALL {
            let r = sqlx::query("SELECT COUNT(*) AS n FROM review_rows WHERE campaign_id = $1 AND flags LIKE $2")
                .bind(id.to_string())
                .bind(format!("% {} %", flag.as_str()))
                .fetch_one(&self.read)
                .await?;
            let n: i64 = r.try_get("n")?;
            if n > 0 {
                out.insert(flag, n);
            }
        }
        Ok(out)
    }

    /// The evidence export: campaign, snapshot facts in row order, the whole log, the results.
    pub async fn review_evidence(&self, id: Uuid) -> StoreResult<Option<Evidence>> {
        let Some(c) = self.review_campaign(id).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(&format!("SELECT {ROW_COLUMNS} FROM review_rows WHERE campaign_id = $1 ORDER BY row_no"))
            .bind(id.to_string())
            .fetch_all(&self.read)
            .await?;
        let rows = rows.iter().map(|r| review_row_from_row(r).map(|r| r.access)).collect::<StoreResult<Vec<_>>>()?;
        let log = sqlx::query(
            "SELECT seq, row_no, reviewer, decided_at, seen, decision, new_role, justification, prev_hash, hash FROM review_decisions \
             WHERE campaign_id = $1 ORDER BY seq",
        )
        .bind(id.to_string())
        .fetch_all(&self.read)
        .await?;
        let decisions = log.iter().map(|r| entry_from_row(id, r)).collect::<StoreResult<Vec<_>>>()?;
        let results =
            sqlx::query("SELECT row_no, outcome, detail, request_id, at FROM review_results WHERE campaign_id = $1 ORDER BY row_no")
                .bind(id.to_string())
                .fetch_all(&self.read)
                .await?;
        let results = results
            .iter()
            .map(|r| {
                Ok(ResultEntry {
                    row: r.try_get("row_no")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                    request_id: r.try_get("request_id")?,
                    at: r.try_get("at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(Evidence {
            format: EVIDENCE_FORMAT.into(),
            head: c.log_head.clone(),
            campaign: CampaignSummary {
                id: c.id,
                name: c.name,
                scope: c.scope,
                owner: c.owner,
                created_at: c.created_at,
                due_at: c.due_at,
                snapshot_at: c.snapshot_at,
                snapshot_hash: c.snapshot_hash,
                admin_calls: c.admin_calls,
                state: c.state.as_str().into(),
            },
            rows,
            decisions,
            results,
        }))
    }
}

/// The activity log as the review app has read it for one tenant: the days read and each user's
/// last activity over them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityDays {
    /// `YYYY-MM-DD` (UTC) days read in full.
    pub days: BTreeSet<String>,
    /// Lower-case UPN → last activity (Unix ms) over those days.
    pub last: HashMap<String, i64>,
}

impl Store {
    /// The days of `tenant`'s activity log read from `since_day` (`YYYY-MM-DD`) on, and each
    /// user's last activity over them.
    pub async fn review_activity(&self, tenant: &str, since_day: &str) -> StoreResult<ActivityDays> {
        let days = sqlx::query("SELECT day FROM review_activity_days WHERE tenant = $1 AND day >= $2")
            .bind(tenant)
            .bind(since_day)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("day"))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let mut last = HashMap::new();
        for r in sqlx::query("SELECT upn, MAX(last_at) AS last_at FROM review_activity WHERE tenant = $1 AND day >= $2 GROUP BY upn")
            .bind(tenant)
            .bind(since_day)
            .fetch_all(&self.read)
            .await?
        {
            last.insert(r.try_get::<String, _>("upn")?, r.try_get::<i64, _>("last_at")?);
        }
        Ok(ActivityDays { days, last })
    }

    /// Record one day of `tenant`'s activity log read in full: each user's last activity on it.
    /// Reading a day again replaces it.
    pub async fn record_review_activity_day(&self, tenant: &str, day: &str, last: &HashMap<String, i64>, now: i64) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM review_activity WHERE tenant = $1 AND day = $2").bind(tenant).bind(day).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM review_activity_days WHERE tenant = $1 AND day = $2").bind(tenant).bind(day).execute(&mut *tx).await?;
        let mut users: BTreeMap<String, i64> = BTreeMap::new();
        for (upn, at) in last {
            let e = users.entry(upn.to_lowercase()).or_insert(*at);
            *e = (*e).max(*at);
        }
        let users: Vec<(String, i64)> = users.into_iter().collect();
        for chunk in users.chunks(INSERT_CHUNK) {
            let mut sql = String::from("INSERT INTO review_activity (tenant, day, upn, last_at) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 4;
                sql.push_str(&format!("{}(${}, ${}, ${}, ${})", if i > 0 { ", " } else { "" }, b + 1, b + 2, b + 3, b + 4));
            }
            let mut q = sqlx::query(&sql);
            for (upn, at) in chunk {
                q = q.bind(tenant).bind(day).bind(upn.clone()).bind(*at);
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO review_activity_days (tenant, day, read_at) VALUES ($1, $2, $3)")
            .bind(tenant)
            .bind(day)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Start a review-app session for the cookie `token` (stored as its SHA-256), and forget the
    /// sessions and sign-ins that have expired.
    pub async fn create_review_session(&self, token: &str, s: &SignedIn, now: i64) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM review_sessions WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM review_signins WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO review_sessions (token_hash, upn, name, is_admin, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(secret_key(token))
        .bind(&s.upn)
        .bind(&s.name)
        .bind(i64::from(s.admin))
        .bind(&s.csrf)
        .bind(now)
        .bind(s.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The person signed in with the cookie `token`, unless the session ended or expired.
    pub async fn review_session(&self, token: &str, now: i64) -> StoreResult<Option<SignedIn>> {
        let r = sqlx::query("SELECT upn, name, is_admin, csrf, expires_at FROM review_sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(secret_key(token))
            .bind(now)
            .fetch_optional(&self.read)
            .await?;
        r.map(|r| {
            Ok(SignedIn {
                upn: r.try_get("upn")?,
                name: r.try_get("name")?,
                admin: r.try_get::<i64, _>("is_admin")? != 0,
                csrf: r.try_get("csrf")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// End the session of the cookie `token` (signing out). Whether there was one.
    pub async fn delete_review_session(&self, token: &str) -> StoreResult<bool> {
        let n = sqlx::query("DELETE FROM review_sessions WHERE token_hash = $1").bind(secret_key(token)).execute(&self.write).await?;
        Ok(n.rows_affected() > 0)
    }

    /// Remember a sign-in under way by its `state` (stored as its SHA-256).
    pub async fn create_review_signin(&self, state: &str, p: &PendingSignIn) -> StoreResult<()> {
        sqlx::query("INSERT INTO review_signins (state_hash, verifier, nonce, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(secret_key(state))
            .bind(&p.verifier)
            .bind(&p.nonce)
            .bind(p.expires_at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Take the sign-in of `state`: once only (a replayed callback finds nothing), and not once expired.
    pub async fn take_review_signin(&self, state: &str, now: i64) -> StoreResult<Option<PendingSignIn>> {
        let key = secret_key(state);
        let mut tx = self.write.begin().await?;
        let r = sqlx::query("SELECT verifier, nonce, expires_at FROM review_signins WHERE state_hash = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
        let taken = sqlx::query("DELETE FROM review_signins WHERE state_hash = $1").bind(&key).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        let Some(r) = r.filter(|_| taken == 1) else { return Ok(None) };
        let p = PendingSignIn { verifier: r.try_get("verifier")?, nonce: r.try_get("nonce")?, expires_at: r.try_get("expires_at")? };
        Ok((p.expires_at > now).then_some(p))
    }
}

impl Store {
    /// One reviewer's progress (their own access left out), read from their workspaces' rows
    /// only: what a queue page shows, at a cost that does not grow with the campaign.
    pub async fn review_reviewer_progress(&self, id: Uuid, reviewer: &str) -> StoreResult<Option<Tally>> {
        let reviewer = reviewer.trim().to_lowercase();
        let r = sqlx::query(
            "SELECT COUNT(r.decision) AS decided, COUNT(*) AS total FROM review_rows r \
             WHERE r.campaign_id = $1 AND r.workspace_id IN \
             (SELECT workspace_id FROM review_reviewers WHERE campaign_id = $1 AND reviewer = $2) \
             AND NOT (r.principal_type = 'User' AND r.principal_lower = $2)",
        )
        .bind(id.to_string())
        .bind(&reviewer)
        .fetch_one(&self.read)
        .await?;
        let total: i64 = r.try_get("total")?;
        Ok((total > 0).then(|| Tally { name: reviewer.clone(), decided: r.try_get("decided").unwrap_or(0), total }))
    }

    /// The workspaces one reviewer reviews in a campaign, by name: each name read from one of
    /// its rows through the workspace index, never by a walk of the campaign.
    pub async fn list_reviewer_workspaces(&self, id: Uuid, reviewer: &str) -> StoreResult<Vec<(Uuid, String)>> {
        let ids = sqlx::query("SELECT workspace_id FROM review_reviewers WHERE campaign_id = $1 AND reviewer = $2")
            .bind(id.to_string())
            .bind(reviewer.trim().to_lowercase())
            .fetch_all(&self.read)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for r in ids {
            let ws: String = r.try_get("workspace_id")?;
            let name =
                sqlx::query("SELECT workspace FROM review_rows WHERE campaign_id = $1 AND workspace_id = $2 ORDER BY row_no LIMIT 1")
                    .bind(id.to_string())
                    .bind(&ws)
                    .fetch_optional(&self.read)
                    .await?;
            if let Some(name) = name {
                out.push((parse_uuid(&ws)?, name.try_get::<String, _>("workspace")?));
            }
        }
        out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }
}
