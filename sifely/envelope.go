package sifely

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxMessageLen bounds the cloud's error message kept in an APIError.
const maxMessageLen = 200

// parseEnvelope turns one HTTP answer into its payload or an error. It
// understands every envelope of sifely-api.md 1.4: TTLock's
// {errcode,errmsg}, the {code,message|msg,data} wrapper and unwrapped
// bodies. The payload is the whole JSON value; use pick to reach a field
// that may sit under "data". An empty 200 body gives a nil payload.
func parseEnvelope(path string, status int, body []byte) (json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if status != http.StatusOK {
		msg, code := statusMessage(status, body)
		return nil, &APIError{HTTPStatus: status, Code: code, Path: path, Message: msg}
	}
	if len(body) == 0 {
		return nil, nil
	}
	if body[0] != '{' && body[0] != '[' {
		return nil, fmt.Errorf("%s: body is not JSON: %w", path, ErrMalformedResponse)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("%s: body is not valid JSON: %w", path, ErrMalformedResponse)
	}
	if body[0] == '[' {
		return json.RawMessage(body), nil
	}
	var env struct {
		Errcode json.RawMessage `json:"errcode"`
		Errmsg  json.RawMessage `json:"errmsg"`
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
		Msg     json.RawMessage `json:"msg"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%s: decode envelope: %w", path, ErrMalformedResponse)
	}
	if present(env.Errcode) {
		code, ok := envCode(env.Errcode)
		if !ok {
			return nil, fmt.Errorf("%s: errcode is not a number: %w", path, ErrMalformedResponse)
		}
		if code != 0 {
			return nil, &APIError{HTTPStatus: status, Code: code, Path: path,
				Message: firstText(env.Errmsg, env.Message, env.Msg)}
		}
		return json.RawMessage(body), nil
	}
	if present(env.Code) {
		code, ok := envCode(env.Code)
		if !ok {
			// A string code such as "SUCCESS" says nothing we can use;
			// judge by the message alone.
			code = 0
		}
		if code != 0 && code != 200 {
			return nil, &APIError{HTTPStatus: status, Code: code, Path: path,
				Message: firstText(env.Message, env.Msg, env.Errmsg)}
		}
		return json.RawMessage(body), nil
	}
	// Unwrapped body. Spring answers some wrong verbs with 200 and a bare
	// message.
	if msg := firstText(env.Message, env.Msg, env.Error); strings.Contains(strings.ToLower(msg), "not supported") {
		return nil, &APIError{HTTPStatus: status, Path: path, Message: msg}
	}
	return json.RawMessage(body), nil
}

// statusMessage describes a non-200 answer, using the body's message and
// error code when the body is JSON.
func statusMessage(status int, body []byte) (msg string, code int) {
	if len(body) > 0 && body[0] == '{' {
		var m struct {
			Message json.RawMessage `json:"message"`
			Msg     json.RawMessage `json:"msg"`
			Errmsg  json.RawMessage `json:"errmsg"`
			Error   json.RawMessage `json:"error"`
			Errcode json.RawMessage `json:"errcode"`
			Code    json.RawMessage `json:"code"`
		}
		if json.Unmarshal(body, &m) == nil {
			msg = firstText(m.Message, m.Msg, m.Errmsg, m.Error)
			if c, ok := envCode(m.Errcode); ok && present(m.Errcode) {
				code = c
			} else if c, ok := envCode(m.Code); ok && present(m.Code) {
				code = c
			}
		}
	}
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	return msg, code
}

// present reports whether a JSON value exists and is not null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// envCode reads an error code that may be a number or a numeric string.
func envCode(raw json.RawMessage) (int, bool) {
	var n flexInt
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, false
	}
	if n.Int() < math.MinInt32 || n.Int() > math.MaxInt32 {
		return 0, false
	}
	return int(n.Int()), true
}

// firstText returns the first of the values that is a non-empty string,
// bounded in length.
func firstText(raws ...json.RawMessage) string {
	for _, raw := range raws {
		if !present(raw) {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		if s = strings.TrimSpace(s); s != "" {
			return truncate(s, maxMessageLen)
		}
	}
	return ""
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// pick returns the object that holds field: payload itself when the field is
// at its top level, else its "data" when that is an object holding the field.
// For field "list" a bare array (top level or under data) counts as the
// list. pick returns nil when the field is nowhere.
func pick(payload json.RawMessage, field string) json.RawMessage {
	if len(payload) == 0 {
		return nil
	}
	if payload[0] == '[' {
		if field == "list" {
			return wrapList(payload)
		}
		return nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(payload, &top) != nil {
		return nil
	}
	if present(top[field]) {
		return payload
	}
	data := bytes.TrimSpace(top["data"])
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case '{':
		var inner map[string]json.RawMessage
		if json.Unmarshal(data, &inner) == nil && present(inner[field]) {
			return data
		}
	case '[':
		if field == "list" {
			return wrapList(data)
		}
	}
	return nil
}

// wrapList turns a bare JSON array into {"list": array}.
func wrapList(arr json.RawMessage) json.RawMessage {
	out := make([]byte, 0, len(arr)+10)
	out = append(out, `{"list":`...)
	out = append(out, arr...)
	out = append(out, '}')
	return out
}

// flexInt is an integer the cloud may send as a number, a numeric string,
// a boolean or null.
type flexInt struct {
	v   int64
	set bool
}

// Int returns the value, 0 when absent.
func (f flexInt) Int() int64 { return f.v }

// Or returns the value, or def when the cloud did not send one.
func (f flexInt) Or(def int64) int64 {
	if !f.set {
		return def
	}
	return f.v
}

// UnmarshalJSON accepts 12, 12.0, "12", "", true, false and null.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*f = flexInt{}
		return nil
	case bytes.Equal(b, []byte("true")):
		*f = flexInt{v: 1, set: true}
		return nil
	case bytes.Equal(b, []byte("false")):
		*f = flexInt{v: 0, set: true}
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*f = flexInt{}
			return nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*f = flexInt{v: n, set: true}
		return nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || x > math.MaxInt64 || x < math.MinInt64 {
		return fmt.Errorf("not an integer: %q", truncate(s, 32))
	}
	*f = flexInt{v: int64(x), set: true}
	return nil
}

// flexBool is a flag the cloud may send as 1/0, "1"/"0", true/false or
// "true"/"false".
type flexBool struct {
	v   bool
	set bool
}

// Ptr returns the flag, or nil when the cloud did not send it.
func (f flexBool) Ptr() *bool {
	if !f.set {
		return nil
	}
	v := f.v
	return &v
}

// UnmarshalJSON accepts 1, 0, "1", "0", true, false, "true", "false",
// "yes", "no", "online", "offline" and null.
func (f *flexBool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*f = flexBool{}
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, ok := parseBool(s)
	if !ok {
		return fmt.Errorf("not a flag: %q", truncate(s, 32))
	}
	*f = flexBool{v: v, set: ok}
	return nil
}

// parseBool reads the cloud's many spellings of a flag.
func parseBool(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "online", "on":
		return true, true
	case "0", "2", "false", "no", "offline", "off":
		return false, true
	case "":
		return false, false
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return n == 1, true
	}
	return false, false
}

// flexString is text the cloud may send as a string or a number.
type flexString string

// UnmarshalJSON accepts a string, a number, a boolean or null.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if b[0] == '{' || b[0] == '[' {
		return fmt.Errorf("not text")
	}
	*f = flexString(b)
	return nil
}
