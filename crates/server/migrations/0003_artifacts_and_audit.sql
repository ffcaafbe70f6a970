-- pbi-access schema v3: capacities, artifacts inside workspaces, direct artifact permissions,
-- subscriptions and the activity log (the admin audit surface).
CREATE TABLE capacities (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    sku TEXT NOT NULL,
    region TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'Active',
    created_at BIGINT NOT NULL
);
CREATE INDEX capacities_tenant ON capacities (tenant_id);
-- access_right: Admin or Assign.
CREATE TABLE capacity_users (
    capacity_id TEXT NOT NULL REFERENCES capacities(id),
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    access_right TEXT NOT NULL,
    PRIMARY KEY (capacity_id, principal_id)
);
-- kind: Dataset, Report, PaginatedReport, Dashboard, Dataflow, Workbook, App, Datamart.
-- dataset_id links a report to its dataset, extra_json holds kind-specific fields.
CREATE TABLE artifacts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    dataset_id TEXT,
    configured_by TEXT,
    extra_json TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX artifacts_workspace ON artifacts (workspace_id, kind, id);
CREATE INDEX artifacts_tenant ON artifacts (tenant_id, kind, id);
-- Direct permissions on an artifact (sharing, dataset permissions, app audiences).
-- access_right uses the artifact kind's own enum (ReportUserAccessRight, DatasetUserAccessRight, …).
CREATE TABLE artifact_permissions (
    artifact_id TEXT NOT NULL REFERENCES artifacts(id),
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    access_right TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (artifact_id, principal_id)
);
CREATE INDEX artifact_permissions_principal ON artifact_permissions (principal_id, artifact_id);
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    artifact_id TEXT NOT NULL REFERENCES artifacts(id),
    owner_id TEXT NOT NULL,
    title TEXT NOT NULL,
    frequency TEXT NOT NULL,
    is_enabled BIGINT NOT NULL DEFAULT 1,
    start_date BIGINT NOT NULL,
    end_date BIGINT NOT NULL,
    attachment_format TEXT NOT NULL DEFAULT 'PNG',
    sub_artifact_name TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_owner ON subscriptions (tenant_id, owner_id, id);
-- The activity log: one row per event, the event itself as PascalCase JSON. Paged by
-- (creation_time, id), 30 days kept.
CREATE TABLE activity_events (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    activity TEXT NOT NULL,
    user_id TEXT NOT NULL,
    event_json TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX activity_events_time ON activity_events (tenant_id, creation_time, id)
