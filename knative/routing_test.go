package knative

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// router replays ingress-nginx's location choice for regex paths: the
// controller writes the paths of all Ingresses of a host longest first as
// `location ~* "^<path>"`, and nginx takes the first regex that matches.
type router struct{ locs []location }

type location struct {
	path, backend string
	re            *regexp.Regexp
}

func newRouter(ings []*networkingIngress) (*router, error) {
	r := &router{}
	for _, ing := range ings {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				re, err := regexp.Compile("(?i)^" + p.Path)
				if err != nil {
					return nil, fmt.Errorf("Ingress %s: path %q is no regex: %w", ing.Name, p.Path, err)
				}
				r.locs = append(r.locs, location{p.Path, ing.Name, re})
			}
		}
	}
	sort.SliceStable(r.locs, func(i, j int) bool { return len(r.locs[i].path) > len(r.locs[j].path) })
	return r, nil
}

// route returns the Ingress (function) serving path, "" for none.
func (r *router) route(path string) string {
	for _, l := range r.locs {
		if l.re.MatchString(path) {
			return l.backend
		}
	}
	return ""
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// samplePath is a concrete path a ServeMux pattern matches.
func samplePath(pattern string) string {
	p := wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
		switch {
		case w == "{$}":
			return ""
		case strings.HasSuffix(w, "...}"):
			return "rest/of/path"
		}
		return "Value-01"
	})
	if strings.HasSuffix(p, "/") {
		p += "sub"
	}
	return p
}
