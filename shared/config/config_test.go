package config_test

import (
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"phonebill/shared/config"
)

type fnConfig struct {
	HTTP config.HTTP
	DB   config.DB
	JWT  config.JWT
	KOS  config.KOS
}

// onlyEnv unsets every variable spec reads (its fields' envconfig names),
// then sets env, so a test sees the same input whatever the caller exported
// (config/local.env, a CI runner's settings); t.Setenv restores them after.
func onlyEnv(t *testing.T, spec any, env map[string]string) {
	t.Helper()
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if name := f.Tag.Get("envconfig"); name != "" {
				// Unset, not empty: envconfig applies a default only to an
				// absent variable.
				t.Setenv(name, "")
				if err := os.Unsetenv(name); err != nil {
					t.Fatal(err)
				}
			} else if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(spec).Elem())
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func TestLoadDefaults(t *testing.T) {
	var c fnConfig
	onlyEnv(t, &c, map[string]string{"JWT_SECRET": strings.Repeat("s", 32)})
	if err := config.Load(&c); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := c.HTTP.Addr(), ":8080"; got != want {
		t.Errorf("Addr = %q, want %q", got, want)
	}
	if c.DB.MaxConns != 2 || c.HTTP.MaxBodyBytes != 65536 || c.KOS.TimeoutMS != 5000 || c.JWT.AccessValiditySeconds != 1800 {
		t.Errorf("defaults not applied: %+v", c)
	}
	if got := c.DB.ConnString(); !strings.Contains(got, "timezone=Asia%2FSeoul") || !strings.Contains(got, "/phonebill") {
		t.Errorf("ConnString = %q, want database phonebill with timezone=Asia/Seoul", got)
	}
	if got := c.HTTP.Origins(); len(got) != 2 || got[0] != "http://localhost:3000" {
		t.Errorf("Origins = %v", got)
	}
}

func TestLoadNamesTheBadVariable(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"missing secret", map[string]string{}, "JWT_SECRET"},
		{"short secret", map[string]string{"JWT_SECRET": "short"}, "JWT_SECRET"},
		{"pool size not a number", map[string]string{"DB_MAX_CONNS": "many"}, "DB_MAX_CONNS"},
		{"pool size zero", map[string]string{"DB_MAX_CONNS": "0"}, "DB_MAX_CONNS"},
		{"bad database url", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{"bad kos url", map[string]string{"KOS_BASE_URL": "ftp://kos"}, "KOS_BASE_URL"},
		{"bad listen address", map[string]string{"LISTEN_ADDRESS": "8080"}, "LISTEN_ADDRESS"},
		{"bad boolean", map[string]string{"KOS_MOCK_SCENARIO_HEADER": "sometimes"}, "KOS_MOCK_SCENARIO_HEADER"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.env["JWT_SECRET"]; !ok && tc.name != "missing secret" {
				tc.env["JWT_SECRET"] = strings.Repeat("s", 32)
			}
			var c fnConfig
			onlyEnv(t, &c, tc.env)
			err := config.Load(&c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestDBConnStringFromParts(t *testing.T) {
	d := config.DB{Host: "db", Port: "6432", Name: "phonebill", User: "app", Password: "p@ss"}
	got := d.ConnString()
	if !strings.HasPrefix(got, "postgres://app:p%40ss@db:6432/phonebill?") || !strings.Contains(got, "timezone=Asia%2FSeoul") {
		t.Errorf("ConnString = %q", got)
	}
	if strings.Contains(d.String(), "p@ss") || strings.Contains(d.String(), "p%40ss") {
		t.Errorf("String leaks the password: %q", d.String())
	}
	if j := (config.JWT{Secret: "topsecret-topsecret-topsecret-xx"}); strings.Contains(j.String(), "topsecret") {
		t.Errorf("JWT String leaks the secret")
	}
}

// Each named logger takes its own LOG_LEVEL_* and falls back to LOG_LEVEL;
// a level that is no level is refused at start, naming its variable.
func TestLoggerLevels(t *testing.T) {
	h := config.HTTP{LogLevel: "info", LogLevelKOS: "debug", LogLevelDB: "WARN"}
	for name, want := range map[string]slog.Level{"": slog.LevelInfo, "app": slog.LevelInfo, "kos": slog.LevelDebug, "db": slog.LevelWarn} {
		if got := h.Level(name); got != want {
			t.Errorf("Level(%q) = %v, want %v", name, got, want)
		}
	}
	h.LogLevelApp = "loud"
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL_APP") {
		t.Errorf("Validate() = %v, want LOG_LEVEL_APP refused", err)
	}
}
