// Package discovery builds Home Assistant MQTT discovery payloads for Sifely
// locks.
//
// It uses Home Assistant's device-based discovery: one retained message per
// lock on [Topic] describes the device, the bridge as its origin, the shared
// availability and every entity (component) of the lock. The package is pure:
// it computes topics and JSON and never publishes anything; the bridge does.
//
// Entity identity depends on the lock ID alone, never on the alias, so that
// renaming a lock in the Sifely app renames the Home Assistant device without
// creating new entities.
package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Options are the bridge-wide settings of discovery.
type Options struct {
	// DiscoveryPrefix is Home Assistant's discovery prefix, usually "homeassistant".
	DiscoveryPrefix string
	// BaseTopic is the bridge's base topic, usually "sifely2mqtt".
	BaseTopic string
	// Version is the bridge version, published as the origin's sw_version.
	Version string
	// SupportURL is published as the origin's support_url; "" omits it.
	SupportURL string
}

// Lock describes one lock for discovery.
type Lock struct {
	// ID is the cloud's lockId; it alone determines topics and unique IDs.
	ID int64
	// Alias is the device name; when blank, "Sifely lock <id>" is used.
	Alias string
	// Model, MAC, Firmware and Hardware describe the device; "" omits a field.
	Model, MAC, Firmware, Hardware string
	// HasGateway adds the gateway connectivity binary_sensor.
	HasGateway bool
	// CodeFormat is a regular expression for Home Assistant's code dialog
	// (e.g. `^\d{4,8}$`); "" means the lock asks for no code.
	CodeFormat string
	// EventTypes are the event types of the activity event entity; at least one
	// is required.
	EventTypes []string
}

// Values published on the bridge's topics, as the discovery payload declares them.
const (
	payloadOnline   = "online"
	payloadOffline  = "offline"
	manufacturer    = "Sifely"
	originName      = "sifely2mqtt"
	codeTemplate    = `{"action":"{{ value }}","code":"{{ code }}"}`
	lastUnlockAttrs = `{{ value_json.last_unlock | tojson }}`
	gatewayTemplate = `{{ 'ON' if value_json.gateway_online else 'OFF' }}`
)

// Topic returns the device discovery topic of a lock:
// "<prefix>/device/sifely_<id>/config".
//
// The bridge publishes [Payload] there retained. To remove the device and all
// its entities from Home Assistant (a lock that left the account), the bridge
// publishes an empty retained payload on the same topic, which also clears the
// retained discovery message from the broker.
func Topic(prefix string, lockID int64) string {
	return prefix + "/device/" + nodeID(lockID) + "/config"
}

// Validate reports every problem of the topic settings in o at once: the
// discovery prefix and the base topic must be non-empty, contain no MQTT
// wildcards ('+', '#') or NUL, and neither start nor end with '/'.
func Validate(o Options) error {
	return errors.Join(
		validateTopicRoot("discovery prefix", o.DiscoveryPrefix),
		validateTopicRoot("base topic", o.BaseTopic),
	)
}

func validateTopicRoot(name, s string) error {
	if s == "" {
		return fmt.Errorf("%s: must not be empty", name)
	}
	var errs []error
	if strings.ContainsAny(s, "+#") {
		errs = append(errs, fmt.Errorf("%s %q: must not contain the wildcards + or #", name, s))
	}
	if strings.ContainsRune(s, 0) {
		errs = append(errs, fmt.Errorf("%s %q: must not contain NUL", name, s))
	}
	if strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		errs = append(errs, fmt.Errorf("%s %q: must not start or end with /", name, s))
	}
	return errors.Join(errs...)
}

// Payload returns the device discovery payload of lock l, to be published
// retained on [Topic]. The JSON is compact and deterministic: the same
// arguments always give the same bytes, so the bridge may compare payloads to
// skip unchanged republishing.
//
// It fails when o is invalid (see [Validate]), l.ID is not positive, or
// l.EventTypes is empty.
func Payload(o Options, l Lock) ([]byte, error) {
	if err := Validate(o); err != nil {
		return nil, fmt.Errorf("discovery options: %w", err)
	}
	if l.ID <= 0 {
		return nil, fmt.Errorf("lock id %d: must be positive", l.ID)
	}
	if len(l.EventTypes) == 0 {
		return nil, fmt.Errorf("lock %d: no event types", l.ID)
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep templates readable; the JSON is valid either way
	if err := enc.Encode(build(o, l)); err != nil {
		return nil, fmt.Errorf("encode discovery payload of lock %d: %w", l.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// build assembles the payload document. Structs (not maps) keep the key order
// stable.
func build(o Options, l Lock) devicePayload {
	b := o.BaseTopic
	id := strconv.FormatInt(l.ID, 10)
	node := nodeID(l.ID)
	lockTopic := func(leaf string) string { return b + "/" + id + "/" + leaf }
	bridgeState := availability{Topic: b + "/bridge/state", PayloadAvailable: payloadOnline, PayloadNotAvailable: payloadOffline}

	name := strings.TrimSpace(l.Alias)
	if name == "" {
		name = "Sifely lock " + id
	}
	dev := device{
		Identifiers:  []string{node},
		Name:         name,
		Manufacturer: manufacturer,
		Model:        l.Model,
		SWVersion:    l.Firmware,
		HWVersion:    l.Hardware,
	}
	if mac := strings.ToLower(strings.TrimSpace(l.MAC)); mac != "" {
		dev.Connections = [][2]string{{"mac", mac}}
	}

	lk := lockComponent{
		Platform:            "lock",
		Name:                nil, // null: the entity takes the device name
		UniqueID:            node + "_lock",
		DefaultEntityID:     "lock." + node,
		StateTopic:          lockTopic("state"),
		CommandTopic:        lockTopic("set"),
		PayloadLock:         "LOCK",
		PayloadUnlock:       "UNLOCK",
		StateLocked:         "LOCKED",
		StateUnlocked:       "UNLOCKED",
		StateLocking:        "LOCKING",
		StateUnlocking:      "UNLOCKING",
		StateJammed:         "JAMMED",
		PayloadReset:        "None",
		Optimistic:          false,
		QoS:                 1,
		Retain:              false,
		JSONAttributesTopic: lockTopic("attributes"),
	}
	if l.CodeFormat != "" {
		lk.CodeFormat = l.CodeFormat
		lk.CommandTemplate = codeTemplate
	}

	comps := components{
		Lock: lk,
		Battery: sensorComponent{
			Platform:          "sensor",
			Name:              "Battery",
			UniqueID:          node + "_battery",
			DefaultEntityID:   "sensor." + node + "_battery",
			StateTopic:        lockTopic("battery"),
			DeviceClass:       "battery",
			UnitOfMeasurement: "%",
			StateClass:        "measurement",
			EntityCategory:    "diagnostic",
			QoS:               1,
		},
		LastUnlock: sensorComponent{
			Platform:               "sensor",
			Name:                   "Last unlock",
			UniqueID:               node + "_last_unlock",
			DefaultEntityID:        "sensor." + node + "_last_unlock",
			StateTopic:             lockTopic("last_unlock"),
			DeviceClass:            "timestamp",
			Icon:                   "mdi:lock-clock",
			JSONAttributesTopic:    lockTopic("attributes"),
			JSONAttributesTemplate: lastUnlockAttrs,
			QoS:                    1,
		},
		Activity: eventComponent{
			Platform:        "event",
			Name:            "Activity",
			UniqueID:        node + "_activity",
			DefaultEntityID: "event." + node + "_activity",
			StateTopic:      lockTopic("event"),
			EventTypes:      append([]string(nil), l.EventTypes...),
			QoS:             1,
		},
	}
	if l.HasGateway {
		comps.Gateway = &binarySensorComponent{
			Platform:        "binary_sensor",
			Name:            "Gateway",
			UniqueID:        node + "_gateway",
			DefaultEntityID: "binary_sensor." + node + "_gateway",
			StateTopic:      lockTopic("attributes"),
			ValueTemplate:   gatewayTemplate,
			PayloadOn:       "ON",
			PayloadOff:      "OFF",
			DeviceClass:     "connectivity",
			EntityCategory:  "diagnostic",
			QoS:             1,
			// A component's own availability overrides the device-level one:
			// the gateway entity must stay available (and show "disconnected")
			// while the lock is unavailable because its gateway is offline.
			Availability:     []availability{bridgeState},
			AvailabilityMode: "all",
		}
	}

	return devicePayload{
		Device: dev,
		Origin: origin{Name: originName, SWVersion: o.Version, SupportURL: o.SupportURL},
		Availability: []availability{
			bridgeState,
			{Topic: lockTopic("availability"), PayloadAvailable: payloadOnline, PayloadNotAvailable: payloadOffline},
		},
		AvailabilityMode: "all",
		Components:       comps,
	}
}

// nodeID is the device's object ID in discovery and the stem of unique IDs.
func nodeID(lockID int64) string {
	return "sifely_" + strconv.FormatInt(lockID, 10)
}

type devicePayload struct {
	Device           device         `json:"device"`
	Origin           origin         `json:"origin"`
	Availability     []availability `json:"availability"`
	AvailabilityMode string         `json:"availability_mode"`
	Components       components     `json:"components"`
}

type device struct {
	Identifiers  []string    `json:"identifiers"`
	Name         string      `json:"name"`
	Manufacturer string      `json:"manufacturer"`
	Model        string      `json:"model,omitempty"`
	SWVersion    string      `json:"sw_version,omitempty"`
	HWVersion    string      `json:"hw_version,omitempty"`
	Connections  [][2]string `json:"connections,omitempty"`
}

type origin struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url,omitempty"`
}

type availability struct {
	Topic               string `json:"topic"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
}

type components struct {
	Lock       lockComponent          `json:"lock"`
	Battery    sensorComponent        `json:"battery"`
	LastUnlock sensorComponent        `json:"last_unlock"`
	Activity   eventComponent         `json:"activity"`
	Gateway    *binarySensorComponent `json:"gateway,omitempty"`
}

type lockComponent struct {
	Platform            string  `json:"platform"`
	Name                *string `json:"name"` // always present; null takes the device name
	UniqueID            string  `json:"unique_id"`
	DefaultEntityID     string  `json:"default_entity_id"`
	StateTopic          string  `json:"state_topic"`
	CommandTopic        string  `json:"command_topic"`
	CommandTemplate     string  `json:"command_template,omitempty"`
	CodeFormat          string  `json:"code_format,omitempty"`
	PayloadLock         string  `json:"payload_lock"`
	PayloadUnlock       string  `json:"payload_unlock"`
	StateLocked         string  `json:"state_locked"`
	StateUnlocked       string  `json:"state_unlocked"`
	StateLocking        string  `json:"state_locking"`
	StateUnlocking      string  `json:"state_unlocking"`
	StateJammed         string  `json:"state_jammed"`
	PayloadReset        string  `json:"payload_reset"`
	Optimistic          bool    `json:"optimistic"`
	QoS                 int     `json:"qos"`
	Retain              bool    `json:"retain"`
	JSONAttributesTopic string  `json:"json_attributes_topic"`
}

type sensorComponent struct {
	Platform               string `json:"platform"`
	Name                   string `json:"name"`
	UniqueID               string `json:"unique_id"`
	DefaultEntityID        string `json:"default_entity_id"`
	StateTopic             string `json:"state_topic"`
	DeviceClass            string `json:"device_class,omitempty"`
	UnitOfMeasurement      string `json:"unit_of_measurement,omitempty"`
	StateClass             string `json:"state_class,omitempty"`
	EntityCategory         string `json:"entity_category,omitempty"`
	Icon                   string `json:"icon,omitempty"`
	JSONAttributesTopic    string `json:"json_attributes_topic,omitempty"`
	JSONAttributesTemplate string `json:"json_attributes_template,omitempty"`
	QoS                    int    `json:"qos"`
}

type eventComponent struct {
	Platform        string   `json:"platform"`
	Name            string   `json:"name"`
	UniqueID        string   `json:"unique_id"`
	DefaultEntityID string   `json:"default_entity_id"`
	StateTopic      string   `json:"state_topic"`
	EventTypes      []string `json:"event_types"`
	QoS             int      `json:"qos"`
}

type binarySensorComponent struct {
	Platform         string         `json:"platform"`
	Name             string         `json:"name"`
	UniqueID         string         `json:"unique_id"`
	DefaultEntityID  string         `json:"default_entity_id"`
	StateTopic       string         `json:"state_topic"`
	ValueTemplate    string         `json:"value_template"`
	PayloadOn        string         `json:"payload_on"`
	PayloadOff       string         `json:"payload_off"`
	DeviceClass      string         `json:"device_class"`
	EntityCategory   string         `json:"entity_category"`
	QoS              int            `json:"qos"`
	Availability     []availability `json:"availability"`
	AvailabilityMode string         `json:"availability_mode"`
}
