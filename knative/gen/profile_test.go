package gen

import (
	"bytes"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bashEnv is the environment a clean bash exports after sourcing script
// with `set -a`, as `make run` does (nil script: bash's own variables).
func bashEnv(t *testing.T, file string) map[string]string {
	t.Helper()
	src := "set -a"
	if file != "" {
		src += ` && source "$1"`
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", src+` && set +a && env -0`, "bash", file)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("bash sourcing %s: %v %s", file, err, stderr.String())
	}
	env := map[string]string{}
	for kv := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// TestProfilesSourceInBash: sourcing each config/*.env in bash sets exactly
// the variables the file names, with the values phonebill reads from it
// (ReadEnvFile, what the manifests carry) — no assignment sent to the
// background by a bare &, no stray variable, nothing run as a command.
func TestProfilesSourceInBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash not found: make run needs it")
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "*.env"))
	if err != nil || len(files) < 3 {
		t.Fatalf("config/*.env: %v %v", files, err)
	}
	base := bashEnv(t, "")
	for _, f := range files {
		vars, err := ReadEnvFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, v := range vars {
			want[v.Key] = v.Value
		}
		got := bashEnv(t, f)
		for k, v := range base {
			if got[k] == v && want[k] == "" {
				delete(got, k)
			}
		}
		delete(got, "_")
		if !maps.Equal(got, want) {
			var diff []string
			keys := maps.Clone(got)
			maps.Copy(keys, want)
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				if got[k] != want[k] {
					diff = append(diff, k+": bash "+quote(got, k)+", phonebill "+quote(want, k))
				}
			}
			t.Errorf("%s sourced in bash differs:\n%s", filepath.Base(f), strings.Join(diff, "\n"))
		}
	}
}

func quote(m map[string]string, k string) string {
	v, ok := m[k]
	if !ok {
		return "unset"
	}
	return "\"" + v + "\""
}
