// Command pprofaio is the all-in-one with net/http/pprof listening on
// PPROF_ADDR: `benchload -pprof` loads it instead of the all-in-one and
// saves a CPU profile of every load step. Never deployed.
package main

import (
	"net/http"
	_ "net/http/pprof" // the profiling endpoints on the default mux
	"os"

	"phonebill/functions/routes"
	"phonebill/shared/fn"
)

func main() {
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	fn.MainAll(fn.Options{LocalEvents: true}, routes.All()...)
}
