-- GET .../token answers from a per-process cache of decrypted tokens (worker/refresh/token-cache.ts).
-- Every change to what a token read answers notifies every process at the changing transaction's
-- commit, whichever code (or hand-written SQL) made it. PostgreSQL scopes channels to the database.
-- The body's semicolons are written \073: the migration runner splits scripts at every semicolon.
CREATE FUNCTION "ort_notify_token_change"() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN PERFORM pg_notify(''ort_token_changed'', OLD."id"::text)\073 RETURN NULL\073 END';

CREATE TRIGGER "Connection_token_change" AFTER UPDATE ON "Connection" FOR EACH ROW
  WHEN (OLD."accessTokenEnc" IS DISTINCT FROM NEW."accessTokenEnc"
     OR OLD."status" IS DISTINCT FROM NEW."status"
     OR OLD."expiresAt" IS DISTINCT FROM NEW."expiresAt"
     OR OLD."tokenType" IS DISTINCT FROM NEW."tokenType"
     OR OLD."reauthReason" IS DISTINCT FROM NEW."reauthReason"
     OR OLD."version" IS DISTINCT FROM NEW."version"
     OR OLD."id" IS DISTINCT FROM NEW."id")
  EXECUTE FUNCTION "ort_notify_token_change"();

CREATE TRIGGER "Connection_token_delete" AFTER DELETE ON "Connection" FOR EACH ROW
  EXECUTE FUNCTION "ort_notify_token_change"();
