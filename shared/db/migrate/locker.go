package migrate

import (
	"github.com/pressly/goose/v3/lock"
)

// migrationLockID is the advisory lock key goose holds while migrating.
const migrationLockID = 4_801_202_611

func mustLocker() lock.SessionLocker {
	l, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
	if err != nil {
		panic(err) // only invalid options fail, and these are constants
	}
	return l
}
