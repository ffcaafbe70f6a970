-- pbi-access schema v6: the admin audit surface. Scanner (WorkspaceInfo) scans, and the indexes
-- the admin reads page on.
-- A scan: the workspaces it covers and its flags (request_json), its result computed when it
-- was requested (result_json, a WorkspaceInfoResponse), and when it counts as Succeeded
-- (ready_at, on the injected clock). Results are kept 24 hours after ready_at.
CREATE TABLE scans (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ready_at BIGINT NOT NULL,
    request_json TEXT NOT NULL,
    result_json TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX scans_ready ON scans (tenant_id, ready_at);
-- GET /admin/groups pages every workspace of a tenant by name, deleted ones included.
CREATE INDEX workspaces_tenant_name ON workspaces (tenant_id, name_lower, id);
-- GET /admin/workspaces/modified.
CREATE INDEX workspaces_tenant_modified ON workspaces (tenant_id, modified_at);
-- Access through a Microsoft 365 group backing a workspace, read by artifact access.
CREATE INDEX workspaces_backing_group ON workspaces (backing_group_id);
-- Artifact access starts from the user's principals: their capacity rights.
CREATE INDEX capacity_users_principal ON capacity_users (principal_id, capacity_id);
-- Memberships walk from a member to its groups: covering, so SQLite prefers it to the primary
-- key (which it would otherwise scan for the whole tenant).
CREATE INDEX group_members_member_group ON group_members (tenant_id, member_id, group_id);
-- Whether a workspace has an Admin (its Orphaned state, users/any(…) filters): one probe.
CREATE INDEX workspace_members_role ON workspace_members (workspace_id, role, profile_id)
