// Package sifelytest is a simulated Sifely cloud for tests and for the
// daemon's demo mode.
//
// The simulator speaks the wire format of the real cloud as documented in the
// project's API notes, including its awkward parts: login endpoints with a
// {code,message,data} wrapper next to unwrapped TTLock-style data endpoints,
// lock detail and open state in both shapes, HTTP verbs that matter,
// Spring-style errors for wrong verbs and missing parameters, single-threaded
// gateways that answer "gateway busy" (-3003) to overlapping operations,
// command latency, expiring legacy tokens, per-account rate limits and
// TTLock-style webhook pushes. Faults can be injected per path.
//
// It deliberately does not import the client package sifely: it is faithful
// to the wire, not to our client.
package sifelytest
