-- At most one plan change per line in flight: a second request while one is
-- REQUESTED, VALIDATED, PROCESSING or PENDING is refused (409
-- CHANGE_IN_PROGRESS) instead of racing the first to KOS. Lines that
-- already hold more than one such row stop the migration with their
-- request ids: which of them KOS applied is for a person to settle.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    dups text;
BEGIN
    SELECT string_agg(line_number || ': ' || ids, '; ') INTO dups FROM (
        SELECT line_number, string_agg(request_id, ', ' ORDER BY id) AS ids
        FROM product_change.pc_product_change_history
        WHERE process_status IN ('REQUESTED', 'VALIDATED', 'PROCESSING', 'PENDING')
        GROUP BY line_number HAVING count(*) > 1) d;
    IF dups IS NOT NULL THEN
        RAISE EXCEPTION 'lines with more than one change in flight must be settled first: %', dups;
    END IF;
END
$$;
-- +goose StatementEnd
CREATE UNIQUE INDEX pc_history_one_in_flight_per_line
    ON product_change.pc_product_change_history (line_number)
    WHERE process_status IN ('REQUESTED', 'VALIDATED', 'PROCESSING', 'PENDING');

-- +goose Down
DROP INDEX IF EXISTS product_change.pc_history_one_in_flight_per_line;
