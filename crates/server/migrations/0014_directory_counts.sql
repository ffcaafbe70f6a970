-- pbi-access schema v13: each tenant's count of active (not deleted) users and groups, kept by
-- the writes that create, delete and restore them (and rebuilt by bulk writes), so that Graph's
-- unfiltered `$count` and SCIM's `totalResults` of an unfiltered list read one row instead of
-- counting the tenant. Existing databases get theirs counted here.
ALTER TABLE tenants ADD COLUMN active_users BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN active_groups BIGINT NOT NULL DEFAULT 0;
UPDATE tenants SET
    active_users = (SELECT COUNT(*) FROM users u WHERE u.tenant_id = tenants.id AND u.deleted_at IS NULL),
    active_groups = (SELECT COUNT(*) FROM directory_groups g WHERE g.tenant_id = tenants.id AND g.deleted_at IS NULL)
