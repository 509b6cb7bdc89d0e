// Command gen writes the generated Knative manifests (knative/dev,
// knative/prod, knative/optional, knative/infra/backup-scripts.yaml) from
// the route table and the profile files. Run it as `make manifests`.
// With -list it writes nothing and prints "<function> <import path>" per
// function (the all-in-one last) for scripts/build-images.sh.
package main

import (
	"flag"
	"fmt"
	"os"

	"phonebill/functions/routes"
	"phonebill/knative/gen"
	"phonebill/shared/testenv"
)

func main() {
	dir := flag.String("root", ".", "a folder inside the repository")
	list := flag.Bool("list", false, "print each function and its import path instead of writing")
	flag.Parse()
	if err := run(*dir, *list); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string, list bool) error {
	root, err := testenv.RepoRoot(dir)
	if err != nil {
		return err
	}
	in, err := gen.Load(root, routes.All())
	if err != nil {
		return err
	}
	if list {
		for _, f := range append(in.Functions, in.AllInOneFunction()) {
			fmt.Printf("%s %s\n", f.Name, f.ImportPath())
		}
		return nil
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
