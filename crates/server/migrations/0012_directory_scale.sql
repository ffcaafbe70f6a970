-- pbi-access schema v10: directory reads whose cost does not grow with the tenant.
-- Indexes for every attribute Graph and SCIM filter on (each ends with `id`, the keyset order),
-- and the materialised licence state: one row per (user, SKU) the user is assigned directly or
-- through a group, with whether it holds a seat ('Active') or is waiting for one
-- ('CountViolation'), and each SKU's seats in use kept on `subscribed_skus`.
CREATE INDEX users_display ON users (tenant_id, lower(display_name), id);
CREATE INDEX users_enabled ON users (tenant_id, account_enabled, id);
CREATE INDEX users_type ON users (tenant_id, lower(user_type), id);
CREATE INDEX users_deleted ON users (tenant_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX users_external_id ON users (tenant_id, external_id, id);
CREATE INDEX users_mail_id ON users (tenant_id, mail_lower, id);
ALTER TABLE subscribed_skus ADD COLUMN consumed_units BIGINT NOT NULL DEFAULT 0;
CREATE TABLE user_licenses (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    direct BIGINT NOT NULL,
    -- the directly licensed groups it comes through, comma-separated ids
    via_groups TEXT NOT NULL,
    since BIGINT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, sku_id)
);
CREATE INDEX user_licenses_sku ON user_licenses (tenant_id, sku_id, state);
-- 0 until the tenant's licence state has been computed from its assignments (existing
-- databases, bulk imports); the store computes it once, then keeps it up to date per write.
ALTER TABLE tenants ADD COLUMN licences_built BIGINT NOT NULL DEFAULT 0
