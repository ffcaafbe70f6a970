-- Certificate credentials of service principals: the public certificate only (never a private key),
-- found by its SHA-1 thumbprint (`x5t`) or SHA-256 thumbprint (`x5t#S256`).
CREATE TABLE client_certificates (
    tenant_id TEXT NOT NULL,
    sp_id TEXT NOT NULL,
    id TEXT NOT NULL,
    thumbprint_sha1 TEXT NOT NULL,
    thumbprint_sha256 TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX client_certificates_sp ON client_certificates (tenant_id, sp_id);
