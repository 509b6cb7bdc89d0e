-- A change that fails for a system reason (KOS unreachable during the
-- pre-checks) records KOS_SERVICE_UNAVAILABLE, not VALIDATION_FAILED: the
-- result code column must hold that 23-character code.

-- +goose Up
ALTER TABLE product_change.pc_product_change_history ALTER COLUMN result_code TYPE VARCHAR(30);

-- +goose Down
UPDATE product_change.pc_product_change_history SET result_code = left(result_code, 20) WHERE length(result_code) > 20;
ALTER TABLE product_change.pc_product_change_history ALTER COLUMN result_code TYPE VARCHAR(20);
