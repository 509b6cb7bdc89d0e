// Package testenv is the environment tests and dev tools run in: the
// repository root, free ports, and what a test does when a program it needs
// (redis-server, initdb, pg_dump) is not installed: on a developer's machine
// it skips, under CI=true it fails, because a skipped check in CI looks like
// a passing one.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// CI reports whether the environment variable CI holds a true value, as CI
// runners set it (and .ci/run exports it).
func CI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// Missing ends the test for want of a prerequisite: Skipf normally, Fatalf
// under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true, so a missing prerequisite fails: "+format, args...)
		return
	}
	t.Skipf(format, args...)
}
