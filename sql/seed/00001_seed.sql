-- Seed data of SPEC §6.6 (plus the LGU product of §10.8).
--
-- Idempotent: every insert is ON CONFLICT DO NOTHING, so a second run
-- changes nothing and rows edited since (a changed plan, a new password)
-- are left alone. Bills are relative to the month the seed runs in,
-- Asia/Seoul (§10.2), whatever the session's TimeZone; running it in a later
-- month adds that month's bills, built from each line's current product.
-- Bill and product-change history start empty.

-- Permissions ---------------------------------------------------------------

INSERT INTO auth.auth_permissions (permission_code, permission_name, permission_description, service_code)
VALUES ('BILL_INQUIRY',    '요금 조회',   '요금 조회 서비스 권한', 'BILL_INQUIRY'),
       ('PRODUCT_CHANGE',  '상품 변경',   '상품 변경 서비스 권한', 'PRODUCT_CHANGE'),
       ('ADMIN',           '관리자',      '관리자 권한',           'AUTH'),
       ('USER_MANAGEMENT', '사용자 관리', '사용자 관리 권한',      'AUTH')
ON CONFLICT DO NOTHING;

-- Test accounts -------------------------------------------------------------
-- Hashes are bcrypt, cost 10, one salt per account. Passwords:
-- testuser01/02/03 test1234, admin Admin1234!, developer Dev12345!,
-- tester Test1234!.

INSERT INTO auth.auth_users (user_id, password_hash, user_name, customer_id, line_number, account_status)
VALUES ('testuser01', '$2a$10$Ve/ozx38wQkc2e9AvhVRveChsuUe6jaRsz/CxUo4P7DzZe.S.MWJS', '홍길동', 'CUST001', '010-1234-5678', 'ACTIVE'),
       ('testuser02', '$2a$10$0p1gYwRv9MElM/M2LhnnzuHsZBEGPnKmeOsJ63GjacNA7O3cVeHeO', '김영희', 'CUST002', '010-8765-4321', 'ACTIVE'),
       -- Active account whose line is SUSPENDED at KOS (LINE_STATUS check).
       ('testuser03', '$2a$10$e36R0njclGn.Wes7d3gAgejdNRgqtRfL1phFPjL3pwpJVWwh6s0b6', '이정지', 'CUST003', '010-3333-4444', 'ACTIVE'),
       ('admin',      '$2a$10$r/hQ3fUVFSQrbU8vswhcd.rtE3KgmpaU2YUprt0xeNrtfVEb4W2iK', '관리자', 'CUST900', '010-9000-0001', 'ACTIVE'),
       ('developer',  '$2a$10$sQIxMrhtfD.yse.17meKMup9v6.LSWWnwrK1X4psZd8d54YELs0rK', '개발자', 'CUST901', '010-9000-0002', 'ACTIVE'),
       ('tester',     '$2a$10$gKBVx2yOnvNLCA674sSw2e39BLwamctygXcI.wbRHuEfJnEP69yrq', '테스터', 'CUST902', '010-9000-0003', 'ACTIVE')
ON CONFLICT DO NOTHING;

-- Permission ids are serial, so grants are resolved by code.
INSERT INTO auth.auth_user_permissions (user_id, permission_id, granted, granted_by, granted_at)
SELECT g.user_id, p.permission_id, true, 'SYSTEM', now() AT TIME ZONE 'Asia/Seoul'
FROM (VALUES ('testuser01', 'BILL_INQUIRY'), ('testuser01', 'PRODUCT_CHANGE'),
             ('testuser02', 'BILL_INQUIRY'),
             ('testuser03', 'BILL_INQUIRY'), ('testuser03', 'PRODUCT_CHANGE'),
             ('admin',      'ADMIN'),        ('admin',      'USER_MANAGEMENT'),
             ('admin',      'BILL_INQUIRY'), ('admin',      'PRODUCT_CHANGE'),
             ('developer',  'BILL_INQUIRY'), ('developer',  'PRODUCT_CHANGE'),
             ('tester',     'BILL_INQUIRY'), ('tester',     'PRODUCT_CHANGE')) AS g (user_id, permission_code)
JOIN auth.auth_permissions p USING (permission_code)
JOIN auth.auth_users u USING (user_id)
ON CONFLICT (user_id, permission_id) DO NOTHING;

-- KOS product catalog -------------------------------------------------------
-- The last row is another operator's, so OPERATOR_MATCH can fail (§10.8).

INSERT INTO kos_mock.products (product_code, product_name, monthly_fee, data_allowance, voice_allowance,
                               sms_allowance, operator_code, network_type, status, description)
VALUES ('5G-PREMIUM-001',     '5G 프리미엄 플랜',    89000, '무제한', '무제한', '무제한',    'KT',  '5G',  'ACTIVE',       '5G 네트워크 무제한 프리미엄 요금제'),
       ('5G-STANDARD-001',    '5G 스탠다드 플랜',    69000, '100GB',  '무제한', '무제한',    'KT',  '5G',  'ACTIVE',       '5G 네트워크 스탠다드 요금제'),
       ('LTE-PREMIUM-001',    'LTE 프리미엄 플랜',   59000, '50GB',   '무제한', '무제한',    'KT',  'LTE', 'ACTIVE',       'LTE 네트워크 프리미엄 요금제'),
       ('LTE-BASIC-001',      'LTE 베이직 플랜',     39000, '20GB',   '무제한', '기본 제공', 'KT',  'LTE', 'ACTIVE',       'LTE 네트워크 베이직 요금제'),
       ('3G-OLD-001',         '3G 레거시 플랜',      29000, '5GB',    '500분',  '100건',     'KT',  '3G',  'DISCONTINUED', '3G 네트워크 레거시 요금제 (신규 가입 불가)'),
       ('LG-5G-STANDARD-001', 'LG 5G 스탠다드 플랜', 65000, '110GB',  '무제한', '무제한',    'LGU', '5G',  'ACTIVE',       '타사 5G 요금제 (사업자 불일치 검증용)')
ON CONFLICT DO NOTHING;

-- KOS customers: one line per test account ----------------------------------

INSERT INTO kos_mock.customers (line_number, customer_id, customer_name, operator_code, current_product_code,
                                line_status, contract_date)
VALUES ('01012345678', 'CUST001', '홍길동', 'KT', '5G-STANDARD-001', 'ACTIVE',    '2024-03-15'),
       ('01087654321', 'CUST002', '김영희', 'KT', 'LTE-BASIC-001',   'ACTIVE',    '2023-11-01'),
       ('01033334444', 'CUST003', '이정지', 'KT', 'LTE-PREMIUM-001', 'SUSPENDED', '2024-06-20'),
       ('01090000001', 'CUST900', '관리자', 'KT', '5G-PREMIUM-001',  'ACTIVE',    '2024-01-02'),
       ('01090000002', 'CUST901', '개발자', 'KT', 'LTE-PREMIUM-001', 'ACTIVE',    '2024-01-02'),
       ('01090000003', 'CUST902', '테스터', 'KT', 'LTE-BASIC-001',   'ACTIVE',    '2024-01-02')
ON CONFLICT DO NOTHING;

-- KOS bills: the current month and the 5 before it ---------------------------
-- m = months before the current Seoul month. Product columns come from the
-- line's current product; LTE-PREMIUM lines (50GB) use the capped data
-- figures so no bill shows more data than the plan allows.

INSERT INTO kos_mock.bills (line_number, billing_month, product_code, product_name, monthly_fee, usage_fee,
                            discount_amount, total_fee, data_usage, voice_usage, sms_usage, bill_status, due_date)
SELECT c.line_number,
       to_char(b.month_start, 'YYYYMM'),
       p.product_code,
       p.product_name,
       p.monthly_fee,
       u.usage_fee,
       u.discount_amount,
       p.monthly_fee + u.usage_fee - u.discount_amount,
       CASE WHEN p.product_code = 'LTE-PREMIUM-001' THEN coalesce(u.data_capped, u.data_usage) ELSE u.data_usage END,
       u.voice_usage,
       u.sms_usage,
       'CONFIRMED',
       to_char(b.month_start + interval '1 month', 'YYYYMM') || '25' -- 25th of the following month
FROM (VALUES ('01012345678', 'A'), ('01033334444', 'A'), ('01090000001', 'A'), ('01090000002', 'A'),
             ('01087654321', 'B'), ('01090000003', 'B')) AS l (line_number, pattern)
JOIN (VALUES ('A', 0, 12500, 5000, '45GB', '45GB', '210분', '35건'),
             ('A', 1,  8300, 5000, '38GB', '38GB', '185분', '22건'),
             ('A', 2, 15200, 5000, '61GB', '49GB', '250분', '41건'),
             ('A', 3,  9900,    0, '29GB', '29GB', '160분', '18건'),
             ('A', 4, 11000,    0, '52GB', '48GB', '230분', '27건'),
             ('A', 5,  7600,    0, '33GB', '33GB', '140분', '15건'),
             ('B', 0,  4200,    0, '12GB', NULL,   '95분',  '8건'),
             ('B', 1,  6100,    0, '17GB', NULL,   '120분', '11건'),
             ('B', 2,  3500,    0, '9GB',  NULL,   '80분',  '5건'),
             ('B', 3,  5800,    0, '15GB', NULL,   '110분', '9건'),
             ('B', 4,  2900,    0, '7GB',  NULL,   '70분',  '4건'),
             ('B', 5,  4700,    0, '13GB', NULL,   '100분', '7건'))
     AS u (pattern, m, usage_fee, discount_amount, data_usage, data_capped, voice_usage, sms_usage) USING (pattern)
JOIN kos_mock.customers c ON c.line_number = l.line_number
JOIN kos_mock.products p ON p.product_code = c.current_product_code
CROSS JOIN LATERAL (
    SELECT date_trunc('month', now() AT TIME ZONE 'Asia/Seoul') - make_interval(months => u.m) AS month_start
) AS b
ON CONFLICT (line_number, billing_month) DO NOTHING;
