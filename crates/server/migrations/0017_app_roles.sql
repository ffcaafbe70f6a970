-- Application permissions (app roles) granted to an application, by an administrator's consent:
-- a JSON list of short names (`Tenant.Read.All`). Client-credentials tokens carry them in `roles`.
ALTER TABLE service_principals ADD COLUMN app_roles TEXT NOT NULL DEFAULT '[]'
