// Package bridge runs sifely2mqtt: it keeps one MQTT session, publishes Home
// Assistant discovery and the state of every lock on the account, turns MQTT
// commands into cloud calls under the safety rules of DESIGN.md section 6,
// polls the cloud on schedules, and takes webhook pushes.
package bridge
