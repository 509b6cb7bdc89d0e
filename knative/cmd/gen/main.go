// Command gen writes the generated Knative manifests (knative/dev,
// knative/prod, knative/optional, knative/infra/backup-scripts.yaml) from
// the route table and the profile files. Run it as `make manifests`.
package main

import (
	"flag"
	"fmt"
	"os"

	"phonebill/functions/routes"
	"phonebill/knative/gen"
)

func main() {
	dir := flag.String("root", ".", "a folder inside the repository")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	root, err := gen.RepoRoot(dir)
	if err != nil {
		return err
	}
	in, err := gen.Load(root, routes.All())
	if err != nil {
		return err
	}
	files, err := in.Render()
	if err != nil {
		return err
	}
	if err := gen.Write(root, files); err != nil {
		return err
	}
	fmt.Printf("gen: wrote %d files for %d functions\n", len(files), len(in.Functions))
	return nil
}
