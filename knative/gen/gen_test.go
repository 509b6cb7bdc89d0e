package gen

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"phonebill/shared/fn"
)

func TestPathRegex(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"/api/v1/users", []string{"/api/v1/users"}, []string{"/api/v1/users/", "/api/v1/users/x", "/api/v1/usersx"}},
		{"/api/v1/users/{userId}", []string{"/api/v1/users/u1"}, []string{"/api/v1/users/", "/api/v1/users/u1/permissions"}},
		{"/api/v1/users/{userId}/permissions/{code}/grant", []string{"/api/v1/users/a/permissions/B/grant"}, []string{"/api/v1/users/a/permissions/B"}},
		{"/files/{rest...}", []string{"/files/a/b/c"}, []string{"/file"}},
		{"/tree/", []string{"/tree/", "/tree/x/y"}, []string{"/tree"}},
		{"/exact/{$}", []string{"/exact/"}, []string{"/exact/x"}},
		{"/a.b/c+d", []string{"/a.b/c+d"}, []string{"/aXb/c+d", "/a.b/cd"}},
	}
	for _, c := range cases {
		re := regexp.MustCompile("^" + PathRegex(c.pattern))
		for _, p := range c.match {
			if !re.MatchString(p) {
				t.Errorf("PathRegex(%q) = %q does not match %q", c.pattern, PathRegex(c.pattern), p)
			}
		}
		for _, p := range c.miss {
			if re.MatchString(p) {
				t.Errorf("PathRegex(%q) = %q matches %q", c.pattern, PathRegex(c.pattern), p)
			}
		}
	}
}

func TestFunctionsReportsTableProblems(t *testing.T) {
	t.Parallel()
	svc := fn.Service{Name: "demo", Prefixes: []string{"/api/v1/demo"}, HealthPath: "/api/v1/demo/health", Routes: []fn.Route{
		{Name: "demo-get", Method: "GET", Path: "/api/v1/demo/{id}"},
		{Name: "demo-event", EventType: "x.v1", DeadLetter: true},
		{Name: "demo-lost", Method: "GET", Path: "/api/v1/demo/lost"},
		{Name: "demo-twice", Method: "GET", Path: "/api/v1/demo/twice"},
	}}
	mains := map[string][]string{"demo-get": {"functions/demo/get"}, "demo-twice": {"functions/demo/a", "functions/demo/b"}}
	fns, err := Functions([]fn.Service{svc}, mains)
	if err == nil {
		t.Fatal("no error for a table with problems")
	}
	for _, want := range []string{`"demo-event" is more than one`, `"demo-lost" has no folder`, `"demo-twice" has 2 folders`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(fns) == 0 || !fns[0].Home || fns[0].Dir != "functions/demo/get" {
		t.Fatalf("first function %+v, want the home function in functions/demo/get", fns[0])
	}
	want := []string{"/api/v1/demo/health$", "/api/v1/demo$", "/api/v1/demo/"}
	if got := IngressPaths(fns[0]); strings.Join(got, " ") != "/api/v1/demo/[^/]+$ "+strings.Join(want, " ") {
		t.Errorf("IngressPaths = %v", got)
	}
}

func TestScanMainsFindsFnMain(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(rel, src string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("functions/demo/get/main.go", `package main
import ("example/demo"; "phonebill/shared/fn")
func main() { fn.Main(demo.Service(), "demo-get") }`)
	write("functions/demo/other/main.go", `package main
func main() { other.Main(x, "not-a-function") }`)
	got, err := ScanMains(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got["demo-get"]) != 1 || got["demo-get"][0] != "functions/demo/get" {
		t.Errorf("ScanMains = %v", got)
	}
}

func TestReadEnvFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "x.env")
	for src, want := range map[string]string{
		"A=1\n# c\n\nB='two words'\n": "",
		"A=1\nA=2\n":                  "set twice",
		"just text\n":                 "want KEY=VALUE",
		"A=\"quoted\"\n":              "wrap the value in single quotes",
		"A=x&y=z\n":                   "wrap the value in single quotes",
		"A=two words\n":               "wrap the value in single quotes",
		"A='it's'\n":                  "cannot hold a single quote",
	} {
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		vars, err := ReadEnvFile(p)
		switch {
		case want == "" && (err != nil || len(vars) != 2 || vars[1].Value != "two words"):
			t.Errorf("%q: %v %v", src, vars, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
	common, kos := SplitConfig([]EnvVar{{"KOS_MOCK_SEED", "1"}, {"LOG_LEVEL", "info"}})
	if kos["KOS_MOCK_SEED"] != "1" || common["LOG_LEVEL"] != "info" || len(common) != 1 || len(kos) != 1 {
		t.Errorf("SplitConfig = %v %v", common, kos)
	}
}
