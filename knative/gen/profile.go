package gen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// Namespace is where everything of phonebill runs (func.yaml deploy.namespace).
const Namespace = "phonebill"

// Profile is one deployment environment: its settings file and the few
// knobs that differ between clusters.
type Profile struct {
	// Name is also the folder under knative/ the profile is written to.
	Name string
	// EnvFile is the repo-relative settings file feeding the ConfigMaps.
	EnvFile string
	// HTTPMaxScale and EventMaxScale cap the pods per function.
	HTTPMaxScale, EventMaxScale int
	// KOSMock deploys the mock (and hands kos-mock-config to Bill and
	// Product for KOS_MOCK_SCENARIO_HEADER); without it KOS_BASE_URL must
	// name the real KOS.
	KOSMock bool
	// BrokerClass and BrokerConfig choose the Broker implementation.
	BrokerClass  string
	BrokerConfig *duckv1.KReference
	// AllInOne writes the optional all-in-one Service with this profile's
	// ConfigMaps (knative/optional/).
	AllInOne bool
	// KOSEgressCIDR, when set, is where the real KOS lives (a NetworkPolicy
	// lets Bill and Product reach it on 443).
	KOSEgressCIDR string
}

// Profiles are the environments written by `make manifests`. dev is what
// `func deploy` of the func.yaml files gives (their scale block is dev's);
// prod allows more pods per function, drops KOS-Mock and uses a Kafka Broker.
func Profiles() []Profile {
	return []Profile{
		{Name: "dev", EnvFile: "config/dev.env", HTTPMaxScale: 5, EventMaxScale: 5,
			KOSMock: true, BrokerClass: "MTChannelBasedBroker", AllInOne: true},
		{Name: "prod", EnvFile: "config/prod.env", HTTPMaxScale: 10, EventMaxScale: 5,
			KOSMock: false, BrokerClass: "Kafka",
			BrokerConfig: &duckv1.KReference{APIVersion: "v1", Kind: "ConfigMap",
				Name: "kafka-broker-config", Namespace: "knative-eventing"},
			KOSEgressCIDR: "0.0.0.0/0"},
	}
}

// EnvVar is one KEY=VALUE line of a profile file.
type EnvVar struct{ Key, Value string }

// ReadEnvFile parses a profile file: KEY=VALUE lines, # comments, blank
// lines. `make run` sources the same file with bash, so a value means what
// bash makes of it: a bare value may hold no character bash treats
// specially (an unquoted & would send the assignment to the background),
// and a value that needs one is wrapped in single quotes, which bash takes
// literally. No other quoting and no expansion.
func ReadEnvFile(path string) ([]EnvVar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []EnvVar
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE, got %q", filepath.Base(path), n, line)
		}
		v, err := shellValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", filepath.Base(path), n, k, err)
		}
		if seen[k] {
			return nil, fmt.Errorf("%s:%d: %s is set twice", filepath.Base(path), n, k)
		}
		seen[k] = true
		out = append(out, EnvVar{k, v})
	}
	return out, sc.Err()
}

// shellSpecial are the characters that change what bash does with an
// unquoted assignment value.
const shellSpecial = " \t\"'$`\\&;|<>()*?[]#~{}!"

// shellValue is the value bash assigns for raw: raw itself when it holds
// nothing special, the inside of a single-quoted raw.
func shellValue(raw string) (string, error) {
	if len(raw) >= 2 && raw[0] == '\'' && raw[len(raw)-1] == '\'' {
		inner := raw[1 : len(raw)-1]
		if strings.Contains(inner, "'") {
			return "", fmt.Errorf("a single-quoted value cannot hold a single quote")
		}
		return inner, nil
	}
	if i := strings.IndexAny(raw, shellSpecial); i >= 0 {
		return "", fmt.Errorf("%q means something to bash: wrap the value in single quotes", raw[i])
	}
	return raw, nil
}

// KOSMockPrefix marks the keys that go to the kos-mock-config ConfigMap.
const KOSMockPrefix = "KOS_MOCK_"

// SplitConfig divides a profile's settings into phonebill-config and
// kos-mock-config (the seed's ConfigMap, KOS_MOCK_* keys).
func SplitConfig(vars []EnvVar) (common, kosMock map[string]string) {
	common, kosMock = map[string]string{}, map[string]string{}
	for _, v := range vars {
		if strings.HasPrefix(v.Key, KOSMockPrefix) {
			kosMock[v.Key] = v.Value
		} else {
			common[v.Key] = v.Value
		}
	}
	return common, kosMock
}
