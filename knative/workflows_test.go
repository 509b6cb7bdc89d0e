package knative

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// The CI/CD workflows pass actionlint (syntax, expressions, job needs,
// action inputs, runner labels), and the image job pushes to the dev
// registry of the seed with the build the README documents.
func TestWorkflowsPassActionlint(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", ".github", "workflows")
	files, err := filepath.Glob(filepath.Join(root, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows under %s (%v)", root, err)
	}
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		errs, err := linter.Lint(f, src, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range errs {
			t.Errorf("%s:%d:%d: %s [%s]", filepath.Base(f), e.Line, e.Column, e.Message, e.Kind)
		}
		if filepath.Base(f) == "ci.yml" {
			for _, want := range []string{"./.ci/run", "make build", "phonebilldev.azurecr.io"} {
				if !strings.Contains(string(src), want) {
					t.Errorf("ci.yml lacks %q", want)
				}
			}
		}
	}
}
