package testenv

import "testing"

// fakeT records how Missing ended the test.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }

func TestMissingFailsOnlyUnderCI(t *testing.T) {
	for _, c := range []struct {
		ci           string
		skip, failed bool
	}{{"", true, false}, {"false", true, false}, {"true", false, true}, {"1", false, true}} {
		t.Setenv("CI", c.ci)
		f := &fakeT{}
		Missing(f, "redis-server not on PATH")
		if f.skipped != c.skip || f.failed != c.failed {
			t.Errorf("CI=%q: skipped %v failed %v, want %v %v", c.ci, f.skipped, f.failed, c.skip, c.failed)
		}
	}
}
