package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// FreePort returns a loopback port nobody listens on right now, for a
// process that must be told its port before it starts.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot walks up from dir to the folder holding go.work: the repository's
// root, where the generator, the benchmarks and tests find docs/, config/ and
// the function folders.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above %s", dir)
		}
		dir = parent
	}
}
