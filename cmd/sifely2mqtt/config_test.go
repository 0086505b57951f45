package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

const examplePath = "../../config.yaml.example"

// envMap is a getenv backed by a map.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// noSecretFiles is a secretReader for tests that use no secret files.
func noSecretFiles(path string) (string, error) {
	return "", fmt.Errorf("open %s: %w", path, fs.ErrNotExist)
}

// validConfig returns a configuration that passes validation outside demo mode.
func validConfig() Config {
	c := DefaultConfig()
	c.Sifely.Account = "me@example.com"
	c.Sifely.Password = "pw"
	return c
}

// writeFile writes content to name inside dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// exampleLeaves returns the dotted key paths of the scalar settings in
// config.yaml.example.
func exampleLeaves(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		if n.Kind != yaml.MappingNode {
			keys = append(keys, strings.Join(path, "."))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], append(slices.Clip(path), n.Content[i].Value))
		}
	}
	walk(root.Content[0], nil)
	return keys
}

// structLeaves returns the key paths of every scalar setting of c.
func structLeaves(t *testing.T, c *Config) []string {
	t.Helper()
	var keys []string
	if err := walkLeaves(reflect.ValueOf(c).Elem(), nil, func(l leaf) error {
		keys = append(keys, l.key())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// leafValue returns the value at a dotted key path of c.
func leafValue(t *testing.T, c *Config, key string) any {
	t.Helper()
	var got any
	found := false
	if err := walkLeaves(reflect.ValueOf(c).Elem(), nil, func(l leaf) error {
		if l.key() == key {
			got, found = l.v.Interface(), true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no key %s", key)
	}
	return got
}

func TestExampleMatchesDefaults(t *testing.T) {
	f, err := os.Open(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var got Config // zero, so a key missing from the example shows up
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode example: %v", err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("example decodes to\n%+v\nwant defaults\n%+v", got, want)
	}
	// The example also passes the daemon's own loader in demo mode.
	if _, err := LoadConfig(examplePath, envMap(nil), true); err != nil {
		t.Errorf("LoadConfig(example, demo) = %v", err)
	}
}

func TestExampleHasEveryKey(t *testing.T) {
	got := exampleLeaves(t)
	c := DefaultConfig()
	for _, key := range structLeaves(t, &c) {
		if !slices.Contains(got, key) {
			t.Errorf("config.yaml.example lacks key %s", key)
		}
	}
	for _, key := range got {
		if !slices.Contains(structLeaves(t, &c), key) {
			t.Errorf("config.yaml.example has key %s the config does not know", key)
		}
	}
	// Lock entries are only shown commented out; their keys must be there.
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	for f := range reflect.TypeFor[LockConfig]().Fields() {
		if !strings.Contains(string(data), "#     "+yamlName(f)+":") {
			t.Errorf("config.yaml.example does not document locks.<id>.%s", yamlName(f))
		}
	}
}

func TestEnvOverridesEveryKey(t *testing.T) {
	keys := exampleLeaves(t)
	withLock := DefaultConfig()
	withLock.Locks["7100000"] = LockConfig{Unlock: true}
	for _, key := range structLeaves(t, &withLock) {
		if strings.HasPrefix(key, "locks.") {
			keys = append(keys, key)
		}
	}
	if len(keys) < 30 {
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Locks["7100000"] = LockConfig{Unlock: true}
			var val string
			var want any
			switch before := leafValue(t, &cfg, key).(type) {
			case string:
				val, want = "env-"+key, "env-"+key
			case sifely.Secret:
				val, want = "env-"+key, sifely.Secret("env-"+key)
			case int:
				val, want = "7", 7
			case bool:
				val, want = fmt.Sprint(!before), !before
			default:
				t.Fatalf("key %s has unexpected type %T", key, before)
			}
			name := envName(strings.Split(key, "."))
			if err := applyEnv(&cfg, envMap(map[string]string{name: val})); err != nil {
				t.Fatalf("applyEnv(%s=%s) = %v", name, val, err)
			}
			if got := leafValue(t, &cfg, key); got != want {
				t.Errorf("after %s=%s: %s = %v, want %v", name, val, key, got, want)
			}
		})
	}
}

func TestEnvNames(t *testing.T) {
	tests := []struct {
		env, val string
		get      func(Config) any
		want     any
	}{
		{"SIFELY2MQTT_MQTT_URL", "ssl://broker:8883", func(c Config) any { return c.MQTT.URL }, "ssl://broker:8883"},
		{"SIFELY2MQTT_SIFELY_BUDGET_PER_MINUTE", "12", func(c Config) any { return c.Sifely.Budget.PerMinute }, 12},
		{"SIFELY2MQTT_POLL_STATE", "@every 7m", func(c Config) any { return c.Poll.State }, "@every 7m"},
		{"SIFELY2MQTT_STATE_DIR", "/srv/s2m", func(c Config) any { return c.StateDir }, "/srv/s2m"},
		{"SIFELY2MQTT_LOG_LEVEL", "debug", func(c Config) any { return c.Log.Level }, "debug"},
		{"SIFELY2MQTT_SIFELY_API_KEY", "sk-x", func(c Config) any { return c.Sifely.APIKey }, sifely.Secret("sk-x")},
		{"SIFELY2MQTT_MQTT_DISCOVERY_PREFIX", "ha", func(c Config) any { return c.MQTT.DiscoveryPrefix }, "ha"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			cfg, err := loadConfig([]byte("sifely: {account: a, password: b}\n"), envMap(map[string]string{tt.env: tt.val}), false, noSecretFiles)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(cfg); got != tt.want {
				t.Errorf("%s=%s: got %v, want %v", tt.env, tt.val, got, tt.want)
			}
		})
	}
}

func TestEnvBadValues(t *testing.T) {
	yml := []byte("locks:\n  \"7100000\": {}\n")
	env := map[string]string{
		"SIFELY2MQTT_SIFELY_BUDGET_PER_HOUR": "lots",
		"SIFELY2MQTT_LOCKS_7100000_UNLOCK":   "maybe",
	}
	_, err := loadConfig(yml, envMap(env), true, noSecretFiles)
	if err == nil {
		t.Fatal("loadConfig accepted unparsable env values")
	}
	for name := range env {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestEnvSecretReplacesYAML(t *testing.T) {
	yml := []byte("sifely:\n  account: a\n  password_file: /nonexistent/pw\n")
	env := map[string]string{"SIFELY2MQTT_SIFELY_PASSWORD": "from-env"}
	cfg, err := loadConfig(yml, envMap(env), false, noSecretFiles)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Sifely.Password.Reveal(), "from-env"; got != want {
		t.Errorf("password = %q, want %q", got, want)
	}
	if cfg.Sifely.PasswordFile != "" {
		t.Errorf("password_file = %q, want it replaced by the env value", cfg.Sifely.PasswordFile)
	}

	env["SIFELY2MQTT_SIFELY_PASSWORD_FILE"] = "/x"
	_, err = loadConfig(yml, envMap(env), false, noSecretFiles)
	if err == nil || !strings.Contains(err.Error(), "SIFELY2MQTT_SIFELY_PASSWORD_FILE") {
		t.Errorf("value and file in env: err = %v, want one naming SIFELY2MQTT_SIFELY_PASSWORD_FILE", err)
	}
}

func TestSecretFiles(t *testing.T) {
	abs := t.TempDir()
	absPath := writeFile(t, abs, "pw", "abs-secret\n")
	crlfPath := writeFile(t, abs, "crlf", "crlf-secret\r\n")
	keepPath := writeFile(t, abs, "keep", "two\nlines\n\n")
	creds := t.TempDir()
	writeFile(t, creds, "rel-pw", "rel-secret\n")
	writeFile(t, creds, "sifely_password", "cred-sifely\n")
	writeFile(t, creds, "sifely_api_key", "sk-cred\n")
	writeFile(t, creds, "mqtt_password", "cred-mqtt")
	writeFile(t, creds, "webhook_secret", "cred-webhook-secret-0123\n")
	writeFile(t, creds, "locks_7100000_code", "1234\n")

	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		get     func(Config) sifely.Secret
		want    string
		wantErr string
	}{
		{
			name: "absolute file, trailing newline trimmed",
			yaml: "sifely: {account: a, password_file: " + absPath + "}",
			get:  func(c Config) sifely.Secret { return c.Sifely.Password },
			want: "abs-secret",
		},
		{
			name: "crlf trimmed",
			yaml: "sifely: {account: a, password_file: " + crlfPath + "}",
			get:  func(c Config) sifely.Secret { return c.Sifely.Password },
			want: "crlf-secret",
		},
		{
			name: "only one trailing newline trimmed",
			yaml: "sifely: {account: a, password_file: " + keepPath + "}",
			get:  func(c Config) sifely.Secret { return c.Sifely.Password },
			want: "two\nlines\n",
		},
		{
			name: "relative file in CREDENTIALS_DIRECTORY",
			yaml: "sifely: {account: a, password_file: rel-pw}",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds},
			get:  func(c Config) sifely.Secret { return c.Sifely.Password },
			want: "rel-secret",
		},
		{
			name: "env _FILE",
			yaml: "sifely: {account: a}",
			env:  map[string]string{"SIFELY2MQTT_SIFELY_PASSWORD_FILE": absPath},
			get:  func(c Config) sifely.Secret { return c.Sifely.Password },
			want: "abs-secret",
		},
		{
			name: "credential sifely_password",
			yaml: "sifely: {account: a}",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds},
			get:  func(c Config) sifely.Secret { return c.Sifely.Password },
			want: "cred-sifely",
		},
		{
			name: "credential sifely_api_key",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds},
			get:  func(c Config) sifely.Secret { return c.Sifely.APIKey },
			want: "sk-cred",
		},
		{
			name: "credential mqtt_password",
			yaml: "sifely: {api_key: k}",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds},
			get:  func(c Config) sifely.Secret { return c.MQTT.Password },
			want: "cred-mqtt",
		},
		{
			name: "credential webhook_secret",
			yaml: "sifely: {api_key: k}\nwebhook: {listen: ':8787'}",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds},
			get:  func(c Config) sifely.Secret { return c.Webhook.Secret },
			want: "cred-webhook-secret-0123",
		},
		{
			name: "credential locks_<id>_code",
			yaml: "sifely: {api_key: k}\nlocks: {\"7100000\": {}}",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds},
			get:  func(c Config) sifely.Secret { return c.Locks["7100000"].Code },
			want: "1234",
		},
		{
			name: "configured value beats credential",
			yaml: "sifely: {account: a, password: yaml-pw}",
			env:  map[string]string{"CREDENTIALS_DIRECTORY": creds},
			get:  func(c Config) sifely.Secret { return c.Sifely.Password },
			want: "yaml-pw",
		},
		{
			name:    "value and file",
			yaml:    "mqtt: {password: x, password_file: " + absPath + "}",
			wantErr: "mqtt.password and mqtt.password_file",
		},
		{
			name:    "missing file names the key",
			yaml:    "webhook: {secret_file: /nonexistent/secret}",
			wantErr: "webhook.secret_file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig([]byte(tt.yaml), envMap(tt.env), true, readSecretFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(cfg).Reveal(); got != tt.want {
				t.Errorf("secret = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadSecretFileTooLarge(t *testing.T) {
	p := writeFile(t, t.TempDir(), "big", strings.Repeat("x", maxSecretFileSize+1))
	if _, err := readSecretFile(p); err == nil {
		t.Error("readSecretFile accepted an oversized file")
	}
}

func TestStateDirectory(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"default", nil, "/var/lib/sifely2mqtt"},
		{"env key", map[string]string{"SIFELY2MQTT_STATE_DIR": "/srv/a"}, "/srv/a"},
		{"systemd wins", map[string]string{"SIFELY2MQTT_STATE_DIR": "/srv/a", "STATE_DIRECTORY": "/var/lib/s2m"}, "/var/lib/s2m"},
		{"first of several", map[string]string{"STATE_DIRECTORY": "/var/lib/one:/var/lib/two"}, "/var/lib/one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig([]byte("state_dir: /from/yaml\n"), envMap(tt.env), true, noSecretFiles)
			if tt.name == "default" {
				cfg, err = loadConfig(nil, envMap(tt.env), true, noSecretFiles)
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.StateDir != tt.want {
				t.Errorf("state_dir = %q, want %q", cfg.StateDir, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	existing := writeFile(t, t.TempDir(), "ca.pem", "x")
	tests := []struct {
		name    string
		demo    bool
		mutate  func(*Config)
		wantErr string // empty: valid
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "api key alone", mutate: func(c *Config) { c.Sifely.Account, c.Sifely.Password, c.Sifely.APIKey = "", "", "sk-1" }},
		{name: "demo needs no credentials", demo: true, mutate: func(c *Config) { c.Sifely.Account, c.Sifely.Password = "", "" }},
		{name: "no credentials", mutate: func(c *Config) { c.Sifely.Account, c.Sifely.Password = "", "" }, wantErr: "sifely: account and password, or api_key, required"},
		{name: "account without password", mutate: func(c *Config) { c.Sifely.Password = "" }, wantErr: "sifely: account and password"},
		{name: "open api host", mutate: func(c *Config) { c.Sifely.BaseURL = sifely.OpenAPIBaseURL }},
		{name: "base_url scheme", mutate: func(c *Config) { c.Sifely.BaseURL = "ftp://x" }, wantErr: "sifely.base_url"},
		{name: "base_url no host", mutate: func(c *Config) { c.Sifely.BaseURL = "https://" }, wantErr: "sifely.base_url"},
		{name: "base_url unparsable", mutate: func(c *Config) { c.Sifely.BaseURL = "http://[::1" }, wantErr: "sifely.base_url"},
		{name: "base_url empty", mutate: func(c *Config) { c.Sifely.BaseURL = "" }, wantErr: "sifely.base_url"},
		{name: "per_minute over limit", mutate: func(c *Config) { c.Sifely.Budget.PerMinute = 31 }, wantErr: "sifely.budget.per_minute"},
		{name: "per_hour over limit", mutate: func(c *Config) { c.Sifely.Budget.PerHour = 1001 }, wantErr: "sifely.budget.per_hour"},
		{name: "per_day over limit", mutate: func(c *Config) { c.Sifely.Budget.PerDay = 20001 }, wantErr: "sifely.budget.per_day"},
		{name: "per_minute zero", mutate: func(c *Config) { c.Sifely.Budget.PerMinute = 0 }, wantErr: "sifely.budget.per_minute"},
		{name: "lower budget", mutate: func(c *Config) { c.Sifely.Budget = BudgetConfig{PerMinute: 10, PerHour: 100, PerDay: 1000} }},
		{name: "mqtt schemes", mutate: func(c *Config) { c.MQTT.URL = "mqtts://broker:8883" }},
		{name: "mqtt wss", mutate: func(c *Config) { c.MQTT.URL = "wss://broker/mqtt" }},
		{name: "mqtt url scheme", mutate: func(c *Config) { c.MQTT.URL = "http://broker" }, wantErr: "mqtt.url"},
		{name: "mqtt url without scheme", mutate: func(c *Config) { c.MQTT.URL = "localhost:1883" }, wantErr: "mqtt.url"},
		{name: "cert without key", mutate: func(c *Config) { c.MQTT.CertFile = existing }, wantErr: "mqtt.cert_file, mqtt.key_file"},
		{name: "key without cert", mutate: func(c *Config) { c.MQTT.KeyFile = existing }, wantErr: "mqtt.cert_file, mqtt.key_file"},
		{name: "cert and key", mutate: func(c *Config) { c.MQTT.CertFile, c.MQTT.KeyFile, c.MQTT.CAFile = existing, existing, existing }},
		{name: "ca_file missing", mutate: func(c *Config) { c.MQTT.CAFile = "/nonexistent/ca.pem" }, wantErr: "mqtt.ca_file"},
		{name: "client_id empty", mutate: func(c *Config) { c.MQTT.ClientID = "" }, wantErr: "mqtt.client_id"},
		{name: "base_topic empty", mutate: func(c *Config) { c.MQTT.BaseTopic = "" }, wantErr: "mqtt.base_topic"},
		{name: "base_topic plus", mutate: func(c *Config) { c.MQTT.BaseTopic = "a/+/b" }, wantErr: "mqtt.base_topic"},
		{name: "base_topic hash", mutate: func(c *Config) { c.MQTT.BaseTopic = "a/#" }, wantErr: "mqtt.base_topic"},
		{name: "base_topic leading slash", mutate: func(c *Config) { c.MQTT.BaseTopic = "/a" }, wantErr: "mqtt.base_topic"},
		{name: "base_topic nested", mutate: func(c *Config) { c.MQTT.BaseTopic = "home/locks" }},
		{name: "discovery_prefix trailing slash", mutate: func(c *Config) { c.MQTT.DiscoveryPrefix = "homeassistant/" }, wantErr: "mqtt.discovery_prefix"},
		{name: "webhook", mutate: func(c *Config) { c.Webhook = WebhookConfig{Listen: ":8787", Secret: "abcdefghij-_.~0123"} }},
		{name: "webhook secret ignored when off", mutate: func(c *Config) { c.Webhook.Secret = "short" }},
		{name: "webhook without secret", mutate: func(c *Config) { c.Webhook.Listen = ":8787" }, wantErr: "webhook.secret: required"},
		{name: "webhook short secret", mutate: func(c *Config) { c.Webhook = WebhookConfig{Listen: ":8787", Secret: "abcdefghijklmno"} }, wantErr: "webhook.secret: must be at least 16"},
		{name: "webhook secret not path safe", mutate: func(c *Config) { c.Webhook = WebhookConfig{Listen: ":8787", Secret: "abcdefgh/jklmnopq"} }, wantErr: "webhook.secret: may hold only"},
		{name: "webhook listen no port", mutate: func(c *Config) { c.Webhook = WebhookConfig{Listen: "8787", Secret: "abcdefghijklmnopq"} }, wantErr: "webhook.listen"},
		{name: "http off", mutate: func(c *Config) { c.HTTP.Listen = "" }},
		{name: "http port out of range", mutate: func(c *Config) { c.HTTP.Listen = "127.0.0.1:70000" }, wantErr: "http.listen"},
		{name: "http port zero picks a free port", mutate: func(c *Config) { c.HTTP.Listen = ":0" }},
		{name: "cron five fields", mutate: func(c *Config) { c.Poll.State = "*/5 * * * *" }},
		{name: "cron descriptor", mutate: func(c *Config) { c.Poll.Locks = "@hourly" }},
		{name: "cron every minute", mutate: func(c *Config) { c.Poll.Records = "@every 1m" }},
		{name: "cron bad", mutate: func(c *Config) { c.Poll.State = "every 5" }, wantErr: `poll.state: bad cron spec "every 5"`},
		{name: "cron empty", mutate: func(c *Config) { c.Poll.Locks = "" }, wantErr: "poll.locks: bad cron spec"},
		{name: "cron too often", mutate: func(c *Config) { c.Poll.State = "@every 5s" }, wantErr: "poll.state"},
		{name: "cron 59s", mutate: func(c *Config) { c.Poll.Records = "@every 59s" }, wantErr: "poll.records"},
		{name: "cron bad duration", mutate: func(c *Config) { c.Poll.Records = "@every soon" }, wantErr: "poll.records: bad cron spec"},
		{name: "cron bad tz", mutate: func(c *Config) { c.Poll.Records = "CRON_TZ=Nowhere/Never * * * * *" }, wantErr: "poll.records: bad cron spec"},
		{name: "lock", mutate: func(c *Config) { c.Locks["7100000"] = LockConfig{Unlock: false, Code: "123456"} }},
		{name: "lock id not a number", mutate: func(c *Config) { c.Locks["front"] = LockConfig{} }, wantErr: "locks.front: lockId"},
		{name: "lock id zero", mutate: func(c *Config) { c.Locks["0"] = LockConfig{} }, wantErr: "locks.0: lockId"},
		{name: "lock id negative", mutate: func(c *Config) { c.Locks["-7"] = LockConfig{} }, wantErr: "locks.-7: lockId"},
		{name: "lock code letters", mutate: func(c *Config) { c.Locks["7"] = LockConfig{Code: "12a4"} }, wantErr: "locks.7.code"},
		{name: "lock code short", mutate: func(c *Config) { c.Locks["7"] = LockConfig{Code: "123"} }, wantErr: "locks.7.code"},
		{name: "lock code long", mutate: func(c *Config) { c.Locks["7"] = LockConfig{Code: "1234567890123"} }, wantErr: "locks.7.code"},
		{name: "state_dir empty", mutate: func(c *Config) { c.StateDir = "" }, wantErr: "state_dir"},
		{name: "log level", mutate: func(c *Config) { c.Log.Level = "verbose" }, wantErr: "log.level"},
		{name: "log format", mutate: func(c *Config) { c.Log.Format = "xml" }, wantErr: "log.format"},
		{name: "log json debug", mutate: func(c *Config) { c.Log = LogConfig{Level: "debug", Format: "json"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.validate(tt.demo)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	yml := `
sifely:
  base_url: ftp://nowhere
mqtt:
  url: "::"
  base_topic: "a/#"
poll:
  state: "every 5"
  records: "@every 5s"
log:
  level: loud
`
	_, err := loadConfig([]byte(yml), envMap(nil), false, noSecretFiles)
	if err == nil {
		t.Fatal("loadConfig accepted a bad config")
	}
	for _, want := range []string{
		"sifely.base_url", "sifely: account and password, or api_key, required",
		"mqtt.url", "mqtt.base_topic", `poll.state: bad cron spec "every 5"`, "poll.records", "log.level",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q:\n%v", want, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "mqqt:\n  url: x\n", []string{"mqqt: unknown key (line 1)"}},
		{"unknown nested key", "mqtt:\n  urll: tcp://x\n", []string{"mqtt.urll: unknown key (line 2)"}},
		{"unknown budget key", "sifely:\n  budget:\n    per_second: 1\n", []string{"sifely.budget.per_second: unknown key (line 3)"}},
		{"unknown lock key", "locks:\n  \"7100000\":\n    unlok: false\n", []string{"locks.7100000.unlok: unknown key (line 3)"}},
		{"all unknown keys at once", "a: 1\nmqtt:\n  b: 2\n", []string{"a: unknown key", "mqtt.b: unknown key"}},
		{"int wanted", "sifely:\n  budget:\n    per_minute: lots\n", []string{"sifely.budget.per_minute: want an integer (line 3)"}},
		{"bool wanted", "locks:\n  \"7\": {unlock: sometimes}\n", []string{"locks.7.unlock: want true or false"}},
		{"mapping wanted", "mqtt: tcp://x\n", []string{"mqtt: want a mapping (line 1)"}},
		{"string wanted", "mqtt:\n  url: [a, b]\n", []string{"mqtt.url: want a string (line 2)"}},
		{"not a mapping", "- a\n- b\n", []string{"config: want a mapping"}},
		{"syntax", "mqtt: [\n", []string{"parse yaml"}},
		{"self-referencing merge", "locks: {\"1\": &a {<<: *a}}\n", []string{"locks.1: anchor refers to itself"}},
		{"duplicate lock", "locks:\n  \"7\": {}\n  \"7\": {}\n", []string{"7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig([]byte(tt.yaml), envMap(nil), true, noSecretFiles)
			if err == nil {
				t.Fatal("loadConfig accepted bad YAML")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestDecode(t *testing.T) {
	yml := `
sifely:
  api_key: sk-1
mqtt:
  url: ssl://broker:8883
  username: &u bob
  password: *u
  client_id: 42
locks:
  "7100000": &ro { unlock: false }
  "7100001":
  "7100002": {}
  "7100003": { code: "1234" }
  "7100004": { <<: *ro, code: "5678" }
`
	cfg, err := loadConfig([]byte(yml), envMap(nil), false, noSecretFiles)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Sifely.APIKey = "sk-1"
	want.MQTT.URL, want.MQTT.Username, want.MQTT.Password, want.MQTT.ClientID = "ssl://broker:8883", "bob", "bob", "42"
	want.Locks = LockMap{
		"7100000": {Unlock: false},
		"7100001": {Unlock: true},
		"7100002": {Unlock: true},
		"7100003": {Unlock: true, Code: "1234"},
		"7100004": {Unlock: false, Code: "5678"},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestDecodeAliasAmplification(t *testing.T) {
	// Each level merges ten aliases of the one before: a 10⁸-node tree
	// behind a few hundred bytes.
	var b strings.Builder
	b.WriteString("locks:\n  \"1\": &l1 {unlock: true}\n")
	for i := 2; i <= 9; i++ {
		fmt.Fprintf(&b, "  \"%d\": &l%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	_, err := loadConfig([]byte(b.String()), envMap(nil), true, noSecretFiles)
	if err == nil || !strings.Contains(err.Error(), "config: too many aliases") {
		t.Errorf("err = %v, want one about aliases", err)
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "# only a comment\n", "~\n", "locks:\n"} {
		got, shapeErr, err := decodeConfig([]byte(in))
		err = errors.Join(shapeErr, err)
		if err != nil {
			t.Errorf("decodeConfig(%q) = %v", in, err)
			continue
		}
		if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
			t.Errorf("decodeConfig(%q) = %+v, want defaults", in, got)
		}
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")

	_, err := LoadConfig(missing, envMap(nil), false)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v, want one naming %s", err, missing)
	}

	got, err := LoadConfig(missing, envMap(nil), true)
	if err != nil {
		t.Fatalf("missing file in demo mode: %v", err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("missing file in demo mode = %+v, want defaults", got)
	}

	bad := writeFile(t, dir, "bad.yaml", "mqtt:\n  urll: x\n")
	_, err = LoadConfig(bad, envMap(nil), true)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "mqtt.urll") {
		t.Errorf("bad file: err = %v, want one naming the file and mqtt.urll", err)
	}

	good := writeFile(t, dir, "good.yaml", "sifely: {api_key: sk-1}\n")
	got, err = LoadConfig(good, envMap(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sifely.APIKey.Reveal() != "sk-1" {
		t.Errorf("api_key = %q, want sk-1", got.Sifely.APIKey.Reveal())
	}

	if _, err := LoadConfig(dir, envMap(nil), true); err == nil {
		t.Error("LoadConfig(directory) = nil error")
	}
}

// canaryConfig returns a valid config whose every secret holds a distinct
// canary value, and the canaries.
func canaryConfig() (Config, []string) {
	c := validConfig()
	c.Sifely.Password = "canary-sifely-password"
	c.Sifely.APIKey = "sk-canary-api-key"
	c.MQTT.Password = "canary-mqtt-password"
	c.Webhook = WebhookConfig{Listen: ":8787", Secret: "canary-webhook-secret"}
	c.Locks["7100000"] = LockConfig{Unlock: true, Code: "98765432"}
	return c, []string{"canary-sifely-password", "sk-canary-api-key", "canary-mqtt-password", "canary-webhook-secret", "98765432"}
}

func TestRedacted(t *testing.T) {
	c, canaries := canaryConfig()
	if err := c.validate(false); err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range canaries {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("Redacted() leaks %q:\n%s", s, out)
		}
	}
	if got, want := bytes.Count(out, []byte("[REDACTED]")), len(canaries); got != want {
		t.Errorf("Redacted() has %d [REDACTED], want %d:\n%s", got, want, out)
	}
	// The output is YAML of the same shape: it decodes strictly.
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	var back Config
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("decode Redacted(): %v", err)
	}
	if back.MQTT.URL != c.MQTT.URL || back.Sifely.Account != c.Sifely.Account {
		t.Errorf("Redacted() round trip lost plain values: %+v", back)
	}

	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		s := fmt.Sprintf(verb, c)
		for _, canary := range canaries {
			if strings.Contains(s, canary) {
				t.Errorf("fmt %s leaks %q", verb, canary)
			}
		}
	}
}

func TestCheckScheduleRecovers(t *testing.T) {
	// Specs that must be reported, never panic.
	for _, spec := range []string{"", " ", "@", "@every", "* * * * * * *", "60 * * * *", "CRON_TZ=", "TZ=UTC"} {
		if err := checkSchedule(spec); err == nil {
			t.Errorf("checkSchedule(%q) = nil, want an error", spec)
		}
	}
}

func TestStateDirectoryParse(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"/a", "/a"},
		{"/a:/b", "/a"},
		{":/b", "/b"},
	}
	for _, tt := range tests {
		if got := stateDirectory(tt.in); got != tt.want {
			t.Errorf("stateDirectory(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// An unknown key does not hide the other problems of the file.
func TestUnknownKeyDoesNotHideOtherProblems(t *testing.T) {
	in := "sifely:\n  acount: x\npoll:\n  records: bogus\nmqtt:\n  url: ftp://x\n"
	_, err := loadConfig([]byte(in), envMap(nil), false, noSecretFiles)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"sifely.acount: unknown key", "poll.records", "mqtt.url"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
