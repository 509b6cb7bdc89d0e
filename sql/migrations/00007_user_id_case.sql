-- One identity per user id: ids are unique whatever their case ('ADMIN'
-- cannot be registered beside 'admin'), and login finds an id by its
-- lower-case form. The id alphabet is ASCII ([A-Za-z0-9_-], SPEC §3.1.4),
-- so case is the only way two ids can look alike. Existing ids that differ
-- only in case stop the migration with their names: merging accounts is a
-- decision for a person, not for a migration.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    dups text;
BEGIN
    SELECT string_agg(ids, '; ') INTO dups FROM (
        SELECT string_agg(user_id, ', ' ORDER BY user_id) AS ids
        FROM auth.auth_users GROUP BY lower(user_id) HAVING count(*) > 1) d;
    IF dups IS NOT NULL THEN
        RAISE EXCEPTION 'user ids that differ only in case must be merged first: %', dups;
    END IF;
END
$$;
-- +goose StatementEnd
CREATE UNIQUE INDEX auth_users_user_id_lower_key ON auth.auth_users (lower(user_id));

-- +goose Down
DROP INDEX IF EXISTS auth.auth_users_user_id_lower_key;
