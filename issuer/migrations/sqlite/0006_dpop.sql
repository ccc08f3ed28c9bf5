-- DPoP (RFC 9449): the thumbprint of the key a device session is bound to,
-- if it logged in with a proof. Its tokens carry it as cnf.jkt, and it
-- refreshes only with a proof from that key.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
