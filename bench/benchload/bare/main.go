// Command bare is the floor of the cold-start benchmark: a net/http server
// that answers /health/readiness and nothing else, started the way Knative
// starts a function (PORT), so the function binaries' start-to-ready times
// can be read against it.
package main

import (
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	body := []byte(`{"status":"UP","service":"bare"}`)
	h := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
	http.HandleFunc("GET /health/readiness", h)
	http.HandleFunc("GET /", h)
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
