// Package knative holds no runtime code: its tests prove the manifests in
// this folder offline. Every manifest decodes strictly into the typed API
// structs and passes Knative's own defaulting and validation; the generated
// ones match the route table (package gen, `make manifests`); and the
// budgets of DESIGN §4 (resources, PostgreSQL connections) are computed from
// what would be applied. It also checks the modules that ship (functions,
// shared) leave out the bench module's tooling.
package knative
