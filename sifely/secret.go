package sifely

import (
	"encoding/json"
	"log/slog"
)

// Secret holds a credential (password, token, API key, lock data). It
// redacts itself when logged with slog, formatted with fmt, or marshalled to
// JSON or YAML; only Reveal returns the value.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret's value. Call it only where the value is sent to
// the cloud.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// String redacts the secret for fmt's %s and %v.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret for fmt's %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText redacts the secret (used by YAML and other text encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
