// Command frontdoor writes the local cluster's front door: the NGINX
// Ingresses of a manifest file (knative/<profile>/ingress.yaml, or the
// resolved.yaml of `make build`) translated into a Traefik file-provider
// configuration (see knative/gen/frontdoor.go). scripts/deploy.sh runs it
// with CLUSTER=local; nothing else needs it.
//
//	go run ./knative/cmd/frontdoor -f out/dev/resolved.yaml -o bin/cluster/run/traefik/frontdoor.yaml
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"phonebill/knative/gen"
)

func main() {
	in := flag.String("f", "knative/dev/ingress.yaml", "multi-document YAML holding the Ingresses")
	out := flag.String("o", "-", "where to write the Traefik configuration (- for stdout)")
	ep := flag.String("entrypoint", "frontdoor", "Traefik entry point of the front door")
	backend := flag.String("backend", "http://10.244.0.1:8082", "URL of Traefik's cluster-local (KIngress) entry point")
	flag.Parse()
	if err := run(*in, *out, *ep, *backend); err != nil {
		fmt.Fprintln(os.Stderr, "frontdoor:", err)
		os.Exit(1)
	}
}

func run(in, out, ep, backend string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	ings, err := Ingresses(raw)
	if err != nil {
		return err
	}
	cfg, err := gen.FrontDoor(ings, ep, backend)
	if err != nil {
		return err
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	y = append([]byte(fmt.Sprintf("# Written by knative/cmd/frontdoor from %s (%d Ingresses, %d paths). DO NOT EDIT.\n", in, len(ings), len(cfg.HTTP.Routers))), y...)
	if out == "-" {
		_, err = os.Stdout.Write(y)
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, y, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// Ingresses are the networking.k8s.io/v1 Ingress documents of raw.
func Ingresses(raw []byte) ([]networkingv1.Ingress, error) {
	var ings []networkingv1.Ingress
	for _, d := range bytes.Split(raw, []byte("\n---")) {
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(d, &meta); err != nil {
			return nil, err
		}
		if meta.Kind != "Ingress" || !strings.HasPrefix(meta.APIVersion, "networking.k8s.io/") {
			continue
		}
		var ing networkingv1.Ingress
		if err := yaml.UnmarshalStrict(d, &ing); err != nil {
			return nil, err
		}
		ings = append(ings, ing)
	}
	return ings, nil
}
