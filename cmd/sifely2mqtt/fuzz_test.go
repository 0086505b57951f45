package main

import (
	"os"
	"strings"
	"testing"
)

// fakeSecret is a secretReader that never touches the file system: the
// fuzzer controls *_file paths, and reading them (a FIFO, /dev/stdin)
// could block.
func fakeSecret(path string) (string, error) {
	if strings.Contains(path, "missing") {
		return noSecretFiles(path)
	}
	return "secret-from-" + path, nil
}

// FuzzLoadConfig feeds arbitrary bytes to the config loader: it must never
// panic, and whatever it accepts must be valid and printable redacted.
func FuzzLoadConfig(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example, false)
	f.Add(example, true)
	f.Fuzz(func(t *testing.T, data []byte, demo bool) {
		env := map[string]string{"CREDENTIALS_DIRECTORY": "/creds"}
		cfg, err := loadConfig(data, envMap(env), demo, fakeSecret)
		if err != nil {
			return
		}
		if err := cfg.validate(demo); err != nil {
			t.Fatalf("loadConfig accepted a config that fails validation: %v", err)
		}
		out, err := cfg.Redacted()
		if err != nil {
			t.Fatalf("Redacted() = %v", err)
		}
		for _, s := range []string{cfg.Sifely.Password.Reveal(), cfg.Sifely.APIKey.Reveal(), cfg.MQTT.Password.Reveal(), cfg.Webhook.Secret.Reveal()} {
			// Short secrets can occur in the output by coincidence.
			if len(s) >= 8 && strings.Contains(string(out), s) {
				t.Fatalf("Redacted() leaks secret %q:\n%s", s, out)
			}
		}
	})
}
