package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets a test re-run this binary as the real command (see
// runMainProcess).
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("SIFELY2MQTT_TEST_MAIN_ARGS"); ok {
		os.Args = append([]string{"sifely2mqtt"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMainProcess runs main in a child process and returns its exit code and
// standard error.
func runMainProcess(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SIFELY2MQTT_TEST_MAIN_ARGS="+strings.Join(args, " "))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// runCmd calls run with args and env and returns its output and error.
func runCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, envMap(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestRunVersion(t *testing.T) {
	out, _, err := runCmd(t, nil, "-version")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out, "sifely2mqtt "+buildVersion()+"\n"; got != want {
		t.Errorf("-version printed %q, want %q", got, want)
	}

	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3"
	out, _, err = runCmd(t, nil, "-version")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out, "sifely2mqtt v1.2.3\n"; got != want {
		t.Errorf("-version with a linked version printed %q, want %q", got, want)
	}
}

func TestRunBadArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "nope"},
		{"bad bool", []string{"-demo=perhaps"}, "demo"},
		{"missing value", []string{"-config"}, "config"},
		{"extra argument", []string{"-demo", "extra"}, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCmd(t, nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
			if out != "" {
				t.Errorf("run(%q) printed %q to stdout", tt.args, out)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	_, stderr, err := runCmd(t, nil, "-h")
	if err != nil {
		t.Errorf("run(-h) = %v, want nil", err)
	}
	for _, flag := range []string{"-config", "-check-config", "-demo", "-version"} {
		if !strings.Contains(stderr, flag) {
			t.Errorf("usage lacks %s:\n%s", flag, stderr)
		}
	}
}

func TestRunCheckConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "mqtt-pw", "canary-mqtt-file-secret\n")
	cfgPath := writeFile(t, dir, "config.yaml", `
sifely:
  account: me@example.com
  password: canary-sifely-password
  api_key: sk-canary-api-key
mqtt:
  password_file: `+pwFile+`
webhook:
  listen: ":8787"
locks:
  "7100000": { unlock: false, code: "98765432" }
`)
	env := map[string]string{"SIFELY2MQTT_WEBHOOK_SECRET": "canary-webhook-env-secret"}
	canaries := []string{"canary-sifely-password", "sk-canary-api-key", "canary-mqtt-file-secret", "canary-webhook-env-secret", "98765432"}

	out, stderr, err := runCmd(t, env, "-config", cfgPath, "-check-config")
	if err != nil {
		t.Fatalf("-check-config = %v", err)
	}
	for _, c := range canaries {
		if strings.Contains(out, c) || strings.Contains(stderr, c) {
			t.Errorf("-check-config output leaks %q:\n%s%s", c, out, stderr)
		}
	}
	if got, want := strings.Count(out, "[REDACTED]"), len(canaries); got != want {
		t.Errorf("-check-config shows %d [REDACTED], want %d:\n%s", got, want, out)
	}
	for _, want := range []string{"account: me@example.com", "listen: :8787", "unlock: false", "password_file: " + pwFile} {
		if !strings.Contains(out, want) {
			t.Errorf("-check-config output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunCheckConfigBad(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "config.yaml", "sifely:\n  api_key: sk-canary\nmqtt:\n  url: http://broker\npoll:\n  state: \"@every 5s\"\n")
	out, _, err := runCmd(t, nil, "-config", bad, "-check-config")
	if err == nil {
		t.Fatal("-check-config accepted a bad config")
	}
	for _, want := range []string{"mqtt.url", "poll.state"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "sk-canary") {
		t.Errorf("error leaks the api key: %v", err)
	}
	if out != "" {
		t.Errorf("-check-config printed a bad config:\n%s", out)
	}

	unknown := writeFile(t, dir, "unknown.yaml", "sifely:\n  api_key: sk-1\n  acount: me\n")
	_, _, err = runCmd(t, nil, "-config", unknown, "-check-config")
	if err == nil || !strings.Contains(err.Error(), "sifely.acount: unknown key") {
		t.Errorf("unknown key: err = %v, want one naming sifely.acount", err)
	}
}

func TestRunConfigPath(t *testing.T) {
	dir := t.TempDir()
	fromEnv := writeFile(t, dir, "env.yaml", "sifely: {api_key: k}\nmqtt: {client_id: from-env}\n")
	fromFlag := writeFile(t, dir, "flag.yaml", "sifely: {api_key: k}\nmqtt: {client_id: from-flag}\n")
	env := map[string]string{"SIFELY2MQTT_CONFIG": fromEnv}

	out, _, err := runCmd(t, env, "-check-config")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "client_id: from-env") {
		t.Errorf("SIFELY2MQTT_CONFIG not used:\n%s", out)
	}
	out, _, err = runCmd(t, env, "-check-config", "-config", fromFlag)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "client_id: from-flag") {
		t.Errorf("-config does not beat SIFELY2MQTT_CONFIG:\n%s", out)
	}
}

func TestRunDemoWithoutConfigFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "config.yaml")
	out, _, err := runCmd(t, nil, "-demo", "-check-config", "-config", missing)
	if err != nil {
		t.Fatalf("-demo with no config file = %v", err)
	}
	if !strings.Contains(out, "base_topic: sifely2mqtt") {
		t.Errorf("-demo -check-config did not print the defaults:\n%s", out)
	}
	_, _, err = runCmd(t, nil, "-check-config", "-config", missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing config without -demo: err = %v, want one naming %s", err, missing)
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		cfg       LogConfig
		wantDebug bool
		wantJSON  bool
	}{
		{LogConfig{Level: "debug", Format: "text"}, true, false},
		{LogConfig{Level: "info", Format: "json"}, false, true},
		{LogConfig{Level: "warn", Format: "text"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Level+"/"+tt.cfg.Format, func(t *testing.T) {
			var buf bytes.Buffer
			logger := newLogger(tt.cfg, &buf)
			logger.Debug("debug line")
			logger.Error("error line", "lock_id", 7)
			if got := strings.Contains(buf.String(), "debug line"); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v:\n%s", got, tt.wantDebug, buf.String())
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			last := lines[len(lines)-1]
			if got := json.Valid([]byte(last)); got != tt.wantJSON {
				t.Errorf("json = %v, want %v: %s", got, tt.wantJSON, last)
			}
			if !strings.Contains(last, "lock_id") {
				t.Errorf("log line lacks its attribute: %s", last)
			}
		})
	}
}

func TestMainExitCode(t *testing.T) {
	code, stderr := runMainProcess(t, "-config", filepath.Join(t.TempDir(), "missing.yaml"), "-check-config")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr, "sifely2mqtt: config file") {
		t.Errorf("stderr = %q, want the error", stderr)
	}
	code, _ = runMainProcess(t, "-version")
	if code != 0 {
		t.Errorf("-version exit code = %d, want 0", code)
	}
}
