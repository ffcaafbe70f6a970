-- pbi-access schema v7: a write generation per tenant, for exact caches of rendered reads.
-- Every write transaction that changes what an admin read shows (workspaces, roles, the
-- directory's names, owners and deletions, artifacts) bumps its tenant's row as its last
-- statement before COMMIT. A cached rendering is served only while the generation read at the
-- start of the request equals the one it was rendered under, so a committed write is visible to
-- every later read, on every instance sharing the database.
CREATE TABLE tenant_generations (
    tenant_id TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
)
