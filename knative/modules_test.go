package knative

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"phonebill/shared/testenv"
)

// toolingModules are the load, plot and fault tools of the bench module:
// none of them may reach a module that ships.
var toolingModules = []string{
	"github.com/tsenart/vegeta",
	"gonum.org/v1/plot",
	"github.com/Shopify/toxiproxy",
	"github.com/pb33f/libopenapi",
}

// testOnly are the tooling modules a shipped module may require for its
// tests alone: the OpenAPI validator of the all-in-one's contract tests
// (functions/phonebill/openapi_test.go). No binary or library package links
// them; TestShippedModulesLeaveOutTheBenchTooling checks that too.
var testOnly = map[string]string{"functions": "github.com/pb33f/libopenapi"}

// requires lists the module paths a go.mod requires.
func requires(t *testing.T, gomod string) []string {
	t.Helper()
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	block := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimSpace(line))
		switch {
		case len(f) == 0:
		case f[0] == "require" && len(f) > 1 && f[1] == "(":
			block = true
		case f[0] == "require" && len(f) > 2:
			mods = append(mods, f[1])
		case block && f[0] == ")":
			block = false
		case block:
			mods = append(mods, f[0])
		}
	}
	return mods
}

// The modules that ship (functions, shared) require none of the bench
// tooling, and no package of theirs (tests left out) imports it.
func TestShippedModulesLeaveOutTheBenchTooling(t *testing.T) {
	root, err := testenv.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []string{"functions", "shared"} {
		mods := requires(t, filepath.Join(root, mod, "go.mod"))
		if len(mods) == 0 {
			t.Fatalf("%s/go.mod: no require read", mod)
		}
		for _, m := range mods {
			for _, tool := range toolingModules {
				if strings.HasPrefix(m, tool) && tool != testOnly[mod] {
					t.Errorf("%s/go.mod requires %s: bench tooling belongs in bench/", mod, m)
				}
			}
		}
		cmd := exec.Command("go", "list", "-deps", "./...")
		cmd.Dir = filepath.Join(root, mod)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps in %s: %v\n%s", mod, err, out)
		}
		for _, pkg := range strings.Fields(string(out)) {
			for _, tool := range toolingModules {
				if strings.HasPrefix(pkg, tool) {
					t.Errorf("%s: a package imports %s (bench tooling belongs in bench/)", mod, pkg)
				}
			}
		}
	}
}

func TestRequiresReadsBothForms(t *testing.T) {
	p := filepath.Join(t.TempDir(), "go.mod")
	src := "module x\n\ngo 1.26\n\nrequire a.example/one v1.0.0\n\nrequire (\n\tb.example/two v0.1.0 // indirect\n\tgonum.org/v1/plot v0.17.0\n)\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(requires(t, p), " ")
	if want := "a.example/one b.example/two gonum.org/v1/plot"; got != want {
		t.Errorf("requires = %q, want %q", got, want)
	}
}
