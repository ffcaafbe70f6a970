-- The interactive sign-in flows: the application registration (redirect URIs, public or
-- confidential client, permissions), authorization codes, device codes, and refresh-token
-- families. Codes and tokens are stored by their SHA-256 only, never in plain text.
ALTER TABLE service_principals ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE service_principals ADD COLUMN client_type TEXT NOT NULL DEFAULT 'confidential';
ALTER TABLE service_principals ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';
-- One row per authorization code: single use (`redeemed_at`), bound to the client, the
-- redirect URI and the PKCE challenge; `family_id` names the refresh-token family its tokens
-- start, revoked when the code is presented twice.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    code_challenge TEXT,
    nonce TEXT,
    family_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT
);
CREATE INDEX oauth_codes_expiry ON oauth_codes (tenant_id, expires_at);
-- Device authorization (RFC 8628): the device code by hash, the user code the person types,
-- the user who approved it (NULL while pending), and the last poll for `slow_down`.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    interval_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_polled_at BIGINT,
    user_id TEXT,
    approved_at BIGINT,
    redeemed_at BIGINT
);
CREATE UNIQUE INDEX device_codes_user_code ON device_codes (tenant_id, user_code);
CREATE INDEX device_codes_expiry ON device_codes (tenant_id, expires_at);
-- Refresh-token rotation: every refresh token belongs to a family (one sign-in); each token is
-- redeemed once, and a token redeemed twice revokes its whole family.
CREATE TABLE refresh_families (
    family_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE refresh_tokens (
    token_id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)
