package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/sifely2mqtt/sifely2mqtt/sifely"
)

// Built-in defaults and limits of the configuration.
const (
	defaultConfigPath = "/etc/sifely2mqtt/config.yaml"
	envPrefix         = "SIFELY2MQTT"

	// Cloud limits per account (sifely-api.md §5); the budget may not exceed them.
	cloudPerMinute = 30
	cloudPerHour   = 1000
	cloudPerDay    = 20000

	minPollInterval   = time.Minute
	minWebhookSecret  = 16
	maxSecretFileSize = 64 << 10
)

// Config is the daemon's whole configuration: the YAML file, overlaid with
// SIFELY2MQTT_* environment variables, with secret files read. Secrets are
// sifely.Secret values and stay redacted when the Config is printed.
type Config struct {
	Sifely   SifelyConfig  `yaml:"sifely"`
	MQTT     MQTTConfig    `yaml:"mqtt"`
	Webhook  WebhookConfig `yaml:"webhook"`
	HTTP     HTTPConfig    `yaml:"http"`
	Poll     PollConfig    `yaml:"poll"`
	Locks    LockMap       `yaml:"locks"`
	StateDir string        `yaml:"state_dir"`
	Log      LogConfig     `yaml:"log"`
}

// SifelyConfig is the cloud account. Either APIKey, or Account and Password,
// is required outside demo mode.
type SifelyConfig struct {
	BaseURL      string        `yaml:"base_url"`
	Account      string        `yaml:"account"`
	Password     sifely.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	APIKey       sifely.Secret `yaml:"api_key"`
	APIKeyFile   string        `yaml:"api_key_file"`
	ClientID     string        `yaml:"client_id"`
	Budget       BudgetConfig  `yaml:"budget"`
}

// BudgetConfig caps the cloud calls the daemon spends per window. Each
// value must be positive and at most the cloud's own limit.
type BudgetConfig struct {
	PerMinute int `yaml:"per_minute"`
	PerHour   int `yaml:"per_hour"`
	PerDay    int `yaml:"per_day"`
}

// MQTTConfig is the broker connection and the topic roots.
type MQTTConfig struct {
	URL             string        `yaml:"url"`
	Username        string        `yaml:"username"`
	Password        sifely.Secret `yaml:"password"`
	PasswordFile    string        `yaml:"password_file"`
	CAFile          string        `yaml:"ca_file"`
	CertFile        string        `yaml:"cert_file"`
	KeyFile         string        `yaml:"key_file"`
	ClientID        string        `yaml:"client_id"`
	BaseTopic       string        `yaml:"base_topic"`
	DiscoveryPrefix string        `yaml:"discovery_prefix"`
}

// WebhookConfig is the optional server for the cloud's push callbacks,
// served on POST /webhook/<secret>. An empty Listen turns it off.
type WebhookConfig struct {
	Listen     string        `yaml:"listen"`
	Secret     sifely.Secret `yaml:"secret"`
	SecretFile string        `yaml:"secret_file"`
}

// HTTPConfig is the health and metrics server. An empty Listen turns it off.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
}

// PollConfig holds the cron specs (robfig/cron standard syntax with
// descriptors such as "@every 5m") of the three polls.
type PollConfig struct {
	State   string `yaml:"state"`
	Locks   string `yaml:"locks"`
	Records string `yaml:"records"`
}

// LockMap holds per-lock settings keyed by the lockId in decimal.
type LockMap map[string]LockConfig

// LockConfig is the optional setting of one lock.
type LockConfig struct {
	// Unlock allows UNLOCK commands; false makes the lock read-only for
	// unlocking. Default true.
	Unlock bool `yaml:"unlock"`
	// Code, when set, is the code Home Assistant must send with a command.
	Code     sifely.Secret `yaml:"code"`
	CodeFile string        `yaml:"code_file"`
}

// LogConfig selects the slog level (debug, info, warn, error) and handler
// (text, json).
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// DefaultConfig returns the built-in defaults, the values config.yaml.example
// documents.
func DefaultConfig() Config {
	return Config{
		Sifely: SifelyConfig{
			BaseURL: sifely.LegacyBaseURL,
			Budget:  BudgetConfig{PerMinute: cloudPerMinute, PerHour: cloudPerHour, PerDay: cloudPerDay},
		},
		MQTT: MQTTConfig{
			URL:             "tcp://localhost:1883",
			ClientID:        "sifely2mqtt",
			BaseTopic:       "sifely2mqtt",
			DiscoveryPrefix: "homeassistant",
		},
		HTTP:     HTTPConfig{Listen: "127.0.0.1:9780"},
		Poll:     PollConfig{State: "@every 5m", Locks: "@every 1h", Records: "@every 10m"},
		Locks:    LockMap{},
		StateDir: "/var/lib/sifely2mqtt",
		Log:      LogConfig{Level: "info", Format: "text"},
	}
}

// LoadConfig reads the YAML file at path over the defaults, applies the
// SIFELY2MQTT_* environment overrides, reads secret files (relative ones
// and credentials from $CREDENTIALS_DIRECTORY), honours $STATE_DIRECTORY and
// validates the result, reporting every problem at once. In demo mode the
// file may be missing and no cloud credentials are required.
func LoadConfig(path string, getenv func(string) string, demo bool) (Config, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && demo:
		data = nil
	case errors.Is(err, fs.ErrNotExist):
		return Config{}, fmt.Errorf("config file %s does not exist (copy config.yaml.example, or pass -config or -demo)", path)
	case err != nil:
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := loadConfig(data, getenv, demo, readSecretFile)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// secretReader returns the secret held in the file at path.
type secretReader func(path string) (string, error)

// loadConfig is LoadConfig after the file is read; readSecret reads secret
// files and credentials.
//
// Problems are reported all at once: unknown or mistyped keys do not hide
// a bad cron spec or URL elsewhere in the file.
func loadConfig(data []byte, getenv func(string) string, demo bool, readSecret secretReader) (Config, error) {
	cfg, shapeErr, err := decodeConfig(data)
	if err != nil {
		return Config{}, errors.Join(shapeErr, err)
	}
	errs := []error{shapeErr}
	if err := applyEnv(&cfg, getenv); err != nil {
		errs = append(errs, err)
	}
	if err := resolveSecrets(&cfg, getenv("CREDENTIALS_DIRECTORY"), readSecret); err != nil {
		errs = append(errs, err)
	}
	if dir := stateDirectory(getenv("STATE_DIRECTORY")); dir != "" {
		cfg.StateDir = dir
	}
	if err := errors.Join(errs...); err != nil {
		// Validate what could be read, to name every problem in one go;
		// missing secrets may be a consequence of the errors above.
		return Config{}, errors.Join(err, cfg.validate(true))
	}
	if err := cfg.validate(demo); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeConfig decodes YAML over the defaults. Empty input gives the
// defaults. shapeErr names every unknown or mistyped key; the rest of the
// file is still decoded (leniently) so that later checks can report their
// problems too. err means nothing usable could be decoded.
func decodeConfig(data []byte) (cfg Config, shapeErr, err error) {
	cfg = DefaultConfig()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, nil, fmt.Errorf("parse yaml: %w", err)
	}
	if len(root.Content) == 0 {
		return cfg, nil, nil
	}
	doc := root.Content[0]
	if doc.Kind == yaml.ScalarNode && doc.ShortTag() == "!!null" {
		return cfg, nil, nil
	}
	// The shape check names each unknown or mistyped key by its full path;
	// the strict decoder below remains the backstop.
	w := shapeChecker{active: map[*yaml.Node]bool{}}
	shapeErr = w.check(doc, reflect.TypeFor[Config](), nil)
	if w.steps > maxShapeSteps {
		return Config{}, nil, errors.New("config: too many aliases")
	}
	if shapeErr != nil && w.cyclic {
		return Config{}, shapeErr, errors.New("config: cannot decode")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(shapeErr == nil)
	if err := dec.Decode(&cfg); err != nil {
		if shapeErr != nil {
			// The mistyped values are already named.
			return Config{}, shapeErr, errors.New("config: cannot decode")
		}
		return Config{}, nil, fmt.Errorf("decode yaml: %w", err)
	}
	if cfg.Locks == nil {
		cfg.Locks = LockMap{}
	}
	return cfg, shapeErr, nil
}

// maxShapeSteps bounds the nodes shapeChecker visits, so that aliases
// merged into aliases cannot make it walk an exponential tree.
const maxShapeSteps = 100_000

// shapeChecker walks a YAML node against the Go type it decodes into and
// reports every unknown key and every value of the wrong kind.
type shapeChecker struct {
	// active holds the nodes being walked, so that an anchor merged into
	// itself is an error, not endless recursion.
	active map[*yaml.Node]bool
	steps  int
	// cyclic is set when an anchor refers to itself: the YAML decoder
	// would recurse without end, so the file must not be decoded.
	cyclic bool
}

// check checks n, to be decoded into t at key path.
func (w *shapeChecker) check(n *yaml.Node, t reflect.Type, path []string) error {
	w.steps++
	if w.steps > maxShapeSteps {
		return nil // reported once by the caller
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	key := strings.Join(path, ".")
	if key == "" {
		key = "config"
	}
	if w.active[n] {
		w.cyclic = true
		return fmt.Errorf("%s: anchor refers to itself (line %d)", key, n.Line)
	}
	w.active[n] = true
	defer delete(w.active, n)
	want := func(kind string) error {
		return fmt.Errorf("%s: want %s (line %d)", key, kind, n.Line)
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return want("a mapping")
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				merged := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					merged = v.Content
				}
				for _, m := range merged {
					errs = append(errs, w.check(m, t, path))
				}
				continue
			}
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: unknown key (line %d)", strings.Join(append(slices.Clip(path), k.Value), "."), k.Line))
				continue
			}
			errs = append(errs, w.check(v, f.Type, append(slices.Clip(path), k.Value)))
		}
		return errors.Join(errs...)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return want("a mapping")
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				errs = append(errs, fmt.Errorf("%s: keys must be scalars (line %d)", key, k.Line))
				continue
			}
			errs = append(errs, w.check(v, t.Elem(), append(slices.Clip(path), k.Value)))
		}
		return errors.Join(errs...)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return want("an integer")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return want("true or false")
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return want("a string")
		}
	}
	return nil
}

// UnmarshalYAML decodes the locks mapping; an entry's unlock defaults to true.
func (m *LockMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("locks: want a mapping (line %d)", n.Line)
	}
	out := make(LockMap, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := out[k.Value]; dup {
			return fmt.Errorf("locks.%s: duplicate key (line %d)", k.Value, k.Line)
		}
		lc := LockConfig{Unlock: true}
		if err := v.Decode(&lc); err != nil {
			return fmt.Errorf("locks.%s: %w", k.Value, err)
		}
		out[k.Value] = lc
	}
	*m = out
	return nil
}

// fieldByTag finds the struct field whose yaml tag names key.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlName is the key of a struct field in YAML.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

var secretType = reflect.TypeFor[sifely.Secret]()

// leaf is one scalar setting found by walkLeaves.
type leaf struct {
	path []string      // YAML key path, e.g. ["sifely", "budget", "per_minute"]
	v    reflect.Value // settable
	// file is the sibling "<key>_file" field of a secret; fileOf marks that
	// sibling itself (it is handled together with its secret).
	file   reflect.Value
	fileOf bool
}

// key is the dotted key path.
func (l leaf) key() string { return strings.Join(l.path, ".") }

// walkLeaves calls fn for every scalar setting under v (a settable struct),
// descending into nested structs and map entries (in key order). Map
// entries are copied, visited and stored back.
func walkLeaves(v reflect.Value, path []string, fn func(leaf) error) error {
	var errs []error
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		p := append(slices.Clip(path), name)
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Struct:
			errs = append(errs, walkLeaves(fv, p, fn))
		case reflect.Map:
			keys := fv.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			for _, k := range keys {
				ev := reflect.New(fv.Type().Elem()).Elem()
				ev.Set(fv.MapIndex(k))
				errs = append(errs, walkLeaves(ev, append(slices.Clip(p), k.String()), fn))
				fv.SetMapIndex(k, ev)
			}
		default:
			l := leaf{path: p, v: fv}
			if f.Type == secretType {
				if sf, ok := fieldByTag(t, name+"_file"); ok {
					l.file = v.FieldByIndex(sf.Index)
				}
			} else if base, ok := strings.CutSuffix(name, "_file"); ok {
				if sf, ok := fieldByTag(t, base); ok && sf.Type == secretType {
					l.fileOf = true
				}
			}
			errs = append(errs, fn(l))
		}
	}
	return errors.Join(errs...)
}

// envName is the environment variable overriding a key path.
func envName(path []string) string {
	return envPrefix + "_" + strings.ToUpper(strings.Join(path, "_"))
}

// applyEnv overlays SIFELY2MQTT_<SECTION>_<KEY> variables on cfg. A secret
// is also taken from <NAME>_FILE; setting either replaces both the secret
// and its file from YAML. Empty variables count as unset.
func applyEnv(cfg *Config, getenv func(string) string) error {
	return walkLeaves(reflect.ValueOf(cfg).Elem(), nil, func(l leaf) error {
		if l.fileOf {
			return nil
		}
		name := envName(l.path)
		val := getenv(name)
		if l.file.IsValid() {
			fileVal := getenv(name + "_FILE")
			switch {
			case val != "" && fileVal != "":
				return fmt.Errorf("%s and %s_FILE: set only one", name, name)
			case val != "":
				l.v.SetString(val)
				l.file.SetString("")
			case fileVal != "":
				l.v.SetString("")
				l.file.SetString(fileVal)
			}
			return nil
		}
		if val == "" {
			return nil
		}
		switch l.v.Kind() {
		case reflect.String:
			l.v.SetString(val)
		case reflect.Int:
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil {
				return fmt.Errorf("%s: invalid integer %q", name, val)
			}
			l.v.SetInt(int64(n))
		case reflect.Bool:
			b, err := strconv.ParseBool(strings.TrimSpace(val))
			if err != nil {
				return fmt.Errorf("%s: invalid boolean %q", name, val)
			}
			l.v.SetBool(b)
		default:
			return fmt.Errorf("%s: unsupported kind %s", name, l.v.Kind())
		}
		return nil
	})
}

// resolveSecrets reads each secret's file, or its systemd credential
// (named like the key path with underscores, e.g. "sifely_password") from
// credDir when neither a value nor a file is configured. Relative file
// paths are taken inside credDir when it is set.
func resolveSecrets(cfg *Config, credDir string, readSecret secretReader) error {
	return walkLeaves(reflect.ValueOf(cfg).Elem(), nil, func(l leaf) error {
		if !l.file.IsValid() {
			return nil
		}
		key := l.key()
		value, file := l.v.String(), l.file.String()
		switch {
		case value != "" && file != "":
			return fmt.Errorf("%s and %s_file: set only one", key, key)
		case file != "":
			if credDir != "" && !filepath.IsAbs(file) {
				file = filepath.Join(credDir, file)
			}
			s, err := readSecret(file)
			if err != nil {
				return fmt.Errorf("%s_file: %w", key, err)
			}
			l.v.SetString(s)
		case value == "" && credDir != "":
			file = filepath.Join(credDir, strings.Join(l.path, "_"))
			s, err := readSecret(file)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: credential: %w", key, err)
			}
			l.v.SetString(s)
		}
		return nil
	})
}

// readSecretFile returns a file's content without its trailing newline.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileSize+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxSecretFileSize {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxSecretFileSize)
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// stateDirectory is the first path of systemd's $STATE_DIRECTORY.
func stateDirectory(env string) string {
	for p := range strings.SplitSeq(env, ":") {
		if p != "" {
			return p
		}
	}
	return ""
}

// validate reports every problem of c at once, each naming its key.
func (c Config) validate(demo bool) error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}

	// sifely
	if err := checkURL(c.Sifely.BaseURL, "http", "https"); err != nil {
		add("sifely.base_url", "%v", err)
	}
	if !demo && c.Sifely.APIKey.IsZero() && (c.Sifely.Account == "" || c.Sifely.Password.IsZero()) {
		errs = append(errs, errors.New("sifely: account and password, or api_key, required"))
	}
	for _, b := range []struct {
		key        string
		got, limit int
	}{
		{"sifely.budget.per_minute", c.Sifely.Budget.PerMinute, cloudPerMinute},
		{"sifely.budget.per_hour", c.Sifely.Budget.PerHour, cloudPerHour},
		{"sifely.budget.per_day", c.Sifely.Budget.PerDay, cloudPerDay},
	} {
		switch {
		case b.got < 1:
			add(b.key, "%d must be positive", b.got)
		case b.got > b.limit:
			add(b.key, "%d exceeds the cloud limit of %d", b.got, b.limit)
		}
	}

	// mqtt
	if err := checkURL(c.MQTT.URL, "tcp", "ssl", "ws", "wss", "mqtt", "mqtts"); err != nil {
		add("mqtt.url", "%v", err)
	}
	if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
		errs = append(errs, errors.New("mqtt.cert_file, mqtt.key_file: set both or neither"))
	}
	for _, f := range []struct{ key, path string }{
		{"mqtt.ca_file", c.MQTT.CAFile},
		{"mqtt.cert_file", c.MQTT.CertFile},
		{"mqtt.key_file", c.MQTT.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			add(f.key, "%v", err)
		}
	}
	if c.MQTT.ClientID == "" {
		add("mqtt.client_id", "must not be empty")
	}
	for _, t := range []struct{ key, topic string }{
		{"mqtt.base_topic", c.MQTT.BaseTopic},
		{"mqtt.discovery_prefix", c.MQTT.DiscoveryPrefix},
	} {
		if err := checkTopic(t.topic); err != nil {
			add(t.key, "%v", err)
		}
	}

	// webhook
	if c.Webhook.Listen != "" {
		if err := checkListen(c.Webhook.Listen); err != nil {
			add("webhook.listen", "%v", err)
		}
		switch s := c.Webhook.Secret.Reveal(); {
		case s == "":
			add("webhook.secret", "required when webhook.listen is set")
		case len(s) < minWebhookSecret:
			add("webhook.secret", "must be at least %d characters", minWebhookSecret)
		case !pathSafe(s):
			add("webhook.secret", "may hold only letters, digits and - . _ ~")
		}
	}

	// http
	if c.HTTP.Listen != "" {
		if err := checkListen(c.HTTP.Listen); err != nil {
			add("http.listen", "%v", err)
		}
	}

	// poll
	for _, p := range []struct{ key, spec string }{
		{"poll.state", c.Poll.State},
		{"poll.locks", c.Poll.Locks},
		{"poll.records", c.Poll.Records},
	} {
		if err := checkSchedule(p.spec); err != nil {
			add(p.key, "%v", err)
		}
	}

	// locks
	for _, id := range slices.Sorted(maps.Keys(c.Locks)) {
		if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
			add("locks."+id, "lockId must be a positive integer")
		}
		if code := c.Locks[id].Code.Reveal(); code != "" && !validCode(code) {
			add("locks."+id+".code", "must be 4 to 12 digits")
		}
	}

	if c.StateDir == "" {
		add("state_dir", "must not be empty")
	}

	// log
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		add("log.format", "%q is not one of text, json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute URL with a host and one of schemes.
func checkURL(raw string, schemes ...string) error {
	if raw == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad url: %w", err)
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("bad url %q: scheme must be one of %s", raw, strings.Join(schemes, ", "))
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("bad url %q: no host", raw)
	}
	return nil
}

// checkTopic accepts a non-empty MQTT topic without wildcards, NUL or
// leading or trailing slash.
func checkTopic(t string) error {
	switch {
	case t == "":
		return errors.New("must not be empty")
	case strings.ContainsAny(t, "+#\x00"):
		return fmt.Errorf("%q must not contain + # or NUL", t)
	case strings.HasPrefix(t, "/") || strings.HasSuffix(t, "/"):
		return fmt.Errorf("%q must not start or end with /", t)
	}
	return nil
}

// checkListen accepts host:port or :port with a port from 1 to 65535.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad address %q: want host:port or :port", addr)
	}
	// Port 0 picks a free port (useful for tests and benchmarks); the
	// daemon logs the address it bound.
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bad port in %q", addr)
	}
	return nil
}

// checkSchedule parses a cron spec the way the daemon will and refuses
// @every intervals under a minute, which would exhaust the cloud budget.
func checkSchedule(spec string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bad cron spec %q: %v", spec, r)
		}
	}()
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("bad cron spec %q: %w", spec, err)
	}
	if d, ok := sched.(cron.ConstantDelaySchedule); ok && d.Delay < minPollInterval {
		return fmt.Errorf("%q is more often than every %v; it would exhaust the cloud budget", spec, minPollInterval)
	}
	return nil
}

// pathSafe reports whether s holds only URL-unreserved characters.
func pathSafe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-', r == '.', r == '_', r == '~':
		default:
			return false
		}
	}
	return true
}

// validCode reports whether s is 4 to 12 decimal digits.
func validCode(s string) bool {
	if len(s) < 4 || len(s) > 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Redacted returns c as YAML with every non-empty secret as "[REDACTED]",
// for -check-config.
func (c Config) Redacted() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	return buf.Bytes(), nil
}
