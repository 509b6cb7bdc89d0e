package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"phonebill/shared/fn"
)

// Generated folders (owned entirely by the generator) and files.
const (
	OptionalDir       = "knative/optional"
	BackupScriptsFile = "knative/infra/backup-scripts.yaml"
	BackupScriptsDir  = "knative/infra/scripts"
	BackupConfigMap   = "postgresql-backup-scripts"
)

// Input is everything the manifests derive from.
type Input struct {
	Root      string // repository root
	Services  []fn.Service
	Functions []Function
	Profiles  []Profile
}

// Load reads the route table's folders and checks the table.
func Load(root string, services []fn.Service) (*Input, error) {
	mains, err := ScanMains(root)
	if err != nil {
		return nil, err
	}
	fns, err := Functions(services, mains)
	if err != nil {
		return nil, err
	}
	return &Input{Root: root, Services: services, Functions: fns, Profiles: Profiles()}, nil
}

// AllInOneFunction is the all-in-one as a Function (every route).
func (in *Input) AllInOneFunction() Function {
	var routes []fn.Route
	for _, s := range in.Services {
		routes = append(routes, s.Routes...)
	}
	return Function{Name: AllInOneName, Service: AllInOneName, Kind: AllInOne, Routes: routes, Dir: AllInOneDir}
}

// ProfileFunctions are the functions a profile deploys.
func (in *Input) ProfileFunctions(p Profile) []Function {
	var out []Function
	for _, f := range in.Functions {
		if f.Service == "kos-mock" && !p.KOSMock {
			continue
		}
		out = append(out, f)
	}
	return out
}

// DeadLetterSink is the name of the one dead-letter function.
func (in *Input) DeadLetterSink() (string, error) {
	var names []string
	for _, f := range in.Functions {
		if f.Kind == DeadLetter {
			names = append(names, f.Name)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("route table: want exactly one dead-letter route (DeadLetter: true), have %v", names)
	}
	return names[0], nil
}

// Render returns every generated file: repo-relative path → contents.
func (in *Input) Render() (map[string][]byte, error) {
	files := map[string][]byte{}
	dl, err := in.DeadLetterSink()
	if err != nil {
		return nil, err
	}
	byName := map[string]Function{}
	for _, f := range in.Functions {
		byName[f.Name] = f
	}
	for _, name := range Producers {
		if _, ok := byName[name]; !ok {
			return nil, fmt.Errorf("producer %q is not a function of the route table", name)
		}
	}
	for _, name := range BcryptRoutes {
		if f, ok := byName[name]; !ok || f.Kind != HTTP {
			return nil, fmt.Errorf("bcrypt route %q is not an HTTP function of the route table", name)
		}
	}
	for _, p := range in.Profiles {
		dir := "knative/" + p.Name
		src := fmt.Sprintf("the route table (functions/routes) and %s", p.EnvFile)
		vars, err := ReadEnvFile(filepath.Join(in.Root, p.EnvFile))
		if err != nil {
			return nil, err
		}
		common, kos := SplitConfig(vars)
		cfg := []any{ConfigMap(ConfigCommon, common)}
		if p.KOSMock {
			cfg = append(cfg, ConfigMap(ConfigKOSMock, kos))
		} else if len(kos) > 0 {
			return nil, fmt.Errorf("%s sets KOS_MOCK_* but profile %s deploys no KOS-Mock", p.EnvFile, p.Name)
		}
		if files[dir+"/config.yaml"], err = Docs(p.EnvFile, cfg...); err != nil {
			return nil, err
		}
		fns := in.ProfileFunctions(p)
		events := []any{Broker(p)}
		ingress := []any{KourierBackend()}
		var sinks []any
		for _, f := range fns {
			if files[fmt.Sprintf("%s/functions/%s.yaml", dir, f.Name)], err = Docs(src, KnativeService(f, p)); err != nil {
				return nil, err
			}
			switch f.Kind {
			case HTTP:
				ingress = append(ingress, Ingress(f))
			case Event:
				events = append(events, Trigger(f, dl))
			case Scheduled:
				events = append(events, PingSource(f))
				if f.Routes[0].EventType != "" {
					events = append(events, Trigger(f, dl))
				}
			}
		}
		for _, name := range Producers {
			sinks = append(sinks, SinkBinding(byName[name]))
		}
		if files[dir+"/eventing.yaml"], err = Docs(src, append(events, sinks...)...); err != nil {
			return nil, err
		}
		if files[dir+"/ingress.yaml"], err = Docs(src, ingress...); err != nil {
			return nil, err
		}
		if p.KOSEgressCIDR != "" {
			if files[dir+"/network.yaml"], err = Docs(src, KOSEgress(p)); err != nil {
				return nil, err
			}
		}
		if p.AllInOne {
			if files[OptionalDir+"/phonebill.yaml"], err = Docs(fmt.Sprintf("the route table (all-in-one; uses knative/%s/config.yaml)", p.Name),
				KnativeService(in.AllInOneFunction(), p)); err != nil {
				return nil, err
			}
		}
		if p.Name == FuncProfile {
			for _, f := range append(fns, in.AllInOneFunction()) {
				if files[FuncYAMLPath(f)], err = FuncYAML(f, KnativeService(f, p)); err != nil {
					return nil, err
				}
			}
		}
	}
	scripts, err := in.backupScripts()
	if err != nil {
		return nil, err
	}
	if files[BackupScriptsFile], err = Docs(BackupScriptsDir+"/*.sh", scripts); err != nil {
		return nil, err
	}
	if files[AlertsFile], err = Docs("knative/gen/alerts.go", AlertRules()); err != nil {
		return nil, err
	}
	return files, nil
}

func (in *Input) backupScripts() (any, error) {
	paths, err := filepath.Glob(filepath.Join(in.Root, BackupScriptsDir, "*.sh"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no scripts in %s", BackupScriptsDir)
	}
	data := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		data[filepath.Base(p)] = string(b)
	}
	cm := ConfigMap(BackupConfigMap, data)
	cm.Labels = map[string]string{LabelApp: "postgresql-backup"}
	return cm, nil
}

// Docs renders objects as one multi-document YAML file with a header.
func Docs(source string, objs ...any) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Code generated by `make manifests` (go run ./knative/cmd/gen) from %s. DO NOT EDIT.\n", source)
	for _, o := range objs {
		y, err := ToYAML(o)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

// ToYAML marshals an API object without the fields a manifest never sets
// (status, null timestamps).
func ToYAML(o any) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	prune(m)
	return yaml.Marshal(m)
}

func prune(v any) {
	switch t := v.(type) {
	case map[string]any:
		// An unset probe port (IntOrString zero) would print as "port: 0";
		// Knative probes the container port when it is absent.
		if h, ok := t["httpGet"].(map[string]any); ok && h["port"] == float64(0) {
			delete(h, "port")
		}
		for k, x := range t {
			if x == nil {
				delete(t, k)
				continue
			}
			prune(x)
		}
	case []any:
		for _, x := range t {
			prune(x)
		}
	}
}

// Write replaces the generated files under root: the generated folders are
// emptied first so a removed route leaves no stale manifest behind.
func Write(root string, files map[string][]byte) error {
	for _, d := range GeneratedDirs() {
		if err := os.RemoveAll(filepath.Join(root, d)); err != nil {
			return err
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// GeneratedDirs are the folders the generator owns entirely.
func GeneratedDirs() []string {
	out := []string{OptionalDir}
	for _, p := range Profiles() {
		out = append(out, "knative/"+p.Name)
	}
	return out
}

// FuncProfile is the profile the func.yaml files describe.
const FuncProfile = "dev"

// IsGenerated reports whether a repo-relative path is the generator's.
func IsGenerated(path string) bool {
	if path == BackupScriptsFile || path == "func.yaml" || (strings.HasPrefix(path, "functions/") && strings.HasSuffix(path, "/func.yaml")) {
		return true
	}
	for _, d := range GeneratedDirs() {
		if strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}
