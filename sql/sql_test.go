package sqlfiles_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Seoul without the host's zoneinfo

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"golang.org/x/crypto/bcrypt"

	sqlfiles "phonebill/sql"
)

// adminURL is the maintenance connection used to create and drop the test
// databases; TEST_DATABASE_URL, then DATABASE_URL, override it.
func adminURL() string {
	for _, k := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if u := os.Getenv(k); u != "" {
			return u
		}
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// dbURL points raw at database name and drops any timezone runtime
// parameter, so a session gets the database's own default.
func dbURL(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse admin url: %v", err)
	}
	u.Path = "/" + name
	q := u.Query()
	for k := range q {
		if k == "timezone" || k == "TimeZone" || k == "options" {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// withParam returns raw with one more query parameter.
func withParam(t *testing.T, raw, k, v string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

// freshDB creates an empty database of its own (dropped when the test ends)
// and returns its URL.
func freshDB(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "sqlfiles_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		t.Fatalf("connect admin: %v", err)
	}
	defer admin.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminURL())
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	return dbURL(t, adminURL(), name)
}

func provider(t *testing.T, db *sql.DB) *goose.Provider {
	t.Helper()
	migrations, err := fs.Sub(sqlfiles.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations)
	if err != nil {
		t.Fatalf("goose provider: %v", err)
	}
	return p
}

func openSQL(t *testing.T, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// migrateUp applies every migration and returns the resulting version.
func migrateUp(t *testing.T, p *goose.Provider) int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("goose up: %v", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		t.Fatalf("goose version: %v", err)
	}
	return v
}

// runSeed executes every seed script the way the application does: each
// file as one multi-statement simple-protocol query.
func runSeed(t *testing.T, c *pgx.Conn) {
	t.Helper()
	names, err := fs.Glob(sqlfiles.Seed, "seed/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("seed files: %v %v", names, err)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := sqlfiles.Seed.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(context.Background(), string(b), pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("seed %s: %v", n, err)
		}
	}
}

func queryInt(t *testing.T, c *pgx.Conn, q string, args ...any) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func schemas(t *testing.T, c *pgx.Conn) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT nspname FROM pg_namespace
		WHERE nspname IN ('auth', 'bill_inquiry', 'product_change', 'kos_mock') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// migrationCount is how many migrations sql/migrations holds.
const migrationCount = 10

var allSchemas = []string{"auth", "bill_inquiry", "kos_mock", "product_change"}

func TestMigrationsUpTwiceDownAndUpAgain(t *testing.T) {
	t.Parallel()
	u := freshDB(t)
	p := provider(t, openSQL(t, u))
	ctx := context.Background()

	v := migrateUp(t, p)
	if v != migrationCount {
		t.Fatalf("version after up = %d, want %d", v, migrationCount)
	}
	res, err := p.Up(ctx)
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	if len(res) != 0 {
		t.Fatalf("second up applied %d migrations, want none", len(res))
	}
	if v2, _ := p.GetDBVersion(ctx); v2 != v {
		t.Fatalf("version after second up = %d, want %d", v2, v)
	}
	c := connect(t, u)
	if got := schemas(t, c); !slices.Equal(got, allSchemas) {
		t.Fatalf("schemas = %v, want %v", got, allSchemas)
	}

	// Every Down undoes its Up, so the whole set can be rolled back and re-applied.
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	if got := schemas(t, c); len(got) != 0 {
		t.Fatalf("schemas after down = %v, want none", got)
	}
	if v := migrateUp(t, p); v != migrationCount {
		t.Fatalf("version after re-up = %d, want %d", v, migrationCount)
	}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	u := freshDB(t)
	migrateUp(t, provider(t, openSQL(t, u)))
	ctx := context.Background()
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(seoul)

	// The first run comes from a session in another zone: the seed's months
	// must still be Seoul's.
	runSeed(t, connect(t, withParam(t, u, "timezone", "Pacific/Honolulu")))
	c := connect(t, u)
	billsDigest := func() string {
		var s string
		if err := c.QueryRow(ctx, `SELECT md5(string_agg(b::text, '|' ORDER BY id)) FROM kos_mock.bills b`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := billsDigest()
	runSeed(t, c)
	if second := billsDigest(); second != first {
		t.Fatal("second seed run changed the bills")
	}

	t.Run("schemas", func(t *testing.T) {
		if got := schemas(t, c); !slices.Equal(got, allSchemas) {
			t.Fatalf("schemas = %v, want %v", got, allSchemas)
		}
	})

	t.Run("row counts", func(t *testing.T) {
		for table, want := range map[string]int{
			"auth.auth_users":                          6,
			"auth.auth_permissions":                    4,
			"auth.auth_user_permissions":               13,
			"kos_mock.products":                        6,
			"kos_mock.customers":                       6,
			"kos_mock.bills":                           36,
			"bill_inquiry.bill_inquiry_history":        0,
			"product_change.pc_product_change_history": 0,
		} {
			if got := queryInt(t, c, "SELECT count(*) FROM "+table); got != want {
				t.Errorf("%s: %d rows, want %d", table, got, want)
			}
		}
	})

	t.Run("permissions", func(t *testing.T) {
		rows, err := c.Query(ctx, `SELECT up.user_id || ':' || p.permission_code || ':' || up.granted_by
			FROM auth.auth_user_permissions up JOIN auth.auth_permissions p USING (permission_id)
			WHERE up.user_id = 'admin' AND up.granted ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"admin:ADMIN:SYSTEM", "admin:BILL_INQUIRY:SYSTEM", "admin:PRODUCT_CHANGE:SYSTEM",
			"admin:USER_MANAGEMENT:SYSTEM"}
		if !slices.Equal(got, want) {
			t.Fatalf("admin permissions = %v, want %v", got, want)
		}
	})

	t.Run("bills", func(t *testing.T) {
		month := func(m int) string { return now.AddDate(0, -m, 1-now.Day()).Format("200601") }
		type bill struct {
			product                            string
			monthly, usage, discount, total    int
			data, voice, sms, status, due, mon string
		}
		read := func(line string, m int) bill {
			var b bill
			err := c.QueryRow(ctx, `SELECT product_code, monthly_fee, usage_fee, discount_amount, total_fee,
				data_usage, voice_usage, sms_usage, bill_status, due_date, billing_month
				FROM kos_mock.bills WHERE line_number = $1 AND billing_month = $2`, line, month(m)).
				Scan(&b.product, &b.monthly, &b.usage, &b.discount, &b.total, &b.data, &b.voice, &b.sms,
					&b.status, &b.due, &b.mon)
			if err != nil {
				t.Fatalf("bill %s %s: %v", line, month(m), err)
			}
			return b
		}

		cur := read("01012345678", 0)
		due := now.AddDate(0, 1, 1-now.Day()).Format("200601") + "25"
		if cur.total != 76500 || cur.discount != 5000 || cur.due != due || cur.product != "5G-STANDARD-001" ||
			cur.monthly != 69000 || cur.usage != 12500 || cur.status != "CONFIRMED" ||
			cur.data != "45GB" || cur.voice != "210분" || cur.sms != "35건" {
			t.Fatalf("testuser01 current bill = %+v, want total 76500, discount 5000, due %s", cur, due)
		}

		wantTotals := map[string][]int{
			"01012345678": {76500, 72300, 79200, 78900, 80000, 76600}, // SPEC §6.6 example
			"01087654321": {43200, 45100, 42500, 44800, 41900, 43700}, // pattern B
			"01090000003": {43200, 45100, 42500, 44800, 41900, 43700},
			"01090000001": {96500, 92300, 99200, 98900, 100000, 96600}, // 5G-PREMIUM 89000
		}
		for line, totals := range wantTotals {
			for m, want := range totals {
				if b := read(line, m); b.total != want {
					t.Errorf("%s m=%d total = %d, want %d", line, m, b.total, want)
				}
			}
		}
		// LTE-PREMIUM lines never exceed the 50GB allowance.
		for _, line := range []string{"01033334444", "01090000002"} {
			for m, want := range []string{"45GB", "38GB", "49GB", "29GB", "48GB", "33GB"} {
				if b := read(line, m); b.data != want || b.product != "LTE-PREMIUM-001" {
					t.Errorf("%s m=%d data = %s (%s), want %s", line, m, b.data, b.product, want)
				}
			}
		}
		if n := queryInt(t, c, `SELECT count(*) FROM kos_mock.bills
			WHERE total_fee <> monthly_fee + usage_fee - discount_amount
			   OR due_date <> to_char(to_date(billing_month, 'YYYYMM') + interval '1 month', 'YYYYMM') || '25'
			   OR bill_status <> 'CONFIRMED'`); n != 0 {
			t.Errorf("%d bills break the fee or due-date rule", n)
		}
		months := queryInt(t, c, `SELECT count(DISTINCT billing_month) FROM kos_mock.bills
			WHERE billing_month BETWEEN $1 AND $2`, month(5), month(0))
		if months != 6 {
			t.Errorf("bills span %d of the 6 recent months", months)
		}
	})

	t.Run("reseed tops up a missing month", func(t *testing.T) {
		cur := now.Format("200601")
		if _, err := c.Exec(ctx, `DELETE FROM kos_mock.bills WHERE billing_month = $1`, cur); err != nil {
			t.Fatal(err)
		}
		// A plan changed since the first run shows in the new month only.
		if _, err := c.Exec(ctx, `UPDATE kos_mock.customers SET current_product_code = '5G-PREMIUM-001'
			WHERE line_number = '01087654321'`); err != nil {
			t.Fatal(err)
		}
		runSeed(t, c)
		if n := queryInt(t, c, `SELECT count(*) FROM kos_mock.bills`); n != 36 {
			t.Fatalf("bills after reseed = %d, want 36", n)
		}
		if n := queryInt(t, c, `SELECT total_fee FROM kos_mock.bills
			WHERE line_number = '01087654321' AND billing_month = $1`, cur); n != 89000+4200 {
			t.Errorf("re-added bill total = %d, want %d", n, 89000+4200)
		}
		if n := queryInt(t, c, `SELECT count(*) FROM kos_mock.customers
			WHERE line_number = '01087654321' AND current_product_code = '5G-PREMIUM-001'`); n != 1 {
			t.Error("reseed reverted an edited customer")
		}
	})

	t.Run("bcrypt hashes", func(t *testing.T) {
		for user, pw := range map[string]string{
			"testuser01": "test1234", "testuser02": "test1234", "testuser03": "test1234",
			"admin": "Admin1234!", "developer": "Dev12345!", "tester": "Test1234!",
		} {
			var hash string
			if err := c.QueryRow(ctx, `SELECT password_hash FROM auth.auth_users WHERE user_id = $1`, user).
				Scan(&hash); err != nil {
				t.Fatalf("%s: %v", user, err)
			}
			if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); err != nil {
				t.Errorf("%s: hash does not match its password: %v", user, err)
			}
			if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != 10 {
				t.Errorf("%s: bcrypt cost %d (%v), want 10", user, cost, err)
			}
		}
	})

	t.Run("database time zone", func(t *testing.T) {
		// A new session, with no timezone parameter, gets the database default.
		var tz string
		if err := connect(t, u).QueryRow(ctx, `SHOW timezone`).Scan(&tz); err != nil {
			t.Fatal(err)
		}
		if tz != "Asia/Seoul" {
			t.Fatalf("timezone = %q, want Asia/Seoul", tz)
		}
	})

	t.Run("line number digits", func(t *testing.T) {
		var digits string
		if err := c.QueryRow(ctx, `SELECT line_number_digits FROM auth.auth_users WHERE user_id = 'testuser01'`).
			Scan(&digits); err != nil {
			t.Fatal(err)
		}
		if digits != "01012345678" {
			t.Fatalf("line_number_digits = %q", digits)
		}
		insert := func(user, customer, line string) error {
			_, err := c.Exec(ctx, `INSERT INTO auth.auth_users (user_id, password_hash, customer_id, line_number)
				VALUES ($1, 'x', $2, $3)`, user, customer, line)
			return err
		}
		wantCode := func(err error, code, constraint string) {
			t.Helper()
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != code || pe.ConstraintName != constraint {
				t.Errorf("err = %v, want %s on %s", err, code, constraint)
			}
		}
		// Another spelling of testuser01's line.
		wantCode(insert("dup1", "CUSTDUP1", "0101234-5678"), "23505", "auth_users_line_number_digits_key")
		wantCode(insert("dup2", "CUSTDUP2", "010-1234-5678"), "23505", "auth_users_line_number_key")
		wantCode(insert("dup3", "CUST001", "010-5555-6666"), "23505", "auth_users_customer_id_key")
		wantCode(insert("bad1", "CUSTBAD1", "010-123-456"), "23514", "auth_users_line_number_check")
		if err := insert("fresh", "CUSTNEW", "010-5555-6666"); err != nil {
			t.Fatalf("insert a new line: %v", err)
		}
		if n := queryInt(t, c, `SELECT count(*) FROM auth.auth_users WHERE line_number_digits = '01055556666'`); n != 1 {
			t.Fatalf("lookup by digits found %d rows", n)
		}
		_, err := c.Exec(ctx, `UPDATE auth.auth_users SET line_number_digits = '01000000000' WHERE user_id = 'fresh'`)
		if err == nil {
			t.Fatal("line_number_digits accepted a direct write")
		}
	})

	t.Run("constraints", func(t *testing.T) {
		for _, q := range []string{
			`INSERT INTO auth.auth_users (user_id, password_hash, customer_id, line_number, account_status)
				VALUES ('st', 'x', 'CUSTST', '010-7777-8888', 'DELETED')`,
			`INSERT INTO kos_mock.bills (line_number, billing_month, bill_status)
				VALUES ('01012345678', '` + now.Format("200601") + `', 'CONFIRMED')`,
			`INSERT INTO kos_mock.bills (line_number, billing_month, bill_status) VALUES ('01099999999', '202401', 'X')`,
			`INSERT INTO kos_mock.customers (line_number, customer_id, operator_code, current_product_code,
				line_status, contract_date) VALUES ('01099999999', 'C', 'KT', 'NO-SUCH-PRODUCT', 'ACTIVE', now())`,
			`INSERT INTO product_change.pc_product_change_history (request_id, line_number, customer_id, user_id,
				current_product_code, target_product_code, process_status) VALUES ('r', 'l', 'c', 'u', 'a', 'b', 'DONE')`,
			`INSERT INTO product_change.idempotency_keys (user_id, key, request_hash, status_code)
				VALUES ('u', 'k', 'h', 200)`,
			`INSERT INTO auth.auth_revoked_tokens (jti, reason, expires_at) VALUES ('j', 'EXPIRED', now())`,
		} {
			if _, err := c.Exec(ctx, q); err == nil {
				t.Errorf("accepted: %s", q)
			}
		}
	})
}

// TestMigrationFilesAnnotated keeps every migration runnable by goose: a file
// without both annotations would be refused at start-up, not at review.
func TestMigrationFilesAnnotated(t *testing.T) {
	names, err := fs.Glob(sqlfiles.Migrations, "migrations/*.sql")
	if err != nil || len(names) != migrationCount {
		t.Fatalf("migrations = %v (%v), want %d files", names, err, migrationCount)
	}
	for i, n := range names {
		b, _ := sqlfiles.Migrations.ReadFile(n)
		s := string(b)
		if want := fmt.Sprintf("migrations/%05d_", i+1); n[:len(want)] != want {
			t.Errorf("%s: want the prefix %s", n, want)
		}
		for _, a := range []string{"-- +goose Up", "-- +goose Down"} {
			if !slices.Contains(strings.Split(s, "\n"), a) {
				t.Errorf("%s: missing %q", n, a)
			}
		}
	}
}

// TestUserIDCaseMigrationGuardsExistingData: 00007 refuses to run over ids
// that differ only in case, naming them, and once applied no such id can
// be added.
func TestUserIDCaseMigrationGuardsExistingData(t *testing.T) {
	t.Parallel()
	u := freshDB(t)
	p := provider(t, openSQL(t, u))
	ctx := context.Background()
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	c := connect(t, u)
	insert := func(id, cust, line string) error {
		_, err := c.Exec(ctx, `INSERT INTO auth.auth_users (user_id, customer_id, line_number, user_name, password_hash)
			VALUES ($1, $2, $3, 'x', 'x')`, id, cust, line)
		return err
	}
	if err := insert("kim01", "C1", "010-1111-0001"); err != nil {
		t.Fatal(err)
	}
	if err := insert("KIM01", "C2", "010-1111-0002"); err != nil {
		t.Fatal(err)
	}
	_, err := p.UpTo(ctx, 7)
	if err == nil || !strings.Contains(err.Error(), "KIM01, kim01") {
		t.Fatalf("00007 over case twins: %v", err)
	}
	if _, err := c.Exec(ctx, `DELETE FROM auth.auth_users WHERE user_id = 'KIM01'`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := insert("Kim01", "C3", "010-1111-0003"); err == nil || !strings.Contains(err.Error(), "auth_users_user_id_lower_key") {
		t.Fatalf("a case twin after 00007: %v", err)
	}
}

// TestOneChangePerLineMigrationGuardsExistingData: 00008 refuses to run
// over a line with two changes in flight, naming their request ids, and
// once applied a second in-flight change of a line is refused while
// finished ones never count.
func TestOneChangePerLineMigrationGuardsExistingData(t *testing.T) {
	t.Parallel()
	u := freshDB(t)
	p := provider(t, openSQL(t, u))
	ctx := context.Background()
	if _, err := p.UpTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	c := connect(t, u)
	insert := func(id, status string) error {
		_, err := c.Exec(ctx, `INSERT INTO product_change.pc_product_change_history (request_id, line_number,
			customer_id, user_id, current_product_code, target_product_code, process_status)
			VALUES ($1, '01012345678', 'C1', 'u1', 'A', 'B', $2)`, id, status)
		return err
	}
	for id, st := range map[string]string{"r-done": "COMPLETED", "r-pending": "PENDING", "r-processing": "PROCESSING"} {
		if err := insert(id, st); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.UpTo(ctx, 8); err == nil || !strings.Contains(err.Error(), "01012345678: r-pending, r-processing") &&
		!strings.Contains(err.Error(), "01012345678: r-processing, r-pending") {
		t.Fatalf("00008 over two in-flight changes: %v", err)
	}
	if _, err := c.Exec(ctx, `UPDATE product_change.pc_product_change_history SET process_status = 'FAILED'
		WHERE request_id = 'r-processing'`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if err := insert("r-new", "REQUESTED"); err == nil || !strings.Contains(err.Error(), "pc_history_one_in_flight_per_line") {
		t.Fatalf("a second in-flight change after 00008: %v", err)
	}
	if err := insert("r-old", "COMPLETED"); err != nil {
		t.Fatalf("a finished change refused: %v", err)
	}
}
